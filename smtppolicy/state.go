package smtppolicy

import (
	"crypto/tls"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
)

// Stage is an SMTP protocol stage at which restrictions are evaluated.
type Stage uint8

// The stages, in protocol order.
const (
	StageConnect Stage = iota + 1
	StageHelo
	StageMail
	StageRcpt
	StageData
	StageEndOfData
)

// String returns Postfix's protocol_state name (policy delegation protocol).
func (s Stage) String() string {
	switch s {
	case StageConnect:
		return "CONNECT"
	case StageHelo:
		return "EHLO"
	case StageMail:
		return "MAIL"
	case StageRcpt:
		return "RCPT"
	case StageData:
		return "DATA"
	case StageEndOfData:
		return "END-OF-MESSAGE"
	}
	return "Stage(" + strconv.Itoa(int(s)) + ")"
}

// State is what the checks see of one SMTP session. The adapter fills in
// the connection fields; the Session methods fill in the rest. A State
// belongs to one session and is not safe for concurrent use.
type State struct {
	// The client.
	ClientAddr netip.Addr
	ClientPort int
	// ClientName is the client's verified host name (forward-confirmed
	// reverse DNS), or "unknown", as in Postfix. ReverseName is the PTR
	// name, verified or not, or "unknown".
	ClientName  string
	ReverseName string
	// ClientNameTemporary / ReverseNameTemporary report that the name is
	// "unknown" because of a temporary DNS failure (Postfix answers 450
	// instead of the configured code then).
	ClientNameTemporary, ReverseNameTemporary bool
	// ServerAddr is the local address the client connected to.
	ServerAddr netip.AddrPort

	// HELO/EHLO argument as given; Helo is "" until the client sends one.
	Helo  string
	ESMTP bool

	// TLS is the connection state once STARTTLS succeeded (or with
	// implicit TLS), nil otherwise.
	TLS *tls.ConnectionState
	// SASLMethod and SASLUsername are set after a successful AUTH.
	SASLMethod, SASLUsername string

	// IllegalPipelining is set by the front end when the client sent
	// commands ahead of replies where RFC 2920 does not allow it.
	IllegalPipelining bool

	// The current transaction.
	Stage Stage
	// HasSender reports that MAIL FROM was accepted; Sender is "" for <>.
	HasSender bool
	Sender    string
	// Size is the SIZE= parameter of MAIL FROM, then the actual message
	// size at end of data.
	Size int64
	// Recipient is the recipient being evaluated (RCPT stage), or at DATA
	// and end of data the only recipient when there is exactly one.
	Recipient string
	// Recipients are the accepted recipients of this transaction.
	Recipients []string
	// Rejected counts the recipients refused in this transaction.
	Rejected int

	// Effects of access-table actions on this transaction.
	Hold     bool
	Discard  bool
	Filter   string
	Redirect string
	Bcc      []string
	Prepend  []string

	// Logger receives reject_warning and failure logs; nil means
	// slog.Default().
	Logger *slog.Logger

	// Trace receives every step of every evaluation when non-nil.
	Trace *Trace

	softBounce bool
	ev         evalState
	site       *Site
	policy     *Policy
	clientDIP  *Rejection // defer_if_permit raised by the client list
	heloDIP    *Rejection // ... by the HELO list
	senderDIP  *Rejection // ... by the sender list
	early      earlyState // results of early (smtpd_delay_reject=no) evaluation
	resolved   resolveCache
	namaddr    struct {
		name string
		addr netip.Addr
		a, s string
	}
}

// evalState is the per-evaluation bookkeeping of Postfix's generic_checks.
type evalState struct {
	depth int
	warn  int
	dip   *Rejection // defer_if_permit
	dir   *Rejection // defer_if_reject
	list  string     // the list being evaluated, for the trace
	name  string     // the reply name: "host[addr]", the HELO name, an address, "DATA"
	class Class      // the reply class of the list

	rcptMapsChecked   bool // reject_unlisted_recipient already ran for this RCPT
	senderMapsChecked bool // reject_unlisted_sender already ran
}

// ClientNamAddr returns Postfix's "name[addr]" form of the client.
func (st *State) ClientNamAddr() string {
	name := st.ClientName
	if name == "" {
		name = "unknown"
	}
	if st.namaddr.name != name || st.namaddr.addr != st.ClientAddr || st.namaddr.s == "" {
		st.namaddr.name, st.namaddr.addr = name, st.ClientAddr
		st.namaddr.a = st.ClientAddr.String()
		st.namaddr.s = name + "[" + st.namaddr.a + "]"
	}
	return st.namaddr.s
}

// clientAddrString returns ClientAddr.String(), computed once.
func (st *State) clientAddrString() string {
	st.ClientNamAddr()
	return st.namaddr.a
}

// tracing reports whether the explain trace is on; checks build their
// notes only then, to keep the hot path free of allocations.
func (st *State) tracing() bool { return st.Trace != nil }

// ReplyName returns the name the list being evaluated uses in its replies
// ("<name>: Class rejected: ..."): the client's name[addr], the HELO name,
// the sender or recipient address, "DATA" or "END-OF-DATA".
func (st *State) ReplyName() string { return st.ev.name }

// ReplyClass returns the reply class of the list being evaluated.
func (st *State) ReplyClass() Class { return st.ev.class }

// Site returns the site configuration of the policy being evaluated.
func (st *State) Site() *Site { return st.site }

// resetTransaction forgets the MAIL transaction.
func (st *State) resetTransaction() {
	st.HasSender, st.Sender, st.Size = false, "", 0
	st.Recipient, st.Recipients, st.Rejected = "", st.Recipients[:0], 0
	st.Hold, st.Discard, st.Filter, st.Redirect = false, false, "", ""
	st.Bcc, st.Prepend = nil, nil
	st.senderDIP = nil
	st.early.sender = nil
}

// Trace records every step of the evaluations of a session: which list,
// which check, what it decided, which table key answered. A Trace is
// reused: Reset keeps its memory.
type Trace struct {
	Steps []Step
}

// Step is one line of the explain trace.
type Step struct {
	Stage  Stage
	List   string // "smtpd_recipient_restrictions", or a name given by the user
	Check  string
	Action Action
	Key    string
	Table  string
	Value  string
	Reply  string // the final reply, or "reject_warning: ..."
	Note   string
}

// Reset empties the trace.
func (t *Trace) Reset() { t.Steps = t.Steps[:0] }

// String renders the trace, one step a line.
func (t *Trace) String() string {
	var b strings.Builder
	for _, s := range t.Steps {
		b.WriteString(s.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// String renders one step: "RCPT smtpd_relay_restrictions reject_unauth_destination REJECT 554 5.7.1 ...".
func (s Step) String() string {
	var b strings.Builder
	b.WriteString(s.Stage.String())
	b.WriteByte(' ')
	b.WriteString(s.List)
	b.WriteByte(' ')
	b.WriteString(s.Check)
	b.WriteByte(' ')
	b.WriteString(s.Action.String())
	if s.Key != "" {
		b.WriteString(" key=")
		b.WriteString(strconv.Quote(s.Key))
	}
	if s.Table != "" {
		b.WriteString(" table=")
		b.WriteString(s.Table)
	}
	if s.Value != "" {
		b.WriteString(" value=")
		b.WriteString(strconv.Quote(s.Value))
	}
	if s.Reply != "" {
		b.WriteString(" reply=")
		b.WriteString(strconv.Quote(s.Reply))
	}
	if s.Note != "" {
		b.WriteString(" note=")
		b.WriteString(strconv.Quote(s.Note))
	}
	return b.String()
}

func (st *State) trace(chk Check, d Decision, reply string) {
	if st.Trace == nil {
		return
	}
	st.Trace.Steps = append(st.Trace.Steps, Step{
		Stage: st.Stage, List: st.ev.list, Check: checkName(chk), Action: d.Action,
		Key: d.Key, Table: d.Table, Value: d.Value, Reply: reply, Note: d.Note,
	})
}

func (st *State) traceNote(list, check string, action Action, reply, note string) {
	if st.Trace == nil {
		return
	}
	st.Trace.Steps = append(st.Trace.Steps, Step{Stage: st.Stage, List: list, Check: check, Action: action, Reply: reply, Note: note})
}
