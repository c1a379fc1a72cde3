package deliver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"os"
	"strconv"
	"strings"

	"github.com/emersion/go-smtp"

	"github.com/mxkit/mxkit/internal/dsncode"
	"github.com/mxkit/mxkit/queue"
)

// replyText formats a go-smtp error reply as the server sent it:
// "550 5.1.1 <bob@example.test>: Recipient address rejected", the lines
// of a multi-line reply joined with a space.
func replyText(e *smtp.SMTPError) string {
	msg := strings.ReplaceAll(e.Message, "\n", " ")
	if e.EnhancedCode != (smtp.EnhancedCode{}) && e.EnhancedCode != smtp.NoEnhancedCode {
		ec := e.EnhancedCode
		return strings.TrimSpace(fmt.Sprintf("%d %d.%d.%d %s", e.Code, ec[0], ec[1], ec[2], msg))
	}
	return strings.TrimSpace(fmt.Sprintf("%d %s", e.Code, msg))
}

// protoText formats a reply read with net/textproto the same way:
// continuation lines lose a repeated enhanced status code.
func protoText(code int, msg string) string { return dsncode.OneLine(code, msg) }

// replyDSN returns the enhanced status code of a reply text
// ("550 5.1.1 ..."), or one derived from the reply code when the reply
// has none or one of another class.
func replyDSN(code int, text string) string {
	return dsncode.OfReply(dsncode.Class(code), strings.TrimPrefix(text, strconv.Itoa(code)))
}

// replyResult is the Result for a server reply.
func replyResult(code int, text string, h Host) queue.Result {
	r := queue.Result{DSN: replyDSN(code, text), Text: text, Remote: h.Remote()}
	switch code / 100 {
	case 2:
		r.Status = queue.Delivered
	case 5:
		r.Status = queue.Bounced
	default:
		r.Status = queue.Deferred
	}
	return r
}

// smtpErrResult is the Result for an *smtp.SMTPError.
func smtpErrResult(e *smtp.SMTPError, h Host) queue.Result {
	return replyResult(e.Code, replyText(e), h)
}

// asReply reports whether err is a server reply (from go-smtp or from our
// own textproto reads) and returns its Result.
func asReply(err error, h Host) (queue.Result, bool) {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return smtpErrResult(se, h), true
	}
	var pe *textproto.Error
	if errors.As(err, &pe) {
		return replyResult(pe.Code, protoText(pe.Code, pe.Msg), h), true
	}
	return queue.Result{}, false
}

// ioResult is the Deferred result for a failed conversation: "lost
// connection with [host]:25 while sending RCPT TO" or "conversation with
// [host]:25 timed out while ...", DSN 4.4.2 (RFC 3463: bad connection).
func ioResult(ctx context.Context, err error, h Host, while string) queue.Result {
	var ne net.Error
	switch {
	case ctx.Err() != nil:
		return queue.Deferf("4.4.2", "delivery to %s interrupted while %s: %v", h, while, context.Cause(ctx))
	case errors.As(err, &ne) && ne.Timeout():
		return queue.Deferf("4.4.2", "conversation with %s timed out while %s", h, while)
	case errors.Is(err, errTLSFailed):
		return queue.Deferf("4.4.2", "%v", err)
	}
	return queue.Deferf("4.4.2", "lost connection with %s while %s", h, while)
}

// dialResult is the result for a failed connect: "connect to
// [127.0.0.1]:25: Connection refused" (the error in strerror(3)'s words,
// as Postfix logs it), DSN 4.4.1 (no answer from host).
// A host name that does not exist bounces with 5.4.4, as in Postfix; a
// failed name lookup defers with 4.4.3.
func dialResult(ctx context.Context, err error, h Host) queue.Result {
	if ctx.Err() != nil {
		return queue.Deferf("4.4.1", "connect to %s: %v", h, context.Cause(ctx))
	}
	var de *net.DNSError
	if errors.As(err, &de) {
		if de.IsNotFound && !de.IsTemporary {
			return queue.Result{Status: queue.Bounced, DSN: "5.4.4",
				Text: fmt.Sprintf("Host or domain name not found. Name service error for name=%s type=A: Host not found", h.Name)}
		}
		return queue.Deferf("4.4.3", "Host or domain name not found. Name service error for name=%s type=A: Host not found, try again", h.Name)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return queue.Deferf("4.4.1", "connect to %s: Connection timed out", h)
	}
	var se *os.SyscallError
	if errors.As(err, &se) {
		return queue.Deferf("4.4.1", "connect to %s: %s", h, strerror(se.Err))
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return queue.Deferf("4.4.1", "connect to %s: %s", h, strerror(oe.Err))
	}
	return queue.Deferf("4.4.1", "connect to %s: %v", h, err)
}

// strerror is a system error as strerror(3) words it: Go's "connection
// refused" is C's "Connection refused".
func strerror(err error) string {
	s := err.Error()
	if s != "" && s[0] >= 'a' && s[0] <= 'z' {
		s = string(s[0]-'a'+'A') + s[1:]
	}
	return s
}
