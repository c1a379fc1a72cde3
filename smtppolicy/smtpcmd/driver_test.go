package smtpcmd

import (
	"context"
	"log/slog"
	"net/netip"
	"strings"
	"testing"

	"github.com/mxkit/mxkit/smtppolicy"
)

type domains []string

func (d domains) Match(_ context.Context, domain string) (bool, error) {
	for _, x := range d {
		if strings.EqualFold(x, domain) {
			return true, nil
		}
	}
	return false, nil
}

type nets []netip.Prefix

func (n nets) Match(_ context.Context, _ string, a netip.Addr) (bool, error) {
	for _, p := range n {
		if p.Contains(a) {
			return true, nil
		}
	}
	return false, nil
}

func testPolicy() *smtppolicy.Policy {
	return &smtppolicy.Policy{
		Site: &smtppolicy.Site{
			MyHostname:   "mx.example",
			MyNetworks:   nets{netip.MustParsePrefix("127.0.0.0/8")},
			RelayDomains: domains{"example.org"},
		},
		Relay:  smtppolicy.Chain{smtppolicy.PermitMyNetworks, smtppolicy.RejectUnauthDestination},
		Logger: slog.New(slog.DiscardHandler),
	}
}

// play runs lines through a driver whose real server answers every
// forwarded command with success, and returns the replies.
func play(t *testing.T, d *Driver, lines ...string) []string {
	t.Helper()
	ctx := context.Background()
	var out []string
	for _, l := range lines {
		st := d.Handle(ctx, l)
		if st.Reply != nil {
			out = append(out, st.Reply.String())
			continue
		}
		v := ParseCommand(l).Verb
		text := SuccessText(v)
		switch v {
		case "EHLO", "HELO":
			text = "250 mx.example"
		case "AUTH", "STARTTLS":
			text = "502 5.5.1 not here"
		}
		out = append(out, "> "+st.Forward+" | "+text)
		code := 0
		for _, c := range text[:3] {
			code = code*10 + int(c-'0')
		}
		d.Done(ctx, v, code)
		if v == "DATA" {
			d.Done(ctx, EndOfData, 250)
		}
	}
	return out
}

func newDriver(p *smtppolicy.Policy, ip string) *Driver {
	s := p.NewSession(&smtppolicy.State{ClientAddr: netip.MustParseAddr(ip)})
	return NewDriver(s, "mx.example")
}

func check(t *testing.T, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("replies:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestDriverTransaction(t *testing.T) {
	d := newDriver(testPolicy(), "192.0.2.9")
	got := play(t, d,
		"EHLO client.example",
		"MAIL FROM:Joe <joe@client.example> SIZE=100",
		"RCPT TO:<u@example.org>",
		"RCPT TO:<u@elsewhere.example>",
		"RCPT TO:<postmaster>",
		"DATA",
		"MAIL FROM:<>",
		"RCPT TO:<u@elsewhere.example>",
		"DATA",
		"QUIT",
	)
	check(t, got, []string{
		"> EHLO client.example | 250 mx.example",
		"> MAIL FROM:<joe@client.example> SIZE=100 | 250 2.1.0 Ok",
		"> RCPT TO:<u@example.org> | 250 2.1.5 Ok",
		"554 5.7.1 <u@elsewhere.example>: Relay access denied",
		"> RCPT TO:<postmaster@mx.example> | 250 2.1.5 Ok",
		"> DATA | 354 End data with <CR><LF>.<CR><LF>",
		"> MAIL FROM:<> | 250 2.1.0 Ok",
		"554 5.7.1 <u@elsewhere.example>: Relay access denied",
		"554 5.5.1 Error: no valid recipients",
		"> QUIT | 221 2.0.0 Bye",
	})
}

func TestDriverSequence(t *testing.T) {
	p := testPolicy()
	p.HeloRequired = true
	d := newDriver(p, "127.0.0.1")
	got := play(t, d,
		"",
		"HELP",
		"MAIL FROM:<a@b.example>",
		"RCPT TO:<c@d.example>",
		"DATA",
		"HELO",
		"HELO client.example",
		"MAIL FROM:<a@b.example>",
		"MAIL FROM:<x@b.example>",
		"MAIL FROM <bad",
		"DATA x",
		"RCPT TO:<c@d.example> FOO=1",
		"RCPT TO:c@d.example",
		"RSET x",
		"RSET",
		"DATA x",
		"NOOP whatever",
		"VRFY",
		"VRFY <u@x.example>",
		"VRFY <u@192.0.2.1>",
		"AUTH PLAIN",
		"BDAT x",
	)
	check(t, got, []string{
		"500 5.5.2 Error: bad syntax",
		"500 5.5.2 Error: command not recognized",
		"503 5.5.1 Error: send HELO/EHLO first",
		"503 5.5.1 Error: need MAIL command",
		"503 5.5.1 Error: need RCPT command",
		"501 Syntax: HELO hostname",
		"> HELO client.example | 250 mx.example",
		"> MAIL FROM:<a@b.example> | 250 2.1.0 Ok",
		"503 5.5.1 Error: nested MAIL command",
		"503 5.5.1 Error: nested MAIL command",
		"554 5.5.1 Error: no valid recipients",
		"555 5.5.4 Unsupported option: FOO=1",
		"> RCPT TO:<c@d.example> | 250 2.1.5 Ok",
		"501 5.5.4 Syntax: RSET",
		"> RSET | 250 2.0.0 Ok",
		"503 5.5.1 Error: need RCPT command",
		"250 2.0.0 Ok",
		"501 5.5.4 Syntax: VRFY address",
		"252 2.0.0 <u@x.example>",
		"501 5.1.3 Bad recipient address syntax",
		"> AUTH PLAIN | 502 5.5.1 not here",
		"521 5.5.4 Syntax: BDAT count [LAST]",
	})
}

func TestDriverDataArgsWithRecipients(t *testing.T) {
	d := newDriver(testPolicy(), "127.0.0.1")
	got := play(t, d, "EHLO x", "MAIL FROM:<>", "RCPT TO:<u@example.org>", "DATA now")
	if last := got[len(got)-1]; last != "501 5.5.4 Syntax: DATA" {
		t.Errorf("DATA with argument = %q", last)
	}
}

func TestDriverRefusedByServer(t *testing.T) {
	ctx := context.Background()
	d := newDriver(testPolicy(), "127.0.0.1")
	play(t, d, "EHLO x", "MAIL FROM:<a@b.example>")
	st := d.Handle(ctx, "RCPT TO:<u@example.org>")
	if st.Forward == "" {
		t.Fatalf("RCPT not forwarded: %+v", st)
	}
	if got := d.Session.State().Recipients; len(got) != 1 {
		t.Fatalf("recipients after policy accept = %q", got)
	}
	d.Done(ctx, "RCPT", 550)
	if got := d.Session.State().Recipients; len(got) != 0 {
		t.Fatalf("recipients after server refusal = %q", got)
	}
	if st := d.Handle(ctx, "DATA"); st.Reply == nil || st.Reply.String() != "554 5.5.1 Error: no valid recipients" {
		t.Errorf("DATA after refused RCPT = %+v", st)
	}
	// A refused MAIL resets the transaction: a new MAIL is not nested.
	d.Session.Reset()
	d.Handle(ctx, "MAIL FROM:<a@b.example>")
	d.Done(ctx, "MAIL", 451)
	if st := d.Handle(ctx, "MAIL FROM:<a@b.example>"); st.Reply != nil {
		t.Errorf("MAIL after refused MAIL = %v", st.Reply)
	}
}

func TestDriverDenied(t *testing.T) {
	p := testPolicy()
	p.EarlyReject = true
	p.Client = smtppolicy.Chain{smtppolicy.Reject}
	s := p.NewSession(&smtppolicy.State{ClientAddr: netip.MustParseAddr("192.0.2.7")})
	r := s.Connect(context.Background())
	if r == nil {
		t.Fatal("connect not rejected")
	}
	d := NewDriver(s, "mx.example")
	got := play(t, d, "EHLO x", "MAIL FROM:<>", "NOOP", "BOGUS", "QUIT")
	check(t, got, []string{
		"503 5.7.0 Error: access denied for unknown[192.0.2.7]",
		"503 5.7.0 Error: access denied for unknown[192.0.2.7]",
		"503 5.7.0 Error: access denied for unknown[192.0.2.7]",
		"500 5.5.2 Error: command not recognized",
		"> QUIT | 221 2.0.0 Bye",
	})
}

func TestDriverErrorLimit(t *testing.T) {
	d := newDriver(testPolicy(), "127.0.0.1")
	d.HardErrorLimit = 2
	got := play(t, d, "X", "Y", "NOOP")
	check(t, got, []string{
		"500 5.5.2 Error: command not recognized",
		"500 5.5.2 Error: command not recognized",
		"421 4.7.0 mx.example Error: too many errors",
	})
	if st := d.Handle(context.Background(), "NOOP"); !st.Close {
		t.Error("421 does not close")
	}
}

func TestDriverSoftBounce(t *testing.T) {
	p := testPolicy()
	p.SoftBounce = true
	d := newDriver(p, "127.0.0.1")
	got := play(t, d, "RCPT TO:<a@b>")
	check(t, got, []string{"403 4.5.1 Error: need MAIL command"})
}

func TestDriverBDAT(t *testing.T) {
	ctx := context.Background()
	d := newDriver(testPolicy(), "127.0.0.1")
	play(t, d, "EHLO x", "MAIL FROM:<>", "RCPT TO:<u@example.org>")
	for _, l := range []string{"BDAT 10", "BDAT 0 LAST"} {
		st := d.Handle(ctx, l)
		if st.Forward != l {
			t.Fatalf("%s: %+v", l, st)
		}
		d.Done(ctx, "BDAT", 250)
	}
	if d.Session.State().HasSender {
		t.Error("transaction not reset after BDAT LAST")
	}
}

func TestSuccessText(t *testing.T) {
	for verb, want := range map[string]string{
		"mail": "250 2.1.0 Ok", "RCPT": "250 2.1.5 Ok", "DATA": "354 End data with <CR><LF>.<CR><LF>",
		"RSET": "250 2.0.0 Ok", "NOOP": "250 2.0.0 Ok", "QUIT": "221 2.0.0 Bye", ".": "250 2.0.0 Ok: queued", "XYZ": "",
	} {
		if got := SuccessText(verb); got != want {
			t.Errorf("SuccessText(%q) = %q, want %q", verb, got, want)
		}
	}
	if got := QueuedText("4ABC"); got != "250 2.0.0 Ok: queued as 4ABC" {
		t.Errorf("QueuedText = %q", got)
	}
}

// TestDriverVrfyRunsRecipientChecks: VRFY gets the RCPT verdict for its
// address (Postfix's smtpd_check_rcpt) and leaves the transaction alone.
func TestDriverVrfyRunsRecipientChecks(t *testing.T) {
	d := newDriver(testPolicy(), "192.0.2.7")
	got := play(t, d,
		"EHLO client.example",
		"VRFY <u@elsewhere.example>",
		"VRFY u@example.org",
		"VRFY postmaster",
		"MAIL FROM:<a@b.example>",
		"VRFY u@elsewhere.example",
		"RCPT TO:<u@example.org>",
	)
	check(t, got, []string{
		"> EHLO client.example | 250 mx.example",
		"554 5.7.1 <u@elsewhere.example>: Relay access denied",
		"252 2.0.0 u@example.org",
		"252 2.0.0 postmaster",
		"> MAIL FROM:<a@b.example> | 250 2.1.0 Ok",
		"554 5.7.1 <u@elsewhere.example>: Relay access denied",
		"> RCPT TO:<u@example.org> | 250 2.1.5 Ok",
	})
	st := d.Session.State()
	if !st.HasSender || st.Rejected != 0 || strings.Join(st.Recipients, ",") != "u@example.org" {
		t.Errorf("state after VRFY: sender %v, rejected %d, recipients %q; want true, 0, u@example.org", st.HasSender, st.Rejected, st.Recipients)
	}
}

// TestDriverETRN: Postfix 3.7's ETRN replies (measured), with the
// domain passed to the hook without RFC 1985's '@' or '#' prefix.
func TestDriverETRN(t *testing.T) {
	p := testPolicy()
	p.HeloRequired = true
	d := newDriver(p, "192.0.2.7")
	var asked []string
	d.ETRN = func(_ context.Context, domain string) bool {
		asked = append(asked, domain)
		return domain == "example.test"
	}
	got := play(t, d,
		"ETRN example.test",
		"EHLO client.example",
		"ETRN",
		"ETRN example.test",
		"ETRN @example.test",
		"ETRN #elsewhere.example",
		"MAIL FROM:<a@b.example>",
		"ETRN example.test",
	)
	check(t, got, []string{
		"503 Error: send HELO/EHLO first",
		"> EHLO client.example | 250 mx.example",
		"500 Syntax: ETRN domain",
		"250 Queuing started",
		"250 Queuing started",
		"459 <elsewhere.example>: service unavailable",
		"> MAIL FROM:<a@b.example> | 250 2.1.0 Ok",
		"503 Error: MAIL transaction in progress",
	})
	if strings.Join(asked, ",") != "example.test,example.test,elsewhere.example" {
		t.Errorf("hook asked for %q", asked)
	}
	// Without a hook ETRN is an unknown command.
	d = newDriver(testPolicy(), "192.0.2.7")
	check(t, play(t, d, "ETRN example.test"), []string{"500 5.5.2 Error: command not recognized"})
}
