package tlsrpt

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-msgauth/dkim"
)

// MailSubmitter hands a report message to the mail system: the caller's
// queue (tlsrptqueue.Submitter puts it into a queue.Store) or a
// submission client. msg has CRLF line endings and is 7-bit.
type MailSubmitter interface {
	Submit(ctx context.Context, from string, to []string, msg []byte) error
}

// SubmitFunc is a MailSubmitter made of a function.
type SubmitFunc func(ctx context.Context, from string, to []string, msg []byte) error

// Submit implements MailSubmitter.
func (f SubmitFunc) Submit(ctx context.Context, from string, to []string, msg []byte) error {
	return f(ctx, from, to, msg)
}

// MessageOptions are the parts of a report message that do not come from
// the report.
type MessageOptions struct {
	ReportOptions
	// From is the author address; empty means "postmaster@" +
	// Submitter.
	From string
	// To is the recipient address (from the mailto: rua URI).
	To string
	// Date is the Date header; zero means now.
	Date time.Time
	// MessageID is the Message-ID without angle brackets; empty means a
	// random one at Submitter.
	MessageID string
	// DKIM, when not nil, signs the message (RFC 8460 §5.3 requires a
	// DKIM signature of the submitter's domain, without l=). Its
	// HeaderKeys default to From, To, Subject, Date, Message-ID,
	// MIME-Version, Content-Type, TLS-Report-Domain,
	// TLS-Report-Submitter, TLS-Required and Auto-Submitted; the
	// TLS-Report fields are added to a list that lacks them. Empty
	// canonicalizations mean relaxed/relaxed.
	DKIM *dkim.SignOptions
}

// dkimHeaders are the header fields signed by default: RFC 6376 §5.4.1's
// recommendations, the TLS-Report fields (signed by mox too) and
// TLS-Required.
var dkimHeaders = []string{
	"From", "To", "Subject", "Date", "Message-ID", "MIME-Version", "Content-Type",
	"TLS-Report-Domain", "TLS-Report-Submitter", "TLS-Required", "Auto-Submitted",
}

// BuildMessage returns the report message for mailto: delivery (RFC 8460
// §5.3): a multipart/report; report-type="tlsrpt" with a text/plain part
// and the gzipped report as an application/tlsrpt+gzip attachment in
// base64 named FileName, the header fields TLS-Report-Domain,
// TLS-Report-Submitter and "Subject: Report Domain: <d> Submitter: <s>
// Report-ID: <<id>>", and "TLS-Required: No" (RFC 8689 §5), so that the
// report is delivered even when the failures it reports are why TLS does
// not work. rep must be BuildReport's for k; gz is rep.Gzip().
func BuildMessage(k Key, rep *Report, gz []byte, o MessageOptions) ([]byte, error) {
	if o.Submitter == "" {
		return nil, fmt.Errorf("tlsrpt: message: no submitter")
	}
	if o.To == "" || !headerSafe(o.To) || !headerSafe(o.From) || !headerSafe(o.Submitter) {
		return nil, fmt.Errorf("tlsrpt: message: invalid address")
	}
	from := o.From
	if from == "" {
		from = "postmaster@" + o.Submitter
	}
	date := o.Date
	if date.IsZero() {
		date = time.Now()
	}
	msgID := o.MessageID
	if msgID == "" {
		msgID = randHex(16) + "@" + o.Submitter
	}
	boundary := "=_mxkit_tlsrpt_" + randHex(12)
	name := FileName(k, o.Submitter)

	var b bytes.Buffer
	hdr := func(name, value string) { b.WriteString(name + ": " + value + "\r\n") }
	hdr("From", "<"+from+">")
	hdr("To", "<"+o.To+">")
	hdr("Date", date.Format(time.RFC1123Z))
	// RFC 8460 §5.3: the subject names domain, submitter and report ID;
	// folded as in its example.
	b.WriteString("Subject: Report Domain: " + k.Domain + "\r\n Submitter: " + o.Submitter +
		"\r\n Report-ID: <" + rep.ReportID + ">\r\n")
	hdr("Message-ID", "<"+msgID+">")
	hdr("TLS-Report-Domain", k.Domain)
	hdr("TLS-Report-Submitter", o.Submitter)
	hdr("TLS-Required", "No")
	hdr("Auto-Submitted", "auto-generated")
	hdr("MIME-Version", "1.0")
	b.WriteString("Content-Type: multipart/report; report-type=\"tlsrpt\";\r\n\tboundary=\"" + boundary + "\"\r\n")
	b.WriteString("\r\nThis is an aggregate TLS report (RFC 8460) in MIME format.\r\n")

	b.WriteString("\r\n--" + boundary + "\r\n")
	hdr("Content-Type", "text/plain; charset=us-ascii")
	hdr("Content-Transfer-Encoding", "7bit")
	b.WriteString("\r\n")
	var succ, fail int64
	for _, p := range rep.Policies {
		succ += p.Summary.TotalSuccessfulSessionCount
		fail += p.Summary.TotalFailureSessionCount
	}
	b.WriteString("This is an aggregate TLS report (RFC 8460) from " + o.Submitter + " about the\r\n" +
		"SMTP TLS sessions to the mail servers of " + k.Domain + " on " + k.Day.Format(time.DateOnly) + " (UTC):\r\n" +
		strconv.FormatInt(succ, 10) + " successful, " + strconv.FormatInt(fail, 10) + " failed.\r\n\r\n" +
		"The report is attached as " + name + ".\r\n")

	b.WriteString("\r\n--" + boundary + "\r\n")
	hdr("Content-Type", "application/tlsrpt+gzip;\r\n\tname=\""+name+"\"")
	hdr("Content-Transfer-Encoding", "base64")
	hdr("Content-Disposition", "attachment;\r\n\tfilename=\""+name+"\"")
	b.WriteString("\r\n")
	enc := base64.StdEncoding.EncodeToString(gz)
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	if enc != "" {
		b.WriteString(enc + "\r\n")
	}
	b.WriteString("\r\n--" + boundary + "--\r\n")

	if o.DKIM == nil {
		return b.Bytes(), nil
	}
	opts := *o.DKIM
	// Relaxed canonicalization survives relays that refold or
	// re-space header fields; simple, go-msgauth's default, does not.
	if opts.HeaderCanonicalization == "" {
		opts.HeaderCanonicalization = dkim.CanonicalizationRelaxed
	}
	if opts.BodyCanonicalization == "" {
		opts.BodyCanonicalization = dkim.CanonicalizationRelaxed
	}
	if opts.HeaderKeys == nil {
		opts.HeaderKeys = dkimHeaders
	} else {
		keys := append([]string(nil), opts.HeaderKeys...)
		for _, h := range []string{"From", "TLS-Report-Domain", "TLS-Report-Submitter"} {
			if !containsFold(keys, h) {
				keys = append(keys, h)
			}
		}
		opts.HeaderKeys = keys
	}
	var signed bytes.Buffer
	if err := dkim.Sign(&signed, bytes.NewReader(b.Bytes()), &opts); err != nil {
		return nil, fmt.Errorf("tlsrpt: DKIM signing: %w", err)
	}
	return signed.Bytes(), nil
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// headerSafe reports whether s can go into a header field: printable
// ASCII without angle brackets.
func headerSafe(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || c == '<' || c == '>' {
			return false
		}
	}
	return true
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b)
}
