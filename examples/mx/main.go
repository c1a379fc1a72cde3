// Command mx is a runnable MX built with mxkit: go-smtp behind mxkit's
// policy engine and protocol front, configured by a Postfix main.cf.
//
//	go run ./examples/mx                      # built-in configuration, 127.0.0.1:2525
//	go run ./examples/mx -config /etc/postfix/main.cf -listen 127.0.0.1:2525
//
// Accepted mail goes into mxkit's queue (a spool folder; each message is
// written and synced, file and folder, before the 250 reply) and is
// delivered per transport_maps, relay_transport and default_transport:
// the built-in configuration delivers example.test into Maildirs under
// the spool folder. "mx queue" shows and manages the queue.
package main

import (
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mxkit/mxkit/dnsres"
	"github.com/mxkit/mxkit/internal/postfixconf"
	"github.com/mxkit/mxkit/internal/sdnotify"
	"github.com/mxkit/mxkit/queue"
	"github.com/mxkit/mxkit/queue/deliver"
	"github.com/mxkit/mxkit/queue/pgstore"
	qpostfix "github.com/mxkit/mxkit/queue/postfix"
	"github.com/mxkit/mxkit/smtppolicy/gosmtp"
	"github.com/mxkit/mxkit/smtppolicy/postfix"
)

//go:embed default.cf
var defaultConfig string

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	sub := ""
	if len(os.Args) > 1 {
		sub = os.Args[1]
	}
	switch sub {
	case "queue":
		err = queueCommand(ctx, os.Args[2:], os.Stdout)
	case "check":
		if err = checkCommand(os.Args[2:], os.Stdout, os.Stderr); errors.Is(err, errRefused) {
			os.Exit(1) // the report says what
		}
	case "postconf":
		err = postconfCommand(os.Args[2:], os.Stdout, os.Stderr)
	default:
		err = run(ctx, os.Args[1:], os.Stdout, nil)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "mx:", err)
		os.Exit(1)
	}
}

// run starts the MX and serves until ctx is done. ready, if not nil,
// receives the listening address.
func run(ctx context.Context, args []string, stdout io.Writer, ready chan<- string) error {
	fs := flag.NewFlagSet("mx", flag.ContinueOnError)
	fs.SetOutput(stdout)
	listen := fs.String("listen", "127.0.0.1:2525", "address to listen on")
	config := fs.String("config", "", "a Postfix main.cf (relative table paths are resolved against its folder); empty means the built-in configuration")
	spool := fs.String("spool", defaultSpool(), "the queue's folder (relative maildir: folders are under it)")
	verbose := fs.Bool("v", false, "log every policy decision")
	queueDB := fs.String("queue-db", "", "a PostgreSQL connection string (postgres://...): keep the queue there, shared with other MXs, instead of in the spool folder")
	withTLSRPT := fs.Bool("tlsrpt", false, "send TLS-RPT reports (RFC 8460) to the domains we deliver to: results kept in SPOOL/tlsrpt (in the -queue-db database when set, one report per domain and day for all MXs), sent daily after midnight UTC through our own queue (mailto:) and by https POST")
	logFormat := fs.String("log-format", "slog", "log format: slog (structured key=value records), or postfix (Postfix's syslog lines, for pflogsumm and fail2ban's postfix filters)")
	syslogName := fs.String("syslog-name", "postfix", "with -log-format postfix: Postfix's syslog_name, the NAME of NAME/smtpd[pid]")
	resolver := fs.String("resolver", "", "DNS server (host:port) for the DNS checks, client names and delivery by MX (a validating resolver on loopback, such as Unbound, for DANE); empty means /etc/resolv.conf")
	if err := fs.Parse(args); err != nil {
		return err
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	logger, lerr := newLogger(stdout, *logFormat, *syslogName, level)
	if lerr != nil {
		return lerr
	}

	opts := &postfix.Options{Logger: logger}
	if *resolver != "" {
		r, err := dnsres.New(dnsres.Options{Servers: []string{*resolver}, Logger: logger})
		if err != nil {
			return err
		}
		opts.Resolver = r
	}
	var srv *postfix.Server
	var qs *qpostfix.Settings
	var err error
	if *config == "" {
		cfg, perr := postfixconf.Parse(strings.NewReader(defaultConfig), "built-in main.cf")
		if perr != nil {
			return perr
		}
		if opts.Overrides, err = autoTLS(cfg, *spool, time.Now(), logger); err != nil {
			return err
		}
		srv, qs, err = qpostfix.Parse(strings.NewReader(defaultConfig), "built-in main.cf", opts)
	} else {
		srv, qs, err = qpostfix.Load(*config, opts)
	}
	if err != nil {
		return err
	}
	defer srv.Close()
	defer qs.Close()

	var sp queue.Store
	if *queueDB != "" {
		// Several MXs may share this queue: each leases what it delivers.
		pg, err := pgstore.Connect(ctx, *queueDB, pgstore.Options{Logger: logger})
		if err != nil {
			return err
		}
		defer pg.Close()
		sp = pg
		if err := os.MkdirAll(*spool, 0o700); err != nil {
			return err
		}
	} else {
		fsp, err := queue.OpenSpool(*spool, queue.SpoolOptions{Logger: logger, FS: spoolFS})
		if err != nil {
			return err
		}
		defer fsp.Close()
		sp = fsp
	}
	listenSelf(&qs.SMTP, *listen)
	qs.DSN.Lifetime = qs.Schedule.Lifetime
	trs := transports(srv, qs, *spool, logger)
	var rpt *tlsReporting
	if *withTLSRPT {
		if rpt, err = startTLSRPT(ctx, *spool, *queueDB, srv, logger); err != nil {
			return err
		}
		defer rpt.close()
		if smtpc, ok := trs["smtp"].(*deliver.SMTP); ok {
			smtpc.TLSRPT = rpt.agg
		}
	}
	q := &queue.Queue{
		Store: sp, Router: qs.Router(), Transports: trs,
		Schedule: qs.Schedule, Limit: qs.Limit, TransportLimits: qs.TransportLimits,
		SoftBounce: qs.SoftBounce, DSN: qs.DSN, Logger: logger,
	}
	qctx, qcancel := context.WithCancel(context.Background())
	qdone := make(chan error, 1)
	go func() { qdone <- q.Run(qctx) }()
	if rpt != nil {
		rpt.run(qctx, sp, q)
	}
	defer func() {
		qcancel()
		<-qdone
		for _, t := range trs {
			if c, ok := t.(io.Closer); ok {
				c.Close()
			}
		}
	}()
	stopControl, err := serveControl(qctx, *spool, q, logger)
	if err != nil {
		return err
	}
	defer stopControl()

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	fl := gosmtp.NewListener(ln, srv.Policy)
	fl.Hostname, fl.Banner, fl.TLSConfig = srv.Hostname, srv.Banner, srv.TLS
	fl.MaxConnsPerIP, fl.Timeout, fl.Strict, fl.SMTPUTF8 = srv.ConnectionLimit, srv.Timeout, srv.StrictEnvelopes, srv.SMTPUTF8
	fl.ConnLimitExceptions = srv.ConnectionLimitExceptions
	fl.RequireTLS, fl.DisableVRFY = srv.RequireTLS, srv.DisableVRFY
	// ETRN (RFC 1985) for fast_flush_domains: a primary MX that is back
	// asks its backup for its mail.
	fl.ETRN = func(ctx context.Context, domain string) bool {
		ok, err := qs.FastFlushDomains.Match(ctx, domain)
		if err != nil || !ok {
			return false
		}
		go func() {
			if _, err := q.Flush(context.WithoutCancel(ctx), domain); err != nil {
				logger.Error("mx: ETRN flush failed", "domain", domain, "err", err)
			}
		}()
		return true
	}
	fl.Logger = logger
	fl.NoPeernameLookup = !srv.PeernameLookup

	be := &backend{store: sp, q: q, srv: srv, hostname: srv.Hostname, log: logger, now: time.Now, minFree: qs.MinFree}
	if *queueDB == "" {
		be.spoolDir = *spool
	}
	s := smtp.NewServer(&gosmtp.Backend{Policy: srv.Policy, Next: be, Hostname: srv.Hostname})
	s.EnableDSN = true
	s.EnableSMTPUTF8 = srv.SMTPUTF8
	s.Domain = srv.Hostname
	s.MaxMessageBytes = srv.Policy.MessageSizeLimit
	s.ReadTimeout, s.WriteTimeout = srv.Timeout, srv.Timeout
	s.ErrorLog = slogPrinter{logger}

	addr := ln.Addr().String()
	where := *spool
	if *queueDB != "" {
		where = "PostgreSQL (-queue-db)"
	}
	fmt.Fprintf(stdout, "mxkit MX %s listening on %s; queue in %s\n", srv.Hostname, addr, where)
	if *config == "" {
		host, port, _ := net.SplitHostPort(addr)
		fmt.Fprintf(stdout, "Try it (swaks is in Debian's swaks package):\n"+
			"  swaks --server %[1]s --port %[2]s --helo client.example.org --from you@example.org --to alice@example.test\n"+
			"  swaks --server %[1]s --port %[2]s --helo client.example.org --from you@example.org --to alice@example.test -tls   # STARTTLS\n"+
			"  swaks --server %[1]s --port %[2]s --local-interface 127.0.0.2 --helo client.example.org --from you@example.org --to someone@elsewhere.example   # Relay access denied\n"+
			"Mail for example.test is delivered to %[3]s; see the queue with: go run ./examples/mx queue -spool %[4]s list\n",
			host, port, filepath.Join(*spool, "mailboxes"), *spool)
	}
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(fl) }()
	// Under systemd (Type=notify): ready once listening.
	if _, err := sdnotify.Notify(sdnotify.Ready + "\nSTATUS=listening on " + addr); err != nil {
		logger.Warn("mx: sd_notify failed", "err", err)
	}
	if ready != nil {
		ready <- addr
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	if _, err := sdnotify.Notify(sdnotify.Stopping); err != nil {
		logger.Warn("mx: sd_notify failed", "err", err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Shutdown(sctx); err != nil && !errors.Is(err, smtp.ErrServerClosed) {
		return err
	}
	return nil
}

// spoolFS, when set (by tests), is the spool's file system: fault injection.
var spoolFS queue.FS

func defaultSpool() string { return filepath.Join(os.TempDir(), "mxkit-mx-spool") }

type slogPrinter struct{ l *slog.Logger }

func (p slogPrinter) Printf(format string, v ...any) {
	p.l.Debug("go-smtp: " + fmt.Sprintf(format, v...))
}
func (p slogPrinter) Println(v ...any) { p.l.Debug("go-smtp: " + fmt.Sprint(v...)) }
