package smtpcmd

import (
	"context"
	"strconv"
	"strings"

	"github.com/mxkit/mxkit/smtppolicy"
)

// Step is what to do with one client command line.
type Step struct {
	// Reply, when not nil, is sent to the client and the command is not
	// forwarded.
	Reply *smtppolicy.Reply
	// Forward is otherwise the line (without CRLF) to send to the real
	// server, possibly rewritten.
	Forward string
	// Close asks to close the connection after the reply (QUIT, 421).
	Close bool
	// KeepChunk, with a Reply to BDAT, says that the command was refused
	// before it was looked at (Postfix's 530 for STARTTLS): the bytes
	// after it are the next command, not a chunk to read and drop.
	KeepChunk bool
}

// DefaultHardErrorLimit is Postfix's smtpd_hard_error_limit.
const DefaultHardErrorLimit = 20

// Driver plays one connection's SMTP commands against a policy session
// with Postfix's protocol rules and replies. It does not read message
// bodies. Commands must be handled one at a time: Handle, then (for a
// forwarded command) Done with the real server's reply code, then the next
// Handle. A Driver is not safe for concurrent use.
type Driver struct {
	// Session is the connection's policy session.
	Session *smtppolicy.Session
	// Hostname is $myhostname: bare RCPT TO:<postmaster> is forwarded as
	// <postmaster@Hostname>, and it appears in 421 replies.
	Hostname string
	// Strict is strict_rfc821_envelopes.
	Strict bool
	// SMTPUTF8 says the server offers SMTPUTF8 (smtputf8_enable): MAIL
	// may carry the SMTPUTF8 parameter and 8-bit addresses.
	SMTPUTF8 bool
	// DisableVRFY is disable_vrfy_command.
	DisableVRFY bool
	// ETRN, when set, serves the ETRN command (RFC 1985): it is called
	// with the domain (a leading '@' or '#' removed) and reports whether
	// the domain's mail was queued for delivery (Postfix's
	// fast_flush_domains). Nil leaves ETRN "not recognized".
	ETRN func(ctx context.Context, domain string) bool
	// RequireTLS is smtpd_tls_security_level = encrypt: until the
	// session is under TLS (State.TLS set), MAIL, RCPT, DATA, BDAT,
	// VRFY, RSET and AUTH get "530 5.7.0 Must issue a STARTTLS command
	// first", as Postfix answers them (measured against Postfix 3.7).
	RequireTLS bool
	// HardErrorLimit is smtpd_hard_error_limit: after that many 4xx/5xx
	// replies the next command gets "421 4.7.0 <host> Error: too many
	// errors" and the connection is closed. 0 means
	// DefaultHardErrorLimit; negative means no limit.
	HardErrorLimit int

	last     string // verb of the forwarded command awaiting Done
	lastRcpt string
	bdatLast bool
	inBDAT   bool
	utf8     bool // the current MAIL had SMTPUTF8
	errors   int
}

// NewDriver returns a driver for s.
func NewDriver(s *smtppolicy.Session, hostname string) *Driver {
	return &Driver{Session: s, Hostname: hostname}
}

// Errors returns the number of 4xx/5xx replies so far.
func (d *Driver) Errors() int { return d.errors }

func (d *Driver) limit() int {
	if d.HardErrorLimit == 0 {
		return DefaultHardErrorLimit
	}
	return d.HardErrorLimit
}

// Handle decides what to do with one command line (without CRLF).
func (d *Driver) Handle(ctx context.Context, line string) Step {
	if l := d.limit(); l > 0 && d.errors >= l {
		r := rep(421, 4, 7, 0, d.Hostname+" Error: too many errors")
		return Step{Reply: &r, Close: true}
	}
	cmd := ParseCommand(line)
	st := d.handle(ctx, cmd)
	d.last = ""
	if st.Reply != nil && d.Session.Policy().SoftBounce {
		// soft_bounce: every 5xx reply of the server becomes 4xx,
		// syntax errors included (Postfix smtpd_chat_reply).
		r := SoftBounce(*st.Reply)
		st.Reply = &r
	}
	if st.Reply != nil {
		if st.Reply.Code >= 400 {
			d.errors++
		}
		if st.Reply.Code == 421 || st.Reply.Code == 521 {
			st.Close = true
		}
	} else {
		d.last = cmd.Verb
	}
	return st
}

func reply(r smtppolicy.Reply) Step { return Step{Reply: &r} }

func (d *Driver) handle(ctx context.Context, cmd Command) Step {
	switch cmd.Verb {
	case "":
		return reply(rep(500, 5, 5, 2, "Error: bad syntax"))
	case "HELO", "EHLO", "MAIL", "RCPT", "DATA", "BDAT", "RSET", "NOOP", "VRFY", "QUIT", "AUTH", "STARTTLS":
	case "ETRN":
		if d.ETRN != nil {
			break
		}
		return reply(rep(500, 5, 5, 2, "Error: command not recognized"))
	case "XCLIENT", "XFORWARD":
		// Postfix knows them; no client is authorized to use them here.
		return reply(rep(550, 5, 7, 0, "Error: insufficient authorization"))
	default:
		if isHeader(cmd.Verb) {
			// A message header sent as a command: a client that ignored
			// a refused DATA (Postfix hangs up).
			r := rep(221, 2, 7, 0, "Error: I can break rules, too. Goodbye.")
			return Step{Reply: &r, Close: true}
		}
		return reply(rep(500, 5, 5, 2, "Error: command not recognized"))
	}
	if cmd.Verb == "QUIT" {
		return Step{Forward: "QUIT", Close: true}
	}
	if r := d.Session.Denied(); r != nil {
		return Step{Reply: r}
	}
	if d.RequireTLS && d.Session.State().TLS == nil {
		switch cmd.Verb {
		case "MAIL", "RCPT", "DATA", "BDAT", "VRFY", "RSET", "AUTH", "ETRN":
			st := reply(rep(530, 5, 7, 0, "Must issue a STARTTLS command first"))
			st.KeepChunk = true
			return st
		}
	}
	switch cmd.Verb {
	case "HELO", "EHLO":
		if cmd.Arg == "" {
			// RFC 2034: no enhanced status code in replies to HELO/EHLO.
			return reply(smtppolicy.Reply{Code: 501, Text: "Syntax: " + cmd.Verb + " hostname"})
		}
		d.utf8, d.inBDAT = false, false
		if r := d.Session.Helo(ctx, cmd.Arg, cmd.Verb == "EHLO"); r != nil {
			return Step{Reply: r}
		}
		return Step{Forward: cmd.Verb + " " + cmd.Arg}
	case "MAIL":
		if r := d.Session.MailSequence(); r != nil {
			return Step{Reply: r}
		}
		p, err := ParsePathOptions(cmd.Arg, MailPath, Options{Strict: d.Strict, UTF8: d.SMTPUTF8})
		if err != nil {
			return reply(err.(*smtppolicy.ReplyError).Reply)
		}
		if r := d.Session.Mail(ctx, p.Addr, p.Params.Size); r != nil {
			return Step{Reply: r}
		}
		d.utf8 = p.Params.SMTPUTF8
		return Step{Forward: "MAIL FROM:<" + d.qualify(p.Raw) + ">" + spaced(p.Params.Raw)}
	case "RCPT":
		if r := d.Session.RcptSequence(); r != nil {
			return Step{Reply: r}
		}
		p, err := ParsePathOptions(cmd.Arg, RcptPath, Options{Strict: d.Strict, UTF8: d.SMTPUTF8 && d.utf8})
		if err != nil {
			return reply(err.(*smtppolicy.ReplyError).Reply)
		}
		if r := d.Session.Rcpt(ctx, p.Addr); r != nil {
			return Step{Reply: r}
		}
		d.lastRcpt = p.Addr
		// RFC 5321 §4.5.1: <postmaster> without a domain is this host's.
		return Step{Forward: "RCPT TO:<" + d.qualify(p.Raw) + ">" + spaced(p.Params.Raw)}
	case "DATA":
		if d.inBDAT {
			return reply(rep(503, 5, 5, 1, "Error: DATA after BDAT"))
		}
		if cmd.Arg != "" {
			if r := d.Session.DataSequence(); r != nil {
				return Step{Reply: r}
			}
			return reply(rep(501, 5, 5, 4, "Syntax: DATA"))
		}
		if r := d.Session.Data(ctx); r != nil {
			return Step{Reply: r}
		}
		return Step{Forward: "DATA"}
	case "BDAT":
		f := strings.Fields(cmd.Arg)
		n, err := strconv.ParseInt(firstOr(f), 10, 64)
		if len(f) < 1 || len(f) > 2 || err != nil || n < 0 || (len(f) == 2 && !strings.EqualFold(f[1], "LAST")) {
			// Postfix hangs up: the chunk cannot be found.
			return reply(rep(521, 5, 5, 4, "Syntax: BDAT count [LAST]"))
		}
		if !d.inBDAT {
			if r := d.Session.Data(ctx); r != nil {
				return Step{Reply: r}
			}
		}
		d.inBDAT, d.bdatLast = true, len(f) == 2
		return Step{Forward: "BDAT " + cmd.Arg}
	case "RSET":
		if cmd.Arg != "" {
			return reply(rep(501, 5, 5, 4, "Syntax: RSET"))
		}
		d.Reset()
		return Step{Forward: "RSET"}
	case "NOOP":
		return reply(rep(250, 2, 0, 0, "Ok"))
	case "ETRN":
		// Postfix's replies, without enhanced status codes (measured
		// against Postfix 3.7).
		if d.Session.Policy().HeloRequired && d.Session.State().Helo == "" {
			return reply(smtppolicy.Reply{Code: 503, Text: "Error: send HELO/EHLO first"})
		}
		if len(strings.Fields(cmd.Arg)) != 1 {
			return reply(smtppolicy.Reply{Code: 500, Text: "Syntax: ETRN domain"})
		}
		if d.Session.State().HasSender {
			return reply(smtppolicy.Reply{Code: 503, Text: "Error: MAIL transaction in progress"})
		}
		domain := cmd.Arg
		if domain[0] == '@' || domain[0] == '#' {
			domain = domain[1:]
		}
		// RFC 1985, and an RFC 5321 address literal as Postfix allows.
		if !smtppolicy.ValidHostname(domain) && !(strings.HasPrefix(domain, "[") && validMailhostLiteral(domain)) {
			return reply(smtppolicy.Reply{Code: 501, Text: "Error: invalid parameter syntax"})
		}
		if r := d.Session.Etrn(ctx, domain); r != nil {
			return reply(*r)
		}
		if !d.ETRN(ctx, domain) {
			return reply(smtppolicy.Reply{Code: 459, Text: "<" + domain + ">: service unavailable"})
		}
		return reply(smtppolicy.Reply{Code: 250, Text: "Queuing started"})
	case "VRFY":
		if d.DisableVRFY {
			return reply(rep(502, 5, 5, 1, "VRFY command is disabled"))
		}
		if cmd.Arg == "" {
			return reply(rep(501, 5, 5, 4, "Syntax: VRFY address"))
		}
		p, ok := extractAddr(cmd.Arg, RcptPath, false, d.SMTPUTF8)
		if !ok || p.Addr == "" {
			return reply(replyBadRcpt)
		}
		// Postfix runs the recipient checks on the address and echoes
		// the argument as given (RFC 5321 §3.5.3: 252, not verified).
		if r := d.Session.Vrfy(ctx, p.Addr); r != nil {
			return Step{Reply: r}
		}
		return reply(rep(252, 2, 0, 0, cmd.Arg))
	}
	// AUTH, STARTTLS: the real server (or the front) handles them.
	return Step{Forward: cmd.Verb + spaced(cmd.Arg)}
}

// qualify appends "@Hostname" to an unqualified address that the
// restrictions let through (bare <postmaster>, or any local part from a
// client they permit), as Postfix's cleanup appends $myorigin.
func (d *Driver) qualify(raw string) string {
	if raw == "" || strings.ContainsRune(raw, '@') && !strings.HasSuffix(raw, `"`) || d.Hostname == "" {
		return raw
	}
	return raw + "@" + d.Hostname
}

// isHeader is Postfix's is_header for a command verb: a header name
// (printable ASCII without ':' or blanks) followed by ':'.
func isHeader(verb string) bool {
	name, ok := strings.CutSuffix(verb, ":")
	if !ok || name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c <= ' ' || c > '~' || c == ':' {
			return false
		}
	}
	return true
}

func firstOr(f []string) string {
	if len(f) == 0 {
		return ""
	}
	return f[0]
}

func spaced(s string) string {
	if s == "" {
		return ""
	}
	return " " + s
}

// SoftBounce returns r as Postfix's soft_bounce = yes sends it: a 5xx
// code becomes 4xx, and so does a 5.x.x enhanced code.
func SoftBounce(r smtppolicy.Reply) smtppolicy.Reply {
	if r.Code/100 == 5 {
		r.Code -= 100
		if r.Enhanced[0] == 5 {
			r.Enhanced[0] = 4
		}
	}
	return r
}

// SoftBounceLine is SoftBounce for a reply line as sent ("550-5.1.1
// text"): Postfix changes the first digit of the code and, when it is 5,
// the first digit of the text.
func SoftBounceLine(line string) string {
	if len(line) < 3 || line[0] != '5' {
		return line
	}
	b := []byte(line)
	b[0] = '4'
	if len(b) > 4 && b[4] == '5' {
		b[4] = '4'
	}
	return string(b)
}

// EndOfData is the verb to give Done when the real server has answered the
// end of a DATA body (the "." line).
const EndOfData = "."

// Done tells the driver how the real server answered the last forwarded
// command: a refused RCPT is taken back from the session (Unaccept), a
// refused MAIL, the end of data and the last BDAT reset the transaction.
// verb is the command's verb, or EndOfData.
func (d *Driver) Done(_ context.Context, verb string, code int) {
	verb = strings.ToUpper(verb)
	ok := code/100 == 2
	if code >= 400 {
		d.errors++
	}
	switch verb {
	case "MAIL":
		if !ok {
			d.Session.Reset()
			d.utf8 = false
		}
	case "RCPT":
		if !ok {
			d.Session.Unaccept(d.lastRcpt)
		}
	case EndOfData:
		d.Session.Reset()
		d.utf8, d.inBDAT = false, false
	case "BDAT":
		if !ok || d.bdatLast {
			d.Session.Reset()
			d.utf8, d.inBDAT = false, false
		}
	case "EHLO", "HELO":
		if !ok {
			d.Session.State().Helo = ""
		}
	}
	d.last = ""
}

// Reset forgets the mail transaction, in the policy session and in the
// driver (RSET, and after STARTTLS).
func (d *Driver) Reset() {
	d.Session.Reset()
	d.utf8, d.inBDAT = false, false
}

// Pending returns the verb of the forwarded command whose reply Done has
// not been told yet, or "".
func (d *Driver) Pending() string { return d.last }

// SuccessText returns Postfix's reply to a successful command: MAIL
// "250 2.1.0 Ok", RCPT "250 2.1.5 Ok", DATA "354 End data with
// <CR><LF>.<CR><LF>", RSET and NOOP "250 2.0.0 Ok", QUIT "221 2.0.0 Bye",
// EndOfData "250 2.0.0 Ok: queued" (see QueuedText), BDAT "250 2.0.0 Ok".
// Unknown verbs give "".
func SuccessText(verb string) string {
	switch strings.ToUpper(verb) {
	case "MAIL":
		return "250 2.1.0 Ok"
	case "RCPT":
		return "250 2.1.5 Ok"
	case "DATA":
		return "354 End data with <CR><LF>.<CR><LF>"
	case "RSET", "NOOP", "BDAT":
		return "250 2.0.0 Ok"
	case "QUIT":
		return "221 2.0.0 Bye"
	case EndOfData:
		return QueuedText("")
	}
	return ""
}

// QueuedText returns Postfix's end-of-data reply, "250 2.0.0 Ok: queued as
// ID", or "250 2.0.0 Ok: queued" without an ID.
func QueuedText(id string) string {
	if id == "" {
		return "250 2.0.0 Ok: queued"
	}
	return "250 2.0.0 Ok: queued as " + id
}
