package policyproto

import (
	"bufio"
	"context"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mxkit/mxkit/smtppolicy"
	"github.com/mxkit/mxkit/smtppolicy/smtppolicytest"
)

var quiet = slog.New(slog.DiscardHandler)

// countingListener counts accepted connections.
type countingListener struct {
	net.Listener
	n atomic.Int32
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

// startServer runs a Server on a loopback port.
func startServer(t *testing.T, h func(context.Context, Request) string) (*Server, *countingListener) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cl := &countingListener{Listener: l}
	srv := &Server{Handler: h, Logger: quiet}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(cl) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-done; err != ErrServerClosed {
			t.Errorf("Serve: %v", err)
		}
	})
	return srv, cl
}

// decide is the test policy: one recipient refused, one deferred, one
// greylisted, the rest DUNNO.
func decide(_ context.Context, r Request) string {
	switch r.Recipient {
	case "refused@example.com":
		return "550 5.7.1 go away"
	case "deferred@example.com":
		return "DEFER try later"
	case "grey@example.com":
		return "DEFER_IF_PERMIT Greylisted, see https://grey.example/"
	case "ctx@example.com":
		return "REJECT context " + r.PolicyContext
	case "class@example.com":
		return "reject_unauth_destination"
	}
	return "DUNNO"
}

func policyFor(t *testing.T, list string, opts *Options) *smtppolicy.Policy {
	t.Helper()
	reg := &smtppolicy.Registry{}
	o := Options{Logger: quiet, RetryDelay: time.Millisecond}
	if opts != nil {
		o = *opts
	}
	Register(reg, &o)
	chain, err := reg.ParseList(list, "check_recipient_access")
	if err != nil {
		t.Fatal(err)
	}
	return &smtppolicy.Policy{
		Site:      &smtppolicy.Site{MyHostname: "mx.example", MyDestination: smtppolicytest.Domains{"example.com"}},
		Recipient: chain,
		Logger:    quiet,
	}
}

// rcpt runs one session: EHLO, MAIL, RCPT to each address; it returns the
// RCPT replies ("" for accepted).
func rcpt(t *testing.T, p *smtppolicy.Policy, to ...string) []string {
	t.Helper()
	st := smtppolicytest.NewState("192.0.2.7", smtppolicytest.WithHelo("client.example"))
	ctx := context.Background()
	s := p.NewSession(&st)
	if r := s.Helo(ctx, "client.example", true); r != nil {
		t.Fatal(r)
	}
	if r := s.Mail(ctx, "a@example.org", 0); r != nil {
		t.Fatal(r)
	}
	var out []string
	for _, a := range to {
		r := s.Rcpt(ctx, a)
		if r == nil {
			out = append(out, "")
		} else {
			out = append(out, r.String())
		}
	}
	return out
}

func TestCheckPolicyService(t *testing.T) {
	var seen []Request
	var mu sync.Mutex
	_, cl := startServer(t, func(ctx context.Context, r Request) string {
		mu.Lock()
		seen = append(seen, r)
		mu.Unlock()
		return decide(ctx, r)
	})
	p := policyFor(t, "reject_unauth_destination, check_policy_service { inet:"+cl.Addr().String()+", policy_context=submission }", nil)
	got := rcpt(t, p, "ok@example.com", "refused@example.com", "deferred@example.com", "grey@example.com", "ctx@example.com", "class@example.com", "x@elsewhere.example")
	want := []string{
		"",
		"550 5.7.1 <refused@example.com>: Recipient address rejected: go away",
		"450 4.7.1 <deferred@example.com>: Recipient address rejected: try later",
		"450 4.7.1 <grey@example.com>: Recipient address rejected: Greylisted, see https://grey.example/",
		"554 5.7.1 <ctx@example.com>: Recipient address rejected: context submission",
		"",
		"454 4.7.1 <x@elsewhere.example>: Relay access denied", // the default relay list
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("replies:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if n := cl.n.Load(); n != 1 {
		t.Errorf("%d connections for 6 queries, want 1 (reuse)", n)
	}
	r := seen[0]
	if r.Request != "smtpd_access_policy" || r.ProtocolState != "RCPT" || r.ProtocolName != "ESMTP" ||
		r.ClientAddress != "192.0.2.7" || r.ClientName != "unknown" || r.HeloName != "client.example" ||
		r.Sender != "a@example.org" || r.Recipient != "ok@example.com" || r.PolicyContext != "submission" || r.Instance == "" {
		t.Errorf("query: %+v", r)
	}
	if seen[1].Instance != r.Instance {
		t.Errorf("instance changed within a transaction: %q, %q", r.Instance, seen[1].Instance)
	}
}

func TestRequestLimit(t *testing.T) {
	_, cl := startServer(t, decide)
	p := policyFor(t, "reject_unauth_destination, check_policy_service inet:"+cl.Addr().String(),
		&Options{Logger: quiet, RequestLimit: 2})
	rcpt(t, p, "a@example.com", "b@example.com", "c@example.com", "d@example.com", "e@example.com")
	if n := cl.n.Load(); n != 3 {
		t.Fatalf("%d connections for 5 queries with request_limit 2, want 3", n)
	}
}

// A server that closed the idle connection is redialled without a
// failure; a server that never answers gives the default action after
// try_limit tries.
func TestFailures(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var accepts atomic.Int32
	// Answers one query per connection, then closes it; connections
	// after the second get no answer at all.
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			n := accepts.Add(1)
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				if _, err := ReadRequest(br, Limits{}); err != nil {
					return
				}
				if n <= 2 {
					c.Write([]byte("action=REJECT no\n\n"))
				}
			}()
		}
	}()
	p := policyFor(t, "reject_unauth_destination, check_policy_service { inet:"+l.Addr().String()+", try_limit=3 }",
		&Options{Logger: quiet})
	got := rcpt(t, p, "a@example.com", "b@example.com")
	want := "554 5.7.1 <a@example.com>: Recipient address rejected: no\n554 5.7.1 <b@example.com>: Recipient address rejected: no"
	if strings.Join(got, "\n") != want {
		t.Fatalf("got %q", got)
	}
	p = policyFor(t, "reject_unauth_destination, check_policy_service { inet:"+l.Addr().String()+", try_limit=3 }",
		&Options{Logger: quiet, RetryDelay: time.Millisecond})
	before := accepts.Load()
	got = rcpt(t, p, "c@example.com")
	if got[0] != "451 4.3.5 <c@example.com>: Recipient address rejected: Server configuration problem" {
		t.Fatalf("default action: %q", got[0])
	}
	if n := accepts.Load() - before; n != 3 {
		t.Fatalf("%d tries, want 3", n)
	}
	p = policyFor(t, "reject_unauth_destination, check_policy_service { inet:"+l.Addr().String()+", try_limit=1, default_action=DUNNO }", nil)
	if got := rcpt(t, p, "d@example.com"); got[0] != "" {
		t.Fatalf("default_action=DUNNO: %q", got[0])
	}
}

func TestServiceArgErrors(t *testing.T) {
	for arg, want := range map[string]string{
		"tcp:1.2.3.4:5":                      `restriction "check_policy_service": policyproto: endpoint "tcp:1.2.3.4:5": want inet:host:port or unix:/path`,
		"{ inet:127.0.0.1:1, timeout=soon }": `restriction "check_policy_service": option timeout="soon": want a positive time such as 10s, 5m or 1h`,
		"{ inet:127.0.0.1:1, color=red }":    `restriction "check_policy_service": unknown option "color" (want timeout, max_idle, max_ttl, request_limit, try_limit, retry_delay, default_action or policy_context)`,
		"{ inet:127.0.0.1:1":                 `restriction "check_policy_service": "{ inet:127.0.0.1:1": missing }`,
	} {
		reg := &smtppolicy.Registry{}
		Register(reg, nil)
		_, err := reg.Parse([]string{"check_policy_service", arg}, "")
		if err == nil || err.Error() != want {
			t.Errorf("%s: %v\nwant %s", arg, err, want)
		}
	}
	o, err := func() (Options, error) {
		_, o, err := parseServiceArg("{ unix:/run/p, timeout = 10s, max_idle=5m, max_ttl=1h, try_limit=3, request_limit=7, default_action={450 4.7.1 later}, policy_context=x }", Options{})
		return o, err
	}()
	if err != nil || o.Timeout != 10*time.Second || o.MaxIdle != 5*time.Minute || o.MaxTTL != time.Hour || o.TryLimit != 3 ||
		o.RequestLimit != 7 || o.DefaultAction != "450 4.7.1 later" || o.PolicyContext != "x" {
		t.Fatalf("%+v, %v", o, err)
	}
}

func TestServerMalformed(t *testing.T) {
	_, cl := startServer(t, decide)
	for _, in := range []string{"garbage\n\n", "request=other\n\n", "request=smtpd_access_policy\nsize=x\n\n"} {
		c, err := net.Dial("tcp", cl.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		c.Write([]byte(in))
		b := make([]byte, 10)
		n, err := c.Read(b)
		if n != 0 || err == nil {
			t.Errorf("%q: got %q, %v; want the connection closed without a reply", in, b[:n], err)
		}
		c.Close()
	}
}

func TestShutdownIdle(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	release, entered := make(chan struct{}), make(chan struct{})
	srv := &Server{Logger: quiet, Handler: func(ctx context.Context, r Request) string {
		if r.Recipient == "slow@x" {
			close(entered)
			<-release
		}
		return "OK"
	}}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	idle, _ := net.Dial("tcp", l.Addr().String())
	busy, _ := net.Dial("tcp", l.Addr().String())
	busy.Write([]byte("request=smtpd_access_policy\nrecipient=slow@x\n\n"))
	// Wait until the slow query is in the handler: a fast query on the
	// idle connection, answered, proves the server is running.
	idle.Write([]byte("request=smtpd_access_policy\n\n"))
	br := bufio.NewReader(idle)
	if a, err := ReadReply(br, Limits{}); err != nil || a != "OK" {
		t.Fatalf("%q, %v", a, err)
	}
	<-entered
	shut := make(chan error, 1)
	go func() { shut <- srv.Shutdown(context.Background()) }()
	if _, err := br.ReadByte(); err == nil {
		t.Fatal("idle connection not closed by Shutdown")
	}
	close(release)
	a, err := ReadReply(bufio.NewReader(busy), Limits{})
	if err != nil || a != "OK" {
		t.Fatalf("busy connection: %q, %v; want its answer before the close", a, err)
	}
	if err := <-shut; err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != ErrServerClosed {
		t.Fatal(err)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
