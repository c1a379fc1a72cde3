package smtppolicy

import (
	"context"
	"log/slog"
	"net/netip"
	"strings"
	"testing"

	"github.com/mxkit/mxkit/relaymaps"
)

// FuzzParseList feeds restriction lists to the registry: it must never
// panic, and a list it accepts must evaluate without panicking and give
// a well-formed reply.
func FuzzParseList(f *testing.F) {
	for _, s := range []string{
		"permit_mynetworks, reject_unauth_destination",
		"permit_mynetworks\n    check_client_access inline:{ 1.2.3.4=REJECT }\n    reject",
		"warn_if_reject reject_non_fqdn_helo_hostname, defer_if_permit",
		"check_sender_access inline:{ {a@b = 550 5.1.1 no} }, reject_unlisted_sender",
		"cls, permit",
		"inline:{ x=OK }",
		"check_policy_service { inet:127.0.0.1:9998, timeout=10s }",
		"reject_rbl_client",
		"",
		"{",
		"check_client_access",
	} {
		f.Add(s)
	}
	reg := &Registry{Classes: map[string]Chain{"cls": {Defer}}}
	f.Fuzz(func(t *testing.T, list string) {
		c, err := reg.ParseList(list, "check_client_access")
		if err != nil {
			if _, ok := err.(*ParseError); !ok && !strings.Contains(err.Error(), "relaymaps") {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		p := seedPolicy()
		p.Logger = slog.New(slog.DiscardHandler)
		p.Client, p.Helo, p.Sender, p.Recipient = c, c, c, c
		s := p.NewSession(&State{ClientAddr: netip.MustParseAddr("192.0.2.1")})
		ctx := context.Background()
		s.Helo(ctx, "mail.example.org", true)
		s.Mail(ctx, "a@example.org", 0)
		if r := s.Rcpt(ctx, "user@relay.example"); r != nil {
			checkReply(t, r)
		}
	})
}

// FuzzAccessAction interprets arbitrary access(5) values: never a panic,
// never a reply outside 4xx/5xx, never a 2xx rejection.
func FuzzAccessAction(f *testing.F) {
	for _, s := range []string{
		"OK", "REJECT", "REJECT 5.7.1 go away", "550 5.1.1 no such user", "550", "450 text",
		"DEFER_IF_PERMIT 4.7.1 later", "DEFER_IF_REJECT", "DUNNO", "HOLD", "DISCARD bye",
		"FILTER smtp:[127.0.0.1]:10025", "REDIRECT a@b", "BCC c@d", "PREPEND X-Foo: bar",
		"WARN careful", "INFO hi", "permit_mynetworks reject", "hash:/etc/x", "", "299 weird",
		"599 5.9.9 x", "421 4.7.0 bye", "REJECT 9.9.9 bad dsn", "defer_if_permit",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, value string) {
		p := seedPolicy()
		p.Logger = slog.New(slog.DiscardHandler)
		reg := &Registry{}
		p.Recipient = Chain{CheckRecipientAccess(relaymaps.Dict{"user@relay.example": value}, reg)}
		s := p.NewSession(&State{ClientAddr: netip.MustParseAddr("192.0.2.1")})
		ctx := context.Background()
		s.Helo(ctx, "mail.example.org", true)
		s.Mail(ctx, "a@example.org", 0)
		if r := s.Rcpt(ctx, "user@relay.example"); r != nil {
			checkReply(t, r)
		}
	})
}

func checkReply(t *testing.T, r *Reply) {
	t.Helper()
	if r.Code < 400 || r.Code > 599 {
		t.Fatalf("reply code %d: %s", r.Code, r)
	}
	if r.Enhanced[0] != r.Code/100 {
		t.Fatalf("DSN class differs from code: %s", r)
	}
	if len(r.String()) > maxReplyLen {
		t.Fatalf("reply longer than %d: %d", maxReplyLen, len(r.String()))
	}
	for _, c := range []byte(r.String()) {
		if c < 0x20 || c == 0x7f {
			t.Fatalf("non-printable byte %#x in %q", c, r)
		}
	}
}
