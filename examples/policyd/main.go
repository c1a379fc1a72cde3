// Command policyd is a Postfix policy server (SMTPD_POLICY_README) that
// evaluates the smtpd_*_restrictions of a main.cf with mxkit's engine:
//
//	go run ./examples/policyd -listen 127.0.0.1:10040 -config /etc/mxkit/main.cf
//
// Postfix asks it with "check_policy_service inet:127.0.0.1:10040"; see
// README.md for the main.cf lines and for how queries map to the engine.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/mxkit/mxkit/smtppolicy"
	"github.com/mxkit/mxkit/smtppolicy/policyproto"
	"github.com/mxkit/mxkit/smtppolicy/postfix"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stderr, nil); err != nil {
		fmt.Fprintln(os.Stderr, "policyd:", err)
		os.Exit(1)
	}
}

// run serves until ctx is done. ready, if not nil, receives the listening
// address.
func run(ctx context.Context, args []string, stderr io.Writer, ready chan<- string) error {
	fs := flag.NewFlagSet("policyd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:10040", "address to listen on: host:port, or unix:/path")
	config := fs.String("config", "", "the main.cf whose smtpd_*_restrictions decide (required)")
	verbose := fs.Bool("v", false, "log every decision")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *config == "" {
		return errors.New("-config MAIN.CF is required")
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	d, err := newDecider(*config, log)
	if err != nil {
		return err
	}
	defer d.Close()

	network, addr := "tcp", *listen
	if p, ok := strings.CutPrefix(addr, "unix:"); ok {
		network, addr = "unix", p
	}
	l, err := net.Listen(network, addr)
	if err != nil {
		return err
	}
	srv := &policyproto.Server{Handler: d.Decide, Logger: log}
	if ready != nil {
		ready <- l.Addr().String()
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, policyproto.ErrServerClosed) {
		return err
	}
	return nil
}

// decider answers policy queries with a main.cf's restrictions.
type decider struct {
	// delayed is the main.cf as written; early is the same with
	// smtpd_delay_reject = no, so that CONNECT, HELO and MAIL queries
	// evaluate the list of their own stage.
	delayed, early *postfix.Server
	log            *slog.Logger
}

func newDecider(path string, log *slog.Logger) (*decider, error) {
	delayed, err := postfix.Load(path, &postfix.Options{Logger: log})
	if err != nil {
		return nil, err
	}
	// As "postconf -o smtpd_delay_reject=no" would run it.
	early, err := postfix.Load(path, &postfix.Options{Logger: log, Overrides: map[string]string{"smtpd_delay_reject": "no"}})
	if err != nil {
		delayed.Close()
		return nil, err
	}
	return &decider{delayed: delayed, early: early, log: log}, nil
}

func (d *decider) Close() error { return errors.Join(d.delayed.Close(), d.early.Close()) }

// Decide answers one query: DUNNO when the restrictions accept, so that
// Postfix goes on with its own list, or the engine's reply as a numeric
// action ("550 5.7.1 text") when they refuse.
func (d *decider) Decide(ctx context.Context, req policyproto.Request) string {
	r, err := d.evaluate(ctx, req)
	if err != nil {
		d.log.Warn("policyd: cannot evaluate query", "error", err)
		return "DUNNO"
	}
	if r == nil {
		d.log.Info("policyd: accept", "state", req.ProtocolState, "client", req.ClientAddress, "sender", req.Sender, "recipient", req.Recipient)
		return "DUNNO"
	}
	d.log.Info("policyd: reject", "state", req.ProtocolState, "client", req.ClientAddress, "sender", req.Sender, "recipient", req.Recipient, "reply", r.String())
	return fmt.Sprintf("%d %s %s", r.Code, r.Enhanced, stripContext(r.Text, req))
}

// evaluate replays the session up to the query's stage on a fresh
// Session and returns the first refusal.
func (d *decider) evaluate(ctx context.Context, req policyproto.Request) (*smtppolicy.Reply, error) {
	st, err := req.State()
	if err != nil {
		return nil, err
	}
	srv := d.early
	if req.ProtocolState == "RCPT" {
		srv = d.delayed
	}
	s := srv.Policy.NewSession(st)
	steps := []func() *smtppolicy.Reply{
		func() *smtppolicy.Reply { return s.Connect(ctx) },
	}
	switch req.ProtocolState {
	case "CONNECT":
	case "HELO", "EHLO", "MAIL", "RCPT":
		if req.HeloName != "" {
			steps = append(steps, func() *smtppolicy.Reply { return s.Helo(ctx, req.HeloName, req.ProtocolName == "ESMTP") })
		}
		if req.ProtocolState == "HELO" || req.ProtocolState == "EHLO" {
			break
		}
		steps = append(steps, func() *smtppolicy.Reply { return s.Mail(ctx, req.Sender, req.Size) })
		if req.ProtocolState == "RCPT" {
			steps = append(steps, func() *smtppolicy.Reply { return s.Rcpt(ctx, req.Recipient) })
		}
	default:
		// DATA, END-OF-MESSAGE, VRFY, ETRN: the query does not carry
		// enough of the transaction to replay it.
		return nil, nil
	}
	for _, step := range steps {
		if r := step(); r != nil {
			return r, nil
		}
	}
	return nil, nil
}

// stripContext removes the "<name>: Class rejected: " that Postfix adds
// itself to a numeric policy action, when ours says the same.
func stripContext(text string, req policyproto.Request) string {
	var prefix string
	switch req.ProtocolState {
	case "RCPT":
		prefix = "<" + req.Recipient + ">: " + string(smtppolicy.ClassRecipient) + " rejected: "
	case "MAIL":
		prefix = "<" + req.Sender + ">: " + string(smtppolicy.ClassSender) + " rejected: "
	case "HELO", "EHLO":
		prefix = "<" + req.HeloName + ">: " + string(smtppolicy.ClassHelo) + " rejected: "
	case "CONNECT":
		prefix = "<" + req.ClientName + "[" + req.ClientAddress + "]>: " + string(smtppolicy.ClassClient) + " rejected: "
	}
	if t, ok := strings.CutPrefix(text, prefix); ok && t != "" {
		return t
	}
	return text
}
