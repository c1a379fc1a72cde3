package deliver

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mxkit/mxkit/queue"
)

// conn is one connection to a host, fresh or from the cache.
type conn struct {
	host    Host
	key     string
	raw     net.Conn // the socket
	nc      net.Conn // what go-smtp reads and writes (deadlines go here)
	client  *smtp.Client
	tls     bool
	reused  bool // taken from the cache for this delivery
	dead    bool // must not be cached
	uses    int  // messages tried over it
	created time.Time
	timer   *time.Timer // expires it while idle
}

// errTLSFailed marks a failed TLS handshake.
var errTLSFailed = errors.New("TLS handshake failed")

// prefixConn replays bytes already read (or a synthetic greeting) before
// the connection's own data.
type prefixConn struct {
	net.Conn
	r io.Reader
}

func (p *prefixConn) Read(b []byte) (int, error) { return p.r.Read(b) }

func (s *SMTP) cacheKey(h Host, p TLSPolicy) string {
	return fmt.Sprintf("%s|%s|%s|%d", s.proto(), h.Network, h.Addr, p.Level)
}

// get returns a live connection to h: a cached one that answered RSET and
// EHLO, or a new one. On failure it returns nil and the result for the
// recipients.
func (s *SMTP) get(ctx context.Context, h Host) (*conn, queue.Result) {
	p := s.policy(ctx, h)
	key := s.cacheKey(h, p)
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
		c.reused = true
		return c, queue.Result{}
	}
	c, res, plain := s.connect(ctx, h, p)
	if plain {
		// Postfix's level "may": after a failed handshake, try the same
		// host again without TLS.
		p.Level = TLSNone
		c, res, _ = s.connect(ctx, h, p)
	}
	if c != nil {
		c.key = key
	}
	return c, res
}

// probe checks a cached connection with RSET and a new EHLO.
func (s *SMTP) probe(ctx context.Context, c *conn) error {
	to := s.Timeouts.withDefaults()
	stop := context.AfterFunc(ctx, func() { _ = c.raw.Close() })
	defer stop()
	c.client.CommandTimeout = to.Rset
	if err := c.client.Reset(); err != nil {
		return fmt.Errorf("RSET: %w", err)
	}
	c.client.CommandTimeout = to.Helo
	if err := c.client.Hello(s.hostname()); err != nil {
		return fmt.Errorf("EHLO: %w", err)
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

// connect opens a connection to h and says EHLO, using STARTTLS as p
// says. retryPlain reports a failed handshake at level may.
func (s *SMTP) connect(ctx context.Context, h Host, p TLSPolicy) (c *conn, res queue.Result, retryPlain bool) {
	to := s.Timeouts.withDefaults()
	dctx, cancel := context.WithTimeout(ctx, to.Connect)
	raw, err := s.dial(dctx, h)
	cancel()
	if err != nil {
		return nil, dialResult(ctx, err, h), false
	}
	stop := context.AfterFunc(ctx, func() { _ = raw.Close() })
	defer stop()
	c, res, retryPlain = s.handshake(ctx, raw, h, p, to)
	if c == nil {
		_ = raw.Close()
	}
	return c, res, retryPlain
}

// handshake reads the greeting, negotiates STARTTLS and hands the
// connection to go-smtp, which says EHLO (again, after TLS).
func (s *SMTP) handshake(ctx context.Context, raw net.Conn, h Host, p TLSPolicy, to Timeouts) (*conn, queue.Result, bool) {
	name := s.hostname()
	hello := "EHLO"
	if s.LMTP {
		hello = "LHLO"
	}
	br := bufio.NewReader(raw)
	tr := textproto.NewReader(br)
	_ = raw.SetDeadline(time.Now().Add(to.Helo))
	if _, _, err := tr.ReadResponse(220); err != nil {
		if r, ok := asReply(err, h); ok {
			return nil, r, false
		}
		return nil, ioResult(ctx, err, h, "receiving the initial server greeting"), false
	}
	// go-smtp reads this synthetic greeting instead of the real one.
	const greeting = "220 greeting already read\r\n"
	var nc net.Conn = &prefixConn{Conn: raw, r: io.MultiReader(strings.NewReader(greeting), br)}
	tlsOn := false

	if p.Level >= TLSMay {
		starttls := false
		if _, err := io.WriteString(raw, hello+" "+name+"\r\n"); err != nil {
			return nil, ioResult(ctx, err, h, "performing the "+hello+" handshake"), false
		}
		_, msg, err := tr.ReadResponse(250)
		var pe *textproto.Error
		switch {
		case errors.As(err, &pe) && (pe.Code == 500 || pe.Code == 502):
			// No ESMTP; go-smtp falls back to HELO.
		case err != nil:
			if r, ok := asReply(err, h); ok {
				return nil, r, false
			}
			return nil, ioResult(ctx, err, h, "performing the "+hello+" handshake"), false
		default:
			for _, line := range strings.Split(msg, "\n")[1:] {
				kw, _, _ := strings.Cut(strings.TrimSpace(line), " ")
				if strings.EqualFold(kw, "STARTTLS") {
					starttls = true
				}
			}
		}
		switch {
		case !starttls && p.Level >= TLSEncrypt:
			return nil, queue.Deferf("4.7.4", "TLS is required, but was not offered by host %s", h), false
		case starttls:
			_ = raw.SetDeadline(time.Now().Add(to.StartTLS))
			if _, err := io.WriteString(raw, "STARTTLS\r\n"); err != nil {
				return nil, ioResult(ctx, err, h, "sending STARTTLS"), false
			}
			_, _, err := tr.ReadResponse(220)
			if err != nil {
				var pe *textproto.Error
				if !errors.As(err, &pe) {
					return nil, ioResult(ctx, err, h, "sending STARTTLS"), false
				}
				if p.Level >= TLSEncrypt {
					return nil, queue.Deferf("4.7.4", "TLS is required, but host %s refused to start TLS: %s", h, protoText(pe.Code, pe.Msg)), false
				}
				s.logger().Warn(s.proto()+": STARTTLS refused; continuing in plaintext", "host", h.String(), "reply", protoText(pe.Code, pe.Msg))
				break
			}
			if br.Buffered() > 0 {
				// Plaintext sent after the 220 would be read as if it came
				// over TLS (the CVE-2011-0411 pattern): refuse it.
				err = fmt.Errorf("%w: %d bytes of plaintext after the STARTTLS reply", errTLSFailed, br.Buffered())
			} else {
				tc := tls.Client(raw, tlsConfig(p, h))
				hctx, cancel := context.WithTimeout(ctx, to.StartTLS)
				err = tc.HandshakeContext(hctx)
				cancel()
				if err == nil {
					nc = &prefixConn{Conn: tc, r: io.MultiReader(strings.NewReader(greeting), tc)}
					tlsOn = true
					cs := tc.ConnectionState()
					s.logger().Info(s.proto()+": TLS connection established", "host", h.String(),
						"version", tls.VersionName(cs.Version), "cipher", tls.CipherSuiteName(cs.CipherSuite))
					break
				}
				err = fmt.Errorf("%w: %w", errTLSFailed, err)
			}
			if ctx.Err() != nil {
				return nil, ioResult(ctx, err, h, "performing the TLS handshake"), false
			}
			if p.Level >= TLSEncrypt {
				s.logger().Warn(s.proto()+": TLS handshake failed", "host", h.String(), "err", err)
				return nil, queue.Deferf("4.7.5", "Cannot start TLS: handshake failure with %s: %v", h, err), false
			}
			s.logger().Warn(s.proto()+": TLS handshake failed; retrying in plaintext", "host", h.String(), "err", err)
			return nil, queue.Deferf("4.7.5", "Cannot start TLS: handshake failure with %s: %v", h, err), true
		}
	}
	_ = raw.SetDeadline(time.Time{})

	var client *smtp.Client
	if s.LMTP {
		client = smtp.NewClientLMTP(nc)
	} else {
		client = smtp.NewClient(nc)
	}
	client.CommandTimeout = to.Helo
	if err := client.Hello(name); err != nil {
		if r, ok := asReply(err, h); ok {
			return nil, r, false
		}
		return nil, ioResult(ctx, err, h, "performing the "+hello+" handshake"), false
	}
	return &conn{host: h, raw: raw, nc: nc, client: client, tls: tlsOn, created: time.Now()}, queue.Result{}, false
}

// tlsConfig is the client configuration for p and h: SNI is the host name
// (never an address); level may skips certificate verification.
func tlsConfig(p TLSPolicy, h Host) *tls.Config {
	var cfg *tls.Config
	if p.Config != nil {
		cfg = p.Config.Clone()
	} else {
		cfg = &tls.Config{}
	}
	if cfg.ServerName == "" && h.Network == "tcp" && !h.isIP() {
		cfg.ServerName = h.Name
	}
	switch p.Level {
	case TLSMay:
		cfg.InsecureSkipVerify = true
		cfg.VerifyConnection = nil
		cfg.VerifyPeerCertificate = nil
	case TLSEncrypt:
		cfg.InsecureSkipVerify = true
	}
	return cfg
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
