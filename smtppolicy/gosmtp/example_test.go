package gosmtp_test

import (
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/textproto"

	"github.com/emersion/go-smtp"

	"github.com/mxkit/mxkit/relaymaps"
	"github.com/mxkit/mxkit/smtppolicy"
	"github.com/mxkit/mxkit/smtppolicy/gosmtp"
)

// accept is a stand-in for the application's backend.
type accept struct{}

func (accept) NewSession(*smtp.Conn) (smtp.Session, error) { return acceptSession{}, nil }

type acceptSession struct{}

func (acceptSession) Reset()                               {}
func (acceptSession) Logout() error                        { return nil }
func (acceptSession) Mail(string, *smtp.MailOptions) error { return nil }
func (acceptSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (acceptSession) Data(r io.Reader) error               { _, err := io.Copy(io.Discard, r); return err }

// Wiring go-smtp, the policy Backend and the Listener front.
func Example() {
	relayDomains, _ := relaymaps.ParseDomainList("example.org", nil)
	p := &smtppolicy.Policy{
		Site:   &smtppolicy.Site{MyHostname: "mx.example.org", RelayDomains: relayDomains},
		Relay:  smtppolicy.Chain{smtppolicy.PermitMyNetworks, smtppolicy.RejectUnauthDestination},
		Logger: slog.New(slog.DiscardHandler),
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	front := gosmtp.NewListener(ln, p)
	front.Logger = slog.New(slog.DiscardHandler)
	s := smtp.NewServer(&gosmtp.Backend{Policy: p, Next: accept{}})
	s.ErrorLog = log.New(io.Discard, "", 0)
	go s.Serve(front)
	defer s.Close()

	c, err := textproto.Dial("tcp", ln.Addr().String())
	if err != nil {
		panic(err)
	}
	defer c.Close()
	say := func(cmd string) {
		if cmd != "" {
			c.PrintfLine("%s", cmd)
		}
		code, msg, err := c.ReadResponse(0)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(code, msg)
	}
	say("")
	say("HELO client.example.net")
	say("MAIL FROM:<a@example.net>")
	say("RCPT TO:<postmaster>")
	say("RCPT TO:<u@elsewhere.example>")
	say("QUIT")
	// Output:
	// 220 mx.example.org ESMTP
	// 250 mx.example.org
	// 250 2.1.0 Ok
	// 250 2.1.5 Ok
	// 554 5.7.1 <u@elsewhere.example>: Relay access denied
	// 221 2.0.0 Bye
}
