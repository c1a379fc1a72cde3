package deliver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/textproto"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mxkit/mxkit/queue"
	"github.com/mxkit/mxkit/tlspolicy"
)

// conn is one connection to a host, fresh or from the cache.
type conn struct {
	host    Host
	key     string
	raw     net.Conn // the socket
	nc      net.Conn // what go-smtp reads and writes (deadlines go here)
	client  *smtp.Client
	tls     bool
	trust   string // "Verified", "Trusted", "Untrusted", "Anonymous"; "" in plaintext
	reused  bool   // taken from the cache for this delivery
	dead    bool   // must not be cached
	uses    int    // messages tried over it
	created time.Time
	timer   *time.Timer // expires it while idle
}

// errTLSFailed marks a failed TLS handshake.
var errTLSFailed = errors.New("TLS handshake failed")

func (s *SMTP) cacheKey(r queue.Route, h Host, p *TLSPolicy) string {
	key := fmt.Sprintf("%s|%s|%s|%s", s.proto(), h.Network, h.Addr, p)
	switch p.Level {
	case tlspolicy.Fingerprint, tlspolicy.Dane, tlspolicy.DaneOnly, tlspolicy.Verify, tlspolicy.Secure:
		// outbound.md §1.5: a connection verified for one next hop must
		// not serve another.
		key += "|" + tlspolicy.NexthopDomain(nexthopOf(r, h))
	}
	return key
}

// get returns a live connection to h: a cached one that answered RSET and
// EHLO, or a new one. On failure it returns nil and the result for the
// recipients.
func (s *SMTP) get(ctx context.Context, r queue.Route, h Host, m *queue.Message) (*conn, queue.Result) {
	arrival := m.Arrival
	p, err := s.policy(ctx, r, h, m)
	if err != nil {
		if e, ok := errors.AsType[*tlspolicy.Error](err); ok && e.Result != "" {
			// The host is skipped for its TLS policy (a TLSA or DNSSEC
			// lookup failure): a failed session for TLS-RPT, with no
			// connection.
			s.report(r, h, tlspolicy.Result{Policy: tlspolicy.ReportPolicy{Type: tlspolicy.PolicyTLSA, Domain: h.Name},
				Failure: &tlspolicy.FailureDetails{ResultType: e.Result, ReceivingMXHostname: h.Name, ReceivingIP: h.IP, FailureReasonCode: e.ReasonCode}})
		}
		return nil, policyResult(err, h)
	}
	key := s.cacheKey(r, h, p)
	for {
		c := s.takeIdle(key)
		if c == nil {
			break
		}
		if err := s.probe(ctx, c); err != nil {
			s.logger().Debug(s.proto()+": cached connection unusable", "host", h.String(), "err", err)
			c.close()
			if ctx.Err() != nil {
				return nil, dialResult(ctx, ctx.Err(), h)
			}
			continue
		}
		// The cache key holds the address, port and policy, not the MX
		// name: two MX hosts of different domains at one address share
		// the connection. Log and report the host this delivery asked
		// for (relay=, Remote-MTA), not the one it was opened for.
		c.reused, c.host = true, h
		return c, queue.Result{}
	}
	c, res, plain := s.connect(ctx, r, h, p)
	if plain {
		// Postfix's level "may": after a failed handshake, try the same
		// host again without TLS, once the message is old enough
		// (PLAINTEXT_FALLBACK_OK_AFTER_STARTTLS_FAILURE, outbound.md §0.1).
		if age := time.Since(arrival); arrival.IsZero() || age >= s.PlaintextFallbackAge {
			s.logger().Warn(s.proto()+": TLS handshake failed; retrying in plaintext", "host", h.String(), "reason", res.Text)
			c, res, _ = s.connect(ctx, r, h, &TLSPolicy{Level: TLSNone})
		} else {
			s.logger().Warn(s.proto()+": TLS handshake failed; plaintext retry once the message is older", "host", h.String(),
				"reason", res.Text, "age", age.Round(time.Second), "after", s.PlaintextFallbackAge)
		}
	}
	if c != nil {
		c.key = key
	}
	return c, res
}

// report hands a session's TLS-RPT result to s.TLSRPT. Postfix records
// none for an IP-literal next hop (it has no _smtp._tls record).
func (s *SMTP) report(r queue.Route, h Host, res tlspolicy.Result) {
	if s.TLSRPT == nil {
		return
	}
	domain := tlspolicy.NexthopDomain(nexthopOf(r, h))
	if _, err := netip.ParseAddr(strings.TrimPrefix(domain, "ipv6:")); err == nil || h.Network != "tcp" {
		return
	}
	for _, rec := range res.Records(domain, time.Now()) {
		s.TLSRPT.Record(rec)
	}
}

// policyResult is the result for a host whose TLS policy could not be
// resolved: deferred with the policy's DSN ("4.7.5 client TLS
// configuration problem").
func policyResult(err error, h Host) queue.Result {
	var e *tlspolicy.Error
	if errors.As(err, &e) {
		return queue.Deferf(tempDSN(e.DSN), "%s", e.Text)
	}
	return queue.Deferf("4.7.5", "TLS policy for %s: %v", h, err)
}

// tempDSN turns a DSN into class 4: TLS-policy failures defer.
func tempDSN(dsn string) string {
	if dsn == "" {
		return "4.7.5"
	}
	return "4" + dsn[1:]
}

// probe checks that a cached connection is still usable with RSET, as
// Postfix does (smtp_rset_timeout); the session's EHLO still holds.
func (s *SMTP) probe(ctx context.Context, c *conn) error {
	to := s.Timeouts.withDefaults()
	stop := context.AfterFunc(ctx, func() { _ = c.raw.Close() })
	defer stop()
	c.client.CommandTimeout = to.Rset
	if err := c.client.Reset(); err != nil {
		return fmt.Errorf("RSET: %w", err)
	}
	return nil
}

func (s *SMTP) dial(ctx context.Context, h Host) (net.Conn, error) {
	if s.Dial != nil {
		return s.Dial(ctx, h.Network, h.Addr)
	}
	var d net.Dialer
	return d.DialContext(ctx, h.Network, h.Addr)
}

// connect opens a connection to h and runs tlspolicy's dialogue with p.
// retryPlain reports a failed handshake at level may.
func (s *SMTP) connect(ctx context.Context, r queue.Route, h Host, p *TLSPolicy) (c *conn, res queue.Result, retryPlain bool) {
	to := s.Timeouts.withDefaults()
	dctx, cancel := context.WithTimeout(ctx, to.Connect)
	raw, err := s.dial(dctx, h)
	cancel()
	if err != nil {
		return nil, dialResult(ctx, err, h), false
	}
	d := &tlspolicy.Dialer{Hostname: s.hostname(), LMTP: s.LMTP, TLS: s.TLS, MandatoryTLS: s.MandatoryTLS,
		FingerprintDigest: s.FingerprintDigest, Logger: s.logger(),
		Timeouts: tlspolicy.Timeouts{Connect: to.Connect, Helo: to.Helo, StartTLS: to.StartTLS}}
	t := tlspolicy.Target{Network: h.Network, Addr: h.Addr, Nexthop: tlspolicy.NexthopDomain(nexthopOf(r, h))}
	if h.Network == "tcp" && !h.isIP() {
		t.Host = h.Name
	}
	tc, err := d.Handshake(ctx, raw, t, p)
	if err != nil {
		if e, ok := errors.AsType[*tlspolicy.Error](err); ok && e.Report != nil {
			s.report(r, h, *e.Report)
		}
		res, retryPlain = s.handshakeResult(ctx, err, h, p)
		return nil, res, retryPlain
	}
	s.report(r, h, tc.Result)
	return &conn{host: h, raw: tc.Raw, nc: tc.Conn, client: tc.Client, tls: tc.TLS != nil, trust: tc.Trust, created: time.Now()}, queue.Result{}, false
}

// handshakeResult turns a tlspolicy dialer error into the recipients'
// result, in this package's words ("... with [host]:25: ..."); retryPlain
// reports a failed handshake at level may.
func (s *SMTP) handshakeResult(ctx context.Context, err error, h Host, p *TLSPolicy) (queue.Result, bool) {
	var e *tlspolicy.Error
	if !errors.As(err, &e) {
		return ioResult(ctx, err, h, "performing the TLS handshake"), false
	}
	switch e.Kind {
	case tlspolicy.KindReply:
		if r, ok := asReply(e.Err, h); ok {
			if e.While == tlspolicy.WhileGreeting && r.Status == queue.Bounced {
				// smtp_skip_5xx_greeting = yes: a 5xx greeting is a
				// temporary site failure; the next MX is tried.
				r.Status, r.DSN = queue.Deferred, tempDSN(r.DSN)
			}
			return r, false
		}
	case tlspolicy.KindIO:
		return ioResult(ctx, e.Err, h, e.While), false
	case tlspolicy.KindNotOffered:
		return queue.Deferf("4.7.4", "TLS is required, but was not offered by host %s", hostLabel(h)), false
	case tlspolicy.KindRefused:
		var pe *textproto.Error
		errors.As(e.Err, &pe)
		reply := ""
		if pe != nil {
			reply = protoText(pe.Code, pe.Msg)
		}
		return queue.Deferf(tempDSN(e.DSN), "TLS is required, but host %s refused to start TLS: %s", hostLabel(h), reply), false
	case tlspolicy.KindVerify:
		if ctx.Err() == nil {
			// Postfix's text; which check failed goes to the log only, as
			// in Postfix ("certificate verification failed for ...").
			s.logger().Warn(s.proto()+": server certificate not verified", "host", h.String(), "err", e.Err)
			return queue.Deferf("4.7.5", "Server certificate not verified"), false
		}
		return ioResult(ctx, e.Err, h, "performing the TLS handshake"), false
	case tlspolicy.KindHandshake:
		if ctx.Err() != nil {
			return ioResult(ctx, e.Err, h, "performing the TLS handshake"), false
		}
		res := queue.Deferf("4.7.5", "Cannot start TLS: handshake failure with %s: %v: %v", h, errTLSFailed, e.Err)
		if p.Level.RequiresTLS() {
			s.logger().Warn(s.proto()+": TLS handshake failed", "host", h.String(), "err", e.Err)
			return res, false
		}
		return res, true
	}
	return queue.Deferf(tempDSN(e.DSN), "%s", e.Text), false
}

// hostLabel is h as Postfix names it in TLS texts: "mx.example.com[192.0.2.1]",
// without the port.
func hostLabel(h Host) string {
	s := h.String()
	if h.Network == "tcp" {
		if i := strings.LastIndex(s, "]:"); i >= 0 {
			return s[:i+1]
		}
	}
	return s
}

// close drops the connection without QUIT.
func (c *conn) close() {
	_ = c.client.Close()
}

// quit ends the connection politely.
func (c *conn) quit(timeout time.Duration) {
	c.client.CommandTimeout = timeout
	if err := c.client.Quit(); err != nil {
		_ = c.client.Close()
	}
}

func (s *SMTP) takeIdle(key string) *conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	list := s.idle[key]
	for len(list) > 0 {
		c := list[len(list)-1]
		list = list[:len(list)-1]
		s.idle[key] = list
		c.timer.Stop()
		return c
	}
	return nil
}

// put caches c for the next message to its host, or ends it.
func (s *SMTP) put(c *conn) {
	to := s.Timeouts.withDefaults()
	if c.dead {
		c.close()
		return
	}
	if s.cacheTime() < 0 || (s.ReuseCount > 0 && c.uses >= s.ReuseCount) || time.Since(c.created) >= s.reuseTime() {
		c.quit(to.Quit)
		return
	}
	s.mu.Lock()
	if s.closed || len(s.idle[c.key]) >= s.maxIdle() {
		s.mu.Unlock()
		c.quit(to.Quit)
		return
	}
	if s.idle == nil {
		s.idle = make(map[string][]*conn)
	}
	c.reused = false
	c.timer = time.AfterFunc(s.cacheTime(), func() { s.expire(c) })
	s.idle[c.key] = append(s.idle[c.key], c)
	s.mu.Unlock()
}

// expire ends c if it is still idle.
func (s *SMTP) expire(c *conn) {
	s.mu.Lock()
	list := s.idle[c.key]
	found := false
	for i, x := range list {
		if x == c {
			s.idle[c.key] = append(list[:i:i], list[i+1:]...)
			found = true
			break
		}
	}
	if len(s.idle[c.key]) == 0 {
		delete(s.idle, c.key)
	}
	s.mu.Unlock()
	if found {
		c.quit(s.Timeouts.withDefaults().Quit)
	}
}

// Close ends the idle cached connections (with QUIT) and stops caching.
// Deliveries still running finish and close their connections.
func (s *SMTP) Close() error {
	s.mu.Lock()
	s.closed = true
	var all []*conn
	for _, list := range s.idle {
		for _, c := range list {
			c.timer.Stop()
			all = append(all, c)
		}
	}
	s.idle = nil
	s.mu.Unlock()
	var wg sync.WaitGroup
	to := s.Timeouts.withDefaults()
	for _, c := range all {
		wg.Go(func() { c.quit(to.Quit) })
	}
	wg.Wait()
	return nil
}

// Idle returns the number of idle cached connections.
func (s *SMTP) Idle() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, list := range s.idle {
		n += len(list)
	}
	return n
}
