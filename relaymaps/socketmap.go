package relaymaps

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/mxkit/mxkit/internal/netserve"
	"github.com/mxkit/mxkit/internal/netstring"
)

func init() {
	Register("socketmap", openSocketmap)
}

// Socketmap protocol limits and times, Postfix's defaults
// (socketmap_max_query_size, socketmap_max_reply_size, dict_sockmap.c).
const (
	// DefaultSocketmapMaxQuery is the largest request ("name key") a
	// Socketmap sends and a SocketmapServer reads, in bytes.
	DefaultSocketmapMaxQuery = 10000
	// DefaultSocketmapMaxReply is the largest reply a Socketmap reads and
	// a SocketmapServer sends, in bytes.
	DefaultSocketmapMaxReply = 100000
	// DefaultSocketmapTimeout bounds connecting, sending a request and
	// receiving its reply, and a SocketmapServer's lookups.
	DefaultSocketmapTimeout = 100 * time.Second
	// DefaultSocketmapIdle is how long a Socketmap keeps an unused
	// connection.
	DefaultSocketmapIdle = 10 * time.Second
	// DefaultSocketmapServerIdle is how long a SocketmapServer waits for
	// the next request on a connection.
	DefaultSocketmapServerIdle = 5 * time.Minute
)

// Socketmap is a client of a socketmap server (Postfix's
// "socketmap:inet:host:port:name" and "socketmap:unix:/path:name" tables,
// socketmap_table(5)). For each lookup it sends the netstring
// "name key" and reads one reply:
//
//	OK <value>         found, value is the rest after "OK " (a bare "OK": found, "")
//	NOTFOUND           not found
//	TEMP <reason>      ErrTemporary
//	TIMEOUT <reason>   ErrTemporary
//	PERM <reason>      ErrConfig
//	anything else      ErrTemporary
//
// Connections are kept open and reused (at most MaxConns at a time, shared
// by concurrent lookups). A connection the server closed (EOF, reset) is
// retried once on a new connection, as Postfix does, so a server restart
// is invisible. The key is sent as given: a socketmap is a pattern table,
// and Postfix does not fold keys for pattern tables.
//
// Divergences from Postfix's client (dict_sockmap.c): a bare "OK" reply is
// found with an empty value, as in Postfix 3.12 (earlier versions read it
// as not found); Postfix uses one connection per process, this client up
// to MaxConns; Postfix also drops a connection after 100 s of use, this
// client only after IdleTimeout without use.
//
// Set the fields before the first Lookup and do not change them afterwards.
type Socketmap struct {
	// Network is "tcp" or "unix".
	Network string
	// Addr is "host:port" for tcp ("[::1]:8080" for IPv6) or a path for
	// unix.
	Addr string
	// MapName is the socketmap name sent before the key.
	MapName string
	// Timeout bounds the connect, and the exchange of one request and
	// reply, unless the context's deadline is earlier. Zero means
	// DefaultSocketmapTimeout (100 s).
	Timeout time.Duration
	// IdleTimeout is how long an unused connection is kept. Zero means
	// DefaultSocketmapIdle (10 s).
	IdleTimeout time.Duration
	// MaxConns limits the connections open at a time; further lookups
	// wait. Zero means 4.
	MaxConns int
	// MaxQuery is the largest request sent, in bytes; a longer one is not
	// sent and the key is not found (with a warning), as in Postfix. Zero
	// means DefaultSocketmapMaxQuery.
	MaxQuery int
	// MaxReply is the largest reply accepted, in bytes; a longer one is a
	// temporary error. Zero means DefaultSocketmapMaxReply.
	MaxReply int
	// Logger receives warnings. Nil means slog.Default().
	Logger *slog.Logger
	// Dialer dials connections. Nil means a net.Dialer.
	Dialer interface {
		DialContext(ctx context.Context, network, addr string) (net.Conn, error)
	}

	once   sync.Once
	slots  chan struct{}
	mu     sync.Mutex
	idle   []*smConn // most recently used last
	closed bool
}

type smConn struct {
	c    net.Conn
	r    *netstring.Reader
	buf  []byte
	used time.Time
}

// ParseSocketmap parses the part of a socketmap spec after "socketmap:":
// "inet:host:port:name" or "unix:/path:name". The name is what follows
// the last colon.
func ParseSocketmap(name string) (*Socketmap, error) {
	fail := func(msg string) (*Socketmap, error) {
		return nil, &SyntaxError{File: "socketmap:" + name, Msg: msg}
	}
	i := strings.LastIndexByte(name, ':')
	if i < 0 || i == len(name)-1 {
		return fail(`need "inet:host:port:name" or "unix:/path:name"`)
	}
	endpoint, mapName := name[:i], name[i+1:]
	if strings.ContainsAny(mapName, " \t\r\n") {
		return fail(fmt.Sprintf("socketmap name %q contains white space", mapName))
	}
	typ, addr, _ := strings.Cut(endpoint, ":")
	s := &Socketmap{Addr: addr, MapName: mapName}
	switch typ {
	case "inet":
		s.Network = "tcp"
		host, port, err := net.SplitHostPort(addr)
		if err != nil || host == "" || port == "" {
			return fail(fmt.Sprintf("bad inet endpoint %q: need host:port", addr))
		}
	case "unix":
		s.Network = "unix"
		if addr == "" {
			return fail("empty unix socket path")
		}
	default:
		return fail(fmt.Sprintf(`unknown endpoint type %q: need "inet:" or "unix:"`, typ))
	}
	return s, nil
}

func openSocketmap(name string, opts *OpenOptions) (Map, error) {
	s, err := ParseSocketmap(name)
	if err != nil {
		return nil, err
	}
	if s.Network == "unix" {
		s.Addr = opts.ResolvePath(s.Addr)
	}
	s.Logger = opts.Logger
	return s, nil
}

// Name returns the table's spec, "socketmap:inet:host:port:name" or
// "socketmap:unix:/path:name".
func (s *Socketmap) Name() string {
	typ := "inet"
	if s.Network == "unix" {
		typ = "unix"
	}
	return "socketmap:" + typ + ":" + s.Addr + ":" + s.MapName
}

// FixedKeys reports false: a socketmap is a pattern table, asked the full
// key only.
func (s *Socketmap) FixedKeys() bool { return false }

func (s *Socketmap) init() {
	n := s.MaxConns
	if n <= 0 {
		n = 4
	}
	s.slots = make(chan struct{}, n)
}

func (s *Socketmap) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.Default()
	}
	return s.Logger
}

func orDefault[T int | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

func (s *Socketmap) fail(key string, kind error, err error) (string, bool, error) {
	return "", false, &LookupError{Table: s.Name(), Key: key, Kind: kind, Err: err}
}

// Lookup asks the server for key.
func (s *Socketmap) Lookup(ctx context.Context, key string) (string, bool, error) {
	s.once.Do(s.init)
	req := s.MapName + " " + key
	if max := orDefault(s.MaxQuery, DefaultSocketmapMaxQuery); len(req) > max {
		s.logger().Warn("socketmap query too long, not sent; key not found",
			"table", s.Name(), "size", len(req), "limit", max)
		return "", false, nil
	}
	select {
	case s.slots <- struct{}{}:
	case <-ctx.Done():
		return s.fail(key, ErrTemporary, ctx.Err())
	}
	defer func() { <-s.slots }()

	var reply string
	for attempt := 0; ; attempt++ {
		c, reused, err := s.conn(ctx)
		if err != nil {
			return s.fail(key, ErrTemporary, err)
		}
		reply, err = s.exchange(ctx, c, req)
		if err == nil {
			s.put(c)
			break
		}
		c.c.Close()
		// Retry once when the connection broke (the server closed an idle
		// connection or restarted), never after a timeout. Postfix retries
		// every EOF; retrying only reused connections would also do.
		if attempt == 0 && brokenConn(err) && ctx.Err() == nil {
			s.logger().Debug("socketmap connection broken, retrying", "table", s.Name(), "reused", reused, "err", err)
			continue
		}
		switch {
		case errors.Is(err, netstring.ErrFormat) || errors.Is(err, netstring.ErrTooLarge):
			err = fmt.Errorf("bad reply: %w", err)
		case brokenConn(err):
			err = fmt.Errorf("connection closed by the server: %w", err)
		}
		return s.fail(key, ErrTemporary, err)
	}

	status, payload, _ := strings.Cut(reply, " ")
	switch status {
	case "OK":
		return payload, true, nil
	case "NOTFOUND":
		return "", false, nil
	case "TEMP":
		return s.fail(key, ErrTemporary, serverError("temporary", payload))
	case "TIMEOUT":
		return s.fail(key, ErrTemporary, serverError("timeout", payload))
	case "PERM":
		return s.fail(key, ErrConfig, serverError("permanent", payload))
	default:
		return s.fail(key, ErrTemporary, serverError("unknown", reply))
	}
}

// serverError describes a reply that is not an answer, as Postfix logs it.
func serverError(class, reason string) error {
	reason = strings.TrimLeft(reason, " \t\r\n")
	if len(reason) > 200 {
		reason = reason[:200]
	}
	if reason == "" {
		return fmt.Errorf("socketmap server %s error", class)
	}
	return fmt.Errorf("socketmap server %s error: %q", class, reason)
}

// brokenConn reports whether err means the peer closed the connection.
func brokenConn(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// conn returns an idle connection or dials one.
func (s *Socketmap) conn(ctx context.Context) (*smConn, bool, error) {
	idleFor := orDefault(s.IdleTimeout, DefaultSocketmapIdle)
	now := time.Now()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, false, errors.New("table closed")
	}
	for len(s.idle) > 0 {
		c := s.idle[len(s.idle)-1]
		s.idle = s.idle[:len(s.idle)-1]
		if now.Sub(c.used) < idleFor {
			s.mu.Unlock()
			return c, true, nil
		}
		c.c.Close()
	}
	s.mu.Unlock()

	ctx, cancel := context.WithTimeout(ctx, orDefault(s.Timeout, DefaultSocketmapTimeout))
	defer cancel()
	var d interface {
		DialContext(ctx context.Context, network, addr string) (net.Conn, error)
	} = s.Dialer
	if d == nil {
		d = &net.Dialer{}
	}
	nc, err := d.DialContext(ctx, s.Network, s.Addr)
	if err != nil {
		return nil, false, err
	}
	return &smConn{c: nc, r: netstring.NewReader(nc, orDefault(s.MaxReply, DefaultSocketmapMaxReply))}, false, nil
}

func (s *Socketmap) put(c *smConn) {
	c.used = time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		c.c.Close()
		return
	}
	s.idle = append(s.idle, c)
}

// exchange sends req on c and reads the reply, within the timeout and the
// context.
func (s *Socketmap) exchange(ctx context.Context, c *smConn, req string) (string, error) {
	deadline := time.Now().Add(orDefault(s.Timeout, DefaultSocketmapTimeout))
	ctxDeadline := false
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline, ctxDeadline = d, true
	}
	if err := c.c.SetDeadline(deadline); err != nil {
		return "", err
	}
	// A cancelled context interrupts the exchange.
	stop := context.AfterFunc(ctx, func() { c.c.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	c.buf = netstring.Append(c.buf[:0], req)
	_, err := c.c.Write(c.buf)
	var reply []byte
	if err == nil {
		reply, err = c.r.Next()
	}
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			if ctx.Err() != nil {
				return "", ctx.Err()
			}
			if ctxDeadline {
				return "", context.DeadlineExceeded
			}
		}
		return "", err
	}
	return string(reply), nil
}

// Close closes the idle connections; connections in use close when their
// lookup ends. Lookups after Close fail with a temporary error.
func (s *Socketmap) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for _, c := range s.idle {
		c.c.Close()
	}
	s.idle = nil
	return nil
}

// ErrServerClosed is returned by SocketmapServer.Serve after Shutdown or
// Close.
var ErrServerClosed = errors.New("relaymaps: socketmap server closed")

// SocketmapServer answers socketmap requests (socketmap_table(5)) from
// Postfix or any other client with tables of this package or any Map. A
// request "name key" is looked up in Maps[name] with the key as received
// (tables fold case themselves; Postfix sends socketmap keys unfolded).
// Replies:
//
//	OK <value>          found (always with the space, also for an empty value)
//	NOTFOUND            not found
//	TEMP <reason>       the table failed with a temporary error (or any error not ErrConfig)
//	TIMEOUT <reason>    the lookup ran past LookupTimeout
//	PERM <reason>       the table failed with ErrConfig
//	PERM unknown map <name>   no table of that name (a configuration error on one side)
//	PERM malformed request    a request without a space after the name
//
// A client may pipeline requests; they are answered in order. A request
// that is not a netstring, or is longer than MaxRequest, closes the
// connection (the stream cannot be resynchronised). A value that would make
// the reply longer than MaxReply is answered "TEMP reply too long".
//
// Set the fields before Serve and do not change them afterwards.
type SocketmapServer struct {
	// Maps maps socketmap names (exact, case-sensitive) to tables.
	Maps map[string]Map
	// Default answers names that are not in Maps; nil means
	// "PERM unknown map <name>".
	Default Map
	// Logger receives connection errors and table failures. Nil means
	// slog.Default().
	Logger *slog.Logger
	// MaxRequest is the largest request accepted, in bytes. Zero means
	// DefaultSocketmapMaxQuery (10000, what Postfix sends at most).
	MaxRequest int
	// MaxReply is the largest reply sent, in bytes. Zero means
	// DefaultSocketmapMaxReply (100000, what Postfix reads at most).
	MaxReply int
	// IdleTimeout closes a connection that sends no complete request for
	// this long; it also bounds writing a reply. Zero means
	// DefaultSocketmapServerIdle (5 minutes).
	IdleTimeout time.Duration
	// LookupTimeout bounds each lookup (the context passed to the Map).
	// Zero means DefaultSocketmapTimeout (100 s, Postfix's wait).
	LookupTimeout time.Duration

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*smServerConn]struct{}
	shutdown  bool
	wg        sync.WaitGroup // connection goroutines
}

type smServerConn struct {
	c  net.Conn
	mu sync.Mutex // orders deadline changes between handler and Shutdown
}

func (s *SocketmapServer) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.Default()
	}
	return s.Logger
}

// Serve accepts connections on l and answers them, each in its own
// goroutine, until Shutdown or Close (then it returns ErrServerClosed) or
// an accept error that is not temporary. It closes l when it returns.
func (s *SocketmapServer) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.shutdown {
		s.mu.Unlock()
		l.Close()
		return ErrServerClosed
	}
	if s.listeners == nil {
		s.listeners = map[net.Listener]struct{}{}
		s.conns = map[*smServerConn]struct{}{}
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
		l.Close()
	}()

	closing := func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.shutdown
	}
	for {
		nc, err := netserve.Accept(l, closing, s.logger())
		if errors.Is(err, netserve.ErrClosed) {
			return ErrServerClosed
		}
		if err != nil {
			return err
		}
		c := &smServerConn{c: nc}
		s.mu.Lock()
		if s.shutdown {
			s.mu.Unlock()
			nc.Close()
			return ErrServerClosed
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serveConn(c)
	}
}

// Shutdown stops the server cleanly: it closes the listeners, closes
// connections waiting for a request, and lets lookups in progress finish
// and their replies (and those of requests already received) be sent,
// then closes those connections too. If ctx ends first, Shutdown closes
// the remaining connections and returns ctx's error.
func (s *SocketmapServer) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.shutdown = true
	for l := range s.listeners {
		l.Close()
	}
	conns := make([]*smServerConn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	// Wake readers blocked between requests; handlers check s.shutdown
	// before each read, under c.mu, so none can miss it.
	now := time.Now()
	for _, c := range conns {
		c.mu.Lock()
		c.c.SetReadDeadline(now)
		c.mu.Unlock()
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.Close()
		<-done
		return ctx.Err()
	}
}

// Close stops the server at once: it closes the listeners and every
// connection, in the middle of a lookup or not.
func (s *SocketmapServer) Close() error {
	s.mu.Lock()
	s.shutdown = true
	for l := range s.listeners {
		l.Close()
	}
	for c := range s.conns {
		c.c.Close()
	}
	s.mu.Unlock()
	return nil
}

func (s *SocketmapServer) isShutdown() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.shutdown
}

func (s *SocketmapServer) serveConn(c *smServerConn) {
	defer s.wg.Done()
	defer func() {
		c.c.Close()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	}()
	idle := orDefault(s.IdleTimeout, DefaultSocketmapServerIdle)
	r := netstring.NewReader(c.c, orDefault(s.MaxRequest, DefaultSocketmapMaxQuery))
	w := bufio.NewWriter(c.c)
	var buf []byte
	for {
		if r.Buffered() == 0 {
			// Nothing pipelined: send the replies so far, then wait.
			if w.Buffered() > 0 {
				c.c.SetWriteDeadline(time.Now().Add(idle))
				if err := w.Flush(); err != nil {
					s.logger().Debug("socketmap write error", "remote", c.c.RemoteAddr(), "err", err)
					return
				}
			}
			c.mu.Lock()
			if s.isShutdown() {
				c.mu.Unlock()
				return
			}
			c.c.SetReadDeadline(time.Now().Add(idle))
			c.mu.Unlock()
		}
		req, err := r.Next()
		if err != nil {
			// Send the replies to the requests read so far (Shutdown
			// with a partial request pipelined after them).
			if w.Buffered() > 0 {
				c.c.SetWriteDeadline(time.Now().Add(idle))
				w.Flush()
			}
			if err != io.EOF && !errors.Is(err, os.ErrDeadlineExceeded) && !errors.Is(err, net.ErrClosed) {
				s.logger().Warn("socketmap bad request, closing connection", "remote", c.c.RemoteAddr(), "err", err)
			}
			return
		}
		reply := s.answer(string(req))
		if max := orDefault(s.MaxReply, DefaultSocketmapMaxReply); len(reply) > max {
			reply = "TEMP reply too long"
		}
		buf = netstring.Append(buf[:0], reply)
		w.Write(buf)
	}
}

// answer looks up one request and returns the reply.
func (s *SocketmapServer) answer(req string) (reply string) {
	name, key, ok := strings.Cut(req, " ")
	if !ok {
		return "PERM malformed request"
	}
	m := s.Maps[name]
	if m == nil {
		m = s.Default
	}
	if m == nil {
		return "PERM unknown map " + printable(name)
	}
	defer func() {
		if p := recover(); p != nil {
			s.logger().Error("socketmap lookup panicked", "map", name, "key", key, "panic", p)
			reply = "TEMP internal error"
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), orDefault(s.LookupTimeout, DefaultSocketmapTimeout))
	defer cancel()
	v, found, err := m.Lookup(ctx, key)
	switch {
	case err != nil:
		s.logger().Warn("socketmap lookup failed", "map", name, "key", key, "err", err)
		switch {
		case IsConfig(err):
			return "PERM " + printable(err.Error())
		case ctx.Err() != nil && errors.Is(err, context.DeadlineExceeded):
			return "TIMEOUT " + printable(err.Error())
		default:
			return "TEMP " + printable(err.Error())
		}
	case found:
		return "OK " + v
	default:
		return "NOTFOUND "
	}
}

// printable returns s with control bytes replaced by '?' and cut to 500
// bytes, for reasons and names echoed to the client.
func printable(s string) string {
	if len(s) > 500 {
		s = s[:500]
	}
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}
