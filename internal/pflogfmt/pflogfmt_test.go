package pflogfmt

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func newTest(o Options) (*slog.Logger, *bytes.Buffer) {
	var b bytes.Buffer
	if o.Hostname == "" {
		o.Hostname = "mx"
	}
	if o.PID == 0 {
		o.PID = 1234
	}
	return slog.New(New(&b, &o)), &b
}

// handle logs one record at a fixed time.
func handle(t *testing.T, h slog.Handler, level slog.Level, msg string, args ...any) {
	t.Helper()
	r := slog.NewRecord(time.Date(2026, 12, 4, 20, 0, 0, 0, time.UTC), level, msg, 0)
	r.Add(args...)
	if err := h.Handle(context.Background(), r); err != nil {
		t.Fatal(err)
	}
}

func TestLines(t *testing.T) {
	const p = "Dec  4 20:00:00 mx postfix/"
	for _, c := range []struct {
		msg   string
		level slog.Level
		args  []any
		want  []string
	}{
		{"gosmtp: connect", slog.LevelInfo, []any{"client", "client.example.org[192.0.2.1]", "client_name", "client.example.org", "client_addr", "192.0.2.1"},
			[]string{"smtpd[1234]: connect from client.example.org[192.0.2.1]"}},
		{"gosmtp: disconnect", slog.LevelInfo, []any{"client", "unknown[192.0.2.1]"},
			[]string{"smtpd[1234]: disconnect from unknown[192.0.2.1]"}},
		{"gosmtp: disconnect", slog.LevelInfo, []any{"client", "unknown[192.0.2.1]", "commands", "ehlo=1 auth=0/1 quit=1 commands=2/3"},
			[]string{"smtpd[1234]: disconnect from unknown[192.0.2.1] ehlo=1 auth=0/1 quit=1 commands=2/3"}},
		{"gosmtp: lost connection", slog.LevelInfo, []any{"after", "RCPT", "client", "unknown[192.0.2.1]"},
			[]string{"smtpd[1234]: lost connection after RCPT from unknown[192.0.2.1]"}},
		{"gosmtp: timeout", slog.LevelInfo, []any{"after", "CONNECT", "client", "unknown[192.0.2.1]"},
			[]string{"smtpd[1234]: timeout after CONNECT from unknown[192.0.2.1]"}},
		{"smtppolicy: reject", slog.LevelInfo, []any{"stage", "RCPT", "client", "unknown[192.0.2.1]", "from", "a@b", "to", "u@elsewhere.example",
			"helo", "client.example.org", "reply", "554 5.7.1 <u@elsewhere.example>: Relay access denied", "proto", "ESMTP"},
			[]string{"smtpd[1234]: NOQUEUE: reject: RCPT from unknown[192.0.2.1]: 554 5.7.1 <u@elsewhere.example>: Relay access denied; from=<a@b> to=<u@elsewhere.example> proto=ESMTP helo=<client.example.org>"}},
		{"smtppolicy: reject", slog.LevelInfo, []any{"stage", "CONNECT", "client", "unknown[192.0.2.1]", "from", "", "to", "",
			"helo", "", "reply", "554 5.7.1 Service unavailable", "proto", "SMTP"},
			[]string{"smtpd[1234]: NOQUEUE: reject: CONNECT from unknown[192.0.2.1]: 554 5.7.1 Service unavailable; proto=SMTP"}},
		{"smtppolicy: dry-run: would reject", slog.LevelInfo, []any{"stage", "MAIL", "client", "unknown[192.0.2.1]", "from", "",
			"helo", "h.example", "reply", "553 5.7.1 <>: Sender address rejected", "proto", "ESMTP"},
			[]string{"smtpd[1234]: NOQUEUE: reject_warning: MAIL from unknown[192.0.2.1]: 553 5.7.1 <>: Sender address rejected; from=<> proto=ESMTP helo=<h.example>"}},
		{"mx: queued", slog.LevelInfo, []any{"id", "ID1", "from", "a@b", "nrcpt", 2, "size", int64(312), "client", "c.example[192.0.2.1]", "message_id", "<x@y>"},
			[]string{"smtpd[1234]: ID1: client=c.example[192.0.2.1]", "cleanup[1234]: ID1: message-id=<x@y>", "qmgr[1234]: ID1: from=<a@b>, size=312, nrcpt=2 (queue active)"}},
		{"mx: queued", slog.LevelInfo, []any{"id", "ID1", "from", "", "nrcpt", 1, "size", 9, "message_id", ""},
			[]string{"qmgr[1234]: ID1: from=<>, size=9, nrcpt=1 (queue active)"}},
		{"smtp: delivery", slog.LevelInfo, []any{"id", "ID1", "to", "u@example.net", "relay", "mx.example.net[192.0.2.9]:25", "delay", "0.53",
			"delays", "0.1/0/0.2/0.2", "dsn", "2.0.0", "status", "delivered", "text", "250 2.0.0 Ok", "tls", "none", "reused", false, "orig_to", "info@example.net"},
			[]string{"smtp[1234]: ID1: to=<u@example.net>, orig_to=<info@example.net>, relay=mx.example.net[192.0.2.9]:25, delay=0.53, delays=0.1/0/0.2/0.2, dsn=2.0.0, status=sent (250 2.0.0 Ok)"}},
		{"smtp: delivery", slog.LevelInfo, []any{"id", "ID1", "to", "u@example.net", "relay", "[192.0.2.9]:2525", "delay", "12.4",
			"dsn", "4.4.1", "status", "deferred", "text", "connect to [192.0.2.9]:2525: Connection refused"},
			[]string{"smtp[1234]: ID1: to=<u@example.net>, relay=192.0.2.9[192.0.2.9]:2525, delay=12, dsn=4.4.1, status=deferred (connect to [192.0.2.9]:2525: Connection refused)"}},
		{"maildir: delivery", slog.LevelInfo, []any{"id", "ID1", "to", "alice@example.test", "status", "bounced", "dsn", "5.1.3", "text", "bad", "delay", "0.001"},
			[]string{"virtual[1234]: ID1: to=<alice@example.test>, relay=virtual, delay=0, dsn=5.1.3, status=bounced (bad)"}},
		{"queue: removed", slog.LevelInfo, []any{"id", "ID1"}, []string{"qmgr[1234]: ID1: removed"}},
		{"queue: notification queued", slog.LevelInfo, []any{"id", "ID1", "kind", "failure", "dsn_id", "ID2", "to", "a@b"},
			[]string{"bounce[1234]: ID1: sender non-delivery notification: ID2"}},
		{"queue: lease lost; abandoning the attempt", slog.LevelWarn, []any{"id", "ID1"},
			[]string{"qmgr[1234]: ID1: warning: lease lost; abandoning the attempt"}},
		{"smtppolicy: DNS list lookup error", slog.LevelWarn, []any{"query", "2.0.0.127.zen.example", "error", "timeout\nafter 5s"},
			[]string{`smtpd[1234]: warning: DNS list lookup error query=2.0.0.127.zen.example error="timeout\nafter 5s"`}},
		{"smtppolicy: check failed", slog.LevelWarn, []any{"error", "a\rb"},
			[]string{`smtpd[1234]: warning: check failed error="a\rb"`}},
		{"Verified TLS connection established to mx.example.net[192.0.2.9]:25: TLSv1.3 with cipher TLS_AES_128_GCM_SHA256 (128/128 bits)", slog.LevelInfo, []any{"host", "mx.example.net"},
			[]string{"smtp[1234]: Verified TLS connection established to mx.example.net[192.0.2.9]:25: TLSv1.3 with cipher TLS_AES_128_GCM_SHA256 (128/128 bits)"}},
		{"Anonymous TLS connection established from unknown[127.0.0.1]: TLSv1.3 with cipher TLS_AES_128_GCM_SHA256 (128/128 bits) key-exchange X25519", slog.LevelInfo, []any{"client", "unknown[127.0.0.1]"},
			[]string{"smtpd[1234]: Anonymous TLS connection established from unknown[127.0.0.1]: TLSv1.3 with cipher TLS_AES_128_GCM_SHA256 (128/128 bits) key-exchange X25519"}},
		{"something else", slog.LevelError, []any{"err", ""}, []string{`mxkit[1234]: error: something else err=""`}},
	} {
		l, b := newTest(Options{})
		handle(t, l.Handler(), c.level, c.msg, c.args...)
		var want string
		for _, w := range c.want {
			want += p + w + "\n"
		}
		if got := b.String(); got != want {
			t.Errorf("%s:\n got %q\nwant %q", c.msg, got, want)
		}
	}
}

func TestOptions(t *testing.T) {
	l, b := newTest(Options{SyslogName: "postfix-out", Level: slog.LevelWarn})
	l.Info("queue: removed", "id", "X")
	if b.Len() != 0 {
		t.Errorf("Info under LevelWarn written: %q", b)
	}
	l.Warn("queue: removed", "id", "X")
	if got := b.String(); !strings.Contains(got, " mx postfix-out/qmgr[1234]: X: removed\n") {
		t.Errorf("SyslogName: %q", got)
	}
	h := New(&bytes.Buffer{}, nil)
	if h.o.SyslogName != "postfix" || h.o.PID == 0 || h.o.Hostname == "" || strings.Contains(h.o.Hostname, ".") {
		t.Errorf("defaults: %+v", h.o)
	}
}

func TestWithAttrsAndGroups(t *testing.T) {
	l, b := newTest(Options{})
	l.With("id", "ID9").Info("queue: removed")
	l.WithGroup("g").With("a", 1).Info("tlsrpt: sent", slog.Group("h", "b", 2), "c", "x y")
	got := b.String()
	for _, want := range []string{
		"postfix/qmgr[1234]: ID9: removed\n",
		`postfix/tlsrpt[1234]: sent g.a=1 g.h.b=2 g.c="x y"` + "\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("want %q in:\n%s", want, got)
		}
	}
}
