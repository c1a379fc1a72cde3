// Command danecheck checks a domain's DANE for SMTP (RFC 7672) the way a
// sending MTA with smtp_tls_security_level = dane sees it:
//
//	go run ./examples/danecheck -resolver 127.0.0.1 example.com
//
// It looks up the domain's MX hosts through a validating resolver, their
// TLSA records, connects to every address of every MX host that has DANE,
// does EHLO and STARTTLS, verifies the server with the TLSA records, and
// says QUIT (it never sends mail). It prints one line per MX host and a
// verdict line, exiting 0 (verified, not applicable), 1 (failed) or 2
// (temporary failure); see README.md for the output and the rules.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"net/textproto"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/mxkit/mxkit/dane"
	"github.com/mxkit/mxkit/dnsres"
)

// Exit codes.
const (
	exitOK    = 0  // verified, or not applicable
	exitFail  = 1  // failed
	exitTemp  = 2  // temporary failure
	exitUsage = 64 // bad command line (EX_USAGE)
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout)
	stop()
	os.Exit(code)
}

type options struct {
	resolver string
	port     int
	timeout  time.Duration
	policy   dane.InsecureMXPolicy
	helo     string
	domain   string
}

func parseArgs(args []string, out io.Writer) (options, error) {
	fs := flag.NewFlagSet("danecheck", flag.ContinueOnError)
	fs.SetOutput(out)
	var o options
	fs.StringVar(&o.resolver, "resolver", "", "validating resolver `ADDR[:PORT]` (its AD bit is trusted only on loopback); required")
	fs.IntVar(&o.port, "port", 25, "SMTP port: the port connected to and the _PORT._tcp of the TLSA records")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Second, "limit for each SMTP connection, from connect to QUIT")
	policy := fs.String("insecure-mx-policy", "dane", "smtp_tls_dane_insecure_mx_policy: dane, encrypt or may")
	fs.StringVar(&o.helo, "helo", "localhost", "name sent in EHLO")
	fs.Usage = func() {
		fmt.Fprintln(out, "usage: danecheck -resolver ADDR[:PORT] [-port 25] [-timeout 30s] [-insecure-mx-policy dane|encrypt|may] DOMAIN")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	var err error
	if o.policy, err = dane.ParseInsecureMXPolicy(*policy); err != nil {
		return o, err
	}
	switch {
	case o.resolver == "":
		return o, errors.New("-resolver is required")
	case fs.NArg() != 1:
		return o, errors.New("want exactly one DOMAIN")
	case o.port < 1 || o.port > 65535:
		return o, fmt.Errorf("-port %d: out of range", o.port)
	case o.timeout <= 0:
		return o, errors.New("-timeout must be positive")
	}
	o.domain = strings.ToLower(strings.TrimSuffix(fs.Arg(0), "."))
	if o.domain == "" {
		return o, errors.New("empty DOMAIN")
	}
	return o, nil
}

// run checks the domain named in args, writes the report to stdout and
// returns the exit code.
func run(ctx context.Context, args []string, stdout io.Writer) int {
	o, err := parseArgs(args, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintln(stdout, "danecheck:", err)
		return exitUsage
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	r, err := dnsres.New(dnsres.Options{Servers: []string{o.resolver}, Logger: logger, CacheSize: -1})
	if err != nil {
		fmt.Fprintln(stdout, "danecheck:", err)
		return exitUsage
	}
	c := &checker{opts: o, r: r}
	v := c.check(ctx, stdout)
	fmt.Fprintln(stdout, v.line())
	return v.code()
}

// class is how one MX host (or the whole domain) came out, from best to
// worst: the aggregate over hosts is the worst, except that notApplicable
// hosts do not stop a verified verdict.
type class int

const (
	notApplicable class = iota
	verified
	tempFail
	failed
)

type verdict struct {
	class  class
	reason string
}

func (v verdict) line() string {
	switch v.class {
	case verified:
		return "dane: verified"
	case failed:
		return "dane: failed (" + v.reason + ")"
	case tempFail:
		return "dane: temporary failure (" + v.reason + ")"
	}
	return "dane: not applicable (" + v.reason + ")"
}

func (v verdict) code() int {
	switch v.class {
	case failed:
		return exitFail
	case tempFail:
		return exitTemp
	}
	return exitOK
}

type checker struct {
	opts options
	r    *dnsres.Resolver
}

// check runs the whole check and returns the verdict; it writes one line
// per MX host to w.
func (c *checker) check(ctx context.Context, w io.Writer) verdict {
	domain := c.opts.domain
	mx, err := c.r.LookupMX(ctx, domain)
	switch {
	case errors.Is(err, dnsres.ErrNXDomain):
		return verdict{notApplicable, "domain does not exist"}
	case errors.Is(err, dnsres.ErrNullMX):
		return verdict{notApplicable, "null MX"}
	case errors.Is(err, dnsres.ErrNoData):
		// No MX records: the domain is its own host (below).
	case err != nil:
		return verdict{tempFail, domain + ": " + dane.ResultDNSSECInvalid + ": MX lookup failed: " + err.Error()}
	}
	hosts := mx.Hosts
	var real []dane.MX
	for _, h := range hosts {
		if h.Host != "" {
			real = append(real, h)
		}
	}
	if len(hosts) > 0 && len(real) == 0 {
		return verdict{notApplicable, "null MX"}
	}
	if len(hosts) == 0 {
		// RFC 5321 §5.1: no MX records, the domain is its own host.
		real = []dane.MX{{Pref: 0, Host: domain}}
	}
	var worst verdict
	var naReasons []string
	anyVerified := false
	for _, h := range real {
		hv := c.checkHost(ctx, w, mx, h)
		switch hv.class {
		case verified:
			anyVerified = true
		case notApplicable:
			if !contains(naReasons, hv.reason) {
				naReasons = append(naReasons, hv.reason)
			}
		}
		if hv.class > worst.class && hv.class != verified {
			worst = hv
		}
	}
	switch {
	case worst.class >= tempFail:
		return worst
	case anyVerified:
		return verdict{class: verified}
	case mx.Security != dane.Secure:
		return verdict{notApplicable, "insecure MX RRset"}
	}
	return verdict{notApplicable, strings.Join(naReasons, "; ")}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// checkHost discovers DANE for one MX host, connects to its addresses when
// DANE applies, prints its line and returns its verdict.
func (c *checker) checkHost(ctx context.Context, w io.Writer, mx dane.MXResult, h dane.MX) verdict {
	addrs, aerr := c.r.LookupAddrs(ctx, h.Host)
	d, derr := dane.Discover(ctx, c.r, mx, h.Host, c.opts.port, c.opts.policy)

	addrSec := addrs.Security.String()
	if aerr != nil && addrs.Security == dane.Secure {
		addrSec = dane.Indeterminate.String()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s pref=%d dnssec=mx:%s,addr:%s tlsa=", h.Host, h.Pref, mx.Security, addrSec)
	if len(d.Records) == 0 {
		b.WriteString("none")
	} else {
		recs := make([]string, len(d.Records))
		for i, r := range d.Records {
			recs[i] = short(r)
		}
		b.WriteString(strconv.Quote(strings.Join(recs, ", ")))
	}
	b.WriteString(" result=")
	defer func() { fmt.Fprintln(w, b.String()) }()

	switch d.Outcome {
	case dane.TempFail:
		rt := dane.ResultType(derr)
		reason := d.Reason
		var de *dane.Error
		if errors.As(derr, &de) {
			reason = de.Reason
		}
		b.WriteString("temporary failure: " + rt + ": " + d.Reason)
		return verdict{tempFail, h.Host + ": " + rt + ": " + reason}
	case dane.NotApplicable:
		b.WriteString("not applicable (" + d.Reason + ")")
		return verdict{notApplicable, d.Reason}
	}
	if aerr != nil {
		// Discover looked the addresses up again and got an answer; ours
		// failed. Report it rather than guess.
		b.WriteString("temporary failure: address lookup failed: " + aerr.Error())
		return verdict{tempFail, h.Host + ": address lookup failed"}
	}
	if len(addrs.Addrs) == 0 {
		b.WriteString("temporary failure: no addresses")
		return verdict{tempFail, h.Host + ": no addresses"}
	}
	// Connect to every address; the host's verdict is the worst of them.
	hv := verdict{class: verified}
	if d.Outcome == dane.EncryptOnly {
		hv = verdict{notApplicable, d.Reason}
		if d.MXSecure || c.opts.policy != dane.InsecureMXEncrypt {
			// Secure TLSA records, none usable: the domain's DANE does
			// not authenticate anything (TLS-RPT "tlsa-invalid").
			hv = verdict{failed, h.Host + ": " + dane.ResultTLSAInvalid + ": " + d.Reason}
		}
	}
	for i, a := range addrs.Addrs {
		if i > 0 {
			b.WriteString("; ")
		}
		res := c.probe(ctx, d, a)
		b.WriteString(a.String() + ": " + res.text)
		if res.class > hv.class {
			hv = verdict{res.class, h.Host + "[" + a.String() + "]: " + res.reason}
		}
	}
	return hv
}

// short is a TLSA record with its data cut to 16 hex digits.
func short(r dane.TLSA) string {
	s := r.String()
	if fields := strings.Fields(s); len(fields) == 4 && len(fields[3]) > 16 {
		return strings.Join(fields[:3], " ") + " " + fields[3][:16] + "..."
	}
	return s
}

// probeResult is the outcome of one SMTP connection.
type probeResult struct {
	class  class  // verified (or notApplicable for unauthenticated TLS), tempFail, failed
	text   string // for the host line
	reason string // for the verdict line
}

// probe connects to addr, does EHLO and STARTTLS, and the TLS handshake
// with d's configuration, then QUIT.
func (c *checker) probe(ctx context.Context, d dane.Decision, addr netip.Addr) probeResult {
	ctx, cancel := context.WithTimeout(ctx, c.opts.timeout)
	defer cancel()
	temp := func(reason string, err error) probeResult {
		return probeResult{tempFail, "temporary failure: " + reason + ": " + err.Error(), reason}
	}
	var dialer net.Dialer
	conn, err := dialer.DialContext(ctx, "tcp", net.JoinHostPort(addr.String(), strconv.Itoa(c.opts.port)))
	if err != nil {
		return temp("connect failed", err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	tc := textproto.NewConn(conn)
	if _, _, err := tc.ReadResponse(220); err != nil {
		return temp("greeting", err)
	}
	if err := tc.PrintfLine("EHLO %s", c.opts.helo); err != nil {
		return temp("EHLO", err)
	}
	_, msg, err := tc.ReadResponse(250)
	if err != nil {
		var te *textproto.Error
		if errors.As(err, &te) && te.Code >= 500 {
			return noSTARTTLS("EHLO rejected: " + err.Error())
		}
		return temp("EHLO", err)
	}
	if !offersSTARTTLS(msg) {
		quit(tc)
		return noSTARTTLS("STARTTLS not offered")
	}
	if err := tc.PrintfLine("STARTTLS"); err != nil {
		return temp("STARTTLS", err)
	}
	if _, _, err := tc.ReadResponse(220); err != nil {
		var te *textproto.Error
		if errors.As(err, &te) && te.Code >= 500 {
			return noSTARTTLS("STARTTLS rejected: " + err.Error())
		}
		return temp("STARTTLS", err)
	}
	tlsConn := tlsClient(conn, d)
	if err := tlsConn.HandshakeContext(ctx); err != nil {
		var de *dane.Error
		if errors.As(err, &de) {
			s := de.ResultType() + ": " + de.Reason
			text := "failed: " + s
			if de.Err != nil {
				text += ": " + de.Err.Error()
			}
			return probeResult{failed, text, s}
		}
		var ne net.Error
		if errors.As(err, &ne) || errors.Is(err, io.EOF) || ctx.Err() != nil {
			return temp("TLS handshake", err)
		}
		return probeResult{failed, "failed: " + dane.ResultValidationFailure + ": TLS handshake: " + err.Error(),
			dane.ResultValidationFailure + ": TLS handshake failed"}
	}
	quit(textproto.NewConn(tlsConn))
	if d.Outcome != dane.Required {
		return probeResult{class: notApplicable, text: "tls (unauthenticated)"}
	}
	return probeResult{class: verified, text: "verified (" + matched(d.Records, tlsConn.ConnectionState().PeerCertificates) + ")"}
}

func tlsClient(conn net.Conn, d dane.Decision) *tls.Conn {
	return tls.Client(conn, d.Config())
}

// matched names the record that authenticated chain, the way Verify
// looks: DANE-EE records against the leaf first, then DANE-TA records
// against the chain.
func matched(records []dane.TLSA, chain []*x509.Certificate) string {
	if len(chain) > 0 {
		for _, r := range records {
			if r.Usage == dane.UsageDANEEE && r.Matches(chain[0]) {
				return "DANE-EE " + short(r)
			}
		}
	}
	for _, r := range records {
		if r.Usage != dane.UsageDANETA {
			continue
		}
		for _, c := range chain {
			if r.Matches(c) {
				return "DANE-TA " + short(r)
			}
		}
		if r.Selector == dane.SelectorCert && r.MatchingType == dane.MatchFull {
			return "DANE-TA " + short(r)
		}
	}
	return "DANE"
}

func noSTARTTLS(why string) probeResult {
	return probeResult{failed, "no STARTTLS (" + why + ")", dane.ResultSTARTTLSNotSupported + ": " + why}
}

// offersSTARTTLS reports whether an EHLO reply (lines after the first are
// extensions) lists STARTTLS.
func offersSTARTTLS(msg string) bool {
	lines := strings.Split(msg, "\n")
	for _, l := range lines[1:] {
		if f := strings.Fields(l); len(f) > 0 && strings.EqualFold(f[0], "STARTTLS") {
			return true
		}
	}
	return false
}

// quit says QUIT and reads the reply, ignoring errors: the check is done.
func quit(tc *textproto.Conn) {
	if tc.PrintfLine("QUIT") == nil {
		_, _, _ = tc.ReadResponse(221)
	}
}
