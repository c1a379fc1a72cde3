package smtppolicy

import (
	"strconv"
	"strings"

	"github.com/mxkit/mxkit/internal/dsncode"
)

// EnhancedCode is an RFC 3463 enhanced status code: class.subject.detail.
type EnhancedCode [3]int

// String returns "5.7.1", or "" for the zero value.
func (e EnhancedCode) String() string {
	if e == (EnhancedCode{}) {
		return ""
	}
	return strconv.Itoa(e[0]) + "." + strconv.Itoa(e[1]) + "." + strconv.Itoa(e[2])
}

// ParseEnhancedCode parses "5.7.1". Class must be 2, 4 or 5; subject and
// detail 0..999 (RFC 3463 §2, Postfix dsn_valid).
func ParseEnhancedCode(s string) (EnhancedCode, bool) {
	c, ok := dsncode.Parse(s)
	return EnhancedCode(c), ok
}

// Reply is an SMTP reply: "Code Enhanced Text". Replies produced by this
// package are final: they have been through the reply formatter (valid code
// and DSN, first DSN digit equal to the code's, 510-byte cap, printable,
// soft_bounce applied).
type Reply struct {
	Code     int
	Enhanced EnhancedCode
	Text     string
}

// String returns the reply line without CRLF: "554 5.7.1 <u@x>: Relay access denied".
func (r Reply) String() string {
	var b strings.Builder
	b.Grow(8 + len(r.Text))
	b.WriteString(strconv.Itoa(r.Code))
	if e := r.Enhanced.String(); e != "" {
		b.WriteByte(' ')
		b.WriteString(e)
	}
	if r.Text != "" {
		b.WriteByte(' ')
		b.WriteString(r.Text)
	}
	return b.String()
}

// Temporary reports whether the reply is a 4xx.
func (r Reply) Temporary() bool { return r.Code/100 == 4 }

// Permanent reports whether the reply is a 5xx.
func (r Reply) Permanent() bool { return r.Code/100 == 5 }

// Class names what a rejection is about. Its text goes into replies as
// "<name>: <Class> rejected: <reason>" (Postfix smtpd_check.c).
type Class string

// The reply classes Postfix uses.
const (
	ClassClient           Class = "Client host"
	ClassUnverifiedClient Class = "Unverified Client host"
	ClassCert             Class = "Client certificate"
	ClassSASL             Class = "SASL login name"
	ClassHelo             Class = "Helo command"
	ClassSender           Class = "Sender address"
	ClassRecipient        Class = "Recipient address"
	ClassEtrn             Class = "Etrn command"
	ClassData             Class = "Data command"
	ClassEndOfData        Class = "End-of-data"
)

// maxReplyLen is Postfix's cap on a reply line, without CRLF (RFC 5321
// §4.5.3.1.5 allows 512 with CRLF).
const maxReplyLen = 510

// Rejection is a reply before formatting: what a check wants to say.
// NewReply and the checks build one; the engine finalises it.
type Rejection struct {
	Code int
	DSN  string // "5.7.1"
	Text string // everything after the DSN
}

// Rejectf builds the usual Postfix rejection text
// "<name>: <class> rejected: <reason>".
func Rejectf(code int, dsn string, name string, class Class, reason string) Rejection {
	return Rejection{Code: code, DSN: dsn, Text: "<" + name + ">: " + string(class) + " rejected: " + reason}
}

// format turns a rejection into a final reply, as Postfix's
// smtpd_check_reject does: an invalid code or DSN becomes
// "450 4.7.1 Service unavailable"; the line is capped at 510 bytes and
// non-printable bytes become spaces; soft_bounce turns 5xx into 4xx; the DSN
// class is forced to the reply code's class.
func (rj Rejection) format(softBounce bool) Reply {
	code := rj.Code
	e, ok := ParseEnhancedCode(rj.DSN)
	text := rj.Text
	if code < 400 || code > 599 || !ok {
		code, e, text = 450, EnhancedCode{4, 7, 1}, "Service unavailable"
	}
	// "NNN D.D.D " takes len(e)+5 bytes of the 510.
	prefix := 4 + len(e.String()) + 1
	if len(text)+prefix > maxReplyLen {
		text = text[:max(0, maxReplyLen-prefix)]
	}
	text = printable(text)
	if softBounce && code/100 == 5 {
		code -= 100
	}
	e[0] = code / 100
	return Reply{Code: code, Enhanced: e, Text: text}
}

// printable replaces bytes outside printable ASCII with spaces, as Postfix's
// printable(3) does with the replacement ' '. UTF-8 is kept (SMTPUTF8).
func printable(s string) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	b := []byte(s)
	for i, c := range b {
		if c < 0x20 || c == 0x7f {
			b[i] = ' '
		}
	}
	return string(b)
}

// FixDSN maps an address-specific DSN to the kind of thing rejected, as
// Postfix's smtpd_dsn_fix does for DSNs that come from configuration (access
// tables, policy servers, DNSBL reply templates): a recipient DSN used to
// reject a sender becomes the matching sender DSN and the reverse for
// recipients; any x.1.y used for a client, HELO or other non-address
// rejection becomes x.0.0. Non-address DSNs are returned unchanged. The
// tables were measured against Postfix 3.7 (x.1.1 for a sender is x.1.7).
func FixDSN(dsn string, class Class) string {
	if len(dsn) < 5 || dsn[0] < '0' || dsn[0] > '9' || dsn[1:4] != ".1." {
		return dsn
	}
	var m map[string]string
	switch class {
	case ClassSender:
		m = senderDSN
	case ClassRecipient:
		m = recipientDSN
	default:
		return dsn[:2] + "0.0"
	}
	to, ok := m[dsn[4:]]
	if !ok {
		to = "0"
	}
	return dsn[:4] + to
}

// The detail digits smtpd_dsn_fix gives x.1.<key> for senders and for
// recipients; anything else becomes x.1.0.
var (
	senderDSN    = map[string]string{"1": "7", "2": "8", "3": "7", "4": "7", "6": "7", "7": "7", "8": "8"}
	recipientDSN = map[string]string{"1": "1", "2": "2", "3": "3", "4": "4", "5": "5", "6": "6", "7": "3", "8": "2"}
)

// splitDSN splits "5.7.1 text" into its DSN and text, using def when the text
// does not start with a valid DSN (Postfix dsn_split).
func splitDSN(def, text string) (dsn, rest string) {
	if dsn, rest = dsncode.Split(text); dsn == "" {
		dsn = def
	}
	return dsn, rest
}

// ReplyError is an error carrying a final SMTP reply. The go-smtp adapter
// turns it into a bare *smtp.SMTPError.
type ReplyError struct{ Reply Reply }

func (e *ReplyError) Error() string { return e.Reply.String() }
