package smtppolicytest

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/mxkit/mxkit/relaymaps"
	"github.com/mxkit/mxkit/smtppolicy"
)

func policy() *smtppolicy.Policy {
	return &smtppolicy.Policy{
		Site: &smtppolicy.Site{
			MyHostname:   "mx.example",
			MyNetworks:   Networks("127.0.0.0/8", "2001:db8::1"),
			RelayDomains: Domains{"example.org", ".sub.example.org"},
		},
		Relay:  smtppolicy.Chain{smtppolicy.PermitMyNetworks, smtppolicy.RejectUnauthDestination},
		Logger: slog.New(slog.DiscardHandler),
	}
}

func TestPlay(t *testing.T) {
	got := Play(t, policy(), NewState("192.0.2.1"), `
		EHLO c.example
		MAIL FROM:<a@c.example>
		RCPT TO:<u@example.org>
		RCPT TO:<u@a.sub.example.org>
		RCPT TO:<u@other.example>
		DATA
		Subject: hi

		body
		.
		QUIT
	`)
	want := []string{
		"220 mx.example ESMTP",
		"250 mx.example",
		"250 2.1.0 Ok",
		"250 2.1.5 Ok",
		"250 2.1.5 Ok",
		"554 5.7.1 <u@other.example>: Relay access denied",
		"354 End data with <CR><LF>.<CR><LF>",
		"250 2.0.0 Ok: queued as TEST1",
		"221 2.0.0 Bye",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestExpectFailures(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct{ script, err string }{
		{"> EHLO x\n< 250", "script:1: reply \"220 mx.example ESMTP\" to \"(connect)\" was not expected"},
		{"< 220\n> EHLO x\n< 251", "script:3: after \"EHLO x\" got \"250 mx.example\", want \"251\""},
		{"< 220\n> EHLO x", "script: end: reply \"250 mx.example\" to \"EHLO x\" was not expected"},
		{"< 220\n< 250", "script:2: expected \"250\" after \"(connect)\", got no reply"},
	} {
		err := expect(ctx, policy(), NewState("127.0.0.1"), tc.script)
		if err == nil || err.Error() != tc.err {
			t.Errorf("expect(%q) = %v, want %s", tc.script, err, tc.err)
		}
	}
}

func TestExpectMynetworksIPv6(t *testing.T) {
	Expect(t, policy(), NewState("2001:db8::1", WithName("relay.example")), `
		< 220
		> HELO relay.example
		< 250
		> MAIL FROM:<>
		< 250 2.1.0
		> RCPT TO:<anyone@anywhere.example>
		< 250 2.1.5 Ok
	`)
}

func TestFailingMaps(t *testing.T) {
	for _, tc := range []struct {
		kind error
		want string
	}{
		// Postfix answers any lookup error inside an access table so.
		{relaymaps.ErrTemporary, "451 4.3.5 <u@example.org>: Recipient address rejected: Server configuration error"},
		{relaymaps.ErrConfig, "451 4.3.5 <u@example.org>: Recipient address rejected: Server configuration error"},
	} {
		p := policy()
		p.Recipient = smtppolicy.Chain{smtppolicy.CheckRecipientAccess(FailingMap(tc.kind), nil)}
		got := Play(t, p, NewState("192.0.2.1"), "EHLO x\nMAIL FROM:<>\nRCPT TO:<u@example.org>")
		if last := got[len(got)-1]; last != tc.want {
			t.Errorf("%v: RCPT = %q, want prefix %q", tc.kind, last, tc.want)
		}
	}
}

func TestMap(t *testing.T) {
	m := Map(map[string]string{"Spam@Example.COM": "REJECT"})
	v, ok, err := m.Lookup(context.Background(), "spam@example.com")
	if v != "REJECT" || !ok || err != nil {
		t.Errorf("Lookup = %q %v %v", v, ok, err)
	}
}

func TestStateOptions(t *testing.T) {
	st := NewState("192.0.2.1", WithName("c.example"), WithHelo("h.example"), WithSASL("joe"), WithTLS())
	got := fmt.Sprintf("%s %s %s %v %v %s", st.ClientNamAddr(), st.ReverseName, st.Helo, st.ESMTP, st.TLS != nil, st.SASLUsername)
	if want := "c.example[192.0.2.1] c.example h.example true true joe"; got != want {
		t.Errorf("state = %q, want %q", got, want)
	}
}
