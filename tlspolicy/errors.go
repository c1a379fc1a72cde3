package tlspolicy

import (
	"errors"
	"fmt"
	"net/textproto"
	"strings"

	"github.com/mxkit/mxkit/internal/dsncode"
)

// Kind classifies an *Error.
type Kind int

// The kinds of Error.
const (
	// KindPolicy: the policy forbids using the host (a bad table value,
	// a TLSA lookup error, dane-only without DANE, an MX host outside an
	// MTA-STS enforce policy). No connection was made.
	KindPolicy Kind = iota + 1
	// KindReply: the server refused the greeting or EHLO; Err wraps the
	// *textproto.Error (or go-smtp's *smtp.SMTPError) with the reply.
	KindReply
	// KindIO: the connection broke or timed out; While names the phase
	// ("receiving the initial server greeting") and Err the cause.
	KindIO
	// KindNotOffered: TLS is required and STARTTLS was not advertised.
	KindNotOffered
	// KindRefused: TLS is required and the server refused STARTTLS; Err
	// wraps the reply.
	KindRefused
	// KindHandshake: the TLS handshake failed, or the server sent bytes
	// after its 220 to STARTTLS.
	KindHandshake
	// KindVerify: the handshake completed but the certificate does not
	// satisfy the level (trust, name, fingerprint or DANE).
	KindVerify
)

func (k Kind) String() string {
	switch k {
	case KindPolicy:
		return "policy"
	case KindReply:
		return "reply"
	case KindIO:
		return "io"
	case KindNotOffered:
		return "starttls not offered"
	case KindRefused:
		return "starttls refused"
	case KindHandshake:
		return "handshake"
	case KindVerify:
		return "verify"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Error is a failure to resolve a policy for a host or to reach it with
// its policy. DSN and Text are what Postfix puts in the delivery status
// ("4.7.5", "Server certificate not verified"); every Error means "skip
// this host, and defer when none is left" (TLS-policy failures are never
// permanent here; see the package documentation).
type Error struct {
	Kind Kind
	DSN  string // RFC 3463 code, "4.7.5"
	Text string // Postfix's text, without the DSN
	// Host is the host as Postfix names it, "mx.example.com[192.0.2.1]"
	// (or "mx.example.com" before connecting).
	Host string
	// While is the phase of a KindIO error, in Postfix's words.
	While string
	// Result and ReasonCode are the TLS-RPT result type and failure
	// reason code, when known (see ResultOf).
	Result     ResultType
	ReasonCode string
	// Report is the TLS-RPT result for a failed TLS negotiation (nil for
	// failures TLS-RPT does not count).
	Report *Result
	Err    error
}

func (e *Error) Error() string {
	s := e.DSN + " " + e.Text
	if e.Err != nil && e.Kind != KindReply && e.Kind != KindRefused {
		s += ": " + e.Err.Error()
	}
	return strings.TrimSpace(s)
}

func (e *Error) Unwrap() error { return e.Err }

// Temporary is always true: every TLS-policy failure defers.
func (e *Error) Temporary() bool { return true }

// configError is Postfix's fail-closed answer to a table error or a
// value that does not parse.
func configError(host string, err error) *Error {
	return &Error{Kind: KindPolicy, DSN: "4.7.5", Text: "client TLS configuration problem", Host: host, Err: err}
}

func policyError(host, text string, rt ResultType, reason string, err error) *Error {
	return &Error{Kind: KindPolicy, DSN: "4.7.5", Text: text, Host: host, Result: rt, ReasonCode: reason, Err: err}
}

// replyText formats a textproto error reply on one line, as Postfix
// quotes it: "454 4.7.0 TLS not available".
func replyText(pe *textproto.Error) string { return dsncode.OneLine(pe.Code, pe.Msg) }

// replyDSN returns the enhanced status code of a reply, or X.0.0 from
// its code.
func replyDSN(pe *textproto.Error) string {
	class := byte('4') // a refusal: never 2.x.x
	if pe.Code/100 == 5 {
		class = '5'
	}
	return dsncode.OfReply(class, pe.Msg)
}

var (
	errNameMismatch        = errors.New("server certificate matches no reference name")
	errFingerprintMismatch = errors.New("server certificate fingerprint matches no match= digest")
)
