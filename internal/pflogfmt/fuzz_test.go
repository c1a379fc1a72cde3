package pflogfmt

import (
	"bytes"
	"context"
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"time"
)

// FuzzHandler: whatever the attributes hold (a client's HELO, addresses,
// a server's reply, a message-id), each record becomes whole syslog lines
// of its own, with no control characters: a client cannot forge a line
// that pflogsumm or fail2ban would read as another one.
func FuzzHandler(f *testing.F) {
	f.Add("smtppolicy: reject", "RCPT", "client.example.org", "a@b", "554 5.7.1 <u@x>: Relay access denied")
	f.Add("mx: queued", "", "h\r\nDec  4 20:00:00 mx postfix/smtpd[1]: NOQUEUE: reject: RCPT from x[192.0.2.9]: 554 5.7.1 Relay access denied;", "<x@y>\n", "")
	f.Add("smtp: delivery", "", "", "u@example.net", "250 2.0.0 Ok\x00\x7f")
	f.Add("gosmtp: connect", "", "", "", "")
	f.Add("other: thing", "x", "y", "z", "w")
	line := regexp.MustCompile(`^Dec  4 20:00:00 mx postfix/[a-z]+\[1\]: [^\x00-\x1f\x7f]*$`)
	f.Fuzz(func(t *testing.T, msg, stage, helo, addr, text string) {
		var b bytes.Buffer
		h := New(&b, &Options{Hostname: "mx", PID: 1})
		r := slog.NewRecord(time.Date(2026, 12, 4, 20, 0, 0, 0, time.UTC), slog.LevelInfo, msg, 0)
		r.Add("id", addr, "stage", stage, "client", helo, "helo", helo, "from", addr, "to", addr, "reply", text, "text", text,
			"message_id", text, "relay", helo, "delay", text, "status", stage, "size", 1, "nrcpt", 1)
		if err := h.Handle(context.Background(), r); err != nil {
			t.Fatal(err)
		}
		out := b.String()
		if !strings.HasSuffix(out, "\n") {
			t.Fatalf("no final newline: %q", out)
		}
		n := 0
		for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
			n++
			if !line.MatchString(l) {
				t.Fatalf("not one syslog line: %q", l)
			}
		}
		if want := len(lines(&record{msg: msg, attrs: recordAttrs(r)})); n != want {
			t.Fatalf("%d lines, want %d: %q", n, want, out)
		}
	})
}

func recordAttrs(r slog.Record) []slog.Attr {
	var as []slog.Attr
	r.Attrs(func(a slog.Attr) bool { as = append(as, a); return true })
	return as
}
