package queue_test

import (
	"errors"
	"fmt"
	"log"
	"regexp"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/mxkit/mxkit/queue"
)

var (
	dsnArrival = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	dsnNow     = dsnArrival.Add(6 * time.Hour)
)

const dsnBody = "Received: from client.example.org by mx.example.net; Sun, 01 Mar 2026 10:00:00 +0000\r\n" +
	"From: Alice <alice@example.org>\r\n" +
	"To: bob@example.com\r\n" +
	"Subject: lunch\r\n" +
	"\ttomorrow\r\n" +
	"Message-ID: <m1@example.org>\r\n" +
	"\r\n" +
	"See you at noon.\r\n" +
	"X-Not-A-Header: body text\r\n"

const dsnHeaders = "Received: from client.example.org by mx.example.net; Sun, 01 Mar 2026 10:00:00 +0000\r\n" +
	"From: Alice <alice@example.org>\r\n" +
	"To: bob@example.com\r\n" +
	"Subject: lunch\r\n" +
	"\ttomorrow\r\n" +
	"Message-ID: <m1@example.org>\r\n"

func dsnMessage() *queue.Message {
	return &queue.Message{
		ID:      "0195abc",
		Sender:  "alice@example.org",
		Arrival: dsnArrival,
		Client:  queue.Client{Helo: "client.example.org", Name: "client.example.org", Addr: "192.0.2.10", Protocol: "ESMTP"},
		Recipients: []queue.Recipient{
			{
				Addr: "bob@example.com", ORCPT: "rfc822;Bob@Example.COM", Status: queue.Bounced,
				Reply:   "550 5.1.1 <bob@example.com>: Recipient address rejected: User unknown in virtual mailbox table",
				DSNCode: "5.1.1", Remote: "mx.example.com", FromRemote: true, LastAttempt: dsnNow,
			},
			{
				Addr: "carol@example.net", Status: queue.Bounced,
				Reply: "mail for example.net loops back to myself", DSNCode: "5.4.6", LastAttempt: dsnNow,
			},
			{
				Addr: "dave@example.com", Status: queue.Deferred,
				Reply:   "connect to mx.example.com[192.0.2.1]:25: Connection refused",
				DSNCode: "4.4.1", LastAttempt: dsnNow,
			},
			{Addr: "erin@example.com", Status: queue.Delivered, Reply: "250 2.0.0 Ok: queued as 4Xy", Remote: "mx.example.com", FromRemote: true},
		},
	}
}

func dsnOpts() queue.DSNOptions {
	return queue.DSNOptions{ReportingMTA: "mx.example.net", Now: func() time.Time { return dsnNow }}
}

func TestNewDSNFailure(t *testing.T) {
	m := dsnMessage()
	dm, content, err := queue.NewDSN(dsnOpts(), queue.DSNFailure, m, []int{0, 1}, strings.NewReader(dsnBody))
	if err != nil {
		t.Fatal(err)
	}
	if dm.Sender != "" || dm.ID != "" || !dm.Arrival.Equal(dsnNow) || dm.SMTPUTF8 || dm.EightBitMIME ||
		len(dm.Recipients) != 1 || dm.Recipients[0] != (queue.Recipient{Addr: "alice@example.org", Notify: queue.NotifyNever}) {
		t.Errorf("envelope %+v", dm)
	}
	rep, err := queue.DSNTestParse(content)
	if err != nil {
		t.Fatalf("%v\n%s", err, content)
	}
	h := rep.Header
	for name, want := range map[string]string{
		"From":                      "Mail Delivery System <MAILER-DAEMON@mx.example.net>",
		"To":                        "<alice@example.org>",
		"Subject":                   "Undelivered Mail Returned to Sender",
		"Date":                      "Sun, 01 Mar 2026 16:00:00 +0000",
		"In-Reply-To":               "<m1@example.org>",
		"References":                "<m1@example.org>",
		"Auto-Submitted":            "auto-replied",
		"MIME-Version":              "1.0",
		"Content-Transfer-Encoding": "",
	} {
		if got := h.Get(name); got != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
	if id := h.Get("Message-ID"); !regexp.MustCompile(`^<[0-9a-f]{32}@mx\.example\.net>$`).MatchString(id) {
		t.Errorf("Message-ID %q", id)
	}
	if !regexp.MustCompile(`^multipart/report; report-type=delivery-status;\s+boundary="=_mxkit_[0-9a-f]{24}"$`).MatchString(h.Get("Content-Type")) {
		t.Errorf("Content-Type %q", h.Get("Content-Type"))
	}

	text := rep.Parts[0]
	if got := text.Header.Get("Content-Type"); got != "text/plain; charset=us-ascii" {
		t.Errorf("text part Content-Type %q", got)
	}
	wantText := "This report comes from the mail system at mx.example.net.\r\n" +
		"\r\n" +
		"Your message could not be delivered to the recipients listed below. The\r\n" +
		"reasons follow; the attached delivery report has the details, and the message\r\n" +
		"itself is attached as well.\r\n" +
		"\r\n" +
		"<bob@example.com>: host mx.example.com said: 550 5.1.1 <bob@example.com>:\r\n" +
		"    Recipient address rejected: User unknown in virtual mailbox table\r\n" +
		"\r\n" +
		"<carol@example.net>: mail for example.net loops back to myself\r\n"
	if string(text.Body) != wantText {
		t.Errorf("text part:\n%s\nwant:\n%s", text.Body, wantText)
	}

	status := rep.Parts[1]
	if got := status.Header.Get("Content-Type"); got != "message/delivery-status" {
		t.Errorf("status part Content-Type %q", got)
	}
	wantStatus := "Reporting-MTA: dns; mx.example.net\r\n" +
		"X-Mxkit-Queue-ID: 0195abc\r\n" +
		"X-Mxkit-Sender: rfc822; alice@example.org\r\n" +
		"Received-From-MTA: dns; client.example.org\r\n" +
		"Arrival-Date: Sun, 01 Mar 2026 10:00:00 +0000\r\n" +
		"\r\n" +
		"Original-Recipient: rfc822; Bob@Example.COM\r\n" +
		"Final-Recipient: rfc822; bob@example.com\r\n" +
		"Action: failed\r\n" +
		"Status: 5.1.1\r\n" +
		"Remote-MTA: dns; mx.example.com\r\n" +
		"Diagnostic-Code: smtp; 550 5.1.1 <bob@example.com>: Recipient address\r\n" +
		"    rejected: User unknown in virtual mailbox table\r\n" +
		"Last-Attempt-Date: Sun, 01 Mar 2026 16:00:00 +0000\r\n" +
		"\r\n" +
		"Final-Recipient: rfc822; carol@example.net\r\n" +
		"Action: failed\r\n" +
		"Status: 5.4.6\r\n" +
		"Diagnostic-Code: X-mxkit; mail for example.net loops back to myself\r\n" +
		"Last-Attempt-Date: Sun, 01 Mar 2026 16:00:00 +0000\r\n"
	if string(status.Body) != wantStatus {
		t.Errorf("status part:\n%s\nwant:\n%s", status.Body, wantStatus)
	}
	if got := rep.PerRcpt[0].Get("Diagnostic-Code"); got != "smtp; 550 5.1.1 <bob@example.com>: Recipient address rejected: User unknown in virtual mailbox table" {
		t.Errorf("unfolded Diagnostic-Code %q", got)
	}

	orig := rep.Parts[2]
	if got := orig.Header.Get("Content-Type"); got != "message/rfc822" {
		t.Errorf("original Content-Type %q", got)
	}
	if got := orig.Header.Get("Content-Description"); got != "Undelivered Message" {
		t.Errorf("original Content-Description %q", got)
	}
	if string(orig.Body) != dsnBody {
		t.Errorf("returned message %q", orig.Body)
	}
}

// TestNewDSNCases checks the fields that vary with the kind, RET, size,
// ORCPT, ENVID and the source of the reason.
func TestNewDSNCases(t *testing.T) {
	big := dsnBody + strings.Repeat("0123456789abcdef\r\n", 3000) // > 50000 bytes
	for _, tc := range []struct {
		name   string
		kind   queue.DSNKind
		change func(m *queue.Message, o *queue.DSNOptions)
		body   string
		rcpt   int

		ctype, desc, returned string
		fields                map[string]string // per-recipient; "" = absent
		perMessage            map[string]string
		text                  []string // substrings of the text part
	}{
		{
			name: "failure RET default returns all", kind: queue.DSNFailure, rcpt: 1,
			ctype: "message/rfc822", desc: "Undelivered Message", returned: dsnBody,
		},
		{
			name: "failure RET=FULL", kind: queue.DSNFailure, rcpt: 1,
			change: func(m *queue.Message, _ *queue.DSNOptions) { m.Ret = queue.RetFull },
			ctype:  "message/rfc822", desc: "Undelivered Message", returned: dsnBody,
		},
		{
			name: "failure RET=HDRS", kind: queue.DSNFailure, rcpt: 1,
			change: func(m *queue.Message, _ *queue.DSNOptions) { m.Ret = queue.RetHeaders },
			ctype:  "text/rfc822-headers", desc: "Undelivered Message Headers", returned: dsnHeaders,
		},
		{
			name: "failure RET=FULL over bounce_size_limit", kind: queue.DSNFailure, rcpt: 1, body: big,
			change: func(m *queue.Message, _ *queue.DSNOptions) { m.Ret = queue.RetFull },
			ctype:  "text/rfc822-headers", desc: "Undelivered Message Headers", returned: dsnHeaders,
		},
		{
			name: "big message under a raised limit", kind: queue.DSNFailure, rcpt: 1, body: big,
			change: func(_ *queue.Message, o *queue.DSNOptions) { o.MaxReturned = -1 },
			ctype:  "message/rfc822", desc: "Undelivered Message", returned: big,
		},
		{
			name: "exactly at the limit", kind: queue.DSNFailure, rcpt: 1,
			change: func(_ *queue.Message, o *queue.DSNOptions) { o.MaxReturned = int64(len(dsnBody)) },
			ctype:  "message/rfc822", desc: "Undelivered Message", returned: dsnBody,
		},
		{
			name: "one byte over the limit", kind: queue.DSNFailure, rcpt: 1,
			change: func(_ *queue.Message, o *queue.DSNOptions) { o.MaxReturned = int64(len(dsnBody)) - 1 },
			ctype:  "text/rfc822-headers", desc: "Undelivered Message Headers", returned: dsnHeaders,
		},
		{
			name: "LF line endings become CRLF", kind: queue.DSNFailure, rcpt: 1,
			body:  strings.ReplaceAll(dsnBody, "\r\n", "\n"),
			ctype: "message/rfc822", desc: "Undelivered Message", returned: dsnBody,
		},
		{
			name: "body without empty line", kind: queue.DSNFailure, rcpt: 1,
			change: func(m *queue.Message, _ *queue.DSNOptions) { m.Ret = queue.RetHeaders },
			body:   "Subject: a\r\nFrom: b@example.org\r\nno header here\r\nTo: c\r\n",
			ctype:  "text/rfc822-headers", desc: "Undelivered Message Headers", returned: "Subject: a\r\nFrom: b@example.org\r\n",
		},
		{
			name: "empty body", kind: queue.DSNFailure, rcpt: 1, body: "-",
			ctype: "text/rfc822-headers", desc: "Undelivered Message Headers", returned: "",
		},
		{
			name: "remote reason", kind: queue.DSNFailure, rcpt: 0,
			change: func(m *queue.Message, _ *queue.DSNOptions) { m.Recipients[0].ORCPT = "rfc822;team@example.com" },
			ctype:  "message/rfc822", desc: "Undelivered Message", returned: dsnBody,
			fields: map[string]string{
				"Original-Recipient": "rfc822; team@example.com",
				"Final-Recipient":    "rfc822; bob@example.com",
				"Remote-MTA":         "dns; mx.example.com",
				"Status":             "5.1.1",
				"Will-Retry-Until":   "",
			},
			text: []string{"\r\n<bob@example.com> (originally <team@example.com>): host mx.example.com said:\r\n    550 5.1.1 <bob@example.com>:"},
		},
		{
			name: "local reason, no ORCPT", kind: queue.DSNFailure, rcpt: 1,
			ctype: "message/rfc822", desc: "Undelivered Message", returned: dsnBody,
			fields: map[string]string{
				"Original-Recipient": "",
				"Remote-MTA":         "",
				"Diagnostic-Code":    "X-mxkit; mail for example.net loops back to myself",
			},
			text: []string{"\r\n<carol@example.net>: mail for example.net loops back to myself\r\n"},
		},
		{
			name: "ORCPT without type", kind: queue.DSNFailure, rcpt: 1,
			change: func(m *queue.Message, _ *queue.DSNOptions) { m.Recipients[1].ORCPT = "list@example.net" },
			ctype:  "message/rfc822", desc: "Undelivered Message", returned: dsnBody,
			fields: map[string]string{"Original-Recipient": "rfc822; list@example.net"},
		},
		{
			name: "ENVID is xtext-encoded", kind: queue.DSNFailure, rcpt: 1,
			change: func(m *queue.Message, _ *queue.DSNOptions) { m.EnvID = "QQ=1+2 x" },
			ctype:  "message/rfc822", desc: "Undelivered Message", returned: dsnBody,
			perMessage: map[string]string{"Original-Envelope-Id": "QQ+3D1+2B2+20x"},
		},
		{
			name: "no ENVID", kind: queue.DSNFailure, rcpt: 1,
			ctype: "message/rfc822", desc: "Undelivered Message", returned: dsnBody,
			perMessage: map[string]string{"Original-Envelope-Id": "", "Reporting-MTA": "dns; mx.example.net", "Arrival-Date": "Sun, 01 Mar 2026 10:00:00 +0000"},
		},
		{
			name: "expired deferral keeps its 4.x.y code", kind: queue.DSNFailure, rcpt: 2,
			ctype: "message/rfc822", desc: "Undelivered Message", returned: dsnBody,
			fields: map[string]string{"Action": "failed", "Status": "4.4.1"},
		},
		{
			name: "failure without code", kind: queue.DSNFailure, rcpt: 1,
			change: func(m *queue.Message, _ *queue.DSNOptions) { m.Recipients[1].DSNCode = "" },
			ctype:  "message/rfc822", desc: "Undelivered Message", returned: dsnBody,
			fields: map[string]string{"Status": "5.0.0"},
		},
		{
			name: "delay with Will-Retry-Until, headers only", kind: queue.DSNDelay, rcpt: 2,
			change: func(m *queue.Message, _ *queue.DSNOptions) { m.Ret = queue.RetFull },
			ctype:  "text/rfc822-headers", desc: "Undelivered Message Headers", returned: dsnHeaders,
			fields: map[string]string{
				"Action":            "delayed",
				"Status":            "4.4.1",
				"Diagnostic-Code":   "X-mxkit; connect to mx.example.com[192.0.2.1]:25: Connection refused",
				"Last-Attempt-Date": "Sun, 01 Mar 2026 16:00:00 +0000",
				"Will-Retry-Until":  "Fri, 06 Mar 2026 10:00:00 +0000",
			},
			text: []string{"keep trying until Fri, 06 Mar 2026 10:00:00 +0000.", "only a warning"},
		},
		{
			name: "delay with maximal_queue_lifetime 2d", kind: queue.DSNDelay, rcpt: 2,
			change: func(_ *queue.Message, o *queue.DSNOptions) { o.Lifetime = 48 * time.Hour },
			ctype:  "text/rfc822-headers", desc: "Undelivered Message Headers", returned: dsnHeaders,
			fields: map[string]string{"Will-Retry-Until": "Tue, 03 Mar 2026 10:00:00 +0000"},
			text:   []string{"keep trying until Tue, 03 Mar 2026 10:00:00 +0000."},
		},
		{
			name: "delay without lifetime", kind: queue.DSNDelay, rcpt: 2,
			change: func(_ *queue.Message, o *queue.DSNOptions) { o.Lifetime = -1 },
			ctype:  "text/rfc822-headers", desc: "Undelivered Message Headers", returned: dsnHeaders,
			fields: map[string]string{"Will-Retry-Until": ""},
		},
		{
			name: "delay with a permanent code gets 4.0.0", kind: queue.DSNDelay, rcpt: 1,
			ctype: "text/rfc822-headers", desc: "Undelivered Message Headers", returned: dsnHeaders,
			fields: map[string]string{"Status": "4.0.0"},
		},
		{
			name: "success", kind: queue.DSNSuccess, rcpt: 3,
			change: func(m *queue.Message, _ *queue.DSNOptions) { m.Ret = queue.RetFull },
			ctype:  "text/rfc822-headers", desc: "Message Headers", returned: dsnHeaders,
			fields: map[string]string{
				"Action":          "delivered",
				"Status":          "2.0.0",
				"Remote-MTA":      "dns; mx.example.com",
				"Diagnostic-Code": "smtp; 250 2.0.0 Ok: queued as 4Xy",
			},
			text: []string{"Your message was delivered"},
		},
		{
			name: "relayed", kind: queue.DSNRelayed, rcpt: 3,
			change: func(m *queue.Message, _ *queue.DSNOptions) { m.Recipients[3].DSNCode = "2.6.0" },
			ctype:  "text/rfc822-headers", desc: "Message Headers", returned: dsnHeaders,
			fields: map[string]string{"Action": "relayed", "Status": "2.6.0"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := dsnMessage()
			o := dsnOpts()
			if tc.change != nil {
				tc.change(m, &o)
			}
			body := tc.body
			switch body {
			case "":
				body = dsnBody
			case "-":
				body = ""
			}
			_, content, err := queue.NewDSN(o, tc.kind, m, []int{tc.rcpt}, strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			rep, err := queue.DSNTestParse(content)
			if err != nil {
				t.Fatalf("%v\n%s", err, content)
			}
			orig := rep.Parts[2]
			if got := orig.Header.Get("Content-Type"); got != tc.ctype {
				t.Errorf("original Content-Type %q, want %q", got, tc.ctype)
			}
			if got := orig.Header.Get("Content-Description"); got != tc.desc {
				t.Errorf("original Content-Description %q, want %q", got, tc.desc)
			}
			if string(orig.Body) != tc.returned {
				t.Errorf("returned %d bytes %.200q, want %d bytes %.200q", len(orig.Body), orig.Body, len(tc.returned), tc.returned)
			}
			if len(rep.PerRcpt) != 1 {
				t.Fatalf("%d per-recipient blocks", len(rep.PerRcpt))
			}
			for name, want := range tc.fields {
				if got := rep.PerRcpt[0].Get(name); got != want {
					t.Errorf("%s: %q, want %q", name, got, want)
				}
				if want == "" && rep.PerRcpt[0][name] != nil {
					t.Errorf("%s present: %q", name, rep.PerRcpt[0][name])
				}
			}
			for name, want := range tc.perMessage {
				if got := rep.PerMessage.Get(name); got != want {
					t.Errorf("%s: %q, want %q", name, got, want)
				}
			}
			for _, s := range tc.text {
				if !strings.Contains(string(rep.Parts[0].Body), s) {
					t.Errorf("text part lacks %q:\n%s", s, rep.Parts[0].Body)
				}
			}
			if got, want := rep.Header.Get("Subject"), map[queue.DSNKind]string{
				queue.DSNFailure: "Undelivered Mail Returned to Sender",
				queue.DSNDelay:   "Delayed Mail (still being retried)",
				queue.DSNSuccess: "Successful Mail Delivery Report",
				queue.DSNRelayed: "Successful Mail Delivery Report",
			}[tc.kind]; got != want {
				t.Errorf("Subject %q, want %q", got, want)
			}
		})
	}
}

func TestNewDSNSMTPUTF8(t *testing.T) {
	m := dsnMessage()
	m.SMTPUTF8 = true
	m.Sender = "álice@exämple.org"
	m.Recipients[1].Addr = "карол@example.net"
	m.Recipients[1].ORCPT = "utf-8;карол@example.net"
	body := "Subject: обед\r\n\r\nпривет\r\n"
	dm, content, err := queue.NewDSN(dsnOpts(), queue.DSNFailure, m, []int{1}, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if !dm.SMTPUTF8 || !dm.EightBitMIME || dm.Recipients[0].Addr != m.Sender {
		t.Errorf("envelope %+v", dm)
	}
	rep, err := queue.DSNTestParse(content)
	if err != nil {
		t.Fatalf("%v\n%s", err, content)
	}
	for _, c := range []struct{ got, want string }{
		{rep.Header.Get("To"), "<álice@exämple.org>"},
		{rep.Header.Get("Content-Transfer-Encoding"), "8bit"},
		{rep.Parts[0].Header.Get("Content-Type"), "text/plain; charset=utf-8"},
		{rep.Parts[1].Header.Get("Content-Type"), "message/global-delivery-status"},
		{rep.Parts[2].Header.Get("Content-Type"), "message/global"},
		{rep.PerMessage.Get("X-Mxkit-Sender"), "utf-8; álice@exämple.org"},
		{rep.PerRcpt[0].Get("Final-Recipient"), "utf-8; карол@example.net"},
		{rep.PerRcpt[0].Get("Original-Recipient"), "utf-8; карол@example.net"},
		{string(rep.Parts[2].Body), body},
	} {
		if c.got != c.want {
			t.Errorf("%q, want %q", c.got, c.want)
		}
	}

	m.Ret = queue.RetHeaders
	_, content, err = queue.NewDSN(dsnOpts(), queue.DSNFailure, m, []int{1}, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	rep, err = queue.DSNTestParse(content)
	if err != nil {
		t.Fatal(err)
	}
	if got := rep.Parts[2].Header.Get("Content-Type"); got != "message/global-headers" {
		t.Errorf("headers part %q", got)
	}
}

// TestNewDSN8bit: an 8-bit message without SMTPUTF8 gives an 8BITMIME
// notification whose non-ASCII envelope data is masked.
func TestNewDSN8bit(t *testing.T) {
	m := dsnMessage()
	m.Recipients[1].Reply = "caf\xc3\xa9 \xff closed"
	body := "Subject: caf\xc3\xa9\r\n\r\n\xe9t\xe9\r\n"
	dm, content, err := queue.NewDSN(dsnOpts(), queue.DSNFailure, m, []int{1}, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if dm.SMTPUTF8 || !dm.EightBitMIME {
		t.Errorf("envelope %+v", dm)
	}
	rep, err := queue.DSNTestParse(content)
	if err != nil {
		t.Fatal(err)
	}
	if got := rep.PerRcpt[0].Get("Diagnostic-Code"); got != "X-mxkit; caf? ? closed" {
		t.Errorf("Diagnostic-Code %q", got)
	}
	if got := rep.Parts[2].Header.Get("Content-Transfer-Encoding"); got != "8bit" {
		t.Errorf("original part Content-Transfer-Encoding %q", got)
	}
	if rep.Parts[1].Header.Get("Content-Transfer-Encoding") != "" || rep.Header.Get("Content-Transfer-Encoding") != "8bit" {
		t.Errorf("encodings: status %q, message %q", rep.Parts[1].Header.Get("Content-Transfer-Encoding"), rep.Header.Get("Content-Transfer-Encoding"))
	}
}

// TestNewDSNInjection: CR and LF in envelope data cannot add fields.
func TestNewDSNInjection(t *testing.T) {
	m := dsnMessage()
	m.Recipients[1].Reply = "bad\r\nAction: delivered\r\n\r\nFinal-Recipient: rfc822; x@y"
	m.Recipients[1].ORCPT = "rfc822;a\r\nStatus: 2.0.0"
	m.Recipients[1].Remote = "h\nX: y"
	m.Sender = "alice@example.org\r\nBcc: victim@example.net"
	_, content, err := queue.NewDSN(dsnOpts(), queue.DSNFailure, m, []int{1}, strings.NewReader(dsnBody))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := queue.DSNTestParse(content)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.PerRcpt) != 1 || len(rep.PerRcpt[0]["Action"]) != 1 || len(rep.PerRcpt[0]["Status"]) != 1 || rep.Header.Get("Bcc") != "" {
		t.Errorf("injected fields:\n%s", content)
	}
	for _, c := range []struct{ got, want string }{
		{rep.PerRcpt[0].Get("Diagnostic-Code"), "X-mxkit; bad Action: delivered Final-Recipient: rfc822; x@y"},
		{rep.PerRcpt[0].Get("Original-Recipient"), "rfc822; a Status: 2.0.0"},
		{rep.PerRcpt[0].Get("Remote-MTA"), "dns; h X: y"},
		{rep.Header.Get("To"), "<alice@example.org Bcc: victim@example.net>"},
	} {
		if c.got != c.want {
			t.Errorf("%q, want %q", c.got, c.want)
		}
	}
}

// TestNewDSNBoundary: content that contains the boundary prefix, and
// lines that look like MIME delimiters, are returned intact.
func TestNewDSNBoundary(t *testing.T) {
	body := "Subject: x\r\n\r\n--=_mxkit_\r\n--=_mxkit_000000000000000000000000--\r\n"
	for range 20 {
		_, content, err := queue.NewDSN(dsnOpts(), queue.DSNFailure, dsnMessage(), []int{0, 1, 2}, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		rep, err := queue.DSNTestParse(content)
		if err != nil {
			t.Fatal(err)
		}
		if string(rep.Parts[2].Body) != body || len(rep.PerRcpt) != 3 {
			t.Fatalf("returned %q, %d recipients", rep.Parts[2].Body, len(rep.PerRcpt))
		}
	}
}

func TestNewDSNErrors(t *testing.T) {
	m := dsnMessage()
	m.Sender = ""
	if _, _, err := queue.NewDSN(dsnOpts(), queue.DSNFailure, m, []int{0}, strings.NewReader(dsnBody)); !errors.Is(err, queue.ErrDSNNullSender) {
		t.Errorf("null sender: %v", err)
	}
	m = dsnMessage()
	if dm, content, err := queue.NewDSN(dsnOpts(), queue.DSNFailure, m, nil, strings.NewReader(dsnBody)); !errors.Is(err, queue.ErrDSNNoRecipients) || dm != nil || content != nil {
		t.Errorf("no recipients: %v", err)
	}
	if _, _, err := queue.NewDSN(dsnOpts(), queue.DSNFailure, m, []int{4}, strings.NewReader(dsnBody)); err == nil || err.Error() != "queue: notification for recipient 4 of a message with 4" {
		t.Errorf("bad index: %v", err)
	}
	if _, _, err := queue.NewDSN(dsnOpts(), queue.DSNKind(9), m, []int{0}, strings.NewReader(dsnBody)); err == nil || err.Error() != "queue: invalid notification kind 9" {
		t.Errorf("bad kind: %v", err)
	}
	boom := errors.New("disk on fire")
	_, _, err := queue.NewDSN(dsnOpts(), queue.DSNFailure, m, []int{0}, iotest.ErrReader(boom))
	if !errors.Is(err, boom) || err.Error() != "queue: notification for 0195abc: reading the message: disk on fire" {
		t.Errorf("read error: %v", err)
	}
}

func TestNewDSNDefaults(t *testing.T) {
	_, content, err := queue.NewDSN(queue.DSNOptions{From: "postmaster@example.net"}, queue.DSNFailure, dsnMessage(), []int{0}, strings.NewReader(dsnBody))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := queue.DSNTestParse(content)
	if err != nil {
		t.Fatal(err)
	}
	if got := rep.Header.Get("From"); got != "Mail Delivery System <postmaster@example.net>" {
		t.Errorf("From %q", got)
	}
	if d, err := rep.Header.Date(); err != nil || time.Since(d) > time.Hour || time.Since(d) < -time.Hour {
		t.Errorf("Date %v %v", d, err)
	}
	if got := rep.PerMessage.Get("Reporting-MTA"); !strings.HasPrefix(got, "dns; ") || len(got) <= len("dns; ") {
		t.Errorf("Reporting-MTA %q", got)
	}
}

func TestDSNKindString(t *testing.T) {
	for k, want := range map[queue.DSNKind]string{
		queue.DSNFailure: "failure", queue.DSNDelay: "delay", queue.DSNSuccess: "success",
		queue.DSNRelayed: "relayed", queue.DSNKind(7): "DSNKind(7)",
	} {
		if got := k.String(); got != want {
			t.Errorf("%d: %q, want %q", int(k), got, want)
		}
	}
}

func BenchmarkNewDSN(b *testing.B) {
	body := dsnBody + strings.Repeat("0123456789abcdef\r\n", 2000)
	m := dsnMessage()
	for b.Loop() {
		if _, _, err := queue.NewDSN(dsnOpts(), queue.DSNFailure, m, []int{0, 1}, strings.NewReader(body)); err != nil {
			b.Fatal(err)
		}
	}
}

// ExampleNewDSN builds the notification for a recipient that the next hop
// rejected and prints its machine-readable part.
func ExampleNewDSN() {
	arrival := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	m := &queue.Message{
		ID:      "0195abc",
		Sender:  "alice@example.org",
		EnvID:   "QQ314159",
		Arrival: arrival,
		Recipients: []queue.Recipient{{
			Addr:        "bob@example.com",
			ORCPT:       "rfc822;bob@example.com",
			Status:      queue.Bounced,
			Reply:       "550 5.1.1 <bob@example.com>: Recipient address rejected: User unknown",
			DSNCode:     "5.1.1",
			Remote:      "mx.example.com",
			FromRemote:  true,
			LastAttempt: arrival.Add(time.Minute),
		}},
	}
	opts := queue.DSNOptions{
		ReportingMTA: "mx.example.net",
		Now:          func() time.Time { return arrival.Add(time.Minute) },
	}
	body := strings.NewReader("From: alice@example.org\r\nSubject: hi\r\n\r\nHello Bob\r\n")
	dsn, content, err := queue.NewDSN(opts, queue.DSNFailure, m, []int{0}, body)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("MAIL FROM:<%s> RCPT TO:<%s>\n", dsn.Sender, dsn.Recipients[0].Addr)
	// Print the message/delivery-status part.
	s := strings.ReplaceAll(string(content), "\r\n", "\n")
	_, s, _ = strings.Cut(s, "Content-Type: message/delivery-status\n\n")
	s, _, _ = strings.Cut(s, "\n--=_mxkit_")
	fmt.Print(s)
	// Output:
	// MAIL FROM:<> RCPT TO:<alice@example.org>
	// Reporting-MTA: dns; mx.example.net
	// Original-Envelope-Id: QQ314159
	// X-Mxkit-Queue-ID: 0195abc
	// X-Mxkit-Sender: rfc822; alice@example.org
	// Arrival-Date: Sun, 01 Mar 2026 10:00:00 +0000
	//
	// Original-Recipient: rfc822; bob@example.com
	// Final-Recipient: rfc822; bob@example.com
	// Action: failed
	// Status: 5.1.1
	// Remote-MTA: dns; mx.example.com
	// Diagnostic-Code: smtp; 550 5.1.1 <bob@example.com>: Recipient address
	//     rejected: User unknown
	// Last-Attempt-Date: Sun, 01 Mar 2026 10:01:00 +0000
}
