package deliver

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/mxkit/mxkit/dnsres"
	"github.com/mxkit/mxkit/internal/testdns"
	"github.com/mxkit/mxkit/queue"
	"github.com/mxkit/mxkit/relaymaps"
	"github.com/mxkit/mxkit/tlspolicy"
	"github.com/mxkit/mxkit/tlspolicy/tlsrpt"
)

type mapFunc func(key string) (string, bool, error)

func (f mapFunc) Lookup(_ context.Context, key string) (string, bool, error) { return f(key) }

// TLSPolicies: smtp_tls_policy_maps decides per route, keyed by the
// nexthop verbatim, and a table failure defers (fail closed).
func TestSMTPTLSPolicies(t *testing.T) {
	l := fakeServer(t, &fakeBackend{}, nil) // no STARTTLS
	rt := route(l)
	for _, tc := range []struct {
		name  string
		value string
		err   error
		want  queue.Result
	}{
		{"no entry: may", "", nil, queue.Result{Status: queue.Delivered, DSN: "2.0.0", Text: "250 2.0.0 OK: queued", Remote: "[127.0.0.1]", Relayed: true}},
		{"encrypt", "encrypt", nil, queue.Deferf("4.7.4", "TLS is required, but was not offered by host %s", strings.TrimSuffix(rt.Nexthop, ":"+port(l)))},
		{"bad value", "dane match=x", nil, queue.Deferf("4.7.5", "client TLS configuration problem")},
		{"table error", "", fmt.Errorf("down: %w", relaymaps.ErrTemporary), queue.Deferf("4.7.5", "client TLS configuration problem")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var keys []string
			m := mapFunc(func(key string) (string, bool, error) {
				keys = append(keys, key)
				return tc.value, tc.value != "", tc.err
			})
			s := &SMTP{Logger: quiet, CacheTime: -1, TLSPolicies: &tlspolicy.Resolver{Maps: []relaymaps.Map{m}, Logger: quiet}}
			got := s.Deliver(context.Background(), msg(rt, "a@example.org", "x\r\n", "b@example.test"))
			wantResults(t, got, []queue.Result{tc.want})
			if len(keys) != 1 || keys[0] != rt.Nexthop {
				t.Errorf("table keys %q, want [%q]", keys, rt.Nexthop)
			}
		})
	}
}

// A TLSPolicy hook error skips the host with its DSN.
func TestSMTPTLSPolicyHookError(t *testing.T) {
	l := fakeServer(t, &fakeBackend{}, func(s *smtp.Server) {})
	s := &SMTP{Logger: quiet, TLSPolicy: func(context.Context, queue.Route, Host) (*TLSPolicy, error) {
		return nil, fmt.Errorf("resolve: %w", &tlspolicy.Error{Kind: tlspolicy.KindPolicy, DSN: "4.7.5", Text: "TLSA lookup error for mx.example.com:25"})
	}}
	got := s.Deliver(context.Background(), msg(route(l), "a@example.org", "x\r\n", "b@example.test"))
	wantResults(t, got, []queue.Result{queue.Deferf("4.7.5", "TLSA lookup error for mx.example.com:25")})
	if l.Accepted() != 0 {
		t.Errorf("%d connections, want none", l.Accepted())
	}
}

type recorder struct{ got []tlsrpt.Result }

func (r *recorder) Record(res tlsrpt.Result) { r.got = append(r.got, res) }

// TLSRPT gets one result per TLS negotiation, for the next-hop domain:
// a success, and a starttls-not-supported failure where the level asked
// for TLS; nothing for an IP-literal next hop.
func TestSMTPTLSRPT(t *testing.T) {
	withTLS := fakeServer(t, &fakeBackend{}, func(s *smtp.Server) { s.TLSConfig = serverTLS(t) })
	plain := fakeServer(t, &fakeBackend{}, nil)
	zone := testdns.Start(t, testdns.Zone{Records: []string{
		"ok.test. 300 IN MX 10 mx.ok.test.", "mx.ok.test. 300 IN A 127.0.0.1",
		"plain.test. 300 IN MX 10 mx.plain.test.", "mx.plain.test. 300 IN A 127.0.0.1",
	}})
	dns, err := dnsres.New(dnsres.Options{Servers: []string{zone.Addr}})
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	table := mapFunc(func(key string) (string, bool, error) {
		if strings.HasPrefix(key, "plain.test:") {
			return "encrypt", true, nil
		}
		return "", false, nil
	})
	s := &SMTP{Logger: quiet, CacheTime: -1, TLSRPT: rec, Resolve: (&MXResolver{DNS: dns}).Resolve,
		TLSPolicies: &tlspolicy.Resolver{Maps: []relaymaps.Map{table}, Logger: quiet}}
	ctx := context.Background()
	s.Deliver(ctx, msg(queue.Route{Transport: "smtp", Nexthop: "ok.test:" + port(withTLS)}, "a@example.org", "x\r\n", "b@ok.test"))
	s.Deliver(ctx, msg(queue.Route{Transport: "smtp", Nexthop: "plain.test:" + port(plain)}, "a@example.org", "x\r\n", "b@plain.test"))
	s.Deliver(ctx, msg(route(withTLS), "a@example.org", "x\r\n", "b@example.test"))
	if len(rec.got) != 2 {
		t.Fatalf("%d results, want 2: %+v", len(rec.got), rec.got)
	}
	if r := rec.got[0]; r.Domain != "ok.test" || r.Failure != nil || r.Policy.Type != tlsrpt.PolicyNoPolicyFound || r.Policy.Domain != "ok.test" {
		t.Errorf("success: %+v", r)
	}
	if r := rec.got[1]; r.Domain != "plain.test" || r.Failure == nil || r.Failure.ResultType != tlsrpt.ResultSTARTTLSNotSupported ||
		r.Failure.ReceivingMXHostname != "mx.plain.test" || r.Failure.ReceivingIP != netip.MustParseAddr("127.0.0.1") {
		t.Errorf("failure: %+v %+v", r, r.Failure)
	}
}

// RFC 8689 "TLS-Required: No" (Message.TLSOptional): the policy table's
// encrypt is not consulted and the message goes in plaintext to a host
// without STARTTLS; without the flag it is deferred.
func TestSMTPTLSOptional(t *testing.T) {
	l := fakeServer(t, &fakeBackend{}, nil) // no STARTTLS
	rt := route(l)
	m := mapFunc(func(string) (string, bool, error) { return "encrypt", true, nil })
	s := &SMTP{Logger: quiet, CacheTime: -1, TLSPolicies: &tlspolicy.Resolver{Maps: []relaymaps.Map{m}, Logger: quiet}}
	d := msg(rt, "a@example.org", "x\r\n", "b@example.test")
	if got := s.Deliver(context.Background(), d); got[0].Status != queue.Deferred || got[0].DSN != "4.7.4" {
		t.Fatalf("without TLS-Required: No: %+v", got)
	}
	d.Message.TLSOptional = true
	if got := s.Deliver(context.Background(), d); got[0].Status != queue.Delivered {
		t.Fatalf("with TLS-Required: No: %+v", got)
	}
}
