package deliver

import (
	"strings"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/mxkit/mxkit/queue"
	"github.com/mxkit/mxkit/relaymaps"
)

func TestReplyDSN(t *testing.T) {
	for _, tc := range []struct {
		code      int
		msg       string
		text, dsn string
		status    queue.Status
	}{
		{550, "5.1.1 <b@x>: Recipient address rejected", "550 5.1.1 <b@x>: Recipient address rejected", "5.1.1", queue.Bounced},
		{550, "2.1.1 wrong class", "550 2.1.1 wrong class", "5.0.0", queue.Bounced},
		{450, "no code here", "450 no code here", "4.0.0", queue.Deferred},
		{421, "4.3.2 first\n4.3.2 second\nthird", "421 4.3.2 first second third", "4.3.2", queue.Deferred},
		{554, "5.7.1000 detail too long", "554 5.7.1000 detail too long", "5.0.0", queue.Bounced},
		{250, "2.0.0 Ok: queued as X", "250 2.0.0 Ok: queued as X", "2.0.0", queue.Delivered},
		{354, "go ahead", "354 go ahead", "4.0.0", queue.Deferred},
	} {
		text := protoText(tc.code, tc.msg)
		r := replyResult(tc.code, text, Host{Name: "192.0.2.1", Network: "tcp", Addr: "192.0.2.1:25"})
		want := queue.Result{Status: tc.status, DSN: tc.dsn, Text: tc.text, Remote: "[192.0.2.1]"}
		if r != want {
			t.Errorf("%d %q:\n got %+v\nwant %+v", tc.code, tc.msg, r, want)
		}
	}
	// go-smtp's error form gives the same text.
	e := &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "first\nsecond"}
	if got := replyText(e); got != "550 5.1.1 first second" {
		t.Errorf("replyText = %q", got)
	}
}

func FuzzReply(f *testing.F) {
	f.Add(550, "5.1.1 <b@x>: Recipient address rejected")
	f.Add(421, "4.3.2 a\n4.3.2 b")
	f.Add(250, "")
	f.Fuzz(func(t *testing.T, code int, msg string) {
		text := protoText(code, msg)
		dsn := replyDSN(code, text)
		if !relaymaps.IsDSN(dsn) {
			t.Fatalf("replyDSN(%d, %q) = %q, not a DSN code", code, text, dsn)
		}
		class := dsn[0]
		r := replyResult(code, text, Host{Name: "h", Network: "tcp", Addr: "h:25"})
		if want := map[byte]queue.Status{'2': queue.Delivered, '4': queue.Deferred, '5': queue.Bounced}[class]; r.Status != want {
			t.Fatalf("code %d: status %v with DSN %s", code, r.Status, dsn)
		}
		if strings.Contains(text, "\n") {
			t.Fatalf("text %q has a newline", text)
		}
	})
}
