// Package pflogfmt is a slog.Handler that writes mxkit's log records as
// Postfix's syslog lines, so that tools made for Postfix logs (pflogsumm,
// fail2ban's postfix filters) read an mxkit log:
//
//	Dec  4 20:00:00 mx postfix/smtpd[1234]: connect from client.example.org[192.0.2.1]
//	Dec  4 20:00:00 mx postfix/smtpd[1234]: NOQUEUE: reject: RCPT from unknown[192.0.2.1]: 554 5.7.1 <u@elsewhere.example>: Relay access denied; from=<a@b> to=<u@elsewhere.example> proto=ESMTP helo=<client.example.org>
//	Dec  4 20:00:00 mx postfix/smtpd[1234]: 01a2...: client=client.example.org[192.0.2.1]
//	Dec  4 20:00:00 mx postfix/cleanup[1234]: 01a2...: message-id=<x@example.org>
//	Dec  4 20:00:00 mx postfix/qmgr[1234]: 01a2...: from=<a@example.org>, size=312, nrcpt=1 (queue active)
//	Dec  4 20:00:01 mx postfix/smtp[1234]: 01a2...: to=<u@example.net>, relay=mx.example.net[192.0.2.9]:25, delay=0.5, delays=0.1/0/0.2/0.2, dsn=2.0.0, status=sent (250 2.0.0 Ok)
//	Dec  4 20:00:01 mx postfix/qmgr[1234]: 01a2...: removed
//
// It knows the records of mxkit's packages by their messages ("gosmtp:
// connect", "smtppolicy: reject", "smtp: delivery", "queue: removed", ...)
// and the example MX's "mx: queued"; other records become a line of the
// daemon their prefix names, with their attributes as key=value, and
// "warning: " or "error: " before the text at those levels, as Postfix
// writes them.
//
// The package is internal: what it reads is the vocabulary of mxkit's log
// records, which is not (yet) a stable API; structured slog stays the
// default output of everything in mxkit.
package pflogfmt

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Options configure a Handler. The zero value is usable.
type Options struct {
	// SyslogName is Postfix's syslog_name: lines are tagged
	// SyslogName/daemon[pid]. Empty means "postfix", which pflogsumm and
	// fail2ban's filters expect (pflogsumm takes --syslog-name for
	// another; fail2ban's postfix filters match postfix(-\w+)? only).
	SyslogName string
	// Hostname is the host field of each line; empty means the first
	// label of os.Hostname().
	Hostname string
	// PID is the [pid] of each line; 0 means os.Getpid().
	PID int
	// Level is the minimum level written; nil means slog.LevelInfo.
	Level slog.Leveler
}

// Handler is a slog.Handler writing Postfix-format lines.
type Handler struct {
	o     Options
	w     io.Writer
	mu    *sync.Mutex
	attrs []slog.Attr // from WithAttrs, keys already group-qualified
	group string      // from WithGroup, "a.b."
}

// New returns a Handler writing to w.
func New(w io.Writer, o *Options) *Handler {
	h := &Handler{w: w, mu: &sync.Mutex{}}
	if o != nil {
		h.o = *o
	}
	if h.o.SyslogName == "" {
		h.o.SyslogName = "postfix"
	}
	if h.o.Hostname == "" {
		name, _ := os.Hostname()
		name, _, _ = strings.Cut(name, ".")
		if name == "" {
			name = "localhost"
		}
		h.o.Hostname = name
	}
	if h.o.PID == 0 {
		h.o.PID = os.Getpid()
	}
	return h
}

// Enabled implements slog.Handler.
func (h *Handler) Enabled(_ context.Context, l slog.Level) bool {
	min := slog.LevelInfo
	if h.o.Level != nil {
		min = h.o.Level.Level()
	}
	return l >= min
}

// WithAttrs implements slog.Handler.
func (h *Handler) WithAttrs(as []slog.Attr) slog.Handler {
	h2 := *h
	h2.attrs = append([]slog.Attr(nil), h.attrs...)
	for _, a := range as {
		h2.attrs = appendAttr(h2.attrs, h.group, a)
	}
	return &h2
}

// WithGroup implements slog.Handler.
func (h *Handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	h2 := *h
	h2.group = h.group + name + "."
	return &h2
}

func appendAttr(dst []slog.Attr, prefix string, a slog.Attr) []slog.Attr {
	a.Value = a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return dst
	}
	if a.Value.Kind() == slog.KindGroup {
		p := prefix
		if a.Key != "" {
			p += a.Key + "."
		}
		for _, g := range a.Value.Group() {
			dst = appendAttr(dst, p, g)
		}
		return dst
	}
	a.Key = prefix + a.Key
	return append(dst, a)
}

// record is one slog record with its attributes looked up by key.
type record struct {
	msg   string
	level slog.Level
	attrs []slog.Attr
}

func (r *record) str(key string) string {
	for _, a := range r.attrs {
		if a.Key == key {
			return a.Value.String()
		}
	}
	return ""
}

// line is one output line: the daemon and its text.
type line struct{ daemon, text string }

// Handle implements slog.Handler.
func (h *Handler) Handle(_ context.Context, sr slog.Record) error {
	r := &record{msg: sr.Message, level: sr.Level, attrs: append([]slog.Attr(nil), h.attrs...)}
	sr.Attrs(func(a slog.Attr) bool {
		r.attrs = appendAttr(r.attrs, h.group, a)
		return true
	})
	t := sr.Time
	if t.IsZero() {
		t = time.Now()
	}
	var b strings.Builder
	for _, l := range lines(r) {
		b.WriteString(t.Format(time.Stamp))
		b.WriteByte(' ')
		b.WriteString(h.o.Hostname)
		b.WriteByte(' ')
		b.WriteString(h.o.SyslogName)
		b.WriteByte('/')
		b.WriteString(l.daemon)
		b.WriteByte('[')
		b.WriteString(strconv.Itoa(h.o.PID))
		b.WriteString("]: ")
		b.WriteString(oneLine(l.text))
		b.WriteByte('\n')
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := io.WriteString(h.w, b.String())
	return err
}

// oneLine keeps a line a line: CR, LF and other controls become spaces.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

// lines returns the Postfix lines for one record: its daemon (smtpd,
// cleanup, qmgr, smtp, ...) and text, without the syslog prefix.
func lines(r *record) []line {
	id := r.str("id")
	switch r.msg {
	case "gosmtp: connect":
		return []line{{"smtpd", "connect from " + r.str("client")}}
	case "gosmtp: disconnect":
		text := "disconnect from " + r.str("client")
		if c := r.str("commands"); c != "" {
			text += " " + c
		}
		return []line{{"smtpd", text}}
	case "gosmtp: lost connection":
		return []line{{"smtpd", "lost connection after " + r.str("after") + " from " + r.str("client")}}
	case "gosmtp: timeout":
		return []line{{"smtpd", "timeout after " + r.str("after") + " from " + r.str("client")}}
	case "smtppolicy: reject", "smtppolicy: dry-run: would reject":
		return []line{{"smtpd", reject(r)}}
	case "mx: queued":
		var ls []line
		if c := r.str("client"); c != "" {
			ls = append(ls, line{"smtpd", id + ": client=" + c})
		}
		if mid := r.str("message_id"); mid != "" {
			ls = append(ls, line{"cleanup", id + ": message-id=" + mid})
		}
		return append(ls, line{"qmgr", fmt.Sprintf("%s: from=<%s>, size=%s, nrcpt=%s (queue active)", id, r.str("from"), r.str("size"), r.str("nrcpt"))})
	case "smtp: delivery", "lmtp: delivery", "maildir: delivery":
		return []line{{deliveryDaemon(r.msg), delivery(r)}}
	case "queue: removed":
		return []line{{"qmgr", id + ": removed"}}
	case "queue: message deleted by the administrator":
		return []line{{"postsuper", id + ": removed"}}
	case "queue: message expired, returned to sender":
		return []line{{"qmgr", fmt.Sprintf("%s: to=<%s>, status=expired, returned to sender (%s)", id, r.str("to"), r.str("reason"))}}
	case "queue: notification queued":
		kind := r.str("kind")
		switch kind {
		case "failure":
			kind = "non-delivery"
		case "success":
			kind = "delivery status"
		}
		return []line{{"bounce", fmt.Sprintf("%s: sender %s notification: %s", id, kind, r.str("dsn_id"))}}
	}
	return []line{generic(r)}
}

func deliveryDaemon(msg string) string {
	switch msg {
	case "lmtp: delivery":
		return "lmtp"
	case "maildir: delivery":
		return "virtual"
	}
	return "smtp"
}

// reject is smtpd's "NOQUEUE: reject: RCPT from name[addr]: reply; from=<>
// to=<> proto=ESMTP helo=<>".
func reject(r *record) string {
	word := "reject"
	if r.msg != "smtppolicy: reject" {
		word = "reject_warning"
	}
	stage := r.str("stage")
	var b strings.Builder
	fmt.Fprintf(&b, "NOQUEUE: %s: %s from %s: %s;", word, stage, r.str("client"), r.str("reply"))
	switch stage {
	case "MAIL", "RCPT", "DATA", "END-OF-MESSAGE":
		fmt.Fprintf(&b, " from=<%s>", r.str("from"))
	}
	if to := r.str("to"); to != "" || stage == "RCPT" {
		fmt.Fprintf(&b, " to=<%s>", to)
	}
	if p := r.str("proto"); p != "" {
		b.WriteString(" proto=" + p)
	}
	if helo := r.str("helo"); helo != "" {
		fmt.Fprintf(&b, " helo=<%s>", helo)
	}
	return b.String()
}

// statusWord is Postfix's status= word for queue.Status's names.
func statusWord(s string) string {
	switch s {
	case "delivered":
		return "sent"
	case "pending":
		return "deferred"
	}
	return s // bounced, deferred
}

// delivery is "ID: to=<>, relay=, delay=, delays=, dsn=, status=sent (text)".
func delivery(r *record) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: to=<%s>, ", r.str("id"), r.str("to"))
	if o := r.str("orig_to"); o != "" {
		fmt.Fprintf(&b, "orig_to=<%s>, ", o)
	}
	relay := r.str("relay")
	switch {
	case relay != "":
	case r.msg == "maildir: delivery":
		relay = "virtual"
	default:
		relay = "none"
	}
	delay := "0"
	if f, err := strconv.ParseFloat(r.str("delay"), 64); err == nil {
		delay = seconds(f)
	}
	if strings.HasPrefix(relay, "[") {
		// A bracketed next hop, "[192.0.2.1]:25": Postfix writes the
		// name it connected to and the address, "192.0.2.1[192.0.2.1]:25".
		if end := strings.IndexByte(relay, ']'); end > 0 {
			relay = relay[1:end] + relay[:end+1] + relay[end+1:]
		}
	}
	fmt.Fprintf(&b, "relay=%s, delay=%s, ", relay, delay)
	if d := r.str("delays"); d != "" {
		fmt.Fprintf(&b, "delays=%s, ", d)
	}
	if d := r.str("dsn"); d != "" {
		fmt.Fprintf(&b, "dsn=%s, ", d)
	}
	fmt.Fprintf(&b, "status=%s (%s)", statusWord(r.str("status")), r.str("text"))
	return b.String()
}

// seconds is a delay as Postfix writes it: "0" under 10ms, two
// significant digits under 10s (0.12, 1.5), whole seconds above.
func seconds(sec float64) string {
	switch {
	case sec < 0.01:
		return "0"
	case sec < 10:
		return strconv.FormatFloat(sec, 'g', 2, 64)
	}
	return strconv.FormatFloat(sec, 'f', 0, 64)
}

// daemons maps the prefixes of mxkit's messages to Postfix's daemons.
var daemons = map[string]string{
	"gosmtp":     "smtpd",
	"smtppolicy": "smtpd",
	"mx":         "master",
	"queue":      "qmgr",
	"smtp":       "smtp",
	"lmtp":       "lmtp",
	"maildir":    "virtual",
	"dnsres":     "dnsblog",
	"tlsrpt":     "tlsrpt",
}

// generic writes an unknown record as "daemon[pid]: [warning: ]text k=v".
func generic(r *record) line {
	daemon, text := "mxkit", r.msg
	if p, rest, ok := strings.Cut(r.msg, ": "); ok && !strings.ContainsAny(p, " ") {
		if d, ok := daemons[p]; ok {
			daemon, text = d, rest
		}
	}
	// Lines that are Postfix's sentences already, attributes and all.
	sentence := true
	switch {
	case strings.Contains(text, " TLS connection established to "), strings.HasPrefix(text, "host ") && strings.Contains(text, "refused to start TLS"):
		daemon = "smtp"
	case strings.Contains(text, " TLS connection established from "):
		daemon = "smtpd"
	default:
		sentence = false
	}
	var b strings.Builder
	if id := r.str("id"); id != "" && !strings.ContainsAny(id, " :") {
		b.WriteString(id + ": ")
	}
	switch {
	case r.level >= slog.LevelError:
		b.WriteString("error: ")
	case r.level >= slog.LevelWarn:
		b.WriteString("warning: ")
	}
	b.WriteString(text)
	for _, a := range r.attrs {
		if a.Key == "id" || sentence {
			continue
		}
		b.WriteByte(' ')
		b.WriteString(a.Key)
		b.WriteByte('=')
		v := a.Value.String()
		if v == "" || strings.ContainsFunc(v, func(r rune) bool { return r <= ' ' || r == '=' || r == '"' || r == 0x7f }) {
			v = strconv.Quote(v)
		}
		b.WriteString(v)
	}
	return line{daemon, b.String()}
}

var _ slog.Handler = (*Handler)(nil)
