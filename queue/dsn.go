package queue

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mxkit/mxkit/internal/dsncode"
)

// DSNKind is the kind of a delivery status notification (RFC 3464): which
// recipients it reports on and what it returns of the original message.
type DSNKind int

// Notification kinds.
const (
	// DSNFailure reports recipients that failed permanently or whose
	// message expired in the queue (Postfix's "Undelivered Mail Returned
	// to Sender"). Action: failed.
	DSNFailure DSNKind = iota
	// DSNDelay warns that recipients are still deferred after
	// delay_warning_time (Postfix's "Delayed Mail (still being
	// retried)"). Action: delayed.
	DSNDelay
	// DSNSuccess reports final delivery (NOTIFY=SUCCESS). Action:
	// delivered.
	DSNSuccess
	// DSNRelayed reports NOTIFY=SUCCESS recipients handed to a next hop
	// that did not take the DSN parameters over (no DSN extension), so
	// no further notification can be expected. Action: relayed.
	DSNRelayed
)

var dsnKindNames = [...]string{"failure", "delay", "success", "relayed"}

func (k DSNKind) String() string {
	if k >= 0 && int(k) < len(dsnKindNames) {
		return dsnKindNames[k]
	}
	return fmt.Sprintf("DSNKind(%d)", int(k))
}

// Defaults of DSNOptions.
const (
	// DSNDefaultMaxReturned is Postfix's bounce_size_limit default.
	DSNDefaultMaxReturned = 50000
	// dsnHeaderLimit caps the returned header section, as Postfix's
	// header_size_limit (102400) caps what cleanup(8) keeps.
	dsnHeaderLimit = 102400
	// dsnMailName is the diagnostic-type of our own reasons, as Postfix
	// writes "X-Postfix" (RFC 3464 §2.3.6: an atom).
	dsnMailName = "mxkit"
)

// Errors of NewDSN.
var (
	// ErrDSNNullSender: notifications are never sent to the null
	// sender (RFC 3461 §6.2, RFC 5321 §4.5.5), which is how
	// notification loops are avoided.
	ErrDSNNullSender = errors.New("queue: no notification for a message from the null sender")
	// ErrDSNNoRecipients: a notification reports at least one recipient.
	ErrDSNNoRecipients = errors.New("queue: notification without recipients")
)

// DSNOptions configures delivery status notifications. The zero value is
// usable: the host name of the machine, MAILER-DAEMON, Postfix's
// bounce_size_limit and maximal_queue_lifetime defaults, time.Now.
type DSNOptions struct {
	// ReportingMTA is this MTA's host name (Postfix's myhostname), for
	// Reporting-MTA and the Message-ID. Empty: os.Hostname().
	ReportingMTA string
	// From is the notification's author address, shown as
	// "Mail Delivery System <From>". Empty: MAILER-DAEMON@ReportingMTA.
	From string
	// MaxReturned is the largest original message (in bytes, as stored)
	// returned in full; a larger one is returned as its header section
	// only (Postfix's bounce_size_limit). Zero: 50000. Negative: no limit.
	MaxReturned int64
	// Lifetime is how long a message may stay queued (Postfix's
	// maximal_queue_lifetime), for Will-Retry-Until in delay
	// notifications: Arrival + Lifetime. Zero: 5 days. Negative: the
	// field and the "until" sentence are left out.
	Lifetime time.Duration
	// Now returns the current time; nil is time.Now.
	Now func() time.Time
}

func (o DSNOptions) host() string {
	if o.ReportingMTA != "" {
		return dsnClean(o.ReportingMTA, false)
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		return dsnClean(h, false)
	}
	return "localhost"
}

// NewDSN builds the delivery status notification of kind for the
// recipients rcpts (indexes into m.Recipients; the caller has chosen them
// by status and NOTIFY) of message m, whose content body supplies. It
// returns the notification's envelope, ready for Store.Put, and its
// content with CRLF line endings.
//
// The envelope has the null sender and one recipient, m.Sender, with
// NOTIFY=NEVER, so a notification never causes another one. The content is
// a multipart/report (RFC 6522) with a human-readable text/plain part, the
// message/delivery-status part of RFC 3464 (message/global-delivery-status
// of RFC 6533 for an SMTPUTF8 message) with one per-recipient block per
// rcpts entry, and the original message: in full (message/rfc822) for a
// failure with RET=FULL or no RET, unless it is larger than
// opts.MaxReturned; otherwise its header section (text/rfc822-headers).
// A delay notification carries Will-Retry-Until (m.Arrival +
// opts.Lifetime); the original's Message-ID, when plausible, becomes
// In-Reply-To and References so that mail readers thread the report.
// Envelope data (addresses, replies, ORCPT) is cleaned of control
// characters, so it cannot add header fields or per-recipient blocks.
//
// NewDSN returns ErrDSNNullSender when m.Sender is empty and
// ErrDSNNoRecipients when rcpts is; an error reading body is returned
// wrapped.
func NewDSN(opts DSNOptions, kind DSNKind, m *Message, rcpts []int, body io.Reader) (*Message, []byte, error) {
	if m.Sender == "" {
		return nil, nil, ErrDSNNullSender
	}
	if len(rcpts) == 0 {
		return nil, nil, ErrDSNNoRecipients
	}
	if kind < 0 || int(kind) >= len(dsnKindNames) {
		return nil, nil, fmt.Errorf("queue: invalid notification kind %d", int(kind))
	}
	for _, i := range rcpts {
		if i < 0 || i >= len(m.Recipients) {
			return nil, nil, fmt.Errorf("queue: notification for recipient %d of a message with %d", i, len(m.Recipients))
		}
	}
	now := time.Now()
	if opts.Now != nil {
		now = opts.Now()
	}
	host := opts.host()
	from := opts.From
	if from == "" {
		from = "MAILER-DAEMON@" + host
	}
	limit := opts.MaxReturned
	if limit == 0 {
		limit = DSNDefaultMaxReturned
	}
	lifetime := opts.Lifetime
	if lifetime == 0 {
		lifetime = 5 * 24 * time.Hour
	}

	// Read what may be returned: up to the size limit (one byte more
	// tells that the message is larger), and at least enough for the
	// header section.
	var raw []byte
	var err error
	if body == nil {
		body = bytes.NewReader(nil)
	}
	if limit < 0 {
		raw, err = io.ReadAll(body)
	} else {
		raw, err = io.ReadAll(io.LimitReader(body, max(limit, dsnHeaderLimit)+1))
	}
	if err != nil {
		return nil, nil, fmt.Errorf("queue: notification for %s: reading the message: %w", m.ID, err)
	}
	tooBig := limit >= 0 && int64(len(raw)) > limit
	raw = dsnCRLF(raw)

	// RFC 3461 §4.3: RET applies to failure notifications; Postfix
	// returns the full message when RET is absent (bounce(8)), only
	// headers in delay and success notifications, and headers only when
	// the message exceeds bounce_size_limit, so as not to cut its MIME
	// structure.
	full := kind == DSNFailure && m.Ret != RetHeaders && !tooBig && len(raw) > 0
	headers := dsnHeaderSection(raw, dsnHeaderLimit)
	original := headers
	if full {
		original = raw
	}

	global := m.SMTPUTF8
	d := &dsnWriter{kind: kind, m: m, host: host, global: global, lifetime: lifetime}
	text := d.textPart(rcpts)
	status := d.statusPart(rcpts)

	// The boundary is random and checked against every part, so it
	// cannot occur in the returned content (RFC 2046 §5.1.1).
	var boundary string
	for {
		boundary = "=_mxkit_" + dsnRandHex(12)
		if !bytes.Contains(original, []byte(boundary)) && !bytes.Contains(text, []byte(boundary)) && !bytes.Contains(status, []byte(boundary)) {
			break
		}
	}

	var b bytes.Buffer
	b.Grow(len(text) + len(status) + len(original) + 1024)
	hdr := func(name, value string) { b.WriteString(dsnFold(name, value)) }
	hdr("From", "Mail Delivery System <"+dsnClean(from, global)+">")
	hdr("To", "<"+dsnClean(m.Sender, global)+">")
	hdr("Subject", dsnSubjects[kind])
	hdr("Date", now.Format(time.RFC1123Z))
	hdr("Message-ID", "<"+dsnRandHex(16)+"@"+host+">")
	if id := dsnMessageID(headers, global); id != "" {
		hdr("In-Reply-To", id)
		hdr("References", id)
	}
	hdr("Auto-Submitted", "auto-replied")
	hdr("MIME-Version", "1.0")
	b.WriteString("Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"" + boundary + "\"\r\n")
	eightBit := !dsnASCII(text) || !dsnASCII(status) || !dsnASCII(original)
	if eightBit {
		hdr("Content-Transfer-Encoding", "8bit")
	}
	b.WriteString("\r\nThis is a delivery status notification in MIME format.\r\n")

	part := func(description, ctype string, content []byte) {
		b.WriteString("\r\n--" + boundary + "\r\n")
		hdr("Content-Description", description)
		hdr("Content-Type", ctype)
		if !dsnASCII(content) {
			hdr("Content-Transfer-Encoding", "8bit")
		}
		b.WriteString("\r\n")
		b.Write(content)
	}
	charset := "us-ascii"
	if !dsnASCII(text) {
		charset = "utf-8"
	}
	part("Notification", "text/plain; charset="+charset, text)
	if global {
		part("Delivery report", "message/global-delivery-status", status)
	} else {
		part("Delivery report", "message/delivery-status", status)
	}
	desc := "Message"
	if kind == DSNFailure || kind == DSNDelay {
		desc = "Undelivered Message"
	}
	switch {
	case full && global:
		part(desc, "message/global", original)
	case full:
		part(desc, "message/rfc822", original)
	case global:
		part(desc+" Headers", "message/global-headers", original)
	default:
		part(desc+" Headers", "text/rfc822-headers", original)
	}
	b.WriteString("\r\n--" + boundary + "--\r\n")

	content := b.Bytes()
	dm := &Message{
		Sender:       "",
		Arrival:      now,
		SMTPUTF8:     global && !dsnASCII(content),
		EightBitMIME: eightBit,
		Recipients:   []Recipient{{Addr: m.Sender, Notify: NotifyNever}},
	}
	return dm, content, nil
}

var dsnSubjects = [...]string{
	DSNFailure: "Undelivered Mail Returned to Sender",
	DSNDelay:   "Delayed Mail (still being retried)",
	DSNSuccess: "Successful Mail Delivery Report",
	DSNRelayed: "Successful Mail Delivery Report",
}

var dsnActions = [...]string{
	DSNFailure: "failed",
	DSNDelay:   "delayed",
	DSNSuccess: "delivered",
	DSNRelayed: "relayed",
}

type dsnWriter struct {
	kind     DSNKind
	m        *Message
	host     string
	global   bool
	lifetime time.Duration
}

// retryUntil returns Will-Retry-Until for a delay notification, or the
// zero time when there is none.
func (d *dsnWriter) retryUntil() time.Time {
	if d.kind != DSNDelay || d.lifetime < 0 || d.m.Arrival.IsZero() {
		return time.Time{}
	}
	return d.m.Arrival.Add(d.lifetime)
}

// textPart is the human-readable explanation (RFC 6522 §3, first part).
func (d *dsnWriter) textPart(rcpts []int) []byte {
	var b bytes.Buffer
	para := func(s string) {
		b.WriteString(dsnWrap(s, "") + "\r\n")
	}
	para("This report comes from the mail system at " + d.host + ".")
	b.WriteString("\r\n")
	switch d.kind {
	case DSNFailure:
		para("Your message could not be delivered to the recipients listed below. " +
			"The reasons follow; the attached delivery report has the details, " +
			"and the message itself is attached as well.")
	case DSNDelay:
		s := "Your message has not been delivered yet to the recipients listed below. " +
			"This is only a warning: you do not need to send the message again."
		if u := d.retryUntil(); !u.IsZero() {
			s += " The mail system will keep trying until " + u.Format(time.RFC1123Z) + "."
		}
		para(s)
	case DSNSuccess:
		para("Your message was delivered to the recipients listed below, as you asked to be told.")
	case DSNRelayed:
		para("Your message was passed on to the recipients listed below, as you asked to be told. " +
			"The next mail system does not send delivery reports, so you will not hear about these recipients again.")
	}
	for _, i := range rcpts {
		r := &d.m.Recipients[i]
		line := "<" + dsnClean(r.Addr, d.global) + ">"
		if _, orig := dsnORCPT(r.ORCPT, d.global); orig != "" && !strings.EqualFold(orig, r.Addr) {
			line += " (originally <" + orig + ">)"
		}
		reason := dsnClean(r.Reply, d.global)
		switch {
		case reason != "" && r.FromRemote && r.Remote != "":
			reason = "host " + dsnClean(r.Remote, d.global) + " said: " + reason
		case reason == "":
			reason = dsnDefaultReasons[d.kind]
		}
		b.WriteString("\r\n")
		b.WriteString(dsnWrap(line+": "+reason, "    ") + "\r\n")
	}
	return b.Bytes()
}

var dsnDefaultReasons = [...]string{
	DSNFailure: "delivery failed",
	DSNDelay:   "delivery temporarily failed",
	DSNSuccess: "delivered",
	DSNRelayed: "relayed",
}

// statusPart is the message/delivery-status body (RFC 3464 §2).
func (d *dsnWriter) statusPart(rcpts []int) []byte {
	var b bytes.Buffer
	f := func(name, value string) { b.WriteString(dsnFold(name, value)) }
	m := d.m
	g := d.global
	f("Reporting-MTA", "dns; "+d.host)
	if m.EnvID != "" {
		f("Original-Envelope-Id", dsnXtext(m.EnvID))
	}
	if ValidID(m.ID) {
		f("X-Mxkit-Queue-ID", m.ID)
	}
	f("X-Mxkit-Sender", dsnAddrType(m.Sender, g)+"; "+dsnClean(m.Sender, g))
	if mta := dsnClientName(m.Client); mta != "" {
		f("Received-From-MTA", "dns; "+mta)
	}
	if !m.Arrival.IsZero() {
		f("Arrival-Date", m.Arrival.Format(time.RFC1123Z))
	}
	until := d.retryUntil()
	for _, i := range rcpts {
		r := &m.Recipients[i]
		b.WriteString("\r\n")
		if typ, addr := dsnORCPT(r.ORCPT, g); addr != "" {
			f("Original-Recipient", typ+"; "+addr)
		}
		f("Final-Recipient", dsnAddrType(r.Addr, g)+"; "+dsnClean(r.Addr, g))
		f("Action", dsnActions[d.kind])
		f("Status", dsnStatus(d.kind, r.DSNCode))
		if r.Remote != "" {
			f("Remote-MTA", "dns; "+dsnClean(r.Remote, g))
		}
		if reply := dsnClean(r.Reply, g); reply != "" {
			if r.FromRemote {
				f("Diagnostic-Code", "smtp; "+reply)
			} else {
				f("Diagnostic-Code", "X-"+dsnMailName+"; "+reply)
			}
		}
		if !r.LastAttempt.IsZero() {
			f("Last-Attempt-Date", r.LastAttempt.Format(time.RFC1123Z))
		}
		if !until.IsZero() {
			f("Will-Retry-Until", until.Format(time.RFC1123Z))
		}
	}
	return b.Bytes()
}

// dsnClientName is the Received-From-MTA name of the submitting client:
// its verified name, else its HELO name, else its address literal.
func dsnClientName(c Client) string {
	switch {
	case c.Name != "" && c.Name != "unknown":
		return dsnClean(c.Name, false)
	case c.Helo != "":
		return dsnClean(c.Helo, false)
	case c.Addr != "":
		return "[" + dsnClean(c.Addr, false) + "]"
	}
	return ""
}

// dsnAddrType is the address type of a Final-Recipient: "utf-8" (RFC 6533
// §3) for a non-ASCII address in a global notification, else "rfc822".
func dsnAddrType(addr string, global bool) string {
	if global && !dsnASCII([]byte(addr)) {
		return "utf-8"
	}
	return "rfc822"
}

// dsnORCPT splits a stored ORCPT ("rfc822;user@example.com", decoded)
// into its address type and address for Original-Recipient. A value
// without a type is taken as rfc822.
func dsnORCPT(orcpt string, global bool) (typ, addr string) {
	if orcpt == "" {
		return "", ""
	}
	typ, addr, ok := strings.Cut(orcpt, ";")
	if !ok {
		typ, addr = "rfc822", orcpt
	}
	typ = strings.ToLower(strings.TrimSpace(typ))
	if typ == "" || strings.ContainsFunc(typ, func(c rune) bool {
		return !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-')
	}) {
		typ = "rfc822"
	}
	return typ, dsnClean(addr, global)
}

// dsnStatus is the Status field: the recipient's RFC 3463 code when it is
// valid and fits the kind, else a default. A failure may carry a 4.x.y
// code (a temporary error that outlived the queue lifetime), as Postfix's
// notifications do.
func dsnStatus(kind DSNKind, code string) string {
	valid := dsncode.Valid(code)
	switch kind {
	case DSNFailure:
		if valid && (code[0] == '5' || code[0] == '4') {
			return code
		}
		return "5.0.0"
	case DSNDelay:
		if valid && code[0] == '4' {
			return code
		}
		return "4.0.0"
	default:
		if valid && code[0] == '2' {
			return code
		}
		return "2.0.0"
	}
}

// dsnXtext encodes s as xtext (RFC 3461 §4): '+', '=' and characters
// outside '!'..'~' become "+HH".
func dsnXtext(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '!' || c > '~' || c == '+' || c == '=' {
			fmt.Fprintf(&b, "+%02X", c)
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}

// dsnClean makes s safe as (part of) a header field value or a text line:
// runs of white space and control characters become one space (so no CR or
// LF can start a field of its own), and, unless utf8OK, non-ASCII
// characters (and in any case invalid UTF-8) become '?'. It trims spaces.
func dsnClean(s string, utf8OK bool) string {
	var b strings.Builder
	space := false
	for i, c := range s {
		switch {
		case c < ' ' || c == 0x7f || c == ' ' || c >= 0x80 && c < 0xa0:
			space = true
			continue
		case c == utf8.RuneError:
			if _, n := utf8.DecodeRuneInString(s[i:]); n <= 1 {
				c = '?'
			} else if !utf8OK {
				c = '?'
			}
		case c >= 0x80 && !utf8OK:
			c = '?'
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteRune(c)
	}
	return b.String()
}

// dsnFold returns "Name: value\r\n", folded before a space so that lines
// stay within 78 characters where the value allows it (RFC 5322 §2.2.3).
// value must come from dsnClean (single spaces, no control characters).
func dsnFold(name, value string) string {
	var b strings.Builder
	line := name + ":"
	words := strings.Split(value, " ")
	for i, w := range words {
		if i > 0 && len(line)+1+len(w) > 78 && strings.TrimSpace(line) != "" {
			b.WriteString(line + "\r\n")
			line = "   "
		}
		line += " " + w
	}
	b.WriteString(line + "\r\n")
	return b.String()
}

// dsnWrap wraps text at spaces to lines of at most 78 characters where
// the words allow it, indenting continuation lines, joined with CRLF.
func dsnWrap(text, indent string) string {
	var b strings.Builder
	line := ""
	for w := range strings.FieldsSeq(text) {
		if line != "" && len(line)+1+len(w) > 78 {
			b.WriteString(line + "\r\n")
			line = indent + w
			continue
		}
		if line == "" {
			line = w
		} else {
			line += " " + w
		}
	}
	b.WriteString(line)
	return b.String()
}

// dsnCRLF returns b with every line ending (LF, CR LF, or a CR alone)
// made CR LF. It returns b itself when nothing changes.
func dsnCRLF(b []byte) []byte {
	ok := true
	for i, c := range b {
		if c == '\n' && (i == 0 || b[i-1] != '\r') || c == '\r' && (i+1 == len(b) || b[i+1] != '\n') {
			ok = false
			break
		}
	}
	if ok {
		return b
	}
	out := make([]byte, 0, len(b)+len(b)/32+2)
	for i := 0; i < len(b); i++ {
		switch c := b[i]; c {
		case '\r':
			out = append(out, '\r', '\n')
			if i+1 < len(b) && b[i+1] == '\n' {
				i++
			}
		case '\n':
			out = append(out, '\r', '\n')
		default:
			out = append(out, c)
		}
	}
	return out
}

// dsnHeaderSection returns the header section at the start of msg (CRLF
// line endings, see dsnCRLF): its lines up to the first empty line or the
// first line that is neither a header field ("name:") nor the
// continuation of one, whichever comes first, at most limit bytes (whole
// fields only). The result ends with CRLF unless it is empty; the empty
// line is not part of it. A last line without line ending gets one.
func dsnHeaderSection(msg []byte, limit int) []byte {
	var out []byte
	field := -1 // start of the current field in out; -1 before the first
	for len(msg) > 0 {
		line, rest, ok := bytes.Cut(msg, []byte("\r\n"))
		if !ok {
			rest = nil
		}
		msg = rest
		switch {
		case field >= 0 && len(line) > 0 && (line[0] == ' ' || line[0] == '\t'):
			if len(out)+len(line)+2 > limit {
				return out[:field]
			}
		case dsnIsField(line):
			if len(out)+len(line)+2 > limit {
				return out
			}
			field = len(out)
		default:
			return out
		}
		out = append(out, line...)
		out = append(out, '\r', '\n')
	}
	return out
}

// dsnIsField reports whether line starts a header field: a field name of
// printable ASCII other than ':', optional blanks (obsolete syntax, RFC
// 5322 §4.5), then ':'.
func dsnIsField(line []byte) bool {
	n := 0
	for n < len(line) && line[n] > ' ' && line[n] < 0x7f && line[n] != ':' {
		n++
	}
	if n == 0 {
		return false
	}
	i := n
	for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
		i++
	}
	return i < len(line) && line[i] == ':'
}

// dsnMessageID returns the Message-ID of a header section when it is a
// plausible msg-id ("<...>" without spaces), for In-Reply-To and
// References; else "".
func dsnMessageID(headers []byte, global bool) string {
	for len(headers) > 0 {
		line, rest, _ := bytes.Cut(headers, []byte("\r\n"))
		headers = rest
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok || !strings.EqualFold(strings.TrimRight(string(name), " \t"), "Message-ID") {
			continue
		}
		// Unfold the continuation lines.
		v := string(value)
		for len(headers) > 0 && (headers[0] == ' ' || headers[0] == '\t') {
			cont, rest, _ := bytes.Cut(headers, []byte("\r\n"))
			v += string(cont)
			headers = rest
		}
		v = strings.TrimSpace(v)
		if len(v) < 3 || len(v) > 998 || v[0] != '<' || v[len(v)-1] != '>' || strings.ContainsAny(v[1:len(v)-1], "<> \t") {
			return ""
		}
		if v != dsnClean(v, global) {
			return ""
		}
		return v
	}
	return ""
}

// dsnASCII reports whether b is 7-bit.
func dsnASCII(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

func dsnRandHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b)
}
