package deliver

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mxkit/mxkit/dane"
	"github.com/mxkit/mxkit/queue"
	"github.com/mxkit/mxkit/tlspolicy"
	"github.com/mxkit/mxkit/tlspolicy/tlsrpt"
)

// Timeouts bound each phase of a conversation, as Postfix's smtp_*_timeout
// (lmtp_*_timeout) parameters do. A zero field takes Postfix's default.
type Timeouts struct {
	Connect  time.Duration // smtp_connect_timeout, 30s
	Helo     time.Duration // smtp_helo_timeout (greeting and EHLO/LHLO), 300s
	StartTLS time.Duration // smtp_starttls_timeout (command and handshake), 300s
	Mail     time.Duration // smtp_mail_timeout, 300s
	Rcpt     time.Duration // smtp_rcpt_timeout, 300s
	DataInit time.Duration // smtp_data_init_timeout (DATA until 354), 120s
	DataXfer time.Duration // smtp_data_xfer_timeout (each write of the body), 180s
	DataDone time.Duration // smtp_data_done_timeout (final dot until reply), 600s
	Rset     time.Duration // smtp_rset_timeout, 20s
	Quit     time.Duration // smtp_quit_timeout, 300s
}

func (t Timeouts) withDefaults() Timeouts {
	def := func(p *time.Duration, d time.Duration) {
		if *p <= 0 {
			*p = d
		}
	}
	def(&t.Connect, 30*time.Second)
	def(&t.Helo, 300*time.Second)
	def(&t.StartTLS, 300*time.Second)
	def(&t.Mail, 300*time.Second)
	def(&t.Rcpt, 300*time.Second)
	def(&t.DataInit, 120*time.Second)
	def(&t.DataXfer, 180*time.Second)
	def(&t.DataDone, 600*time.Second)
	def(&t.Rset, 20*time.Second)
	def(&t.Quit, 300*time.Second)
	return t
}

// TLSLevel is a Postfix TLS security level (smtp_tls_security_level),
// tlspolicy's Level.
type TLSLevel = tlspolicy.Level

// TLS levels (see tlspolicy for all of them: fingerprint, dane,
// dane-only, secure).
const (
	// TLSDefault is TLSMay for SMTP and TLSNone for LMTP, Postfix's
	// usual smtp_tls_security_level = may and the empty
	// lmtp_tls_security_level.
	TLSDefault = tlspolicy.Default
	// TLSNone never uses STARTTLS.
	TLSNone = tlspolicy.None
	// TLSMay uses STARTTLS when the server offers it, without checking
	// the certificate; if the handshake fails the same host is tried
	// again over a new plaintext connection (Postfix's level "may"),
	// once the message is PlaintextFallbackAge old.
	TLSMay = tlspolicy.May
	// TLSEncrypt requires STARTTLS without checking the certificate: no
	// STARTTLS defers the recipients with 4.7.4, a failed handshake with
	// 4.7.5 (Postfix's "encrypt").
	TLSEncrypt = tlspolicy.Encrypt
	// TLSVerify requires STARTTLS and a certificate that verifies
	// against the TLS configuration's roots and names the host
	// (Postfix's "verify" with match=hostname).
	TLSVerify = tlspolicy.Verify
	// TLSSecure is Postfix's "secure" (default match=nexthop:dot-nexthop).
	TLSSecure = tlspolicy.Secure
)

// TLSPolicy is how to use TLS with one host: tlspolicy's Policy (level,
// match names, SNI, DANE records, TLS-RPT policy).
type TLSPolicy = tlspolicy.Policy

// SMTP delivers over SMTP (RFC 5321) or, with LMTP set, LMTP (RFC 2033)
// to the hosts a route's nexthop names. The zero value is ready to use;
// set fields before the first Deliver and do not change them afterwards.
// Close ends idle cached connections.
type SMTP struct {
	// LMTP selects LMTP: LHLO, one reply per recipient after the data,
	// nexthops in lmtp(8) syntax.
	LMTP bool
	// Hostname is the EHLO/LHLO name (smtp_helo_name); empty means
	// os.Hostname().
	Hostname string
	// Dial opens connections; nil means a net.Dialer. The context carries
	// the connect timeout.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Resolve turns a route into the hosts to try, in order; nil means
	// ParseNexthop on the route's nexthop. An MX/DNS layer plugs in here.
	// An error defers every recipient with DSN 4.3.5 (wrap a *Failure to
	// choose the result instead).
	Resolve func(ctx context.Context, r queue.Route) ([]Host, error)
	// TLSPolicy chooses the TLS policy per host of a route; nil means
	// TLSPolicies, or TLSLevel when that is nil too. An error (a
	// *tlspolicy.Error) skips the host with its DSN and text, deferred.
	TLSPolicy func(ctx context.Context, r queue.Route, h Host) (*TLSPolicy, error)
	// TLSPolicies resolves policies (smtp_tls_policy_maps, DANE,
	// MTA-STS) when TLSPolicy is nil.
	TLSPolicies *tlspolicy.Resolver
	// TLSLevel is the level used when TLSPolicy and TLSPolicies are nil.
	TLSLevel TLSLevel
	// TLS is the base client configuration (nil: an empty one): roots
	// for the verifying levels, client certificates, versions. Its
	// ServerName, if set, is the SNI when the policy names none.
	TLS *tls.Config
	// MandatoryTLS, when set, is the base configuration at the levels
	// that require TLS (smtp_tls_mandatory_*); see tlspolicy.Dialer.
	MandatoryTLS *tls.Config
	// FingerprintDigest is smtp_tls_fingerprint_digest (sha256).
	FingerprintDigest string
	// TLSRPT receives one TLS-RPT result (RFC 8460) per TLS negotiation
	// and per host skipped for its TLS policy (a *tlsrpt.Aggregator); nil
	// records nothing.
	TLSRPT tlsrpt.Recorder
	// SessionLimit bounds the sessions (connections that got through EHLO
	// and TLS) per delivery before giving up on the rest of the hosts
	// (smtp_mx_session_limit); 0 means 2, negative means no limit.
	SessionLimit int
	// PlaintextFallbackAge is how old a message must be (since its
	// Arrival) before a failed TLS handshake at level may is retried
	// over a new plaintext connection to the same host; a younger one
	// is deferred with the handshake's 4.7.5, as Postfix does with
	// $minimal_backoff_time (outbound.md §0.1). 0 retries at once; a
	// message without Arrival always may.
	PlaintextFallbackAge time.Duration
	// Timeouts bound each phase of a conversation.
	Timeouts Timeouts
	// CacheTime is how long a connection stays idle in the cache
	// waiting for the next message to the same host
	// (smtp_connection_cache_time_limit, 2s); negative disables reuse.
	CacheTime time.Duration
	// MaxIdle bounds the idle connections kept per host (20, Postfix's
	// default_destination_concurrency_limit).
	MaxIdle int
	// ReuseCount bounds the messages sent over one connection
	// (smtp_connection_reuse_count_limit; 0 means no limit).
	ReuseCount int
	// ReuseTime bounds the age of a connection that is reused
	// (smtp_connection_reuse_time_limit, 300s).
	ReuseTime time.Duration
	// Logger receives one record per recipient and warnings; nil means
	// slog.Default().
	Logger *slog.Logger

	mu     sync.Mutex
	idle   map[string][]*conn
	closed bool
}

// Failure lets a Resolve hook choose the result of a failed lookup: a
// Resolve error that wraps a *Failure gives its Result to every recipient.
type Failure struct {
	Result queue.Result
}

func (f *Failure) Error() string { return f.Result.Text }

var (
	_ queue.Deliverer = (*SMTP)(nil)
	_ io.Closer       = (*SMTP)(nil)
)

func (s *SMTP) proto() string {
	if s.LMTP {
		return "lmtp"
	}
	return "smtp"
}

func (s *SMTP) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

var osHostname = sync.OnceValue(func() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "localhost"
	}
	return h
})

func (s *SMTP) hostname() string {
	if s.Hostname != "" {
		return s.Hostname
	}
	return osHostname()
}

func (s *SMTP) cacheTime() time.Duration {
	if s.CacheTime == 0 {
		return 2 * time.Second
	}
	return s.CacheTime
}

func (s *SMTP) maxIdle() int {
	if s.MaxIdle <= 0 {
		return 20
	}
	return s.MaxIdle
}

func (s *SMTP) sessionLimit() int {
	if s.SessionLimit == 0 {
		return 2
	}
	return s.SessionLimit
}

func (s *SMTP) reuseTime() time.Duration {
	if s.ReuseTime <= 0 {
		return 300 * time.Second
	}
	return s.ReuseTime
}

func (s *SMTP) policy(ctx context.Context, r queue.Route, h Host, m *queue.Message) (*TLSPolicy, error) {
	var p *TLSPolicy
	switch {
	case m != nil && m.TLSOptional:
		// RFC 8689 §5: TLS-Required: No skips the policy lookup and caps
		// the level at may (Postfix 3.10 does the same).
		lv := TLSMay
		if s.TLSLevel == TLSNone || s.LMTP && s.TLSLevel == TLSDefault {
			lv = TLSNone
		}
		p = &TLSPolicy{Level: lv}
	case s.TLSPolicy != nil:
		var err error
		if p, err = s.TLSPolicy(ctx, r, h); err != nil {
			return nil, err
		}
	case s.TLSPolicies != nil && h.Network == "tcp":
		port := 25
		if _, ps, err := net.SplitHostPort(h.Addr); err == nil {
			if n, err := strconv.Atoi(ps); err == nil {
				port = n
			}
		}
		dest := tlspolicy.Destination{Nexthop: nexthopOf(r, h), Host: h.Name, Port: port}
		if h.IP.IsValid() && !h.Bracketed {
			// Found by MX lookup: DANE needs the MX RRset's DNSSEC state.
			dest.MX = dane.MXResult{Domain: tlspolicy.NexthopDomain(dest.Nexthop), Security: h.MXSecurity}
		}
		var err error
		if p, err = s.TLSPolicies.Resolve(ctx, dest); err != nil {
			return nil, err
		}
	}
	if p == nil {
		p = &TLSPolicy{Level: s.TLSLevel}
	} else {
		c := *p
		p = &c
	}
	if p.Level == TLSDefault {
		p.Level = TLSMay
		if s.LMTP {
			p.Level = TLSNone
		}
	}
	return p, nil
}

// nexthopOf is the policy-table key for h: the route's nexthop when it
// names one destination, else "[host]:port" of h.
func nexthopOf(r queue.Route, h Host) string {
	if h.Nexthop != "" {
		return h.Nexthop // set by MXResolver, per destination of a list
	}
	if n := strings.TrimSpace(r.Nexthop); n != "" && !strings.Contains(n, ",") {
		return n
	}
	return h.String()
}

func (s *SMTP) resolve(ctx context.Context, r queue.Route) ([]Host, error) {
	if s.Resolve != nil {
		return s.Resolve(ctx, r)
	}
	return ParseNexthop(r.Nexthop, s.LMTP)
}

// Deliver implements queue.Deliverer: it tries the route's hosts in order
// and returns one Result per recipient.
func (s *SMTP) Deliver(ctx context.Context, d *queue.Delivery) []queue.Result {
	n := len(d.Rcpts)
	start := time.Now()
	hosts, err := s.resolve(ctx, d.Route)
	if err != nil || len(hosts) == 0 {
		var res queue.Result
		var f *Failure
		switch {
		case errors.As(err, &f):
			res = f.Result
		case errors.Is(err, errMX):
			res = queue.Deferf("4.3.5", "%s: delivery by MX lookup needs a DNS layer (set SMTP.Resolve, e.g. to a deliver.MXResolver): %v", d.Route, err)
		case err != nil:
			res = queue.Deferf("4.3.5", "%s: mail system configuration error: %v", d.Route, err)
		default:
			res = queue.Deferf("4.3.5", "%s: no hosts to deliver to", d.Route)
		}
		out := queue.Results(n, res)
		s.logResults(d, &txn{start: start}, out)
		return out
	}
	t := &txn{s: s, d: d, res: make([]queue.Result, n), done: make([]bool, n), soft: make([]queue.Result, n), start: start}
	var last queue.Result
	sessions := 0
	for i, h := range hosts {
		var session bool
		last, session = t.deliverHost(ctx, h)
		if session {
			sessions++
		}
		if last.Status != queue.Pending {
			t.tentativeRest(last)
		}
		if t.allDone() {
			break
		}
		// A 5xx from a server that talked to us (to HELO, to STARTTLS at a
		// level requiring TLS, to MAIL or DATA) is final for the
		// recipients left: Postfix tries no other MX (smtp_trouble.c).
		// The greeting's 5xx was made temporary above.
		if last.Status == queue.Bounced {
			break
		}
		if limit := s.sessionLimit(); limit > 0 && sessions >= limit {
			s.logger().Info(s.proto()+": session limit reached", "id", d.Message.ID, "limit", limit)
			break
		}
		if i < len(hosts)-1 {
			s.logger().Info(s.proto()+": trying next host", "id", d.Message.ID, "host", h.String(), "reason", last.Text)
		}
	}
	for i := range t.res {
		if !t.done[i] && t.soft[i].Status != queue.Pending {
			t.set(i, t.soft[i])
		}
	}
	t.failRest(last)
	s.logResults(d, t, t.res)
	return t.res
}

// txn is one Deliver call.
type txn struct {
	s    *SMTP
	d    *queue.Delivery
	res  []queue.Result
	done []bool
	// soft holds, for a recipient without a final result, the temporary
	// failure of the last host that was tried: Postfix then tries the
	// next MX for it (a 4xx to MAIL, RCPT or DATA, or a lost connection)
	// and keeps the latest reason.
	soft []queue.Result

	// the last connection used, for the log
	relay, trust string
	reused       bool
	// start is when Deliver began; connected when the last connection
	// was ready (greeted, EHLO and TLS done): Postfix's delays=a/b/c/d.
	start, connected time.Time
}

func (t *txn) allDone() bool {
	for _, ok := range t.done {
		if !ok {
			return false
		}
	}
	return true
}

func (t *txn) set(i int, r queue.Result) {
	t.res[i], t.done[i] = r, true
}

// tentative records a result for recipient k of this host: final when
// it is not a temporary failure, otherwise kept while the next host is
// tried.
func (t *txn) tentative(k int, r queue.Result) {
	if r.Status != queue.Deferred || t.s.LMTP {
		t.set(k, r)
		return
	}
	t.soft[k] = r
}

// tentativeRest is tentative for every recipient without a result.
func (t *txn) tentativeRest(r queue.Result) {
	for i := range t.res {
		if !t.done[i] {
			t.tentative(i, r)
		}
	}
}

// failRest gives r to every recipient without a result.
func (t *txn) failRest(r queue.Result) {
	for i := range t.res {
		if !t.done[i] {
			t.set(i, r)
		}
	}
}

// deliverHost runs one attempt against h. It returns the failure to give
// the recipients left without a result (when it tried the next host or
// gave up); recipients with a final reply from h are set in t.
func (t *txn) deliverHost(ctx context.Context, h Host) (_ queue.Result, session bool) {
	s := t.s
	for attempt := 0; ; attempt++ {
		c, fail := s.get(ctx, t.d.Route, h, t.d.Message)
		if c == nil {
			return fail, session
		}
		session = true
		stale := t.transact(ctx, c, attempt == 0)
		if stale {
			// The cached connection died between messages: not a
			// failure of this delivery; try once more on a new one.
			s.logger().Debug(s.proto()+": cached connection lost; reconnecting", "host", h.String())
			c.close()
			continue
		}
		s.put(c)
		return queue.Result{}, session
	}
}

// needsUTF8 reports whether the message needs SMTPUTF8 (RFC 6531 §3.4):
// a non-ASCII envelope address, or, when the client asked for SMTPUTF8,
// a non-ASCII header.
func (t *txn) needsUTF8(ctx context.Context) (bool, error) {
	if !t.envelopeASCII() {
		return true, nil
	}
	if !t.d.Message.SMTPUTF8 {
		return false, nil
	}
	return headersNonASCII(ctx, t.d)
}

// envelopeASCII reports whether the sender and the delivery's recipients
// are ASCII.
func (t *txn) envelopeASCII() bool {
	m := t.d.Message
	if !isASCII(m.Sender) {
		return false
	}
	for _, i := range t.d.Rcpts {
		if !isASCII(m.Recipients[i].Addr) {
			return false
		}
	}
	return true
}

// transact sends one message over c, setting the results of the
// recipients it got an answer for. stale reports an I/O failure before
// the server said anything about this message, when a retry on a new
// connection is harmless.
func (t *txn) transact(ctx context.Context, c *conn, mayRetry bool) (stale bool) {
	s, d, m, h := t.s, t.d, t.d.Message, c.host
	to := s.Timeouts.withDefaults()
	stop := context.AfterFunc(ctx, func() { _ = c.raw.Close() })
	defer func() {
		if !stop() {
			c.dead = true
		}
	}()
	c.uses++
	t.relay, t.trust, t.reused = h.String(), c.trust, c.reused
	t.connected = time.Now()

	dsnExt, _ := c.client.Extension("DSN")
	utf8Ext, _ := c.client.Extension("SMTPUTF8")
	needUTF8 := m.SMTPUTF8 || !t.envelopeASCII()
	if !utf8Ext && needUTF8 {
		// Without SMTPUTF8 at the server, only a message that really
		// needs it fails (RFC 6531 §3.4).
		var err error
		needUTF8, err = t.needsUTF8(ctx)
		if err != nil {
			t.failRest(queue.Deferf("4.3.0", "error reading message: %v", err))
			return false
		}
	}
	if needUTF8 && !utf8Ext {
		t.failRest(queue.Result{Status: queue.Bounced, DSN: "5.6.7",
			Text: fmt.Sprintf("SMTPUTF8 is required, but was not offered by host %s", h)})
		return false
	}
	if limit, ok := c.client.MaxMessageSize(); ok && limit > 0 && m.Size > int64(limit) {
		r := queue.Result{Status: queue.Bounced, DSN: "5.3.4",
			Text: fmt.Sprintf("message size %d exceeds size limit %d of server %s", m.Size, limit, h)}
		t.failRest(r)
		return false
	}

	// Open the content first: a read error must not leave a half-sent
	// DATA behind.
	body, err := d.Open(ctx)
	if err != nil {
		t.failRest(queue.Deferf("4.3.0", "error reading message: %v", err))
		return false
	}
	defer body.Close()

	mo := &smtp.MailOptions{UTF8: needUTF8}
	if m.Size > 0 {
		mo.Size = m.Size
	}
	switch m.Ret {
	case queue.RetFull:
		mo.Return = smtp.DSNReturnFull
	case queue.RetHeaders:
		mo.Return = smtp.DSNReturnHeaders
	}
	if m.EnvID != "" && isPrintable(m.EnvID) {
		mo.EnvelopeID = m.EnvID
	}
	c.client.CommandTimeout = to.Mail
	if err := c.client.Mail(m.Sender, mo); err != nil {
		if r, ok := asReply(err, h); ok {
			t.tentativeRest(r)
			return false
		}
		if c.reused && mayRetry {
			return true
		}
		c.dead = true
		t.tentativeRest(ioResult(ctx, err, h, "sending MAIL FROM"))
		return false
	}

	var accepted []int // indexes into d.Rcpts
	c.client.CommandTimeout = to.Rcpt
	for k, ri := range d.Rcpts {
		if t.done[k] {
			continue // final at an earlier host: only the rest go to the next
		}
		rcpt := m.Recipients[ri]
		if strings.ContainsAny(rcpt.Addr, "\r\n\x00") {
			t.set(k, queue.Result{Status: queue.Bounced, DSN: "5.1.3", Text: "bad recipient address syntax"})
			continue
		}
		err := c.client.Rcpt(rcpt.Addr, rcptOptions(rcpt, dsnExt))
		if err == nil {
			accepted = append(accepted, k)
			continue
		}
		if r, ok := asReply(err, h); ok {
			if r.Text != "" && strings.HasPrefix(r.Text, "552") {
				// RFC 5321 §4.5.3.1.10: 552 to RCPT means too many
				// recipients, a temporary condition.
				r.Status, r.DSN = queue.Deferred, "4"+r.DSN[1:]
			}
			t.tentative(k, r)
			continue
		}
		c.dead = true
		t.tentativeRest(ioResult(ctx, err, h, "sending RCPT TO"))
		return false
	}
	if len(accepted) == 0 {
		return false
	}

	c.client.CommandTimeout = to.DataInit
	// From here on a reply or failure concerns the accepted recipients
	// only; those refused at RCPT keep their own results.
	acceptedOnly := func(r queue.Result) {
		for _, k := range accepted {
			t.tentative(k, r)
		}
	}
	w, err := c.client.Data()
	if err != nil {
		if r, ok := asReply(err, h); ok {
			acceptedOnly(r)
			return false
		}
		c.dead = true
		acceptedOnly(ioResult(ctx, err, h, "sending DATA command"))
		return false
	}
	if err := c.copyBody(w, body, to.DataXfer); err != nil {
		c.dead = true
		var re *readError
		if errors.As(err, &re) {
			t.failRest(queue.Deferf("4.3.0", "error reading message: %v", re.err))
		} else {
			acceptedOnly(ioResult(ctx, err, h, "sending message body"))
		}
		return false
	}
	c.client.SubmissionTimeout = to.DataDone
	_ = c.nc.SetWriteDeadline(time.Now().Add(to.DataXfer))
	const whileDot = "sending end of data -- message may be sent more than once"
	if !s.LMTP {
		resp, err := w.CloseWithResponse()
		if err != nil {
			if r, ok := asReply(err, h); ok {
				acceptedOnly(r)
			} else {
				c.dead = true
				acceptedOnly(ioResult(ctx, err, h, whileDot))
			}
			return false
		}
		text := protoText(250, resp.StatusText)
		r := replyResult(250, text, h)
		r.Relayed = dsnExt
		acceptedOnly(r)
		return false
	}
	resps, err := w.CloseWithLMTPResponse()
	var lerr smtp.LMTPDataError
	errors.As(err, &lerr)
	var other error
	if err != nil && lerr == nil {
		other = err
	} else if err != nil {
		// errors.Join(ioErr, lmtpErr) when the connection broke midway.
		var j interface{ Unwrap() []error }
		if errors.As(err, &j) {
			for _, e := range j.Unwrap() {
				var l smtp.LMTPDataError
				if !errors.As(e, &l) {
					other = e
				}
			}
		}
	}
	for _, k := range accepted {
		addr := m.Recipients[d.Rcpts[k]].Addr
		if resp, ok := resps[addr]; ok {
			r := replyResult(250, protoText(250, resp.StatusText), h)
			r.Relayed = dsnExt
			t.set(k, r)
		} else if se, ok := lerr[addr]; ok {
			t.set(k, smtpErrResult(se, h))
		}
	}
	if other != nil {
		c.dead = true
		t.failRest(ioResult(ctx, other, h, whileDot))
	}
	t.failRest(queue.Deferf("4.4.2", "no reply from %s for this recipient", h))
	return false
}

// readError marks a failure to read the stored message.
type readError struct{ err error }

func (e *readError) Error() string { return e.err.Error() }

// copyBody writes the message content to w, each write bounded by xfer
// (go-smtp sets no deadline on the data writer).
func (c *conn) copyBody(w io.Writer, body io.Reader, xfer time.Duration) error {
	buf := make([]byte, 32*1024)
	for {
		n, rerr := body.Read(buf)
		if n > 0 {
			_ = c.nc.SetWriteDeadline(time.Now().Add(xfer))
			if _, err := w.Write(buf[:n]); err != nil {
				return err
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return &readError{rerr}
		}
	}
}

// rcptOptions are the RCPT TO parameters: RFC 3461 NOTIFY and ORCPT when
// the server supports DSN (go-smtp adds them only then).
func rcptOptions(r queue.Recipient, dsn bool) *smtp.RcptOptions {
	if !dsn {
		return nil
	}
	o := &smtp.RcptOptions{}
	if r.Notify&queue.NotifyNever != 0 {
		o.Notify = []smtp.DSNNotify{smtp.DSNNotifyNever}
	} else {
		if r.Notify&queue.NotifySuccess != 0 {
			o.Notify = append(o.Notify, smtp.DSNNotifySuccess)
		}
		if r.Notify&queue.NotifyFailure != 0 {
			o.Notify = append(o.Notify, smtp.DSNNotifyFailure)
		}
		if r.Notify&queue.NotifyDelay != 0 {
			o.Notify = append(o.Notify, smtp.DSNNotifyDelayed)
		}
	}
	if typ, addr, ok := strings.Cut(r.ORCPT, ";"); ok && addr != "" {
		switch strings.ToLower(strings.TrimSpace(typ)) {
		case "rfc822":
			if isPrintable(addr) {
				o.OriginalRecipientType, o.OriginalRecipient = smtp.DSNAddressTypeRFC822, addr
			}
		case "utf-8":
			if !strings.ContainsAny(addr, "\r\n\x00") {
				o.OriginalRecipientType, o.OriginalRecipient = smtp.DSNAddressTypeUTF8, addr
			}
		}
	}
	return o
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// isPrintable matches go-smtp's check for xtext values.
func isPrintable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// logResults logs one record per recipient, with Postfix's fields: to,
// orig_to (the original recipient when it differs, or ""), relay (host[address]:port, "none" when no server was reached), delay
// (seconds since arrival), delays (Postfix's a/b/c/d: before this
// attempt, 0 for the queue manager's part, connection setup, message
// transmission), dsn, status and the reply or reason, and tls: Postfix's
// word for the session's TLS ("Verified", "Trusted", "Untrusted",
// "Anonymous"; "none" in plaintext).
func (s *SMTP) logResults(d *queue.Delivery, t *txn, res []queue.Result) {
	relay, trust, reused := t.relay, t.trust, t.reused
	if relay == "" {
		relay = "none"
	}
	if trust == "" {
		trust = "none"
	}
	now := time.Now()
	delay, delays := "", ""
	if !d.Message.Arrival.IsZero() {
		delay = strconv.FormatFloat(now.Sub(d.Message.Arrival).Seconds(), 'f', 2, 64)
		conn, xfer := now.Sub(t.start), time.Duration(0)
		if !t.connected.IsZero() {
			conn, xfer = t.connected.Sub(t.start), now.Sub(t.connected)
		}
		delays = formatDelays(t.start.Sub(d.Message.Arrival), 0, conn, xfer)
	}
	l := s.logger()
	for k, r := range res {
		if k >= len(d.Rcpts) {
			break
		}
		rcpt := d.Message.Recipients[d.Rcpts[k]]
		l.Info(s.proto()+": delivery", "id", d.Message.ID, "to", rcpt.Addr, "orig_to", origTo(rcpt),
			"relay", relay, "delay", delay, "delays", delays, "dsn", r.DSN, "status", r.Status.String(), "text", r.Text,
			"tls", trust, "reused", reused)
	}
}

// headersNonASCII reports whether the message header (up to the first
// empty line) has a non-ASCII byte.
func headersNonASCII(ctx context.Context, d *queue.Delivery) (bool, error) {
	rc, err := d.Open(ctx)
	if err != nil {
		return false, err
	}
	defer rc.Close()
	br := bufio.NewReader(rc)
	for {
		line, err := br.ReadSlice('\n')
		if !isASCII(string(line)) {
			return true, nil
		}
		if len(bytes.TrimRight(line, "\r\n")) == 0 && (err == nil || len(line) > 0) {
			return false, nil
		}
		if err == io.EOF {
			return false, nil
		}
		if err != nil && err != bufio.ErrBufferFull {
			return false, err
		}
	}
}

// formatDelays formats Postfix's delays=a/b/c/d: each part in seconds, "0"
// under 10ms, two significant digits under 10s (0.12, 1.5), whole
// seconds above.
func formatDelays(parts ...time.Duration) string {
	out := make([]string, len(parts))
	for i, p := range parts {
		sec := p.Seconds()
		switch {
		case sec < 0.01:
			out[i] = "0"
		case sec < 10:
			out[i] = strconv.FormatFloat(sec, 'g', 2, 64)
		default:
			out[i] = strconv.FormatFloat(sec, 'f', 0, 64)
		}
	}
	return strings.Join(out, "/")
}

// origTo is Postfix's orig_to: the address of the recipient's ORCPT
// when it differs from the recipient (virtual alias expansion), or "".
func origTo(r queue.Recipient) string {
	_, addr, ok := strings.Cut(r.ORCPT, ";")
	if !ok || strings.EqualFold(addr, r.Addr) {
		return ""
	}
	return addr
}
