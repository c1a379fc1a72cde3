package gosmtp

import (
	"log/slog"
	"net"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/mxkit/mxkit/smtppolicy"
)

// gatedListener hands out each accepted connection only when the test
// says so, so that a client can speak before the server looks.
type gatedListener struct {
	net.Listener
	gate chan struct{}
}

func (g gatedListener) Accept() (net.Conn, error) {
	c, err := g.Listener.Accept()
	if err == nil {
		<-g.gate
	}
	return c, err
}

// TestFrontPipeliningAfterHELO: as Postfix's smtpd, the front counts as
// improper pipelining any command followed by more input before the
// client said EHLO (it was not offered PIPELINING), and input sent
// before the greeting (measured against Postfix 3.7.11).
func TestFrontPipeliningAfterHELO(t *testing.T) {
	const improper = "503 5.5.0 <DATA>: Data command rejected: Improper use of SMTP command pipelining"
	p := policy()
	p.Data = smtppolicy.Chain{smtppolicy.RejectUnauthPipelining}
	addr, _ := startFront(t, p, nil)

	c := dial(t, addr, "127.0.0.1")
	c.reply()
	eq(t, c.talk("HELO c"), "250 mx.example")
	c.send("MAIL FROM:<>\r\nRCPT TO:<u@example.org>\r\n")
	eq(t, []string{c.reply(), c.reply()}, "250 2.1.0 Ok", "250 2.1.5 Ok")
	eq(t, c.talk("DATA"), improper)

	// After EHLO the same group is allowed.
	c = dial(t, addr, "127.0.0.1")
	c.reply()
	c.talk("EHLO c")
	c.send("MAIL FROM:<>\r\nRCPT TO:<u@example.org>\r\nDATA\r\n")
	eq(t, []string{c.reply(), c.reply(), c.reply()}, "250 2.1.0 Ok", "250 2.1.5 Ok", "354 End data with <CR><LF>.<CR><LF>")

	// Input before the greeting.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gate := make(chan struct{})
	s := smtp.NewServer(&Backend{Policy: p, Next: &app{}})
	s.Domain, s.ErrorLog = "mx.example", nopLog{}
	fl := NewListener(gatedListener{ln, gate}, p)
	fl.Logger = slog.New(slog.DiscardHandler)
	go s.Serve(fl)
	t.Cleanup(func() { s.Close() })
	c = dial(t, ln.Addr().String(), "127.0.0.1")
	c.send("EHLO c\r\n")
	close(gate)
	c.reply()
	c.reply()
	eq(t, c.talk("MAIL FROM:<>", "RCPT TO:<u@example.org>", "DATA"), "250 2.1.0 Ok", "250 2.1.5 Ok", improper)
}

// TestFrontSoftBounceEverything: soft_bounce turns every 5xx of the
// server into 4xx, the enhanced code too: syntax errors, the front's own
// replies and go-smtp's (Postfix's smtpd_chat_reply does it for every
// reply it sends).
func TestFrontSoftBounceEverything(t *testing.T) {
	p := policy()
	p.SoftBounce = true
	p.MessageSizeLimit = 100
	addr, _ := startFront(t, p, nil)
	c := dial(t, addr, "127.0.0.1")
	c.reply()
	eq(t, c.talk("HELO", "FROB", "EHLO c")[:2], "401 Syntax: HELO hostname", "400 4.5.2 Error: command not recognized")
	eq(t, c.talk("MAIL FROM:<a@192.0.2.1>", "MAIL FROM:<> SIZE=x", "MAIL FROM:<> FOO=1", "STARTTLS", "AUTH PLAIN", "MAIL FROM:<> SIZE=1000"),
		"401 4.1.7 Bad sender address syntax",
		"401 4.5.4 Bad message size syntax",
		"455 4.5.4 Unsupported option: FOO=1",
		"402 4.5.1 Error: command not implemented",
		"403 4.5.1 Error: authentication not enabled",
		"452 4.3.4 Message size exceeds fixed limit")
	eq(t, c.talk("MAIL FROM:<>", "RCPT TO:<u@elsewhere.example>", "RCPT TO:<u@example.org>", "DATA"),
		"250 2.1.0 Ok", "454 4.7.1 <u@elsewhere.example>: Relay access denied", "250 2.1.5 Ok", "354 End data with <CR><LF>.<CR><LF>")
	c.send("Subject: big\r\n\r\n0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789\r\n.\r\n")
	eq(t, []string{c.reply()}, "452 4.3.4 Error: message file too big")
	c.send("MAIL FROM:<>\r\nRCPT TO:<u@example.org>\r\nBDAT 101 LAST\r\n" + string(make([]byte, 101)))
	eq(t, []string{c.reply(), c.reply(), c.reply()}, "250 2.1.0 Ok", "250 2.1.5 Ok", "452 4.3.4 Chunk exceeds message size limit")
	c.send("BDAT x\r\n")
	eq(t, []string{c.reply()}, "421 4.5.4 Syntax: BDAT count [LAST]")
	c.closed()
}
