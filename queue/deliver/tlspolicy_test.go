package deliver

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/mxkit/mxkit/queue"
	"github.com/mxkit/mxkit/relaymaps"
	"github.com/mxkit/mxkit/tlspolicy"
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
