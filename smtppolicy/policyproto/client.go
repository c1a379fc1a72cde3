package policyproto

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/mxkit/mxkit/internal/pflist"
	"github.com/mxkit/mxkit/smtppolicy"
)

// DefaultAction is Postfix's smtpd_policy_service_default_action.
const DefaultAction = "451 4.3.5 Server configuration problem"

// Options are the settings of a policy client, Postfix's
// smtpd_policy_service_* parameters. Zero fields take Postfix's defaults,
// given in the comments.
type Options struct {
	Timeout       time.Duration // smtpd_policy_service_timeout: 100s, for one request
	MaxIdle       time.Duration // smtpd_policy_service_max_idle: 300s
	MaxTTL        time.Duration // smtpd_policy_service_max_ttl: 1000s
	RequestLimit  int           // smtpd_policy_service_request_limit: 0, no limit
	TryLimit      int           // smtpd_policy_service_try_limit: 2
	RetryDelay    time.Duration // smtpd_policy_service_retry_delay: 1s
	DefaultAction string        // smtpd_policy_service_default_action: DefaultAction
	PolicyContext string        // smtpd_policy_service_policy_context: ""

	// CompatibilityLevel and MailVersion are sent as compatibility_level
	// and mail_version; empty by default.
	CompatibilityLevel, MailVersion string
	// MaxIdleConns bounds the idle connections kept open; 0 means 16.
	// (Postfix keeps one per smtpd process.)
	MaxIdleConns int
	// Limits bound the server's replies.
	Limits Limits
	// Dial opens connections; nil means a net.Dialer.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Logger receives failures; nil means slog.Default().
	Logger *slog.Logger
}

func (o *Options) fill() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.Timeout, 100*time.Second)
	def(&o.MaxIdle, 300*time.Second)
	def(&o.MaxTTL, 1000*time.Second)
	def(&o.RetryDelay, time.Second)
	if o.TryLimit <= 0 {
		o.TryLimit = 2
	}
	if o.DefaultAction == "" {
		o.DefaultAction = DefaultAction
	}
	if o.MaxIdleConns <= 0 {
		o.MaxIdleConns = 16
	}
	if o.Dial == nil {
		var d net.Dialer
		o.Dial = d.DialContext
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	o.Limits = o.Limits.norm()
}

// Client is check_policy_service: it asks a policy server about each
// State it checks and applies the action the server answers, as an
// access(5) table value. It keeps connections open and reuses them. It
// is safe for concurrent use.
type Client struct {
	network, addr, endpoint string
	opts                    Options
	reg                     *smtppolicy.Registry

	mu     sync.Mutex
	idle   []*pconn
	closed bool
}

// pconn is one connection to the server.
type pconn struct {
	nc   net.Conn
	br   *bufio.Reader
	born time.Time
	used time.Time
	n    int
}

// NewClient returns a client for endpoint ("inet:host:port" or
// "unix:/path"). reg interprets the server's actions (restriction names
// in them, FingerprintDigest); it may be nil. opts may be nil.
func NewClient(endpoint string, opts *Options, reg *smtppolicy.Registry) (*Client, error) {
	network, addr, err := parseEndpoint(endpoint)
	if err != nil {
		return nil, err
	}
	c := &Client{network: network, addr: addr, endpoint: endpoint, reg: reg}
	if opts != nil {
		c.opts = *opts
	}
	c.opts.fill()
	return c, nil
}

func parseEndpoint(s string) (network, addr string, err error) {
	switch {
	case strings.HasPrefix(s, "inet:"):
		addr = s[len("inet:"):]
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return "", "", fmt.Errorf("policyproto: endpoint %q: %w", s, err)
		}
		return "tcp", addr, nil
	case strings.HasPrefix(s, "unix:"):
		addr = s[len("unix:"):]
		if addr == "" {
			return "", "", fmt.Errorf("policyproto: endpoint %q: empty path", s)
		}
		return "unix", addr, nil
	}
	return "", "", fmt.Errorf("policyproto: endpoint %q: want inet:host:port or unix:/path", s)
}

// String is "check_policy_service ENDPOINT", for traces.
func (c *Client) String() string { return "check_policy_service " + c.endpoint }

// Close closes the idle connections; the client cannot be used after.
func (c *Client) Close() error {
	c.mu.Lock()
	idle := c.idle
	c.idle, c.closed = nil, true
	c.mu.Unlock()
	var errs []error
	for _, pc := range idle {
		errs = append(errs, pc.nc.Close())
	}
	return errors.Join(errs...)
}

// Check asks the server about st and evaluates its action like an
// access-table value found for the list's reply name and class. When the
// server cannot be asked (after TryLimit tries) or answers garbage, the
// DefaultAction is evaluated instead.
func (c *Client) Check(ctx context.Context, st *smtppolicy.State) (smtppolicy.Decision, error) {
	var digest string
	if c.reg != nil {
		digest = c.reg.FingerprintDigest
	}
	req := NewRequest(st, digest)
	req.PolicyContext = c.opts.PolicyContext
	req.CompatibilityLevel, req.MailVersion = c.opts.CompatibilityLevel, c.opts.MailVersion
	req.Instance = instance(st)
	action, err := c.Query(ctx, &req)
	if err == nil && !utf8.ValidString(action) {
		err = fmt.Errorf("policyproto: %s: action is not UTF-8: %q", c.endpoint, action)
	}
	note := ""
	if err != nil {
		c.opts.Logger.Warn("policyproto: policy query failed; using the default action",
			"endpoint", c.endpoint, "default_action", c.opts.DefaultAction, "error", err)
		action, note = c.opts.DefaultAction, "default_action: "+err.Error()
	}
	d, err := c.reg.AccessAction(ctx, st, action, st.ReplyName(), st.ReplyClass())
	if d.Value == "" {
		d.Value = action
	}
	d.Table = c.endpoint
	if note != "" {
		d.Note = note
	}
	return d, err
}

// instance correlates the queries of one transaction: the same State and
// sender give the same value.
func instance(st *smtppolicy.State) string {
	h := fnv.New64a()
	fmt.Fprintf(h, "%p", st)
	io.WriteString(h, st.ClientAddr.String())
	io.WriteString(h, st.Helo)
	if st.HasSender {
		io.WriteString(h, "\x00"+st.Sender)
	}
	return strconv.FormatUint(h.Sum64(), 16)
}

// Query sends req and returns the server's action. A failed try is
// repeated after RetryDelay, up to TryLimit tries; a reused connection
// that the server closed while it was idle is replaced at once, without
// counting a try.
func (c *Client) Query(ctx context.Context, req *Request) (string, error) {
	payload, err := req.AppendTo(make([]byte, 0, 1024))
	if err != nil {
		return "", err
	}
	var lastErr error
	for try := 1; try <= c.opts.TryLimit; try++ {
		if try > 1 {
			t := time.NewTimer(c.opts.RetryDelay)
			select {
			case <-ctx.Done():
				t.Stop()
				return "", fmt.Errorf("policyproto: %s: %w (after %v)", c.endpoint, ctx.Err(), lastErr)
			case <-t.C:
			}
		}
		action, err := c.try(ctx, payload)
		if err == nil {
			return action, nil
		}
		lastErr = err
		if ctx.Err() != nil {
			break
		}
	}
	return "", fmt.Errorf("policyproto: %s: %w", c.endpoint, lastErr)
}

// try does one request, on a fresh connection if a reused one turns out
// to be dead.
func (c *Client) try(ctx context.Context, payload []byte) (string, error) {
	for {
		pc, reused, err := c.get(ctx)
		if err != nil {
			return "", err
		}
		action, got, err := c.roundTrip(ctx, pc, payload)
		if err == nil {
			c.put(pc)
			return action, nil
		}
		pc.nc.Close()
		if reused && !got && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || isReset(err)) {
			continue
		}
		return "", err
	}
}

func isReset(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && !oe.Timeout()
}

func (c *Client) roundTrip(ctx context.Context, pc *pconn, payload []byte) (action string, got bool, err error) {
	deadline := time.Now().Add(c.opts.Timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	pc.nc.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { pc.nc.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if _, err := pc.nc.Write(payload); err != nil {
		return "", false, err
	}
	if _, err := pc.br.Peek(1); err != nil {
		return "", false, err
	}
	action, err = ReadReply(pc.br, c.opts.Limits)
	if err != nil {
		return "", true, err
	}
	pc.n++
	pc.used = time.Now()
	return action, true, nil
}

// get returns an idle connection that is still within its limits, or
// dials a new one.
func (c *Client) get(ctx context.Context) (*pconn, bool, error) {
	now := time.Now()
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, false, errors.New("policyproto: client closed")
	}
	for len(c.idle) > 0 {
		pc := c.idle[len(c.idle)-1]
		c.idle = c.idle[:len(c.idle)-1]
		if now.Sub(pc.used) >= c.opts.MaxIdle || now.Sub(pc.born) >= c.opts.MaxTTL {
			pc.nc.Close()
			continue
		}
		c.mu.Unlock()
		return pc, true, nil
	}
	c.mu.Unlock()
	dctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	nc, err := c.opts.Dial(dctx, c.network, c.addr)
	if err != nil {
		return nil, false, err
	}
	return &pconn{nc: nc, br: bufio.NewReaderSize(nc, c.opts.Limits.MaxLine+2), born: now, used: now}, false, nil
}

// put keeps a connection for reuse unless it reached a limit.
func (c *Client) put(pc *pconn) {
	if c.opts.RequestLimit > 0 && pc.n >= c.opts.RequestLimit || time.Since(pc.born) >= c.opts.MaxTTL {
		pc.nc.Close()
		return
	}
	c.mu.Lock()
	if c.closed || len(c.idle) >= c.opts.MaxIdleConns {
		c.mu.Unlock()
		pc.nc.Close()
		return
	}
	c.idle = append(c.idle, pc)
	c.mu.Unlock()
}

// Extension returns the "check_policy_service" restriction for
// reg.Extensions. It takes one argument: "inet:host:port", "unix:/path",
// or Postfix's per-service form "{ inet:host:port, timeout=10s,
// default_action=DUNNO, policy_context=x, ... }" (options timeout,
// max_idle, max_ttl, request_limit, try_limit, retry_delay,
// default_action, policy_context; a value with spaces goes in braces:
// "default_action={451 4.7.1 try later}"). opts are the defaults (the
// smtpd_policy_service_* parameters). Every mention of the same argument
// shares one Client and its connections.
func Extension(reg *smtppolicy.Registry, opts *Options) smtppolicy.Extension {
	var mu sync.Mutex
	clients := map[string]*Client{}
	var base Options
	if opts != nil {
		base = *opts
	}
	return func(args []string) (smtppolicy.Check, int, error) {
		if len(args) == 0 {
			return nil, 0, errors.New("needs an inet:host:port or unix:/path argument")
		}
		mu.Lock()
		defer mu.Unlock()
		if c, ok := clients[args[0]]; ok {
			return c, 1, nil
		}
		endpoint, o, err := parseServiceArg(args[0], base)
		if err != nil {
			return nil, 0, err
		}
		c, err := NewClient(endpoint, &o, reg)
		if err != nil {
			return nil, 0, err
		}
		clients[args[0]] = c
		return c, 1, nil
	}
}

// Register installs Extension(reg, opts) as "check_policy_service" in
// reg.Extensions.
func Register(reg *smtppolicy.Registry, opts *Options) {
	if reg.Extensions == nil {
		reg.Extensions = map[string]smtppolicy.Extension{}
	}
	reg.Extensions["check_policy_service"] = Extension(reg, opts)
}

// parseServiceArg parses "endpoint" or "{ endpoint, name=value, ... }".
func parseServiceArg(arg string, o Options) (string, Options, error) {
	if !strings.HasPrefix(arg, "{") {
		return arg, o, nil
	}
	if !strings.HasSuffix(arg, "}") {
		return "", o, fmt.Errorf("%q: missing }", arg)
	}
	toks := pflist.Split(arg[1 : len(arg)-1])
	// Join "name = value" written with spaces around "=".
	var items []string
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		for i+1 < len(toks) && (strings.HasSuffix(t, "=") || strings.HasPrefix(toks[i+1], "=")) {
			i++
			t += toks[i]
		}
		items = append(items, t)
	}
	if len(items) == 0 {
		return "", o, fmt.Errorf("%q: no endpoint", arg)
	}
	endpoint := items[0]
	for _, it := range items[1:] {
		name, value, ok := strings.Cut(it, "=")
		if !ok {
			return "", o, fmt.Errorf("%q: want name=value", it)
		}
		name = strings.ToLower(strings.TrimSpace(name))
		value = strings.TrimSpace(value)
		if strings.HasPrefix(value, "{") && strings.HasSuffix(value, "}") {
			value = strings.TrimSpace(value[1 : len(value)-1])
		}
		var err error
		switch name {
		case "timeout":
			o.Timeout, err = parseTime(value)
		case "max_idle":
			o.MaxIdle, err = parseTime(value)
		case "max_ttl":
			o.MaxTTL, err = parseTime(value)
		case "retry_delay":
			o.RetryDelay, err = parseTime(value)
		case "try_limit":
			o.TryLimit, err = parsePositive(value)
		case "request_limit":
			o.RequestLimit, err = strconv.Atoi(value)
			if err == nil && o.RequestLimit < 0 {
				err = errors.New("negative")
			}
		case "default_action":
			if value == "" {
				err = errors.New("empty")
			}
			o.DefaultAction = value
		case "policy_context":
			o.PolicyContext = value
		default:
			return "", o, fmt.Errorf("unknown option %q (want timeout, max_idle, max_ttl, request_limit, try_limit, retry_delay, default_action or policy_context)", name)
		}
		if err != nil {
			return "", o, fmt.Errorf("option %s=%q: %w", name, value, err)
		}
	}
	return endpoint, o, nil
}

func parsePositive(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err == nil && n <= 0 {
		err = errors.New("must be positive")
	}
	return n, err
}

// parseTime parses a Postfix time value: a number with an optional unit
// s, m, h, d or w (seconds by default).
func parseTime(s string) (time.Duration, error) {
	unit := time.Second
	if n := len(s); n > 0 {
		switch s[n-1] {
		case 's':
			s = s[:n-1]
		case 'm':
			unit, s = time.Minute, s[:n-1]
		case 'h':
			unit, s = time.Hour, s[:n-1]
		case 'd':
			unit, s = 24*time.Hour, s[:n-1]
		case 'w':
			unit, s = 7*24*time.Hour, s[:n-1]
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		return 0, errors.New("want a positive time such as 10s, 5m or 1h")
	}
	return time.Duration(n) * unit, nil
}
