package tlspolicy

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"net/textproto"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mxkit/mxkit/dane"
	"github.com/mxkit/mxkit/internal/tlsnames"
)

// Timeouts bound the phases before the mail transaction, as Postfix's
// smtp_connect_timeout (30s), smtp_helo_timeout (greeting and each EHLO,
// 300s) and smtp_starttls_timeout (STARTTLS command and handshake, 300s).
// A zero field takes the default.
type Timeouts struct {
	Connect  time.Duration
	Helo     time.Duration
	StartTLS time.Duration
}

func (t Timeouts) withDefaults() Timeouts {
	if t.Connect <= 0 {
		t.Connect = 30 * time.Second
	}
	if t.Helo <= 0 {
		t.Helo = 300 * time.Second
	}
	if t.StartTLS <= 0 {
		t.StartTLS = 300 * time.Second
	}
	return t
}

// Dialer opens SMTP (or LMTP) connections with a TLS policy: it reads the
// greeting, says EHLO with Hostname, sends STARTTLS when the server
// offers it and the level uses TLS, verifies the server as the level
// says, and hands the connection to a go-smtp Client, which says EHLO
// again. The zero value is ready to use.
type Dialer struct {
	// Hostname is the EHLO name (smtp_helo_name); "" means os.Hostname().
	Hostname string
	// LMTP says LHLO and returns an LMTP client.
	LMTP bool
	// DialContext opens the TCP connection; nil means a net.Dialer. Its
	// context carries the connect timeout.
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
	// Timeouts bound the phases.
	Timeouts Timeouts
	// TLS is the base client configuration (roots for verify and secure,
	// client certificates, versions); it is cloned. Its ServerName, if
	// set, is the SNI for policies without their own (smtp_tls_servername).
	// InsecureSkipVerify and VerifyConnection are always replaced: the
	// Dialer verifies by itself so that SNI stays under its control.
	TLS *tls.Config
	// MandatoryTLS, when set, replaces TLS at the levels that require TLS
	// (encrypt and above): Postfix's smtp_tls_mandatory_protocols,
	// _ciphers and _exclude_ciphers against smtp_tls_protocols, _ciphers
	// and _exclude_ciphers at level may.
	MandatoryTLS *tls.Config
	// FingerprintDigest is smtp_tls_fingerprint_digest: md5, sha1,
	// sha224, sha256 (the default), sha384 or sha512.
	FingerprintDigest string
	// Logger receives the "Verified TLS connection established to ..."
	// lines and warnings; nil means slog.Default().
	Logger *slog.Logger

	now func() time.Time // for tests
}

// Target is the server to connect to.
type Target struct {
	// Network is "tcp" (the default) or "unix".
	Network string
	// Addr is "192.0.2.1:25" or "[2001:db8::1]:25" (what Dial gets).
	Addr string
	// Host is the MX host name as found in DNS (match=hostname,
	// servername=hostname); empty for an address.
	Host string
	// Nexthop is the next-hop domain (match=nexthop, dot-nexthop,
	// servername=nexthop).
	Nexthop string
}

// Label names the target as Postfix does: "mx.example.com[192.0.2.1]"
// (with ":port" appended by callers where Postfix does).
func (t Target) Label() string {
	ip, _, err := net.SplitHostPort(t.Addr)
	if err != nil {
		ip = t.Addr
	}
	name := t.Host
	if name == "" {
		name = ip
	}
	return name + "[" + ip + "]"
}

func (t Target) port() string {
	_, p, err := net.SplitHostPort(t.Addr)
	if err != nil {
		return ""
	}
	return p
}

// Conn is a connection ready for MAIL FROM.
type Conn struct {
	// Client is the go-smtp client, after its EHLO (over TLS when TLS is
	// set).
	Client *smtp.Client
	// Conn is what Client reads and writes: set write deadlines here.
	Conn net.Conn
	// Raw is the socket; closing it ends everything.
	Raw net.Conn
	// TLS is the TLS state, nil for plaintext. (Client's own
	// TLSConnectionState cannot see it through the wrapper.)
	TLS *tls.ConnectionState
	// Greeting and EHLO are the server's replies before TLS, lines joined
	// with "\n" and without codes; EHLO is empty at level none (go-smtp
	// says EHLO itself).
	Greeting, EHLO string
	// Trust is how Postfix logs the session: "Verified", "Trusted",
	// "Untrusted" or "Anonymous"; "" for plaintext.
	Trust string
	// Result is the TLS-RPT result of the negotiation: a success, or with
	// ReportOnly an MTA-STS testing-mode failure, or starttls-not-supported
	// for a plaintext session under an sts or tlsa policy. It is zero for
	// other plaintext sessions (no TLS negotiation to report).
	Result Result
}

// Close closes the connection without QUIT.
func (c *Conn) Close() error { return c.Client.Close() }

var osHostname = sync.OnceValue(func() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "localhost"
	}
	return h
})

func (d *Dialer) hostname() string {
	if d.Hostname != "" {
		return d.Hostname
	}
	return osHostname()
}

func (d *Dialer) logger() *slog.Logger {
	if d.Logger != nil {
		return d.Logger
	}
	return slog.Default()
}

func (d *Dialer) clock() time.Time {
	if d.now != nil {
		return d.now()
	}
	return time.Now()
}

// Dial connects to t (within the connect timeout) and runs Handshake. A
// failed connect is returned as the dial error, unwrapped.
func (d *Dialer) Dial(ctx context.Context, t Target, p *Policy) (*Conn, error) {
	to := d.Timeouts.withDefaults()
	network := t.Network
	if network == "" {
		network = "tcp"
	}
	dctx, cancel := context.WithTimeout(ctx, to.Connect)
	var raw net.Conn
	var err error
	if d.DialContext != nil {
		raw, err = d.DialContext(dctx, network, t.Addr)
	} else {
		var nd net.Dialer
		raw, err = nd.DialContext(dctx, network, t.Addr)
	}
	cancel()
	if err != nil {
		return nil, err
	}
	return d.Handshake(ctx, raw, t, p)
}

// WhileGreeting is Error.While for a reply refusing the session in the
// greeting: Postfix (smtp_skip_5xx_greeting = yes) tries the next MX even
// after a 5xx there, and defers at the last one.
const WhileGreeting = "receiving the initial server greeting"

// prefixConn replays bytes already read (or a synthetic greeting) before
// the connection's own data.
type prefixConn struct {
	net.Conn
	r io.Reader
}

func (p *prefixConn) Read(b []byte) (int, error) { return p.r.Read(b) }

// verifyError marks an error from our VerifyConnection.
type verifyError struct{ err error }

func (e *verifyError) Error() string { return e.err.Error() }
func (e *verifyError) Unwrap() error { return e.err }

// errInjected is plaintext the server sent after its 220 to STARTTLS.
var errInjected = errors.New("plaintext after the STARTTLS reply")

// Handshake runs the dialogue up to a ready go-smtp client over raw, with
// policy p (nil: level may): greeting, EHLO, STARTTLS when advertised and
// p uses TLS, the handshake with p's checks, and go-smtp's EHLO. On
// error it closes raw and returns an *Error.
func (d *Dialer) Handshake(ctx context.Context, raw net.Conn, t Target, p *Policy) (*Conn, error) {
	c, err := d.handshake(ctx, raw, t, p)
	if err != nil {
		_ = raw.Close()
		return nil, err
	}
	return c, nil
}

func (d *Dialer) handshake(ctx context.Context, raw net.Conn, t Target, p *Policy) (*Conn, *Error) {
	if p == nil {
		p = &Policy{}
	}
	level := p.Level.effective()
	to := d.Timeouts.withDefaults()
	stop := context.AfterFunc(ctx, func() { _ = raw.Close() })
	defer stop()
	label := t.Label()
	hello := "EHLO"
	if d.LMTP {
		hello = "LHLO"
	}
	ioErr := func(err error, while string) *Error {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%w)", context.Cause(ctx), err)
		}
		what := "lost connection with"
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			what = "conversation with"
			while = "timed out while " + while
		} else {
			while = "while " + while
		}
		return &Error{Kind: KindIO, DSN: "4.4.2", Text: what + " " + label + " " + while, Host: label, While: strings.TrimPrefix(strings.TrimPrefix(while, "timed out "), "while "), Err: err}
	}
	replyErr := func(pe *textproto.Error) *Error {
		return &Error{Kind: KindReply, DSN: replyDSN(pe), Text: "host " + label + " refused to talk to me: " + replyText(pe), Host: label, Err: pe}
	}

	br := bufio.NewReader(raw)
	tr := textproto.NewReader(br)
	conn := &Conn{Raw: raw}

	// Greeting.
	_ = raw.SetDeadline(time.Now().Add(to.Helo))
	_, msg, err := tr.ReadResponse(220)
	if err != nil {
		if pe, ok := errors.AsType[*textproto.Error](err); ok {
			e := replyErr(pe)
			e.While = WhileGreeting
			return nil, e
		}
		return nil, ioErr(err, "receiving the initial server greeting")
	}
	conn.Greeting = msg

	// go-smtp reads this synthetic greeting instead of the real one.
	const greeting = "220 greeting already read\r\n"
	var nc net.Conn = &prefixConn{Conn: raw, r: io.MultiReader(strings.NewReader(greeting), br)}

	if level >= May {
		_ = raw.SetDeadline(time.Now().Add(to.Helo))
		if _, err := io.WriteString(raw, hello+" "+d.hostname()+"\r\n"); err != nil {
			return nil, ioErr(err, "performing the "+hello+" handshake")
		}
		_, msg, err := tr.ReadResponse(250)
		var ext map[string]string
		var pe *textproto.Error
		switch {
		case errors.As(err, &pe) && (pe.Code == 500 || pe.Code == 502):
			// No ESMTP: go-smtp falls back to HELO; no STARTTLS.
		case pe != nil:
			return nil, replyErr(pe)
		case err != nil:
			return nil, ioErr(err, "performing the "+hello+" handshake")
		default:
			conn.EHLO = msg
			ext = Extensions(msg)
		}
		_, starttls := ext["STARTTLS"]
		switch {
		case !starttls && level.RequiresTLS():
			// RFC 3207 §4: never send an unadvertised STARTTLS.
			return nil, d.tlsFailure(conn, p, t, &Error{Kind: KindNotOffered, DSN: "4.7.4",
				Text: "TLS is required, but was not offered by host " + label, Host: label})
		case !starttls:
			d.reportNoSTARTTLS(conn, p, t)
		default:
			tc, e := d.startTLS(ctx, raw, br, tr, t, p, conn, to, label, ioErr)
			if e != nil {
				return nil, e
			}
			if tc != nil {
				nc = &prefixConn{Conn: tc, r: io.MultiReader(strings.NewReader(greeting), tc)}
			}
		}
	}
	_ = raw.SetDeadline(time.Time{})

	var client *smtp.Client
	if d.LMTP {
		client = smtp.NewClientLMTP(nc)
	} else {
		client = smtp.NewClient(nc)
	}
	client.CommandTimeout = to.Helo
	if err := client.Hello(d.hostname()); err != nil {
		if se, ok := errors.AsType[*smtp.SMTPError](err); ok {
			pe := &textproto.Error{Code: se.Code, Msg: smtpErrMsg(se)}
			e := replyErr(pe)
			e.Err = se
			return nil, e
		}
		return nil, ioErr(err, "performing the "+hello+" handshake")
	}
	conn.Client, conn.Conn = client, nc
	return conn, nil
}

func smtpErrMsg(se *smtp.SMTPError) string {
	if se.EnhancedCode != (smtp.EnhancedCode{}) && se.EnhancedCode != smtp.NoEnhancedCode {
		ec := se.EnhancedCode
		return fmt.Sprintf("%d.%d.%d %s", ec[0], ec[1], ec[2], se.Message)
	}
	return se.Message
}

// startTLS sends STARTTLS and runs the handshake. It returns nil, nil when
// the server refused STARTTLS at a level that allows plaintext (the
// session continues on the same connection).
func (d *Dialer) startTLS(ctx context.Context, raw net.Conn, br *bufio.Reader, tr *textproto.Reader, t Target, p *Policy,
	conn *Conn, to Timeouts, label string, ioErr func(error, string) *Error) (*tls.Conn, *Error) {
	level := p.Level.effective()
	_ = raw.SetDeadline(time.Now().Add(to.StartTLS))
	if _, err := io.WriteString(raw, "STARTTLS\r\n"); err != nil {
		return nil, ioErr(err, "sending STARTTLS")
	}
	if _, _, err := tr.ReadResponse(220); err != nil {
		pe, ok := errors.AsType[*textproto.Error](err)
		if !ok {
			return nil, ioErr(err, "receiving the STARTTLS response")
		}
		if level.RequiresTLS() {
			return nil, d.tlsFailure(conn, p, t, &Error{Kind: KindRefused, DSN: replyDSN(pe),
				Text: "TLS is required, but host " + label + " refused to start TLS: " + replyText(pe), Host: label, Err: pe})
		}
		d.logger().Info("host "+label+" refused to start TLS: "+replyText(pe)+"; continuing in plaintext", "host", label)
		d.reportNoSTARTTLS(conn, p, t)
		return nil, nil
	}
	if n := br.Buffered(); n > 0 {
		// RFC 3207 §5, CVE-2011-0411: bytes after the 220 would be read as
		// if they had come over TLS. Abort the session.
		return nil, d.tlsFailure(conn, p, t, &Error{Kind: KindHandshake, DSN: "4.7.5", Text: "Cannot start TLS: handshake failure",
			Host: label, Err: fmt.Errorf("%d bytes of %w", n, errInjected)})
	}
	cfg, st, e := d.config(p, t)
	if e != nil {
		return nil, e
	}
	tc := tls.Client(raw, cfg)
	hctx, cancel := context.WithTimeout(ctx, to.StartTLS)
	err := tc.HandshakeContext(hctx)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return nil, ioErr(err, "performing the TLS handshake")
		}
		if ve, ok := errors.AsType[*verifyError](err); ok {
			d.logger().Warn("server certificate verification failed for "+label+":"+t.port()+": "+ve.err.Error(), "host", label)
			return nil, d.tlsFailure(conn, p, t, &Error{Kind: KindVerify, DSN: "4.7.5", Text: "Server certificate not verified", Host: label, Err: ve.err})
		}
		d.logger().Warn("TLS handshake failed for "+label+":"+t.port()+": "+err.Error(), "host", label)
		return nil, d.tlsFailure(conn, p, t, &Error{Kind: KindHandshake, DSN: "4.7.5", Text: "Cannot start TLS: handshake failure", Host: label, Err: err})
	}
	cs := tc.ConnectionState()
	conn.TLS, conn.Trust = &cs, st.trust
	d.logger().Info(fmt.Sprintf("%s TLS connection established to %s:%s: %s", st.trust, label, t.port(), tlsnames.Summary(&cs)),
		"host", label, "level", level.String(), "sni", cfg.ServerName)
	conn.Result = Result{Policy: p.Report, Success: true}
	if st.reportErr != nil {
		rt := certResult(st.reportErr)
		conn.Result = Result{Policy: p.Report, Failure: d.details(conn, t, rt, "")}
		d.logger().Info("MTA-STS testing mode: server certificate not verified for "+label+":"+t.port()+": "+st.reportErr.Error(), "host", label)
	}
	return tc, nil
}

// reportNoSTARTTLS records starttls-not-supported for a plaintext session
// under a policy that asked for TLS (MTA-STS testing mode, Postfix's
// "may" with a TLS-RPT policy).
func (d *Dialer) reportNoSTARTTLS(conn *Conn, p *Policy, t Target) {
	if p.Report.Type == PolicySTS || p.Report.Type == PolicyTLSA {
		conn.Result = Result{Policy: p.Report, Failure: d.details(conn, t, ResultSTARTTLSNotSupported, "")}
	}
}

// tlsFailure adds the TLS-RPT result to e.
func (d *Dialer) tlsFailure(conn *Conn, p *Policy, t Target, e *Error) *Error {
	if rt, reason, ok := ResultOf(e); ok {
		e.Result, e.ReasonCode = rt, reason
		e.Report = &Result{Policy: p.Report, Failure: d.details(conn, t, rt, reason)}
	}
	return e
}

func (d *Dialer) details(conn *Conn, t Target, rt ResultType, reason string) *FailureDetails {
	fd := &FailureDetails{ResultType: rt, ReceivingMXHostname: t.Host, FailureReasonCode: reason}
	if conn.Raw != nil {
		fd.SendingMTAIP = addrOf(conn.Raw.LocalAddr())
		fd.ReceivingIP = addrOf(conn.Raw.RemoteAddr())
	}
	if first, _, _ := strings.Cut(conn.EHLO, "\n"); first != "" {
		fd.ReceivingMXHelo, _, _ = strings.Cut(strings.TrimSpace(first), " ")
	}
	return fd
}

func addrOf(a net.Addr) netip.Addr {
	if a == nil {
		return netip.Addr{}
	}
	if ap, err := netip.ParseAddrPort(a.String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

// Extensions parses an EHLO reply (lines joined with "\n", codes
// stripped, as net/textproto returns them): the keywords of the lines
// after the first, upper case (RFC 5321 §4.1.1.1: case-insensitive), each
// with its parameters.
func Extensions(msg string) map[string]string {
	ext := map[string]string{}
	lines := strings.Split(msg, "\n")
	for _, line := range lines[1:] {
		kw, args, _ := strings.Cut(strings.TrimSpace(line), " ")
		if kw != "" {
			ext[strings.ToUpper(kw)] = args
		}
	}
	return ext
}

// verifyState collects what VerifyConnection found.
type verifyState struct {
	trust     string
	reportErr error // ReportOnly: what an MTA-STS enforce check would have said
}

// config builds the TLS client configuration for p: Go's verification is
// off (InsecureSkipVerify) and VerifyConnection checks what the level asks.
func (d *Dialer) config(p *Policy, t Target) (*tls.Config, *verifyState, *Error) {
	var cfg *tls.Config
	switch base := d.TLS; {
	case d.MandatoryTLS != nil && p.Level.RequiresTLS():
		cfg = d.MandatoryTLS.Clone()
	case base != nil:
		cfg = base.Clone()
	default:
		cfg = &tls.Config{}
	}
	if cfg.MinVersion == 0 {
		cfg.MinVersion = tls.VersionTLS12
	}
	roots := cfg.RootCAs
	cfg.InsecureSkipVerify = true // verification is ours, below
	cfg.VerifyPeerCertificate = nil
	st := &verifyState{}
	level := p.Level.effective()
	sni := p.ServerName
	if sni == "" {
		sni = cfg.ServerName
	}
	cfg.ServerName = resolveSNI(sni, t)

	now := d.clock
	var check func(cs tls.ConnectionState) error
	switch level {
	case Fingerprint:
		digest := d.FingerprintDigest
		check = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("server sent no certificate")
			}
			if err := checkFingerprint(cs.PeerCertificates[0], p.Match, digest); err != nil {
				return err
			}
			st.trust = "Verified"
			return nil
		}
	case Dane, DaneOnly:
		if p.DANE != nil && p.DANE.Outcome == dane.Required {
			// RFC 7672 §8.1: SNI is the TLSA base domain.
			cfg.ServerName = strings.TrimSuffix(p.DANE.BaseDomain, ".")
			verify := dane.Verify(p.DANE.Records, p.DANE.BaseDomain, p.DANE.RefIDs)
			trust := "Verified"
			if !p.DANE.MXSecure {
				trust = "Trusted" // Postfix's half-dane
			}
			check = func(cs tls.ConnectionState) error {
				if err := verify(cs); err != nil {
					return err
				}
				st.trust = trust
				return nil
			}
		} else if level == DaneOnly {
			return nil, nil, configError(t.Label(), errors.New("level dane-only without a DANE decision"))
		} else if p.DANE != nil && p.DANE.BaseDomain != "" {
			cfg.ServerName = strings.TrimSuffix(p.DANE.BaseDomain, ".")
		}
	case Verify, Secure:
		refs := refNames(p.match(), t.Host, t.Nexthop)
		check = func(cs tls.ConnectionState) error {
			if err := verifyPKIX(cs, roots, now()); err != nil {
				return err
			}
			if !matchCert(cs.PeerCertificates[0], refs) {
				return fmt.Errorf("%w: want %s, have %s", errNameMismatch, strings.Join(refs, ", "), strings.Join(certNames(cs.PeerCertificates[0]), ", "))
			}
			st.trust = "Verified"
			return nil
		}
	}
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		if check != nil {
			if err := check(cs); err != nil {
				return &verifyError{err}
			}
		}
		if st.trust == "" {
			st.trust = classify(cs, roots, now())
		}
		if p.ReportOnly {
			st.reportErr = stsCheck(cs, roots, t.Host, now())
		}
		return nil
	}
	return cfg, st, nil
}

// classify is the trust Postfix logs for a session it did not verify.
func classify(cs tls.ConnectionState, roots *x509.CertPool, now time.Time) string {
	if len(cs.PeerCertificates) == 0 {
		return "Anonymous"
	}
	if verifyPKIX(cs, roots, now) == nil {
		return "Trusted"
	}
	return "Untrusted"
}

// stsCheck is the MTA-STS certificate check (RFC 8461 §4.2): PKIX-valid
// and naming the MX host.
func stsCheck(cs tls.ConnectionState, roots *x509.CertPool, host string, now time.Time) error {
	if err := verifyPKIX(cs, roots, now); err != nil {
		return err
	}
	if !matchCert(cs.PeerCertificates[0], []string{host}) {
		return fmt.Errorf("%w: want %s", errNameMismatch, host)
	}
	return nil
}

// resolveSNI turns servername= into the name to send: "hostname" is the
// MX host, "nexthop" the next-hop domain; never an IP address.
func resolveSNI(sni string, t Target) string {
	switch strings.ToLower(sni) {
	case "":
		return ""
	case "hostname":
		sni = t.Host
	case "nexthop":
		sni = t.Nexthop
	}
	sni = strings.TrimSuffix(sni, ".")
	if _, err := netip.ParseAddr(sni); err == nil {
		return ""
	}
	return sni
}
