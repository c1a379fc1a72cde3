package gosmtp

import (
	"bufio"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mxkit/mxkit/relaymaps"
	"github.com/mxkit/mxkit/smtppolicy"
	"github.com/mxkit/mxkit/smtppolicy/smtppolicytest"
)

// app is the application backend: it records what reaches it.
type app struct {
	mu    sync.Mutex
	rcpts []string
	msgs  []string
}

func (a *app) NewSession(*smtp.Conn) (smtp.Session, error) { return &appSession{a: a}, nil }

type appSession struct{ a *app }

func (s *appSession) Reset()                               {}
func (s *appSession) Logout() error                        { return nil }
func (s *appSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *appSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if to == "refused@example.org" {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	}
	s.a.mu.Lock()
	s.a.rcpts = append(s.a.rcpts, to)
	s.a.mu.Unlock()
	return nil
}
func (s *appSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	s.a.mu.Lock()
	s.a.msgs = append(s.a.msgs, string(b))
	s.a.mu.Unlock()
	return err
}

func policy() *smtppolicy.Policy {
	return &smtppolicy.Policy{
		Site: &smtppolicy.Site{
			MyHostname:   "mx.example",
			MyNetworks:   smtppolicytest.Networks("127.0.0.2"),
			RelayDomains: smtppolicytest.Domains{"example.org"},
		},
		Relay:  smtppolicy.Chain{smtppolicy.PermitMyNetworks, smtppolicy.RejectUnauthDestination},
		Logger: slog.New(slog.DiscardHandler),
		Recipient: smtppolicy.Chain{smtppolicy.CheckRecipientAccess(smtppolicytest.Map(map[string]string{
			"blocked@example.org": "554 5.7.1 <blocked@example.org>: Recipient address rejected: blocked here",
		}), nil)},
	}
}

// start runs go-smtp on 127.0.0.1:0, behind a Listener when front is set.
func start(t *testing.T, p *smtppolicy.Policy, front bool) (string, *app) {
	t.Helper()
	a := &app{}
	s := smtp.NewServer(&Backend{Policy: p, Next: a})
	s.Domain = "mx.example"
	s.ErrorLog = nopLog{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var l net.Listener = ln
	if front {
		fl := NewListener(ln, p)
		fl.Logger = slog.New(slog.DiscardHandler)
		l = fl
	}
	go s.Serve(l)
	t.Cleanup(func() { s.Close() })
	return ln.Addr().String(), a
}

type nopLog struct{}

func (nopLog) Printf(string, ...any) {}
func (nopLog) Println(...any)        {}

type client struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func dial(t *testing.T, addr, from string) *client {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second}
	if from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	t.Cleanup(func() { c.Close() })
	return &client{t, c, bufio.NewReader(c)}
}

// reply reads one reply, joining multi-line replies with "|".
func (c *client) reply() string {
	c.t.Helper()
	var out []string
	for {
		l, err := c.br.ReadString('\n')
		if err != nil {
			return strings.Join(append(out, "ERR "+err.Error()), "|")
		}
		l = strings.TrimRight(l, "\r\n")
		out = append(out, l)
		if len(l) < 4 || l[3] != '-' {
			return strings.Join(out, "|")
		}
	}
}

func (c *client) send(s string) { io.WriteString(c.c, s) }

// talk sends each line and returns the replies.
func (c *client) talk(lines ...string) []string {
	var out []string
	for _, l := range lines {
		c.send(l + "\r\n")
		out = append(out, c.reply())
	}
	return out
}

func eq(t *testing.T, got []string, want ...string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("replies:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestFrontGaps(t *testing.T) {
	addr, a := start(t, policy(), true)
	c := dial(t, addr, "127.0.0.1")
	if g := c.reply(); g != "220 mx.example ESMTP" {
		t.Fatalf("greeting %q", g)
	}
	got := c.talk(
		"RCPT TO:<u@example.org>",
		"DATA",
		"HELO client.example",
		"MAIL FROM:<a@client.example>",
		"MAIL FROM:<a@client.example>",
		"RCPT TO:<postmaster>",
		"RCPT TO:<u@elsewhere.example>",
		"RCPT TO:<refused@example.org>",
		"RCPT TO:<u@example.org> FOO=1",
		"RCPT TO:<u@example.org>",
		"DATA",
	)
	eq(t, got,
		"503 5.5.1 Error: need MAIL command",
		"503 5.5.1 Error: need RCPT command",
		"250 mx.example",
		"250 2.1.0 Ok",
		"503 5.5.1 Error: nested MAIL command",
		"250 2.1.5 Ok",
		"554 5.7.1 <u@elsewhere.example>: Relay access denied",
		"550 5.1.1 no such user",
		"555 5.5.4 Unsupported option: FOO=1",
		"250 2.1.5 Ok",
		"354 End data with <CR><LF>.<CR><LF>",
	)
	c.send("Subject: x\r\n\r\n..dot\r\n.\r\n")
	eq(t, []string{c.reply()}, "250 2.0.0 Ok: queued")
	eq(t, c.talk("QUIT"), "221 2.0.0 Bye")
	a.mu.Lock()
	defer a.mu.Unlock()
	eq(t, a.rcpts, "postmaster@mx.example", "u@example.org")
	eq(t, a.msgs, "Subject: x\r\n\r\n.dot\r\n")
}

func TestFrontBareLF(t *testing.T) {
	addr, a := start(t, policy(), true)
	c := dial(t, addr, "127.0.0.1")
	c.reply()
	eq(t, c.talk("EHLO c", "MAIL FROM:<>", "RCPT TO:<u@example.org>", "DATA")[1:],
		"250 2.1.0 Ok", "250 2.1.5 Ok", "354 End data with <CR><LF>.<CR><LF>")
	c.send("a\nb\r\n.\r\n")
	eq(t, []string{c.reply(), c.reply()}, "521 5.5.2 mx.example Error: bare <LF> received", "ERR EOF")
	if len(a.msgs) != 0 {
		t.Errorf("app got %q", a.msgs)
	}
}

func TestFrontPipelining(t *testing.T) {
	addr, _ := start(t, policy(), true)
	c := dial(t, addr, "127.0.0.1")
	c.reply()
	c.talk("EHLO c")
	c.send("MAIL FROM:<a@c.example>\r\nRCPT TO:<u@elsewhere.example>\r\nRCPT TO:<u@example.org>\r\nDATA\r\n")
	var got []string
	for range 4 {
		got = append(got, c.reply())
	}
	eq(t, got, "250 2.1.0 Ok", "554 5.7.1 <u@elsewhere.example>: Relay access denied", "250 2.1.5 Ok",
		"354 End data with <CR><LF>.<CR><LF>")
}

func TestFrontEHLO(t *testing.T) {
	addr, _ := start(t, policy(), true)
	c := dial(t, addr, "127.0.0.1")
	c.reply()
	got := c.talk("EHLO c")[0]
	if !strings.HasPrefix(got, "250-mx.example|250-PIPELINING|") || strings.Contains(got, "STARTTLS") {
		t.Errorf("EHLO reply %q", got)
	}
}

func TestFrontMynetworksRelay(t *testing.T) {
	addr, _ := start(t, policy(), true)
	c := dial(t, addr, "127.0.0.2")
	c.reply()
	eq(t, c.talk("EHLO c", "MAIL FROM:<>", "RCPT TO:<u@elsewhere.example>")[1:], "250 2.1.0 Ok", "250 2.1.5 Ok")
}

func TestFrontConnectReject(t *testing.T) {
	p := policy()
	p.EarlyReject = true
	p.Client = smtppolicy.Chain{smtppolicy.Reject}
	addr, _ := start(t, p, true)
	c := dial(t, addr, "127.0.0.1")
	eq(t, append([]string{c.reply()}, c.talk("EHLO c", "QUIT")...),
		"554 5.7.1 <unknown[127.0.0.1]>: Client host rejected: Access denied",
		"503 5.7.0 Error: access denied for unknown[127.0.0.1]",
		"221 2.0.0 Bye")
}

func TestFrontTooManyConnections(t *testing.T) {
	p := policy()
	a := &app{}
	s := smtp.NewServer(&Backend{Policy: p, Next: a})
	s.ErrorLog = nopLog{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fl := NewListener(ln, p)
	fl.MaxConnsPerIP = 1
	exc, err := relaymaps.ParseHostList("127.0.0.3", nil)
	if err != nil {
		t.Fatal(err)
	}
	fl.ConnLimitExceptions = exc
	fl.Logger = slog.New(slog.DiscardHandler) // before Serve: the sessions read it
	go s.Serve(fl)
	t.Cleanup(func() { s.Close() })
	c1 := dial(t, ln.Addr().String(), "127.0.0.1")
	c1.reply()
	c2 := dial(t, ln.Addr().String(), "127.0.0.1")
	eq(t, []string{c2.reply(), c2.reply()}, "421 4.7.0 mx.example Error: too many connections from 127.0.0.1", "ERR EOF")
	// The limit is per client address.
	c3 := dial(t, ln.Addr().String(), "127.0.0.2")
	eq(t, append([]string{c3.reply()}, c3.talk("NOOP")...), "220 mx.example ESMTP", "250 2.0.0 Ok")
	// The slot is free again once the first session has ended (the count
	// drops before the server closes the connection).
	eq(t, append(c1.talk("QUIT"), c1.reply()), "221 2.0.0 Bye", "ERR EOF")
	c4 := dial(t, ln.Addr().String(), "127.0.0.1")
	eq(t, []string{c4.reply()}, "220 mx.example ESMTP")
	// Clients in the exceptions (Postfix: $mynetworks) have no limit.
	c5 := dial(t, ln.Addr().String(), "127.0.0.3")
	c6 := dial(t, ln.Addr().String(), "127.0.0.3")
	eq(t, []string{c5.reply(), c6.reply()}, "220 mx.example ESMTP", "220 mx.example ESMTP")
}

// TestBackendAlone: without the Listener, a policy rejection still reaches
// the client with its own code, not go-smtp's 451.
func TestBackendAlone(t *testing.T) {
	addr, a := start(t, policy(), false)
	c := dial(t, addr, "127.0.0.1")
	c.reply()
	got := c.talk("HELO c", "MAIL FROM:<>", "RCPT TO:<u@elsewhere.example>", "RCPT TO:<u@example.org>", "DATA")
	eq(t, got[1:3],
		"250 2.0.0 Roger, accepting mail from <>",
		"554 5.7.1 <u@elsewhere.example>: Relay access denied")
	c.send("a\nb\r\n.\r\n")
	eq(t, []string{c.reply()}, "521 5.5.2 mx.example Error: bare <LF> received")
	if len(a.msgs) != 0 {
		t.Errorf("app got %q", a.msgs)
	}
}
