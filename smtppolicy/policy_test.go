package smtppolicy

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"strings"
	"testing"

	"github.com/mxkit/mxkit/relaymaps"
)

// domains is a DomainMatcher for tests: exact names and their subdomains.
type domains []string

func (d domains) Match(_ context.Context, domain string) (bool, error) {
	for _, x := range d {
		if domain == x || strings.HasSuffix(domain, "."+x) {
			return true, nil
		}
	}
	return false, nil
}

// nets is a HostMatcher for tests.
type nets []string

func (n nets) Match(_ context.Context, _ string, addr netip.Addr) (bool, error) {
	for _, p := range n {
		if netip.MustParsePrefix(p).Contains(addr) {
			return true, nil
		}
	}
	return false, nil
}

type failingDomains struct{ err error }

func (f failingDomains) Match(context.Context, string) (bool, error) { return false, f.err }

type failingMap struct{ err error }

func (f failingMap) Lookup(context.Context, string) (string, bool, error) { return "", false, f.err }

func seedSite() *Site {
	return &Site{
		MyHostname:         "mx.example.net",
		MyNetworks:         nets{"127.0.0.0/8"},
		InetInterfaces:     []netip.Addr{netip.MustParseAddr("127.0.0.1")},
		RelayDomains:       domains{"relay.example"},
		RelayRecipientMaps: []relaymaps.Map{relaymaps.Dict{"user@relay.example": "OK", "@open.relay.example": "OK"}},
		LocalTransport:     "error:local mail delivery is disabled",
		RecipientDelimiter: "+-",
	}
}

func seedPolicy() *Policy {
	return &Policy{
		Logger:       slog.New(slog.DiscardHandler),
		Relay:        Chain{PermitMyNetworks, RejectUnauthDestination},
		Helo:         Chain{PermitMyNetworks, RejectInvalidHeloHostname, RejectNonFQDNHeloHostname},
		Sender:       Chain{PermitMyNetworks, RejectUnlistedSender},
		Recipient:    Chain{RejectNonFQDNRecipient},
		Data:         Chain{RejectUnauthPipelining},
		HeloRequired: true,
		Site:         seedSite(),
	}
}

func client(ip string) *State {
	return &State{ClientAddr: netip.MustParseAddr(ip), ClientPort: 40000}
}

// rcpt runs HELO, MAIL and RCPT and returns the RCPT reply ("" for accept).
func rcpt(t *testing.T, p *Policy, ip, helo, from, to string) string {
	t.Helper()
	ctx := context.Background()
	s := p.NewSession(client(ip))
	if r := s.Helo(ctx, helo, true); r != nil {
		return "HELO: " + r.String()
	}
	if r := s.Mail(ctx, from, 0); r != nil {
		return "MAIL: " + r.String()
	}
	if r := s.Rcpt(ctx, to); r != nil {
		return r.String()
	}
	return ""
}

func TestRcptReplies(t *testing.T) {
	const out = "192.0.2.1"
	tests := []struct {
		name     string
		p        func() *Policy
		ip, helo string
		from, to string
		want     string
	}{
		{"relay denied", seedPolicy, out, "mail.example.org", "a@example.org", "u@x.example",
			"554 5.7.1 <u@x.example>: Relay access denied"},
		{"relay domain valid user", seedPolicy, out, "mail.example.org", "a@example.org", "user@relay.example", ""},
		{"relay domain valid user upper case", seedPolicy, out, "mail.example.org", "a@example.org", "USER@Relay.Example", ""},
		{"relay domain unknown user", seedPolicy, out, "mail.example.org", "a@example.org", "nobody@relay.example",
			"550 5.1.1 <nobody@relay.example>: Recipient address rejected: User unknown in relay recipient table"},
		{"extension stripped for relay recipients", seedPolicy, out, "mail.example.org", "a@example.org", "user+tag@relay.example", ""},
		{"second delimiter", seedPolicy, out, "mail.example.org", "a@example.org", "user-tag@relay.example", ""},
		{"@domain wildcard", seedPolicy, out, "mail.example.org", "a@example.org", "anyone@open.relay.example", ""},
		{"non-fqdn helo", seedPolicy, out, "h", "a@example.org", "user@relay.example",
			"504 5.5.2 <h>: Helo command rejected: need fully-qualified hostname"},
		{"invalid helo", seedPolicy, out, "a..b", "a@example.org", "user@relay.example",
			"501 5.5.2 <a..b>: Helo command rejected: Invalid name"},
		{"invalid helo literal", seedPolicy, out, "[1.2.3.999]", "a@example.org", "user@relay.example",
			"501 5.5.2 <[1.2.3.999]>: Helo command rejected: invalid ip address"},
		{"valid helo literal", seedPolicy, out, "[192.0.2.1]", "a@example.org", "user@relay.example", ""},
		{"helo trailing dot", seedPolicy, out, "mail.example.org.", "a@example.org", "user@relay.example", ""},
		{"mynetworks skips helo checks", seedPolicy, "127.0.0.1", "h", "a@example.org", "u@x.example", ""},
		{"non-fqdn recipient relay first", seedPolicy, out, "mail.example.org", "a@example.org", "user@relay",
			"554 5.7.1 <user@relay>: Relay access denied"},
		{"non-fqdn recipient", seedPolicy, "127.0.0.1", "mail.example.org", "a@example.org", "user@relay",
			"504 5.5.2 <user@relay>: Recipient address rejected: need fully-qualified address"},
		{"local transport error", seedPolicy, out, "mail.example.org", "a@example.org", "user@[127.0.0.1]",
			"550 5.1.1 <user@[127.0.0.1]>: Recipient address rejected: local mail delivery is disabled"},
		{"unlisted sender", seedPolicy, out, "mail.example.org", "nobody@relay.example", "user@relay.example",
			"550 5.1.0 <nobody@relay.example>: Sender address rejected: User unknown in relay recipient table"},
		{"listed sender", seedPolicy, out, "mail.example.org", "user@relay.example", "user@relay.example", ""},
		{"null sender", seedPolicy, out, "mail.example.org", "", "user@relay.example", ""},
		{"postmaster without domain", seedPolicy, out, "mail.example.org", "a@example.org", "postmaster", ""},
		{"soft bounce", func() *Policy { p := seedPolicy(); p.SoftBounce = true; return p }, out, "mail.example.org", "a@example.org", "u@x.example",
			"454 4.7.1 <u@x.example>: Relay access denied"},
		{"permit ends only its own list", func() *Policy { p := seedPolicy(); p.Client = Chain{Permit}; return p }, out, "mail.example.org", "a@example.org", "u@x.example",
			"554 5.7.1 <u@x.example>: Relay access denied"},
		{"client reject", func() *Policy { p := seedPolicy(); p.Client = Chain{Reject}; return p }, out, "mail.example.org", "a@example.org", "user@relay.example",
			"554 5.7.1 <unknown[192.0.2.1]>: Client host rejected: Access denied"},
		{"client defer", func() *Policy { p := seedPolicy(); p.Client = Chain{Defer}; return p }, out, "mail.example.org", "a@example.org", "user@relay.example",
			"450 4.3.2 <unknown[192.0.2.1]>: Client host rejected: Try again later"},
		{"defer_if_permit on permit", func() *Policy { p := seedPolicy(); p.Client = Chain{DeferIfPermit}; return p }, out, "mail.example.org", "a@example.org", "user@relay.example",
			"450 4.7.0 <unknown[192.0.2.1]>: Client host rejected: defer_if_permit requested"},
		{"defer_if_permit loses to a reject", func() *Policy { p := seedPolicy(); p.Client = Chain{DeferIfPermit}; return p }, out, "mail.example.org", "a@example.org", "u@x.example",
			"554 5.7.1 <u@x.example>: Relay access denied"},
		{"defer_if_reject turns 5xx into 4xx", func() *Policy { p := seedPolicy(); p.Recipient = Chain{DeferIfReject, Reject}; return p }, out, "mail.example.org", "a@example.org", "user@relay.example",
			"450 4.7.0 <user@relay.example>: Recipient address rejected: defer_if_reject requested"},
		{"defer_if_reject is per stage", func() *Policy {
			p := seedPolicy()
			p.Client = Chain{DeferIfReject}
			p.Recipient = Chain{Reject}
			return p
		}, out, "mail.example.org", "a@example.org", "user@relay.example",
			"554 5.7.1 <user@relay.example>: Recipient address rejected: Access denied"},
		{"warn_if_reject", func() *Policy { p := seedPolicy(); p.Client = Chain{WarnIfReject, Reject}; return p }, out, "mail.example.org", "a@example.org", "user@relay.example", ""},
		{"warn_if_reject covers the next check only", func() *Policy { p := seedPolicy(); p.Client = Chain{WarnIfReject, Reject, Defer}; return p }, out, "mail.example.org", "a@example.org", "user@relay.example",
			"450 4.3.2 <unknown[192.0.2.1]>: Client host rejected: Try again later"},
		{"recipient before relay", func() *Policy {
			p := seedPolicy()
			p.RecipientBeforeRelay = true
			p.Recipient = Chain{Defer}
			return p
		}, out, "mail.example.org", "a@example.org", "u@x.example",
			"450 4.3.2 <u@x.example>: Recipient address rejected: Try again later"},
		{"implicit recipient check after permit", func() *Policy { p := seedPolicy(); p.Recipient = Chain{Permit}; return p }, "127.0.0.1", "mail.example.org", "a@example.org", "nobody@relay.example",
			"550 5.1.1 <nobody@relay.example>: Recipient address rejected: User unknown in relay recipient table"},
		{"implicit recipient check off", func() *Policy { p := seedPolicy(); p.NoImplicitRecipientCheck = true; return p }, out, "mail.example.org", "a@example.org", "nobody@relay.example", ""},
		{"hide table name", func() *Policy { p := seedPolicy(); p.Site.HideUnknownTableName = true; return p }, out, "mail.example.org", "a@example.org", "nobody@relay.example",
			"550 5.1.1 <nobody@relay.example>: Recipient address rejected: User unknown"},
		{"no relay protection", func() *Policy { p := seedPolicy(); p.Relay = Chain{PermitMyNetworks}; return p }, out, "mail.example.org", "a@example.org", "user@relay.example",
			"451 4.3.5 Server configuration error"},
		{"zero policy defers relaying", func() *Policy { return &Policy{Logger: slog.New(slog.DiscardHandler)} }, out, "x", "a@example.org", "u@x.example",
			"454 4.7.1 <u@x.example>: Relay access denied"},
		{"relay table failure is temporary", func() *Policy {
			p := seedPolicy()
			p.Site.RelayRecipientMaps = []relaymaps.Map{failingMap{relaymaps.ErrTemporary}}
			return p
		}, out, "mail.example.org", "a@example.org", "user@relay.example",
			"451 4.3.0 <user@relay.example>: Temporary lookup failure"},
		{"relay_domains failure is temporary", func() *Policy {
			p := seedPolicy()
			p.Site.RelayDomains = failingDomains{errors.New("db down")}
			return p
		}, out, "mail.example.org", "a@example.org", "user@relay.example",
			"451 4.3.0 <a@example.org>: Temporary lookup failure"},
		{"relay_domains failure is temporary for the recipient", func() *Policy {
			p := seedPolicy()
			p.Sender = nil
			p.Site.RelayDomains = failingDomains{errors.New("db down")}
			return p
		}, out, "mail.example.org", "a@example.org", "user@relay.example",
			"451 4.3.0 <user@relay.example>: Temporary lookup failure"},
		{"helo required", seedPolicy, out, "", "a@example.org", "user@relay.example",
			"MAIL: 503 5.5.1 Error: send HELO/EHLO first"},
		{"size limit", func() *Policy { p := seedPolicy(); p.MessageSizeLimit = 10; return p }, out, "mail.example.org", "a@example.org", "user@relay.example", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := rcpt(t, tt.p(), tt.ip, tt.helo, tt.from, tt.to)
			if got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

// TestNoOpenRelay tries address forms that have opened relays in the past.
// None may be accepted from a client outside mynetworks.
func TestNoOpenRelay(t *testing.T) {
	p := seedPolicy()
	forms := []string{
		"u@x.example",
		"u@X.EXAMPLE",
		"u@x.example.",
		"u%x.example@relay.example",
		"u!x.example@relay.example",
		"x.example!u@relay.example",
		`"u@x.example"@relay.example`,
		"u@x.example@relay.example",
		"@relay.example:u@x.example",
		"@relay.example,@relay.example:u@x.example",
		"u@[192.0.2.99]",
		"u@[IPv6:2001:db8::1]",
		"u%x.example@[127.0.0.1]",
		"u@x.example@[127.0.0.1]",
		"x.example!u@[127.0.0.1]",
		`"u%x.example"@relay.example`,
		"u@relay.example.x.example",
		"u@xrelay.example",
		"u@relay.example..",
	}
	for _, to := range forms {
		got := rcpt(t, p, "192.0.2.1", "mail.example.org", "a@example.org", to)
		if got == "" || !(strings.HasPrefix(got, "554 5.7.1") || strings.HasPrefix(got, "550 5.1.1") || strings.HasPrefix(got, "504 5.5.2")) {
			t.Errorf("RCPT TO:<%s> from outside: %q, want a 5xx refusal", to, got)
		}
	}
}

func TestClientAccessAndSenderDSNFix(t *testing.T) {
	p := seedPolicy()
	p.Client = Chain{CheckClientAccess(relaymaps.Dict{"192.0.2": "REJECT go away", "198.51.100.7": "OK"}, nil), Reject}
	p.Sender = Chain{CheckSenderAccess(relaymaps.Dict{"spam.example": "550 5.1.1 no thanks", "<>": "DEFER_IF_PERMIT 4.7.1 bounces later"}, nil)}
	if got, want := rcpt(t, p, "192.0.2.1", "mail.example.org", "a@example.org", "user@relay.example"),
		"554 5.7.1 <unknown[192.0.2.1]>: Client host rejected: go away"; got != want {
		t.Errorf("got %q want %q", got, want)
	}
	if got, want := rcpt(t, p, "198.51.100.7", "mail.example.org", "a@sub.spam.example", "user@relay.example"),
		"550 5.1.7 <a@sub.spam.example>: Sender address rejected: no thanks"; got != want {
		t.Errorf("got %q want %q", got, want)
	}
	if got, want := rcpt(t, p, "198.51.100.7", "mail.example.org", "", "user@relay.example"),
		"450 4.7.1 <>: Sender address rejected: bounces later"; got != want {
		t.Errorf("got %q want %q", got, want)
	}
}

func TestDataStage(t *testing.T) {
	ctx := context.Background()
	p := seedPolicy()
	p.Data = Chain{RejectUnauthPipelining, RejectMultiRecipientBounce}
	s := p.NewSession(client("192.0.2.1"))
	if r := s.Data(ctx); r == nil || r.String() != "503 5.5.1 Error: need RCPT command" {
		t.Fatalf("DATA before MAIL: %v", r)
	}
	s.Helo(ctx, "mail.example.org", true)
	s.Mail(ctx, "", 0)
	if r := s.Rcpt(ctx, "nobody@relay.example"); r == nil {
		t.Fatal("unknown recipient accepted")
	}
	if r := s.Data(ctx); r == nil || r.String() != "554 5.5.1 Error: no valid recipients" {
		t.Fatalf("DATA after rejected RCPT: %v", r)
	}
	s.Rcpt(ctx, "user@relay.example")
	s.Rcpt(ctx, "user+2@relay.example")
	if r := s.Data(ctx); r == nil || r.String() != "550 5.5.3 <DATA>: Data command rejected: Multi-recipient bounce" {
		t.Fatalf("multi-recipient bounce: %v", r)
	}
	s.State().IllegalPipelining = true
	if r := s.Data(ctx); r == nil || r.String() != "503 5.5.0 <DATA>: Data command rejected: Improper use of SMTP command pipelining" {
		t.Fatalf("pipelining: %v", r)
	}
	if r := s.Mail(ctx, "a@b.example", 0); r == nil || r.String() != "503 5.5.1 Error: nested MAIL command" {
		t.Fatalf("nested MAIL: %v", r)
	}
}

func TestEarlyReject(t *testing.T) {
	ctx := context.Background()
	p := seedPolicy()
	p.EarlyReject = true
	p.Client = Chain{CheckClientAccess(relaymaps.Dict{"192.0.2.1": "REJECT"}, nil)}
	s := p.NewSession(client("192.0.2.1"))
	if r := s.Connect(ctx); r == nil || r.String() != "554 5.7.1 <unknown[192.0.2.1]>: Client host rejected: Access denied" {
		t.Fatalf("connect: %v", r)
	}
	if r := s.Helo(ctx, "mail.example.org", true); r == nil || r.String() != "503 5.7.0 Error: access denied for unknown[192.0.2.1]" {
		t.Fatalf("HELO after connect reject: %v", r)
	}
	s = p.NewSession(client("192.0.2.2"))
	if r := s.Connect(ctx); r != nil {
		t.Fatalf("connect: %v", r)
	}
	if r := s.Helo(ctx, "h", true); r == nil || r.String() != "504 5.5.2 <h>: Helo command rejected: need fully-qualified hostname" {
		t.Fatalf("early HELO: %v", r)
	}
	if r := s.Mail(ctx, "a@b.example", 0); r == nil || r.String() != "503 5.5.1 Error: send HELO/EHLO first" {
		t.Fatalf("MAIL after rejected HELO: %v", r)
	}
}

func TestDryRun(t *testing.T) {
	p := seedPolicy()
	p.DryRun = true
	if got := rcpt(t, p, "192.0.2.1", "h", "a@example.org", "u@x.example"); got != "" {
		t.Errorf("dry run rejected: %q", got)
	}
}

func TestTrace(t *testing.T) {
	ctx := context.Background()
	p := seedPolicy()
	st := client("192.0.2.1")
	st.Trace = &Trace{}
	s := p.NewSession(st)
	s.Helo(ctx, "mail.example.org", true)
	s.Mail(ctx, "a@example.org", 0)
	s.Rcpt(ctx, "u@x.example")
	tr := s.State().Trace.String()
	want := `RCPT smtpd_relay_restrictions reject_unauth_destination REJECT reply="554 5.7.1 <u@x.example>: Relay access denied" note="domain x.example is not ours"`
	if !strings.Contains(tr, want) {
		t.Errorf("trace lacks %q:\n%s", want, tr)
	}
}

func TestReplyFormat(t *testing.T) {
	long := strings.Repeat("x", 600)
	tests := []struct {
		rj   Rejection
		soft bool
		want string
	}{
		{Rejection{550, "4.7.1", "text"}, false, "550 5.7.1 text"},
		{Rejection{450, "5.1.1", "text"}, false, "450 4.1.1 text"},
		{Rejection{250, "2.0.0", "text"}, false, "450 4.7.1 Service unavailable"},
		{Rejection{550, "9.9.9", "text"}, false, "450 4.7.1 Service unavailable"},
		{Rejection{550, "5.7.1", "a\x01b\r\nc"}, false, "550 5.7.1 a b  c"},
		{Rejection{554, "5.7.1", "x"}, true, "454 4.7.1 x"},
		{Rejection{554, "5.7.1", long}, false, "554 5.7.1 " + long[:500]},
	}
	for _, tt := range tests {
		if got := tt.rj.format(tt.soft).String(); got != tt.want {
			t.Errorf("%+v: got %q want %q", tt.rj, got, tt.want)
		}
	}
}

func TestFixDSN(t *testing.T) {
	tests := []struct {
		dsn   string
		class Class
		want  string
	}{
		{"5.1.1", ClassSender, "5.1.7"},
		{"5.1.2", ClassSender, "5.1.8"},
		{"5.1.3", ClassSender, "5.1.7"},
		{"5.1.5", ClassSender, "5.1.0"},
		{"5.1.9", ClassSender, "5.1.0"},
		{"4.1.6", ClassRecipient, "4.1.6"},
		{"4.1.0", ClassRecipient, "4.1.0"},
		{"5.1.8", ClassRecipient, "5.1.2"},
		{"5.1.7", ClassRecipient, "5.1.3"},
		{"5.1.1", ClassClient, "5.0.0"},
		{"5.7.1", ClassSender, "5.7.1"},
		{"5.1.10", ClassRecipient, "5.1.0"},
	}
	for _, tt := range tests {
		if got := FixDSN(tt.dsn, tt.class); got != tt.want {
			t.Errorf("FixDSN(%s, %s) = %s, want %s", tt.dsn, tt.class, got, tt.want)
		}
	}
}

func TestValidHostname(t *testing.T) {
	for name, want := range map[string]bool{
		"mail.example.org": true, "a": true, "a_b.example": true, "1.2.3.4": false, "a..b": false,
		"-a.example": false, "a-.example": false, "a.example.": false, "": false, "a b": false,
		strings.Repeat("a", 64) + ".example": false, strings.Repeat("a", 63) + ".example": true,
	} {
		if got := ValidHostname(name); got != want {
			t.Errorf("ValidHostname(%q) = %v, want %v", name, got, want)
		}
	}
}
