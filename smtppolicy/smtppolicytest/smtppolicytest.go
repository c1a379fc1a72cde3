package smtppolicytest

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/mxkit/mxkit/relaymaps"
	"github.com/mxkit/mxkit/smtppolicy"
	"github.com/mxkit/mxkit/smtppolicy/smtpcmd"
)

// StateOption sets a connection fact on a State built by NewState.
type StateOption func(*smtppolicy.State)

// NewState returns the State of a client connecting from ip (an IPv4 or
// IPv6 address; it panics on anything else, as tests want) with no
// verified name ("unknown").
func NewState(ip string, opts ...StateOption) smtppolicy.State {
	st := smtppolicy.State{
		ClientAddr:  netip.MustParseAddr(ip),
		ClientPort:  49152,
		ClientName:  "unknown",
		ReverseName: "unknown",
		ServerAddr:  netip.MustParseAddrPort("192.0.2.25:25"),
	}
	for _, o := range opts {
		o(&st)
	}
	return st
}

// WithName sets the client's verified host name (and its reverse name).
func WithName(name string) StateOption {
	return func(st *smtppolicy.State) { st.ClientName, st.ReverseName = name, name }
}

// WithReverseName sets only the client's PTR name (not forward-confirmed).
func WithReverseName(name string) StateOption {
	return func(st *smtppolicy.State) { st.ReverseName = name }
}

// WithHelo sets the HELO name as if EHLO had been sent.
func WithHelo(name string) StateOption {
	return func(st *smtppolicy.State) { st.Helo, st.ESMTP = name, true }
}

// WithSASL marks the session as authenticated as user.
func WithSASL(user string) StateOption {
	return func(st *smtppolicy.State) { st.SASLMethod, st.SASLUsername = "PLAIN", user }
}

// WithTLS marks the session as TLS-protected (TLS 1.3, no client
// certificate).
func WithTLS() StateOption {
	return func(st *smtppolicy.State) {
		st.TLS = &tls.ConnectionState{Version: tls.VersionTLS13, HandshakeComplete: true}
	}
}

// Hostname is the server name a Dialogue uses when the policy's Site has
// no MyHostname.
const Hostname = "mx.test"

// Dialogue is one SMTP session played without sockets: each line goes
// through an smtpcmd.Driver, and a fake real server accepts every command
// the policy lets through. DATA bodies are counted, and their end is
// evaluated with Session.EndOfData.
type Dialogue struct {
	Session *smtppolicy.Session
	Driver  *smtpcmd.Driver
	// Greeting is the reply to the connection: "220 <host> ESMTP", or the
	// client list's rejection (Policy.EarlyReject).
	Greeting string

	host   string
	inData bool
	size   int64
	queued int
	closed bool
}

// NewDialogue connects client to a session of p.
func NewDialogue(ctx context.Context, p *smtppolicy.Policy, client smtppolicy.State) *Dialogue {
	host := Hostname
	if p.Site != nil && p.Site.MyHostname != "" {
		host = p.Site.MyHostname
	}
	s := p.NewSession(&client)
	d := &Dialogue{Session: s, Driver: smtpcmd.NewDriver(s, host), host: host}
	d.Greeting = "220 " + host + " ESMTP"
	if r := s.Connect(ctx); r != nil {
		d.Greeting = r.String()
	}
	return d
}

// Send plays one client line and returns the reply, or "" for a line of
// a message body (which has none). After QUIT or a 421 reply every line
// gets "" and Closed reports true.
func (d *Dialogue) Send(ctx context.Context, line string) string {
	if d.closed {
		return ""
	}
	if d.inData {
		if line != "." {
			d.size += int64(len(line)) + 2
			return ""
		}
		d.inData = false
		if r := d.Session.EndOfData(ctx, d.size); r != nil {
			d.Driver.Done(ctx, smtpcmd.EndOfData, r.Code)
			return r.String()
		}
		d.Driver.Done(ctx, smtpcmd.EndOfData, 250)
		d.queued++
		return smtpcmd.QueuedText("TEST" + strconv.Itoa(d.queued))
	}
	step := d.Driver.Handle(ctx, line)
	d.closed = step.Close
	if step.Reply != nil {
		return step.Reply.String()
	}
	verb := smtpcmd.ParseCommand(step.Forward).Verb
	var text string
	switch verb {
	case "HELO", "EHLO":
		text = "250 " + d.host
	case "AUTH", "STARTTLS":
		text = "502 5.5.1 Error: command not implemented"
	case "BDAT":
		text = "250 2.0.0 Ok"
	default:
		text = smtpcmd.SuccessText(verb)
	}
	code, _ := strconv.Atoi(text[:3])
	d.Driver.Done(ctx, verb, code)
	if verb == "DATA" {
		d.inData, d.size = true, 0
	}
	return text
}

// Closed reports that the session ended (QUIT, 421).
func (d *Dialogue) Closed() bool { return d.closed }

// Play runs script, one client line per line (blank lines are skipped,
// except inside a message body), and returns the greeting followed by
// every reply in order.
func Play(t testing.TB, p *smtppolicy.Policy, client smtppolicy.State, script string) []string {
	t.Helper()
	ctx := t.Context()
	d := NewDialogue(ctx, p, client)
	out := []string{d.Greeting}
	for _, line := range splitLines(script) {
		if line == "" && !d.inData {
			continue
		}
		if r := d.Send(ctx, line); r != "" {
			out = append(out, r)
		}
	}
	return out
}

func splitLines(s string) []string {
	s = strings.TrimPrefix(s, "\n")
	s = strings.TrimSuffix(s, "\n")
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(strings.TrimLeft(l, "\t"), "\r")
	}
	return lines
}

// Expect plays a transcript. Lines starting with "> " are sent by the
// client; lines starting with "< " give the start of the reply expected to
// the command before them (the first "< " line, before any "> ", is the
// greeting). Every reply must be expected, in order. Other lines (blank,
// "#" comments) are ignored. Leading tabs are removed, so a transcript can
// be indented in a raw string.
//
//	> RCPT TO:<u@elsewhere.example>
//	< 554 5.7.1 <u@elsewhere.example>: Relay access denied
func Expect(t testing.TB, p *smtppolicy.Policy, client smtppolicy.State, script string) {
	t.Helper()
	if err := expect(t.Context(), p, client, script); err != nil {
		t.Error(err)
	}
}

func expect(ctx context.Context, p *smtppolicy.Policy, client smtppolicy.State, script string) error {
	d := NewDialogue(ctx, p, client)
	pending := []string{d.Greeting}
	sent := "(connect)"
	for i, line := range splitLines(script) {
		n := i + 1
		switch {
		case strings.HasPrefix(line, ">"):
			if len(pending) > 0 {
				return fmt.Errorf("script:%d: reply %q to %q was not expected", n, pending[0], sent)
			}
			sent = strings.TrimPrefix(strings.TrimPrefix(line, ">"), " ")
			if r := d.Send(ctx, sent); r != "" {
				pending = append(pending, r)
			}
		case strings.HasPrefix(line, "<"):
			want := strings.TrimPrefix(strings.TrimPrefix(line, "<"), " ")
			if len(pending) == 0 {
				return fmt.Errorf("script:%d: expected %q after %q, got no reply", n, want, sent)
			}
			got := pending[0]
			pending = pending[1:]
			if !strings.HasPrefix(got, want) {
				return fmt.Errorf("script:%d: after %q got %q, want %q", n, sent, got, want)
			}
		}
	}
	if len(pending) > 0 {
		return fmt.Errorf("script: end: reply %q to %q was not expected", pending[0], sent)
	}
	return nil
}

// Map returns a table backed by m. Keys are folded to lower case, as
// Postfix's fixed tables do.
func Map(m map[string]string) relaymaps.Map {
	d := make(relaymaps.Dict, len(m))
	for k, v := range m {
		d[strings.ToLower(k)] = v
	}
	return d
}

// FailingMap returns a table whose every lookup fails with a
// *relaymaps.LookupError of the given kind (relaymaps.ErrTemporary or
// relaymaps.ErrConfig).
func FailingMap(kind error) relaymaps.Map {
	return relaymaps.MapFunc(func(_ context.Context, key string) (string, bool, error) {
		return "", false, &relaymaps.LookupError{Table: "test:failing", Key: key, Kind: kind}
	})
}

// Domains is a DomainMatcher for Site fields (relay_domains,
// mydestination ...): a domain matches when it is listed, or, for
// entries starting with ".", when it is a subdomain of the entry.
type Domains []string

// Match implements smtppolicy.DomainMatcher.
func (ds Domains) Match(_ context.Context, domain string) (bool, error) {
	domain = strings.ToLower(strings.TrimSuffix(domain, "."))
	for _, x := range ds {
		x = strings.ToLower(x)
		if x == domain || (strings.HasPrefix(x, ".") && strings.HasSuffix(domain, x)) {
			return true, nil
		}
	}
	return false, nil
}

// Networks is a HostMatcher for Site.MyNetworks built from CIDR prefixes
// or single addresses; it panics on bad input.
func Networks(cidrs ...string) smtppolicy.HostMatcher {
	var n networks
	for _, c := range cidrs {
		if !strings.Contains(c, "/") {
			a := netip.MustParseAddr(c)
			n = append(n, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		n = append(n, netip.MustParsePrefix(c))
	}
	return n
}

type networks []netip.Prefix

func (n networks) Match(_ context.Context, _ string, a netip.Addr) (bool, error) {
	a = a.Unmap()
	for _, p := range n {
		if p.Contains(a) {
			return true, nil
		}
	}
	return false, nil
}
