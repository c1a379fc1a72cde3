package gosmtp

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mxkit/mxkit/smtppolicy"
	"github.com/mxkit/mxkit/smtppolicy/smtpcmd"
)

// DefaultTimeout is Postfix's smtpd_timeout.
const DefaultTimeout = 300 * time.Second

// maxLine bounds a command line (Postfix line_length_limit).
const maxLine = 2048

// Listener wraps a net.Listener for a go-smtp Server. For each client it
// applies the per-IP connection limit, evaluates the client at connect
// time, and runs a protocol front that answers with Postfix's replies,
// evaluates the policy for every command, enforces timeouts, detects
// illegal pipelining and terminates STARTTLS. Only what the policy accepts
// reaches go-smtp, over an in-memory pipe.
//
// go-smtp's Server.TLSConfig must stay nil: the Listener does STARTTLS
// (TLSConfig below), and go-smtp would otherwise offer it a second time.
type Listener struct {
	// Policy is evaluated for every connection.
	Policy *smtppolicy.Policy
	// Hostname is $myhostname; "" means Policy.Site.MyHostname.
	Hostname string
	// Banner is the greeting text after "220 " ($smtpd_banner); "" means
	// "<Hostname> ESMTP".
	Banner string
	// TLSConfig enables STARTTLS.
	TLSConfig *tls.Config
	// MaxConnsPerIP is smtpd_client_connection_count_limit; 0 is no limit.
	MaxConnsPerIP int
	// ConnLimitExceptions lists the clients the per-IP limit does not
	// apply to (smtpd_client_event_limit_exceptions, $mynetworks in
	// Postfix). A lookup error applies the limit.
	ConnLimitExceptions smtppolicy.HostMatcher
	// Timeout is smtpd_timeout, for each command and each read of a
	// message body; 0 means DefaultTimeout.
	Timeout time.Duration
	// Strict is strict_rfc821_envelopes; SMTPUTF8 is smtputf8_enable
	// (set go-smtp's EnableSMTPUTF8 to match).
	Strict, SMTPUTF8 bool
	// DisableVRFY is disable_vrfy_command: VRFY gets "502 5.5.1 VRFY
	// command is disabled" and is not advertised in EHLO.
	DisableVRFY bool
	// RequireTLS is smtpd_tls_security_level = encrypt: mail only after
	// STARTTLS (needs TLSConfig).
	RequireTLS bool
	// ETRN, when set, serves ETRN (RFC 1985) and advertises it in EHLO:
	// it starts delivery of the domain's queued mail and reports whether
	// the domain may ask for that (Postfix's fast_flush_domains).
	ETRN func(ctx context.Context, domain string) bool
	// Logger; nil means slog.Default().
	Logger *slog.Logger
	// NoPeernameLookup turns off the client name lookup done at connect
	// when Policy.Resolver is set (smtpd_peername_lookup = no): every
	// client is then "unknown".
	NoPeernameLookup bool

	inner  net.Listener
	once   sync.Once
	conns  chan net.Conn
	done   chan struct{}
	closed sync.Once
	mu     sync.Mutex
	perIP  map[netip.Addr]int
}

// NewListener wraps inner.
func NewListener(inner net.Listener, p *smtppolicy.Policy) *Listener {
	return &Listener{inner: inner, Policy: p}
}

func (l *Listener) host() string { return hostname(l.Hostname, l.Policy) }

func (l *Listener) logger() *slog.Logger {
	if l.Logger != nil {
		return l.Logger
	}
	return slog.Default()
}

func (l *Listener) timeout() time.Duration {
	if l.Timeout > 0 {
		return l.Timeout
	}
	return DefaultTimeout
}

// Accept returns the go-smtp side of the next accepted connection. It
// returns an error only once the listener is closed: failures of single
// connections are handled here, so go-smtp's Serve never stops on them.
func (l *Listener) Accept() (net.Conn, error) {
	l.once.Do(l.start)
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close stops accepting; connections already accepted go on.
func (l *Listener) Close() error {
	l.once.Do(l.start)
	l.closed.Do(func() { close(l.done) })
	return l.inner.Close()
}

// Addr returns the inner listener's address.
func (l *Listener) Addr() net.Addr { return l.inner.Addr() }

func (l *Listener) start() {
	l.conns = make(chan net.Conn)
	l.done = make(chan struct{})
	l.perIP = map[netip.Addr]int{}
	go l.acceptLoop()
}

func (l *Listener) acceptLoop() {
	delay := 5 * time.Millisecond
	for {
		raw, err := l.inner.Accept()
		if err != nil {
			select {
			case <-l.done:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				l.closed.Do(func() { close(l.done) })
				return
			}
			l.logger().Warn("gosmtp: accept", "error", err)
			time.Sleep(delay)
			delay = min(2*delay, time.Second)
			continue
		}
		delay = 5 * time.Millisecond
		go l.serve(raw)
	}
}

func addrOf(a net.Addr) netip.AddrPort {
	ap, _ := netip.ParseAddrPort(a.String())
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// Conn is the go-smtp side of a connection accepted by a Listener
// (smtp.Conn.Conn() returns it). It carries the connection's policy
// session, which Backend shares.
type Conn struct {
	net.Conn // go-smtp's end of the pipe
	client   net.Conn
	sess     *smtppolicy.Session
	ctx      context.Context
	queueID  string // set by Backend after the application accepted a message
}

// RemoteAddr returns the client's address.
func (c *Conn) RemoteAddr() net.Addr { return c.client.RemoteAddr() }

// LocalAddr returns the address the client connected to.
func (c *Conn) LocalAddr() net.Addr { return c.client.LocalAddr() }

// Session returns the connection's policy session.
func (c *Conn) Session() *smtppolicy.Session { return c.sess }

// Context returns the connection's context, cancelled when it ends.
func (c *Conn) Context() context.Context { return c.ctx }

func (l *Listener) exempt(ip netip.Addr) bool {
	if l.ConnLimitExceptions == nil {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), l.timeout())
	defer cancel()
	ok, err := l.ConnLimitExceptions.Match(ctx, "", ip)
	return err == nil && ok
}

func (l *Listener) serve(raw net.Conn) {
	defer raw.Close()
	client := addrOf(raw.RemoteAddr())
	ip := client.Addr()
	if l.MaxConnsPerIP > 0 && !l.exempt(ip) {
		l.mu.Lock()
		n := l.perIP[ip]
		if n >= l.MaxConnsPerIP {
			l.mu.Unlock()
			_ = raw.SetWriteDeadline(time.Now().Add(l.timeout()))
			_, _ = io.WriteString(raw, "421 4.7.0 "+l.host()+" Error: too many connections from "+ip.String()+"\r\n")
			return
		}
		l.perIP[ip] = n + 1
		l.mu.Unlock()
		defer func() {
			l.mu.Lock()
			if l.perIP[ip]--; l.perIP[ip] <= 0 {
				delete(l.perIP, ip)
			}
			l.mu.Unlock()
		}()
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st := &smtppolicy.State{
		ClientAddr: ip, ClientPort: int(client.Port()), ClientName: "unknown",
		ServerAddr: addrOf(raw.LocalAddr()),
	}
	if l.Policy.Resolver != nil && !l.NoPeernameLookup {
		// Postfix looks the client up before the greeting: the name and
		// its verification feed check_client_access,
		// reject_unknown_client_hostname and the replies.
		lctx, lcancel := context.WithTimeout(ctx, l.timeout())
		st.ClientName, st.ReverseName, st.ClientNameTemporary, st.ReverseNameTemporary =
			smtppolicy.LookupClient(lctx, l.Policy.Resolver, ip)
		lcancel()
	}
	// Postfix's smtpd: "connect from name[addr]", "disconnect from
	// name[addr]".
	who := st.ClientNamAddr()
	l.logger().Info("gosmtp: connect", "client", who, "client_name", st.ClientName, "client_addr", ip.String())
	sess := l.Policy.NewSession(st)
	f := &front{l: l, raw: raw, br: bufio.NewReaderSize(raw, 4096), sess: sess, ctx: ctx}
	defer func() { l.logger().Info("gosmtp: disconnect", "client", who, "commands", f.counts.String()) }()
	f.drv = smtpcmd.NewDriver(sess, l.host())
	f.drv.Strict, f.drv.SMTPUTF8, f.drv.RequireTLS, f.drv.ETRN = l.Strict, l.SMTPUTF8, l.RequireTLS, l.ETRN
	f.drv.DisableVRFY = l.DisableVRFY
	if r := sess.Connect(ctx); r != nil {
		f.denied(r)
		return
	}
	inner, outer := net.Pipe()
	defer inner.Close()
	c := &Conn{Conn: outer, client: raw, sess: sess, ctx: ctx}
	select {
	case l.conns <- c:
	case <-l.done:
		return
	}
	f.pipe, f.conn = inner, c
	f.tp = textproto.NewReader(bufio.NewReader(inner))
	f.run()
}

// front is the protocol front of one connection.
type front struct {
	l    *Listener
	raw  net.Conn // the client, or its *tls.Conn after STARTTLS
	br   *bufio.Reader
	sess *smtppolicy.Session
	drv  *smtpcmd.Driver
	ctx  context.Context
	pipe net.Conn
	tp   *textproto.Reader
	tls  bool
	conn *Conn
	auth bool // the last EHLO offered AUTH
	// heloSent says go-smtp has seen a HELO or EHLO: it refuses MAIL
	// without one, where Postfix (smtpd_helo_required = no) does not.
	heloSent bool

	bdatSize int64 // bytes of the BDAT chunks of this message so far

	// cmd is the verb of the command whose reply is due, "" between
	// commands; counts tallies the replies for the disconnect record.
	cmd    string
	counts cmdCounts
	last   string // the last command's verb, for "lost connection after"
}

// lastVerb is a verb as "lost connection after" names it.
func lastVerb(v string) string {
	if !slices.Contains(cmdVerbs, v) {
		return "UNKNOWN"
	}
	return v
}

// cmdVerbs are the commands that Postfix's smtpd counts by name, in the
// order of its "disconnect from" line; others count as "unknown".
var cmdVerbs = []string{"HELO", "EHLO", "STARTTLS", "XCLIENT", "XFORWARD", "AUTH", "MAIL", "RCPT", "DATA", "BDAT", "RSET", "NOOP", "VRFY", "ETRN", "QUIT", "UNKNOWN"}

// cmdCounts counts one session's commands and those that succeeded.
type cmdCounts struct{ ok, total map[string]int }

func (c *cmdCounts) add(verb string, ok bool) {
	if !slices.Contains(cmdVerbs, verb) {
		verb = "UNKNOWN"
	}
	if c.total == nil {
		c.ok, c.total = map[string]int{}, map[string]int{}
	}
	c.total[verb]++
	if ok {
		c.ok[verb]++
	}
}

// String is Postfix's "ehlo=1 mail=1 rcpt=0/1 quit=1 commands=3/4": each
// command's successes, "/total" when some failed.
func (c *cmdCounts) String() string {
	var b strings.Builder
	ok, total := 0, 0
	count := func(name string, n, of int) {
		fmt.Fprintf(&b, "%s=%d", name, n)
		if n != of {
			fmt.Fprintf(&b, "/%d", of)
		}
	}
	for _, v := range cmdVerbs {
		if c.total[v] == 0 {
			continue
		}
		count(strings.ToLower(v), c.ok[v], c.total[v])
		b.WriteByte(' ')
		ok, total = ok+c.ok[v], total+c.total[v]
	}
	count("commands", ok, total)
	return b.String()
}

func (f *front) write(lines ...string) error {
	if f.cmd != "" && len(lines) > 0 {
		// The reply to the command being answered: 354 and 334 are
		// steps of DATA and AUTH, whose last reply counts.
		if code := lines[0][:min(3, len(lines[0]))]; code != "354" && code != "334" {
			f.counts.add(f.cmd, code < "4")
			f.cmd = ""
		}
	}
	_ = f.raw.SetWriteDeadline(time.Now().Add(f.l.timeout()))
	var b strings.Builder
	for _, l := range lines {
		if f.l.Policy.SoftBounce {
			// soft_bounce: every 5xx of the server becomes 4xx, the
			// front's and go-smtp's replies included.
			l = smtpcmd.SoftBounceLine(l)
		}
		b.WriteString(l)
		b.WriteString("\r\n")
	}
	_, err := io.WriteString(f.raw, b.String())
	return err
}

// readLine reads one client line; ok is false when the session must end
// (after a timeout reply, EOF or an error).
func (f *front) readLine() (string, bool) {
	_ = f.raw.SetReadDeadline(time.Now().Add(f.l.timeout()))
	line, err := f.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull || len(line) > maxLine {
		_ = f.write("500 5.5.2 " + f.l.host() + " Error: line too long")
		return "", false
	}
	if err != nil {
		f.lost(err)
		return "", false
	}
	return strings.TrimRight(string(line), "\r\n"), true
}

// lost ends a session whose client went away or timed out: a timeout
// gets 421, and either is logged as Postfix's smtpd logs it, "timeout
// after RCPT from name[addr]" or "lost connection after RCPT from ...",
// naming the last command (CONNECT before any).
func (f *front) lost(err error) {
	after := f.last
	if after == "" {
		after = "CONNECT"
	}
	client := f.sess.State().ClientNamAddr()
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		_ = f.write("421 4.4.2 " + f.l.host() + " Error: timeout exceeded")
		f.l.logger().Info("gosmtp: timeout", "after", after, "client", client)
		return
	}
	f.l.logger().Info("gosmtp: lost connection", "after", after, "client", client)
}

// denied runs a session refused at connect: the reply replaces the
// greeting, QUIT works and every other command gets 503.
func (f *front) denied(r *smtppolicy.Reply) {
	if f.write(r.String()) != nil || r.Code == 421 || r.Code == 521 {
		return
	}
	for {
		line, ok := f.readLine()
		if !ok {
			return
		}
		f.cmd = smtpcmd.ParseCommand(line).Verb
		f.last = lastVerb(f.cmd)
		st := f.drv.Handle(f.ctx, line)
		if st.Reply != nil {
			if f.write(st.Reply.String()) != nil || st.Close {
				return
			}
			continue
		}
		// Only QUIT is ever forwarded by a denied session.
		_ = f.write(smtpcmd.SuccessText("QUIT"))
		return
	}
}

// reply reads one (multi-line) reply of go-smtp.
func (f *front) reply() (int, []string, error) {
	var lines []string
	for {
		l, err := f.tp.ReadLine()
		if err != nil {
			return 0, nil, err
		}
		lines = append(lines, l)
		if len(l) < 4 || l[3] != '-' {
			code, err := strconv.Atoi(l[:min(3, len(l))])
			return code, lines, err
		}
	}
}

func (f *front) forward(line string) (int, []string, error) {
	if _, err := io.WriteString(f.pipe, line+"\r\n"); err != nil {
		return 0, nil, err
	}
	return f.reply()
}

// checkPipelining flags improper pipelining as Postfix's smtpd does
// before it runs a command: client input is already waiting after a
// command that must end a group (RFC 2920 §3.1: HELO, EHLO, DATA, NOOP,
// VRFY), or after any command before the client said EHLO (it was not
// offered PIPELINING). Unknown commands are not looked at.
func (f *front) checkPipelining(verb string) {
	if f.sess.State().IllegalPipelining {
		return
	}
	switch verb {
	case "HELO", "EHLO", "DATA", "NOOP", "VRFY":
	case "STARTTLS", "AUTH", "MAIL", "RCPT", "BDAT", "RSET", "ETRN", "QUIT", "XCLIENT", "XFORWARD":
		if f.sess.State().ESMTP {
			return
		}
	default:
		return
	}
	if f.pending() {
		f.sess.State().IllegalPipelining = true
	}
}

// pending reports whether client input is waiting: in our buffer or, for
// a plain TCP connection, in the kernel's (Postfix's peekfd).
func (f *front) pending() bool {
	if f.br.Buffered() > 0 {
		return true
	}
	if f.tls {
		return false
	}
	return peekPending(f.raw)
}

func (f *front) run() {
	// go-smtp's greeting is replaced by ours.
	if _, _, err := f.reply(); err != nil {
		return
	}
	banner := f.l.Banner
	if banner == "" {
		banner = f.l.host() + " ESMTP"
	}
	// A client that speaks before the greeting pipelines without
	// permission (Postfix flags it for reject_unauth_pipelining).
	if f.pending() {
		f.sess.State().IllegalPipelining = true
	}
	if f.write("220 "+banner) != nil {
		return
	}
	for {
		line, ok := f.readLine()
		if !ok {
			return
		}
		verb := smtpcmd.ParseCommand(line).Verb
		f.cmd, f.last = verb, lastVerb(verb)
		f.checkPipelining(verb)
		switch verb {
		case "RSET", "HELO", "EHLO", "MAIL":
			f.bdatSize = 0
		}
		if verb == "STARTTLS" && f.sess.Denied() == nil {
			if !f.startTLS(line) {
				return
			}
			continue
		}
		st := f.drv.Handle(f.ctx, line)
		if st.Reply != nil {
			// A refused BDAT's chunk is read and dropped, unless the
			// driver refused the command without looking at it.
			if verb == "BDAT" && !st.KeepChunk {
				f.skipBDAT(line)
			}
			if f.write(st.Reply.String()) != nil || st.Close {
				return
			}
			continue
		}
		if verb == "AUTH" && !f.auth {
			f.drv.Done(f.ctx, verb, 503)
			if f.write("503 5.5.1 Error: authentication not enabled") != nil {
				return
			}
			continue
		}
		if !f.exchange(verb, st.Forward, line) {
			return
		}
	}
}

// heloLiteral is the address literal of a client for a HELO said on its
// behalf: "[192.0.2.1]", "[IPv6:2001:db8::1]".
func heloLiteral(a netip.Addr) string {
	switch {
	case !a.IsValid():
		return "[127.0.0.1]"
	case a.Is6() && !a.Is4In6():
		return "[IPv6:" + a.String() + "]"
	}
	return "[" + a.Unmap().String() + "]"
}

// exchange forwards one accepted command, and its body, to go-smtp and
// relays the rewritten reply. It reports whether the session goes on.
func (f *front) exchange(verb, fwd, line string) bool {
	if verb == "BDAT" {
		return f.bdat(fwd, line)
	}
	if verb == "MAIL" && !f.heloSent {
		// The policy let MAIL through without HELO (smtpd_helo_required
		// = no): go-smtp needs one to start a session; say it for the
		// client, under its address, and keep its reply to ourselves.
		if code, _, err := f.forward("EHLO " + heloLiteral(f.sess.State().ClientAddr)); err != nil || code != 250 {
			return err == nil && f.write("451 4.3.0 Error: internal session setup failure") == nil
		}
		f.heloSent = true
	}
	code, lines, err := f.forward(fwd)
	for err == nil && verb == "AUTH" && code == 334 {
		if f.write(lines...) != nil {
			return false
		}
		resp, ok := f.readLine()
		if !ok {
			return false
		}
		code, lines, err = f.forward(resp)
	}
	if err != nil {
		return false
	}
	f.drv.Done(f.ctx, verb, code)
	if (verb == "HELO" || verb == "EHLO") && code == 250 {
		f.heloSent = true
	}
	if f.write(f.rewrite(verb, code, lines)...) != nil {
		return false
	}
	if code == 421 || code == 521 || verb == "QUIT" {
		return false
	}
	if verb == "DATA" && code == 354 {
		return f.data()
	}
	return true
}

// data passes a message body to go-smtp untouched, up to and including the
// end-of-data line. It finds that line with the same state machine as
// go-smtp's reader, so the two can never disagree about where the body
// ends (a bare LF before "." ends nothing for either).
func (f *front) data() bool {
	state := dataBeginLine
	for state != dataEOF {
		_ = f.raw.SetReadDeadline(time.Now().Add(f.l.timeout()))
		if _, err := f.br.Peek(1); err != nil {
			f.lost(err)
			return false
		}
		buf, _ := f.br.Peek(f.br.Buffered())
		n := scanData(&state, buf)
		if _, err := f.pipe.Write(buf[:n]); err != nil {
			return false
		}
		_, _ = f.br.Discard(n)
	}
	code, lines, err := f.reply()
	if err != nil {
		return false
	}
	f.drv.Done(f.ctx, smtpcmd.EndOfData, code)
	if f.write(f.rewrite(smtpcmd.EndOfData, code, lines)...) != nil {
		return false
	}
	return code != 421 && code != 521
}

// The states of go-smtp's DATA reader (data.go, from net/textproto).
const (
	dataBeginLine = iota
	dataDot
	dataDotCR
	dataCR
	dataMiddle
	dataEOF
)

// scanData advances the DATA state machine over b and returns how many
// bytes belong to the body, the end-of-data line included.
func scanData(state *int, b []byte) int {
	for i, c := range b {
		switch *state {
		case dataBeginLine:
			switch c {
			case '.':
				*state = dataDot
			case '\r':
				*state = dataCR
			default:
				*state = dataMiddle
			}
		case dataDot:
			if c == '\r' {
				*state = dataDotCR
			} else {
				*state = dataMiddle
			}
		case dataDotCR:
			if c == '\n' {
				*state = dataEOF
				return i + 1
			}
			*state = dataMiddle
		case dataCR:
			if c == '\n' {
				*state = dataBeginLine
			} else {
				*state = dataMiddle
			}
		case dataMiddle:
			if c == '\r' {
				*state = dataCR
			}
		}
	}
	return len(b)
}

func bdatSize(line string) int64 {
	f := strings.Fields(smtpcmd.ParseCommand(line).Arg)
	if len(f) == 0 {
		return -1
	}
	n, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		return -1
	}
	return n
}

func (f *front) skipBDAT(line string) {
	if n := bdatSize(line); n > 0 {
		_ = f.raw.SetReadDeadline(time.Now().Add(f.l.timeout()))
		_, _ = io.CopyN(io.Discard, f.br, n)
	}
}

// bdat forwards a BDAT chunk by byte count.
func (f *front) bdat(fwd, line string) bool {
	n := bdatSize(line)
	if lim := f.l.Policy.MessageSizeLimit; lim > 0 && f.bdatSize > lim-n {
		// Postfix refuses the chunk before reading it into the queue
		// file, and the message with it.
		f.skipBDAT(line)
		f.bdatSize = 0
		f.drv.Done(f.ctx, "BDAT", 552)
		f.drv.Reset()
		if _, _, err := f.forward("RSET"); err != nil {
			return false
		}
		return f.write("552 5.3.4 Chunk exceeds message size limit") == nil
	}
	f.bdatSize += n
	if _, err := io.WriteString(f.pipe, fwd+"\r\n"); err != nil {
		return false
	}
	_ = f.raw.SetReadDeadline(time.Now().Add(f.l.timeout()))
	if _, err := io.CopyN(f.pipe, f.br, n); err != nil {
		return false
	}
	code, lines, err := f.reply()
	if err != nil {
		return false
	}
	f.drv.Done(f.ctx, "BDAT", code)
	if code != 250 || len(strings.Fields(smtpcmd.ParseCommand(line).Arg)) == 2 {
		f.bdatSize = 0
	}
	verb := "BDAT"
	if args := strings.Fields(smtpcmd.ParseCommand(line).Arg); len(args) == 2 {
		// The last chunk ends the message: Postfix answers it as it
		// answers the end of DATA ("250 2.0.0 Ok: queued as ID").
		verb = smtpcmd.EndOfData
	} else if code == 250 {
		// An intermediate chunk: Postfix counts it.
		return f.write("250 2.0.0 Ok: "+strconv.FormatInt(n, 10)+" bytes") == nil
	}
	return f.write(f.rewrite(verb, code, lines)...) == nil && code != 421 && code != 521
}

// startTLS terminates STARTTLS (RFC 3207).
func (f *front) startTLS(line string) bool {
	if f.tls {
		return f.write("554 5.5.1 Error: TLS already active") == nil
	}
	if f.l.TLSConfig == nil {
		return f.write("502 5.5.1 Error: command not implemented") == nil
	}
	if smtpcmd.ParseCommand(line).Arg != "" {
		return f.write("501 5.5.4 Syntax: STARTTLS") == nil
	}
	if f.write("220 2.0.0 Ready to start TLS") != nil {
		return false
	}
	// RFC 3207 §4.2 / CVE-2011-0411: plaintext sent after STARTTLS is
	// discarded.
	_, _ = f.br.Discard(f.br.Buffered())
	tc := tls.Server(f.raw, f.l.TLSConfig)
	hctx, cancel := context.WithTimeout(f.ctx, f.l.timeout())
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		f.l.logger().Info("gosmtp: TLS handshake failed", "client", f.sess.State().ClientNamAddr(), "error", err)
		return false
	}
	cs := tc.ConnectionState()
	f.raw, f.br, f.tls = tc, bufio.NewReaderSize(tc, 4096), true
	st := f.sess.State()
	// Postfix's smtpd_tls_loglevel = 1 line; a server never verifies a
	// client's certificate chain here, so a session is Anonymous (no
	// certificate) or Untrusted.
	trust := "Anonymous"
	if len(cs.PeerCertificates) > 0 {
		trust = "Untrusted"
	}
	f.l.logger().Info(trust+" TLS connection established from "+st.ClientNamAddr()+": "+TLSSummary(&cs), "client", st.ClientNamAddr())
	st.TLS = &cs
	st.Helo, st.ESMTP = "", false
	f.drv.Reset()
	// go-smtp must forget the transaction and the HELO name too.
	_, _, err := f.forward("RSET")
	return err == nil
}

// rewrite turns go-smtp's reply texts into Postfix's.
func (f *front) rewrite(verb string, code int, lines []string) []string {
	switch {
	case verb == "EHLO" && code == 250:
		return f.ehlo(lines)
	case verb == "HELO" && code == 250:
		return []string{"250 " + f.l.host()}
	case verb == smtpcmd.EndOfData && code == 552 && len(lines) == 1 && strings.Contains(lines[0], "Maximum message size exceeded"):
		// go-smtp's text for a body over MaxMessageBytes.
		return []string{"552 5.3.4 Error: message file too big"}
	case verb == smtpcmd.EndOfData && code == 250:
		id := f.conn.queueID
		f.conn.queueID = ""
		return []string{smtpcmd.QueuedText(id)}
	case code/100 == 2 || code == 354:
		if t := smtpcmd.SuccessText(verb); t != "" && t[:3] == strconv.Itoa(code) {
			return []string{t}
		}
	}
	return lines
}

// ehlo builds the EHLO reply in Postfix's order (smtpd.c ehlo_cmd):
// PIPELINING, SIZE, VRFY, ETRN, STARTTLS, AUTH, ENHANCEDSTATUSCODES,
// 8BITMIME, DSN, SMTPUTF8, CHUNKING. The extensions that depend on the
// application (AUTH, DSN, SMTPUTF8, ...) are those go-smtp offered;
// any others go-smtp offers come last.
func (f *front) ehlo(lines []string) []string {
	offered := map[string]string{}
	var others []string
	for _, l := range lines[1:] {
		ext := l[4:]
		kw, _, _ := strings.Cut(ext, " ")
		kw = strings.ToUpper(kw)
		switch kw {
		case "PIPELINING", "SIZE", "AUTH", "ENHANCEDSTATUSCODES", "8BITMIME", "DSN", "SMTPUTF8", "CHUNKING", "STARTTLS", "ETRN", "VRFY":
			offered[kw] = ext
		default:
			others = append(others, ext)
		}
	}
	f.auth = offered["AUTH"] != ""
	out := []string{f.l.host()}
	add := func(kw string) {
		if ext := offered[kw]; ext != "" {
			out = append(out, ext)
		}
	}
	add("PIPELINING")
	if lim := f.l.Policy.MessageSizeLimit; lim > 0 {
		// RFC 1870: advertise message_size_limit, as Postfix does;
		// go-smtp knows only its own MaxMessageBytes.
		out = append(out, "SIZE "+strconv.FormatInt(lim, 10))
	} else if offered["SIZE"] != "" {
		out = append(out, "SIZE")
	}
	if !f.l.DisableVRFY {
		out = append(out, "VRFY")
	}
	if f.l.ETRN != nil {
		out = append(out, "ETRN")
	}
	if f.l.TLSConfig != nil && !f.tls {
		out = append(out, "STARTTLS")
	}
	for _, kw := range []string{"AUTH", "ENHANCEDSTATUSCODES", "8BITMIME", "DSN", "SMTPUTF8", "CHUNKING"} {
		add(kw)
	}
	out = append(out, others...)
	for i := range out {
		sep := "-"
		if i == len(out)-1 {
			sep = " "
		}
		out[i] = "250" + sep + out[i]
	}
	return out
}
