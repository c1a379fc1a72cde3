package postfix

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mxkit/mxkit/internal/postfixconf"
	"github.com/mxkit/mxkit/smtppolicy"
	"github.com/mxkit/mxkit/smtppolicy/policyproto"
)

var quiet = &Options{Logger: slog.New(slog.DiscardHandler)}

func loadSeed(t *testing.T) *Server {
	t.Helper()
	srv, err := Load("testdata/seed/main.cf", quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

// dialogue runs HELO, MAIL and RCPT and returns the first refusal, or "".
func dialogue(p *smtppolicy.Policy, ip, helo, from, to string) string {
	ctx := context.Background()
	s := p.NewSession(&smtppolicy.State{ClientAddr: netip.MustParseAddr(ip)})
	if r := s.Helo(ctx, helo, true); r != nil {
		return r.String()
	}
	if r := s.Mail(ctx, from, 0); r != nil {
		return r.String()
	}
	if r := s.Rcpt(ctx, to); r != nil {
		return r.String()
	}
	return ""
}

func TestSeedPolicy(t *testing.T) {
	srv := loadSeed(t)
	p := srv.Policy
	p.Logger = slog.New(slog.DiscardHandler)
	if srv.Hostname != "maeve.example.net" || srv.Banner != "maeve.example.net ESMTP mxkit" || !srv.StrictEnvelopes {
		t.Errorf("server settings: %q %q %v", srv.Hostname, srv.Banner, srv.StrictEnvelopes)
	}
	if p.MessageSizeLimit != 26214400 || !p.HeloRequired || p.EarlyReject || !p.RecipientBeforeRelay {
		t.Errorf("policy settings: size %d helo %v early %v recipient-first %v", p.MessageSizeLimit, p.HeloRequired, p.EarlyReject, p.RecipientBeforeRelay)
	}
	tests := []struct{ ip, helo, from, to, want string }{
		{"203.0.113.9", "mail.example.com", "carol@example.net", "alice@example.org", ""},
		{"203.0.113.9", "mail.example.com", "carol@example.net", "alice+news@example.org", ""},
		{"203.0.113.9", "mail.example.com", "carol@example.net", "info@example.org", ""},
		{"203.0.113.9", "mail.example.com", "carol@example.net", "sales@example.com", ""},
		{"203.0.113.9", "mail.example.com", "carol@example.net", "mallory@example.org",
			"550 5.1.1 <mallory@example.org>: Recipient address rejected: User unknown in relay recipient table"},
		{"203.0.113.9", "mail.example.com", "carol@example.net", "alice@sub.example.org",
			"550 5.1.1 <alice@sub.example.org>: Recipient address rejected: User unknown in relay recipient table"},
		{"203.0.113.9", "mail.example.com", "carol@example.net", "u@elsewhere.example",
			"554 5.7.1 <u@elsewhere.example>: Relay access denied"},
		{"203.0.113.9", "mail.example.com", "carol@example.net", "u@[127.0.0.1]",
			"550 5.1.1 <u@[127.0.0.1]>: Recipient address rejected: local mail delivery is disabled"},
		{"203.0.113.9", "mailhost", "carol@example.net", "alice@example.org",
			"504 5.5.2 <mailhost>: Helo command rejected: need fully-qualified hostname"},
		{"203.0.113.9", "mail.example.com", "nobody@example.org", "alice@example.org",
			"550 5.1.0 <nobody@example.org>: Sender address rejected: User unknown in relay recipient table"},
		{"192.0.2.66", "mail.example.com", "carol@example.net", "alice@example.org",
			"554 5.7.1 <unknown[192.0.2.66]>: Client host rejected: no reverse DNS, no mail"},
		{"10.195.171.9", "mailhost", "carol@example.net", "u@elsewhere.example", ""},
		{"127.0.0.1", "x", "nobody@example.org", "u@elsewhere.example", ""},
		// compatibility_level = 2: the recipient list runs before the relay list.
		{"203.0.113.9", "mail.example.com", "carol@example.net", "u@elsewhere",
			"504 5.5.2 <u@elsewhere>: Recipient address rejected: need fully-qualified address"},
	}
	for _, tt := range tests {
		if got := dialogue(p, tt.ip, tt.helo, tt.from, tt.to); got != tt.want {
			t.Errorf("%s HELO %s MAIL %s RCPT %s:\n got  %q\n want %q", tt.ip, tt.helo, tt.from, tt.to, got, tt.want)
		}
	}
	ignored := strings.Join(srv.Ignored, "\n")
	for _, name := range []string{"notify_classes", "biff", "tls_preempt_cipherlist", "mailbox_size_limit", "alias_maps"} {
		if !strings.Contains(ignored, name+" (") {
			t.Errorf("%s not reported as ignored:\n%s", name, ignored)
		}
	}
	// The SMTP client's parameters are honoured (by queue/postfix,
	// whose TestSeedQueue reads them), none ignored.
	if strings.Contains(ignored, "smtp_") {
		t.Errorf("smtp_* parameters ignored:\n%s", ignored)
	}
}

func TestUnsupportedParameters(t *testing.T) {
	base := "myhostname = mx.example.test\nmydestination =\nsmtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination\n"
	tests := []struct{ extra, want string }{
		{"smtpd_milters = unix:/rspamd/rspamd_proxy.sock\n", "main.cf:4: parameter smtpd_milters: milters are not supported by mxkit"},
		{"postscreen_dnsbl_sites = zen.example\n", "main.cf:4: parameter postscreen_dnsbl_sites: not supported by mxkit"},
		{"smtpd_client_message_rate_limit = 10\n", "main.cf:4: parameter smtpd_client_message_rate_limit: not supported by mxkit"},
		{"smtpd_recipient_restrictions = reject_bogus_thing\n", `main.cf:4: parameter smtpd_recipient_restrictions: restriction "reject_bogus_thing": unknown restriction`},
		{"smtpd_relay_restrictions = permit_mynetworks\n", "main.cf:4: parameter smtpd_relay_restrictions: specify at least one working instance of"},
		{"smtpd_tls_security_level = encrypt\n", "main.cf:4: parameter smtpd_tls_security_level: encrypt needs a server certificate"},
		{"smtpd_tls_security_level = verify\n", "main.cf:4: parameter smtpd_tls_security_level: level \"verify\" is not supported by mxkit"},
		{"owner_request_special = no\n", "main.cf:4: parameter owner_request_special: only \"yes\" is not supported by mxkit"},
		{"smtp_client_restrictions = permit_mynetworks, reject\n", "main.cf:4: parameter smtp_client_restrictions: not a Postfix parameter (misspelt? did you mean smtpd_client_restrictions?)"},
		{"smtpd_restriction_classes = a\na = b\n", `main.cf:5: parameter a: restriction "b": unknown restriction`},
	}
	for _, tt := range tests {
		dir := t.TempDir()
		path := filepath.Join(dir, "main.cf")
		if err := os.WriteFile(path, []byte(base+tt.extra), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Load(path, quiet)
		if err == nil {
			t.Errorf("%q: loaded without error", tt.extra)
			continue
		}
		if got := strings.TrimPrefix(err.Error(), dir+"/"); !strings.HasPrefix(got, tt.want) {
			t.Errorf("%q:\n got  %s\n want %s...", tt.extra, got, tt.want)
		}
		if strings.Contains(tt.want, "not supported") && !errors.Is(err, ErrUnsupported) {
			t.Errorf("%q: error does not wrap ErrUnsupported", tt.extra)
		}
	}
}

func TestRestrictionClasses(t *testing.T) {
	cfg, err := postfixconf.Parse(strings.NewReader(`myhostname = mx.example.test
mydestination =
relay_domains = example.test
smtpd_restriction_classes = strict, permissive
strict = reject_non_fqdn_helo_hostname, permissive
permissive = permit
smtpd_recipient_restrictions = check_recipient_access inline:{ {u@example.test = strict} }
smtpd_relay_restrictions = reject_unauth_destination
`), "main.cf")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := Build(cfg, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	srv.Policy.Logger = slog.New(slog.DiscardHandler)
	if got, want := dialogue(srv.Policy, "192.0.2.1", "h", "a@b.example", "u@example.test"),
		"504 5.5.2 <h>: Helo command rejected: need fully-qualified hostname"; got != want {
		t.Errorf("got %q want %q", got, want)
	}
	if got := dialogue(srv.Policy, "192.0.2.1", "h.example", "a@b.example", "u@example.test"); got != "" {
		t.Errorf("got %q", got)
	}
}

func TestPolicyServiceFromMainCF(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ps := &policyproto.Server{Handler: func(_ context.Context, r policyproto.Request) string {
		if r.Recipient == "blocked@example.test" {
			return "REJECT nope"
		}
		return "permit_auth_destination"
	}, Logger: slog.New(slog.DiscardHandler)}
	go ps.Serve(ln)
	t.Cleanup(func() { ps.Shutdown(context.Background()) })
	cfg, err := postfixconf.Parse(strings.NewReader(`myhostname = mx.example.test
mydestination =
relay_domains = example.test
smtpd_policy_service_timeout = 5s
smtpd_recipient_restrictions = reject_unauth_destination, check_policy_service inet:`+ln.Addr().String()+`, reject
`), "main.cf")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := Build(cfg, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	srv.Policy.Logger = slog.New(slog.DiscardHandler)
	if got, want := dialogue(srv.Policy, "192.0.2.1", "h.example", "a@b.example", "blocked@example.test"),
		"554 5.7.1 <blocked@example.test>: Recipient address rejected: nope"; got != want {
		t.Errorf("got %q want %q", got, want)
	}
	// The server's answer names a restriction: it is evaluated.
	if got := dialogue(srv.Policy, "192.0.2.1", "h.example", "a@b.example", "ok@example.test"); got != "" {
		t.Errorf("got %q", got)
	}
}

// TestBanner: mail_name defaults to mxkit, so the default smtpd_banner
// names mxkit, not Postfix; main.cf's mail_name or smtpd_banner wins.
func TestBanner(t *testing.T) {
	for _, tt := range []struct{ cf, want string }{
		{"", "mx.example.test ESMTP mxkit"},
		{"mail_name = Postfix\n", "mx.example.test ESMTP Postfix"},
		{"mail_name = Acme MTA\n", "mx.example.test ESMTP Acme MTA"},
		{"smtpd_banner = $myhostname ESMTP\n", "mx.example.test ESMTP"},
		{"smtpd_banner = $myhostname ESMTP $mail_name ($mail_version)\n", "mx.example.test ESMTP mxkit (3.7.11)"},
	} {
		cfg, err := postfixconf.Parse(strings.NewReader("compatibility_level = 3.6\nmyhostname = mx.example.test\nsmtpd_peername_lookup = no\n"+tt.cf), "main.cf")
		if err != nil {
			t.Fatal(err)
		}
		srv, err := Build(cfg, quiet)
		if err != nil {
			t.Fatalf("%q: %v", tt.cf, err)
		}
		srv.Close()
		if srv.Banner != tt.want {
			t.Errorf("%q: banner %q, want %q", tt.cf, srv.Banner, tt.want)
		}
	}
}

// TestParseOverrides: Options.Overrides are set after the file, as
// postconf -o does: they win over main.cf, $name references see them,
// and they are judged as the file's own parameters are.
func TestParseOverrides(t *testing.T) {
	const cf = "compatibility_level = 3.6\nmyhostname = mx.example.test\nmydestination =\nsmtpd_peername_lookup = no\nmail_name = hello\n"
	o := *quiet
	o.Overrides = map[string]string{"myhostname": "other.example.test", "mail_name": "hi", "strict_rfc821_envelopes": "yes"}
	srv, err := Parse(strings.NewReader(cf), "main.cf", &o)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if srv.Hostname != "other.example.test" || srv.Banner != "other.example.test ESMTP hi" || !srv.StrictEnvelopes {
		t.Errorf("hostname %q banner %q strict %v", srv.Hostname, srv.Banner, srv.StrictEnvelopes)
	}
	o.Overrides = map[string]string{"smtpd_milters": "unix:/run/milter"}
	if _, err := Parse(strings.NewReader(cf), "main.cf", &o); err == nil || !errors.Is(err, ErrUnsupported) || !strings.HasPrefix(err.Error(), "parameter smtpd_milters: ") {
		t.Errorf("unsupported override: %v", err)
	}
}
