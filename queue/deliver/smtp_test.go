package deliver

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/netip"
	"net/textproto"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mxkit/mxkit/queue"
)

func wantResults(t *testing.T, got, want []queue.Result) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d results, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("result %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
}

func TestSMTPPerRecipient(t *testing.T) {
	be := &fakeBackend{RcptErr: map[string]error{
		"bad@example.test":   &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "<bad@example.test>: Recipient address rejected: User unknown"},
		"soft@example.test":  &smtp.SMTPError{Code: 450, EnhancedCode: smtp.EnhancedCode{4, 2, 0}, Message: "<soft@example.test>: Recipient address rejected: Greylisted"},
		"many@example.test":  &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 5, 3}, Message: "Too many recipients"},
		"noenh@example.test": &smtp.SMTPError{Code: 553, EnhancedCode: smtp.NoEnhancedCode, Message: "no such mailbox"},
	}}
	l := fakeServer(t, be, nil)
	s := &SMTP{Logger: quiet, Hostname: "client.example.org"}
	defer s.Close()
	body := "Subject: hi\r\n\r\nHello\r\n"
	d := msg(route(l), "alice@example.org", body,
		"ok@example.test", "bad@example.test", "soft@example.test", "many@example.test", "noenh@example.test", "ok2@example.test")
	m := d.Message
	m.Ret, m.EnvID = queue.RetHeaders, "env-1"
	m.Recipients[0].Notify = queue.NotifySuccess | queue.NotifyFailure
	m.Recipients[0].ORCPT = "rfc822;Ok@Example.test"
	m.Recipients[5].Notify = queue.NotifyNever
	got := s.Deliver(context.Background(), d)
	remote := "[127.0.0.1]"
	ok := queue.Result{Status: queue.Delivered, DSN: "2.0.0", Text: "250 2.0.0 OK: queued", Remote: remote, Relayed: true}
	wantResults(t, got, []queue.Result{
		ok,
		{Status: queue.Bounced, DSN: "5.1.1", Text: "550 5.1.1 <bad@example.test>: Recipient address rejected: User unknown", Remote: remote},
		{Status: queue.Deferred, DSN: "4.2.0", Text: "450 4.2.0 <soft@example.test>: Recipient address rejected: Greylisted", Remote: remote},
		{Status: queue.Deferred, DSN: "4.5.3", Text: "552 5.5.3 Too many recipients", Remote: remote},
		{Status: queue.Bounced, DSN: "5.0.0", Text: "553 no such mailbox", Remote: remote},
		ok,
	})
	mails := be.Mails()
	if len(mails) != 1 {
		t.Fatalf("server got %d messages", len(mails))
	}
	mr := mails[0]
	if mr.From != "alice@example.org" || mr.Data != body || mr.Helo != "client.example.org" {
		t.Errorf("server got from %q helo %q data %q", mr.From, mr.Helo, mr.Data)
	}
	if mr.MOpts.Return != smtp.DSNReturnHeaders || mr.MOpts.EnvelopeID != "env-1" || mr.MOpts.Size != int64(len(body)) {
		t.Errorf("MAIL options %+v", mr.MOpts)
	}
	if fmt.Sprint(mr.Rcpts) != "[ok@example.test ok2@example.test]" {
		t.Errorf("RCPTs %v", mr.Rcpts)
	}
	o := mr.ROpts[0]
	if fmt.Sprint(o.Notify) != "[SUCCESS FAILURE]" || o.OriginalRecipientType != smtp.DSNAddressTypeRFC822 || o.OriginalRecipient != "Ok@Example.test" {
		t.Errorf("RCPT options %+v", o)
	}
	if fmt.Sprint(mr.ROpts[1].Notify) != "[NEVER]" {
		t.Errorf("RCPT options %+v", mr.ROpts[1])
	}
}

func TestSMTPNoDSNExtension(t *testing.T) {
	be := &fakeBackend{}
	l := fakeServer(t, be, func(s *smtp.Server) { s.EnableDSN = false })
	s := &SMTP{Logger: quiet}
	defer s.Close()
	d := msg(route(l), "", "\r\n", "a@example.test")
	d.Message.Ret = queue.RetFull
	d.Message.Recipients[0].Notify = queue.NotifySuccess
	got := s.Deliver(context.Background(), d)
	wantResults(t, got, []queue.Result{{Status: queue.Delivered, DSN: "2.0.0", Text: "250 2.0.0 OK: queued", Remote: "[127.0.0.1]"}})
	if mails := be.Mails(); len(mails) != 1 || mails[0].From != "" || mails[0].MOpts.Return != "" {
		t.Errorf("server got %+v", mails)
	}
}

func TestSMTPMailAndDataReplies(t *testing.T) {
	for _, tc := range []struct {
		name  string
		be    *fakeBackend
		want  queue.Result
		mails int
	}{
		{"mail 5xx", &fakeBackend{MailErr: &smtp.SMTPError{Code: 553, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "Sender address rejected"}},
			queue.Result{Status: queue.Bounced, DSN: "5.7.1", Text: "553 5.7.1 Sender address rejected"}, 0},
		{"mail 4xx", &fakeBackend{MailErr: &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Try later"}},
			queue.Result{Status: queue.Deferred, DSN: "4.3.0", Text: "451 4.3.0 Try later"}, 0},
		{"data 5xx", &fakeBackend{DataErr: &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "Spam"}},
			queue.Result{Status: queue.Bounced, DSN: "5.7.1", Text: "554 5.7.1 Spam"}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := fakeServer(t, tc.be, nil)
			s := &SMTP{Logger: quiet}
			defer s.Close()
			got := s.Deliver(context.Background(), msg(route(l), "a@example.org", "x\r\n", "b@example.test", "c@example.test"))
			tc.want.Remote = "[127.0.0.1]"
			wantResults(t, got, []queue.Result{tc.want, tc.want})
			if n := len(tc.be.Mails()); n != tc.mails {
				t.Errorf("server stored %d messages, want %d", n, tc.mails)
			}
		})
	}
}

func TestLMTPPerRecipient(t *testing.T) {
	be := &fakeBackend{
		RcptErr: map[string]error{"gone@example.test": &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}},
		LMTPStatus: map[string]error{
			"full@example.test": &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 2, 2}, Message: "Mailbox full"},
			"bad@example.test":  &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "Content rejected"},
		},
	}
	sock := filepath.Join(t.TempDir(), "lmtp.sock")
	l := fakeServer(t, be, func(s *smtp.Server) { s.LMTP, s.Network, s.Addr = true, "unix", sock })
	for _, nh := range []string{"unix:" + sock} {
		s := &SMTP{LMTP: true, Logger: quiet}
		got := s.Deliver(context.Background(), msg(queue.Route{Transport: "lmtp", Nexthop: nh}, "a@example.org", "x\r\n",
			"ok@example.test", "full@example.test", "gone@example.test", "bad@example.test"))
		wantResults(t, got, []queue.Result{
			{Status: queue.Delivered, DSN: "2.0.0", Text: "250 2.0.0 <ok@example.test> OK: queued", Remote: sock, Relayed: true},
			{Status: queue.Deferred, DSN: "4.2.2", Text: "452 4.2.2 <full@example.test> Mailbox full", Remote: sock},
			{Status: queue.Bounced, DSN: "5.1.1", Text: "550 5.1.1 no such user", Remote: sock},
			{Status: queue.Bounced, DSN: "5.6.0", Text: "554 5.6.0 <bad@example.test> Content rejected", Remote: sock},
		})
		s.Close()
	}
	if l.Accepted() != 1 {
		t.Errorf("accepted %d connections", l.Accepted())
	}
}

func TestLMTPTCP(t *testing.T) {
	be := &fakeBackend{}
	l := fakeServer(t, be, func(s *smtp.Server) { s.LMTP = true })
	for _, nh := range []string{"127.0.0.1:" + port(l), "inet:127.0.0.1:" + port(l), "[127.0.0.1]:" + port(l)} {
		s := &SMTP{LMTP: true, Logger: quiet}
		got := s.Deliver(context.Background(), msg(queue.Route{Transport: "lmtp", Nexthop: nh}, "a@example.org", "x\r\n", "ok@example.test"))
		wantResults(t, got, []queue.Result{{Status: queue.Delivered, DSN: "2.0.0", Text: "250 2.0.0 <ok@example.test> OK: queued", Remote: "[127.0.0.1]", Relayed: true}})
		s.Close()
	}
}

func TestSMTPConnectionReuse(t *testing.T) {
	be := &fakeBackend{}
	l := fakeServer(t, be, nil)
	s := &SMTP{Logger: quiet, CacheTime: time.Minute}
	defer s.Close()
	for i := range 3 {
		got := s.Deliver(context.Background(), msg(route(l), "a@example.org", fmt.Sprintf("m%d\r\n", i), "b@example.test"))
		if got[0].Status != queue.Delivered {
			t.Fatalf("delivery %d: %+v", i, got[0])
		}
	}
	if n := l.Accepted(); n != 1 {
		t.Errorf("accepted %d connections, want 1", n)
	}
	if s.Idle() != 1 {
		t.Errorf("idle = %d", s.Idle())
	}
	// go-smtp's server calls Reset after each DATA (3), for each RSET (2)
	// and for each EHLO after the first of a session: our own EHLO
	// before go-smtp's on the new connection (1), and the EHLO after
	// each RSET (2). The server may call the last Reset after its 250
	// has reached us: wait for it.
	var rsets int
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		be.mu.Lock()
		rsets = be.rsets
		be.mu.Unlock()
		if rsets >= 8 || time.Now().After(deadline) {
			break
		}
	}
	if rsets != 8 {
		t.Errorf("server saw %d resets, want 8", rsets)
	}
	_ = s.Close()
	if s.Idle() != 0 {
		t.Errorf("idle after Close = %d", s.Idle())
	}
}

func TestSMTPReuseLimits(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    *SMTP
		want int
	}{
		{"count limit", &SMTP{ReuseCount: 2, CacheTime: time.Minute}, 2},
		{"disabled", &SMTP{CacheTime: -1}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := fakeServer(t, &fakeBackend{}, nil)
			tc.s.Logger = quiet
			defer tc.s.Close()
			for range 3 {
				if got := tc.s.Deliver(context.Background(), msg(route(l), "a@example.org", "x\r\n", "b@example.test")); got[0].Status != queue.Delivered {
					t.Fatalf("%+v", got[0])
				}
			}
			if n := l.Accepted(); n != tc.want {
				t.Errorf("accepted %d connections, want %d", n, tc.want)
			}
		})
	}
}

func TestSMTPCacheExpires(t *testing.T) {
	l := fakeServer(t, &fakeBackend{}, nil)
	s := &SMTP{Logger: quiet, CacheTime: 20 * time.Millisecond}
	defer s.Close()
	s.Deliver(context.Background(), msg(route(l), "a@example.org", "x\r\n", "b@example.test"))
	deadline := time.Now().Add(5 * time.Second)
	for s.Idle() != 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if s.Idle() != 0 {
		t.Fatal("idle connection did not expire")
	}
	s.Deliver(context.Background(), msg(route(l), "a@example.org", "x\r\n", "b@example.test"))
	if n := l.Accepted(); n != 2 {
		t.Errorf("accepted %d connections, want 2", n)
	}
}

func TestSMTPBrokenCachedConnection(t *testing.T) {
	be := &fakeBackend{}
	l := fakeServer(t, be, nil)
	s := &SMTP{Logger: quiet, CacheTime: time.Minute}
	defer s.Close()
	if got := s.Deliver(context.Background(), msg(route(l), "a@example.org", "x\r\n", "b@example.test")); got[0].Status != queue.Delivered {
		t.Fatalf("%+v", got[0])
	}
	l.closeAll() // the server drops the idle connection
	got := s.Deliver(context.Background(), msg(route(l), "a@example.org", "y\r\n", "b@example.test"))
	wantResults(t, got, []queue.Result{{Status: queue.Delivered, DSN: "2.0.0", Text: "250 2.0.0 OK: queued", Remote: "[127.0.0.1]", Relayed: true}})
	if n := l.Accepted(); n != 2 {
		t.Errorf("accepted %d connections, want 2", n)
	}
}

// A cached connection that passes RSET and EHLO but dies at MAIL FROM is
// retried once on a new connection.
func TestSMTPCachedConnectionDiesAtMail(t *testing.T) {
	ln := rawServer(t, func(i int, c *textproto.Conn) {
		_ = c.PrintfLine("220 raw.test ESMTP")
		steps := [][]string{
			{"EHLO", "250-raw.test", "250 8BITMIME"}, // ours, looking for STARTTLS
			{"EHLO", "250-raw.test", "250 8BITMIME"}, // go-smtp's
			{"MAIL", "250 2.1.0 Ok"}, {"RCPT", "250 2.1.5 Ok"}, {"DATA", "354 go"},
		}
		for _, st := range steps {
			if expect(c, st[0], st[1:]...) != nil {
				return
			}
		}
		if _, err := readData(c); err != nil {
			return
		}
		_ = c.PrintfLine("250 2.0.0 Ok: queued as A%d", i)
		if i == 0 {
			_ = expect(c, "RSET", "250 2.0.0 Ok")
			_ = expect(c, "EHLO", "250 raw.test")
			_, _ = c.ReadLine() // MAIL: hang up without a reply
			return
		}
		_ = expect(c, "QUIT", "221 Bye")
	})
	s := &SMTP{Logger: quiet, CacheTime: time.Minute}
	defer s.Close()
	rt := queue.Route{Transport: "smtp", Nexthop: "[127.0.0.1]:" + port(ln)}
	got := s.Deliver(context.Background(), msg(rt, "a@example.org", "x\r\n", "b@example.test"))
	wantResults(t, got, []queue.Result{{Status: queue.Delivered, DSN: "2.0.0", Text: "250 2.0.0 Ok: queued as A0", Remote: "[127.0.0.1]"}})
	got = s.Deliver(context.Background(), msg(rt, "a@example.org", "x\r\n", "b@example.test"))
	wantResults(t, got, []queue.Result{{Status: queue.Delivered, DSN: "2.0.0", Text: "250 2.0.0 Ok: queued as A1", Remote: "[127.0.0.1]"}})
}

func TestSMTPConnectRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := port(ln)
	ln.Close()
	s := &SMTP{Logger: quiet}
	got := s.Deliver(context.Background(), msg(queue.Route{Transport: "smtp", Nexthop: "[127.0.0.1]:" + p}, "a@example.org", "x\r\n", "b@example.test", "c@example.test"))
	want := queue.Result{Status: queue.Deferred, DSN: "4.4.1", Text: "connect to [127.0.0.1]:" + p + ": Connection refused"}
	wantResults(t, got, []queue.Result{want, want})
}

func TestSMTPNexthopErrors(t *testing.T) {
	for _, tc := range []struct {
		lmtp bool
		nh   string
		want queue.Result
	}{
		{false, "example.com", queue.Deferf("4.3.5", `smtp:example.com: delivery by MX lookup needs a DNS layer (set SMTP.Resolve, e.g. to a deliver.MXResolver): nexthop "example.com": MX lookup needed`)},
		{false, "", queue.Deferf("4.3.5", `smtp:: delivery by MX lookup needs a DNS layer (set SMTP.Resolve, e.g. to a deliver.MXResolver): empty nexthop: MX lookup needed`)},
		{false, "[a]:x y", queue.Deferf("4.3.5", `smtp:[a]:x y: mail system configuration error: bad nexthop "[a]:x y": bad port "x y"`)},
		{true, "", queue.Deferf("4.3.5", `lmtp:: mail system configuration error: empty lmtp nexthop`)},
	} {
		s := &SMTP{LMTP: tc.lmtp, Logger: quiet}
		tr := "smtp"
		if tc.lmtp {
			tr = "lmtp"
		}
		got := s.Deliver(context.Background(), msg(queue.Route{Transport: tr, Nexthop: tc.nh}, "a@example.org", "x\r\n", "b@example.test"))
		wantResults(t, got, []queue.Result{tc.want})
	}
}

func TestSMTPServerReplies(t *testing.T) {
	for _, tc := range []struct {
		name   string
		script func(c *textproto.Conn)
		want   []queue.Result
	}{
		// Postfix's smtp_skip_5xx_greeting = yes: a 5xx greeting is a
		// temporary site failure (the next MX is tried; the last defers).
		{"greeting 554", func(c *textproto.Conn) {
			_ = c.PrintfLine("554 5.7.1 Go away")
			_, _ = c.ReadLine()
		}, []queue.Result{{Status: queue.Deferred, DSN: "4.7.1", Text: "554 5.7.1 Go away", Remote: "[127.0.0.1]"}}},
		{"greeting 421 multi-line", func(c *textproto.Conn) {
			_ = c.PrintfLine("421-4.3.2 Busy")
			_ = c.PrintfLine("421 4.3.2 come back later")
		}, []queue.Result{{Status: queue.Deferred, DSN: "4.3.2", Text: "421 4.3.2 Busy come back later", Remote: "[127.0.0.1]"}}},
		{"rcpt multi-line and no ESMTP", func(c *textproto.Conn) {
			_ = c.PrintfLine("220 old.test SMTP")
			_ = expect(c, "EHLO", "502 5.5.1 What?")
			_ = expect(c, "EHLO", "502 5.5.1 What?") // go-smtp asks again, then falls back
			_ = expect(c, "HELO", "250 old.test")
			_ = expect(c, "MAIL", "250 Ok")
			_ = expect(c, "RCPT", "550-5.1.1 The mailbox", "550 5.1.1 does not exist")
			_ = expect(c, "QUIT", "221 Bye")
		}, []queue.Result{{Status: queue.Bounced, DSN: "5.1.1", Text: "550 5.1.1 The mailbox does not exist", Remote: "[127.0.0.1]"}}},
		{"lost connection after RCPT", func(c *textproto.Conn) {
			_ = c.PrintfLine("220 x ESMTP")
			_ = expect(c, "EHLO", "250 x")
			_ = expect(c, "EHLO", "250 x")
			_ = expect(c, "MAIL", "250 Ok")
			_, _ = c.ReadLine()
		}, []queue.Result{queue.Deferf("4.4.2", "lost connection with [127.0.0.1]:PORT while sending RCPT TO")}},
		{"lost connection after the final dot", func(c *textproto.Conn) {
			_ = c.PrintfLine("220 x ESMTP")
			_ = expect(c, "EHLO", "250 x")
			_ = expect(c, "EHLO", "250 x")
			_ = expect(c, "MAIL", "250 Ok")
			_ = expect(c, "RCPT", "250 Ok")
			_ = expect(c, "DATA", "354 go")
			_, _ = readData(c)
		}, []queue.Result{queue.Deferf("4.4.2", "lost connection with [127.0.0.1]:PORT while sending end of data -- message may be sent more than once")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln := rawServer(t, func(_ int, c *textproto.Conn) { tc.script(c) })
			s := &SMTP{Logger: quiet, TLSLevel: TLSMay}
			defer s.Close()
			got := s.Deliver(context.Background(), msg(queue.Route{Transport: "smtp", Nexthop: "[127.0.0.1]:" + port(ln)}, "a@example.org", "x\r\n", "b@example.test"))
			for i := range tc.want {
				tc.want[i].Text = strings.ReplaceAll(tc.want[i].Text, "PORT", port(ln))
			}
			wantResults(t, got, tc.want)
		})
	}
}

func TestSMTPTimeouts(t *testing.T) {
	var stall chan struct{}
	for _, tc := range []struct {
		name   string
		to     Timeouts
		script func(c *textproto.Conn)
		while  string
	}{
		{"greeting", Timeouts{Helo: 100 * time.Millisecond}, func(c *textproto.Conn) { <-stall }, "receiving the initial server greeting"},
		{"ehlo", Timeouts{Helo: 100 * time.Millisecond}, func(c *textproto.Conn) {
			_ = c.PrintfLine("220 x ESMTP")
			<-stall
		}, "performing the EHLO handshake"},
		{"rcpt", Timeouts{Rcpt: 100 * time.Millisecond}, func(c *textproto.Conn) {
			_ = c.PrintfLine("220 x ESMTP")
			_ = expect(c, "EHLO", "250 x")
			_ = expect(c, "EHLO", "250 x")
			_ = expect(c, "MAIL", "250 Ok")
			<-stall
		}, "sending RCPT TO"},
		{"data done", Timeouts{DataDone: 100 * time.Millisecond}, func(c *textproto.Conn) {
			_ = c.PrintfLine("220 x ESMTP")
			_ = expect(c, "EHLO", "250 x")
			_ = expect(c, "EHLO", "250 x")
			_ = expect(c, "MAIL", "250 Ok")
			_ = expect(c, "RCPT", "250 Ok")
			_ = expect(c, "DATA", "354 go")
			_, _ = readData(c)
			<-stall
		}, "sending end of data -- message may be sent more than once"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stall = make(chan struct{})
			ln := rawServer(t, func(_ int, c *textproto.Conn) { tc.script(c) })
			t.Cleanup(func() { close(stall) }) // runs before rawServer's cleanup
			s := &SMTP{Logger: quiet, Timeouts: tc.to}
			got := s.Deliver(context.Background(), msg(queue.Route{Transport: "smtp", Nexthop: "[127.0.0.1]:" + port(ln)}, "a@example.org", "x\r\n", "b@example.test"))
			wantResults(t, got, []queue.Result{queue.Deferf("4.4.2", "conversation with [127.0.0.1]:%s timed out while %s", port(ln), tc.while)})
		})
	}
}

func TestSMTPContextCanceled(t *testing.T) {
	stall := make(chan struct{})
	ln := rawServer(t, func(_ int, c *textproto.Conn) {
		_ = c.PrintfLine("220 x ESMTP")
		_ = expect(c, "EHLO", "250 x")
		_ = expect(c, "EHLO", "250 x")
		<-stall
	})
	t.Cleanup(func() { close(stall) })
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	s := &SMTP{Logger: quiet}
	got := s.Deliver(ctx, msg(queue.Route{Transport: "smtp", Nexthop: "[127.0.0.1]:" + port(ln)}, "a@example.org", "x\r\n", "b@example.test"))
	wantResults(t, got, []queue.Result{queue.Deferf("4.4.2", "delivery to [127.0.0.1]:%s interrupted while sending MAIL FROM: context canceled", port(ln))})
}

func TestSMTPStartTLS(t *testing.T) {
	for _, tc := range []struct {
		name    string
		level   TLSLevel
		server  func(*smtp.Server)
		wantTLS bool
		want    queue.Result
		mails   int
	}{
		{"may, offered", TLSDefault, nil, true, queue.Result{Status: queue.Delivered}, 1},
		{"none", TLSNone, nil, false, queue.Result{Status: queue.Delivered}, 1},
		{"may, not offered", TLSMay, func(s *smtp.Server) { s.TLSConfig = nil }, false, queue.Result{Status: queue.Delivered}, 1},
		{"encrypt, not offered", TLSEncrypt, func(s *smtp.Server) { s.TLSConfig = nil }, false,
			queue.Deferf("4.7.4", "TLS is required, but was not offered by host [127.0.0.1]"), 0},
		{"may, handshake fails: plaintext", TLSMay, func(s *smtp.Server) { s.TLSConfig.MinVersion = tls.VersionTLS13 }, false,
			queue.Result{Status: queue.Delivered}, 1},
		{"encrypt, handshake fails", TLSEncrypt, func(s *smtp.Server) { s.TLSConfig.MinVersion = tls.VersionTLS13 }, false,
			queue.Deferf("4.7.5", "Cannot start TLS: handshake failure with [127.0.0.1]:PORT: TLS handshake failed: remote error: tls: protocol version not supported"), 0},
		{"verify, untrusted certificate", TLSVerify, nil, false,
			queue.Deferf("4.7.5", "Server certificate not verified"), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			be := &fakeBackend{}
			l := fakeServer(t, be, func(s *smtp.Server) {
				s.TLSConfig = serverTLS(t)
				if tc.server != nil {
					tc.server(s)
				}
			})
			s := &SMTP{Logger: quiet, TLSLevel: tc.level, TLS: &tls.Config{MaxVersion: tls.VersionTLS12, ServerName: "mx.example.test"}}
			defer s.Close()
			got := s.Deliver(context.Background(), msg(route(l), "a@example.org", "x\r\n", "b@example.test"))
			if tc.want.Status == queue.Delivered {
				tc.want = queue.Result{Status: queue.Delivered, DSN: "2.0.0", Text: "250 2.0.0 OK: queued", Remote: "[127.0.0.1]", Relayed: true}
			}
			tc.want.Text = strings.ReplaceAll(tc.want.Text, "PORT", port(l))
			wantResults(t, got, []queue.Result{tc.want})
			mails := be.Mails()
			if len(mails) != tc.mails {
				t.Fatalf("server got %d messages, want %d", len(mails), tc.mails)
			}
			if tc.mails > 0 && mails[0].TLS != tc.wantTLS {
				t.Errorf("TLS = %v, want %v", mails[0].TLS, tc.wantTLS)
			}
		})
	}
}

// A TLS connection is cached and reused like a plaintext one.
func TestSMTPStartTLSReuse(t *testing.T) {
	be := &fakeBackend{}
	l := fakeServer(t, be, func(s *smtp.Server) { s.TLSConfig = serverTLS(t) })
	s := &SMTP{Logger: quiet, CacheTime: time.Minute}
	defer s.Close()
	for range 2 {
		if got := s.Deliver(context.Background(), msg(route(l), "a@example.org", "x\r\n", "b@example.test")); got[0].Status != queue.Delivered {
			t.Fatalf("%+v", got[0])
		}
	}
	if l.Accepted() != 1 {
		t.Errorf("accepted %d", l.Accepted())
	}
	for _, m := range be.Mails() {
		if !m.TLS {
			t.Error("message sent without TLS")
		}
	}
}

func TestSMTPUTF8(t *testing.T) {
	for _, tc := range []struct {
		name       string
		serverUTF8 bool
		sender     string
		header     string
		flag       bool
		want       queue.Status
		wantParam  bool
	}{
		{"ascii, no flag", false, "a@example.org", "Subject: x", false, queue.Delivered, false},
		{"utf8 sender, server lacks", false, "δ@example.org", "Subject: x", true, queue.Bounced, false},
		{"utf8 header, server lacks", false, "a@example.org", "Subject: δ", true, queue.Bounced, false},
		{"flag but all ascii, server lacks", false, "a@example.org", "Subject: x", true, queue.Delivered, false},
		{"utf8 sender, server has", true, "δ@example.org", "Subject: δ", true, queue.Delivered, true},
		{"flag, server has", true, "a@example.org", "Subject: x", true, queue.Delivered, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			be := &fakeBackend{}
			l := fakeServer(t, be, func(s *smtp.Server) { s.EnableSMTPUTF8 = tc.serverUTF8 })
			s := &SMTP{Logger: quiet}
			defer s.Close()
			d := msg(route(l), tc.sender, tc.header+"\r\n\r\nbody δ\r\n", "b@example.test")
			d.Message.SMTPUTF8 = tc.flag
			got := s.Deliver(context.Background(), d)
			if got[0].Status != tc.want {
				t.Fatalf("%+v", got[0])
			}
			if tc.want == queue.Bounced {
				wantResults(t, got, []queue.Result{{Status: queue.Bounced, DSN: "5.6.7",
					Text: "SMTPUTF8 is required, but was not offered by host [127.0.0.1]:" + port(l)}})
				return
			}
			if m := be.Mails(); len(m) != 1 || m[0].MOpts.UTF8 != tc.wantParam {
				t.Errorf("server got %+v", m)
			}
		})
	}
}

func TestSMTPSizeLimit(t *testing.T) {
	l := fakeServer(t, &fakeBackend{}, func(s *smtp.Server) { s.MaxMessageBytes = 100 })
	s := &SMTP{Logger: quiet}
	defer s.Close()
	got := s.Deliver(context.Background(), msg(route(l), "a@example.org", strings.Repeat("x", 200), "b@example.test"))
	wantResults(t, got, []queue.Result{{Status: queue.Bounced, DSN: "5.3.4",
		Text: "message size 200 exceeds size limit 100 of server [127.0.0.1]:" + port(l)}})
}

// Content goes out as stored: go-smtp dot-stuffs lines that start with a
// dot, and the server's unstuffed copy is byte-identical.
func TestSMTPContentDotStuffing(t *testing.T) {
	be := &fakeBackend{}
	l := fakeServer(t, be, func(s *smtp.Server) { s.MaxLineLength = 100000 })
	s := &SMTP{Logger: quiet}
	defer s.Close()
	body := "Subject: dots\r\n\r\n.\r\n..two\r\n.x\r\nend.\r\n" + strings.Repeat("long line ", 5000) + "\r\n"
	got := s.Deliver(context.Background(), msg(route(l), "a@example.org", body, "b@example.test"))
	if got[0].Status != queue.Delivered {
		t.Fatalf("%+v", got[0])
	}
	if m := be.Mails(); len(m) != 1 || m[0].Data != body {
		t.Errorf("server got a different body")
	}
}

// The second host of a nexthop list is tried when the first does not answer.
func TestSMTPNexthopList(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := port(ln)
	ln.Close()
	be := &fakeBackend{}
	l := fakeServer(t, be, nil)
	s := &SMTP{Logger: quiet}
	defer s.Close()
	got := s.Deliver(context.Background(), msg(queue.Route{Transport: "smtp", Nexthop: "[127.0.0.1]:" + dead + ", [127.0.0.1]:" + port(l)}, "a@example.org", "x\r\n", "b@example.test"))
	if got[0].Status != queue.Delivered {
		t.Fatalf("%+v", got[0])
	}
}

func TestSMTPResolveHook(t *testing.T) {
	s := &SMTP{Logger: quiet, Resolve: func(ctx context.Context, r queue.Route) ([]Host, error) {
		return nil, fmt.Errorf("lookup: %w", &Failure{Result: queue.Result{Status: queue.Bounced, DSN: "5.1.10", Text: "Domain example.test does not accept mail (nullMX)"}})
	}}
	got := s.Deliver(context.Background(), msg(queue.Route{Transport: "smtp", Nexthop: "example.test"}, "a@example.org", "x\r\n", "b@example.test"))
	wantResults(t, got, []queue.Result{{Status: queue.Bounced, DSN: "5.1.10", Text: "Domain example.test does not accept mail (nullMX)"}})
}

// transaction plays the server's side of one plaintext transaction after
// EHLO and answers the final dot with "250 2.0.0 Ok: <id>".
func transaction(c *textproto.Conn, id string) {
	for _, st := range [][]string{{"MAIL", "250 2.1.0 Ok"}, {"RCPT", "250 2.1.5 Ok"}, {"DATA", "354 go"}} {
		if expect(c, st[0], st[1:]...) != nil {
			return
		}
	}
	if _, err := readData(c); err == nil {
		_ = c.PrintfLine("250 2.0.0 Ok: %s", id)
		_ = expect(c, "QUIT", "221 Bye")
	}
}

func TestSMTPStartTLSRefusedOrInjected(t *testing.T) {
	for _, tc := range []struct {
		name   string
		script func(i int, c *textproto.Conn)
		want   string
	}{
		{"refused: same connection, plaintext", func(i int, c *textproto.Conn) {
			_ = c.PrintfLine("220 x ESMTP")
			_ = expect(c, "EHLO", "250-x", "250 STARTTLS")
			_ = expect(c, "STARTTLS", "454 4.7.0 TLS not available due to local problem")
			_ = expect(c, "EHLO", "250-x", "250 STARTTLS")
			transaction(c, fmt.Sprint("conn", i))
		}, "250 2.0.0 Ok: conn0"},
		{"plaintext injected after 220: new connection without TLS", func(i int, c *textproto.Conn) {
			_ = c.PrintfLine("220 x ESMTP")
			if i == 0 {
				_ = expect(c, "EHLO", "250-x", "250 STARTTLS")
				_ = expect(c, "STARTTLS", "220 2.0.0 Ready to start TLS\r\n250 injected")
				return
			}
			_ = expect(c, "EHLO", "250-x", "250 STARTTLS")
			transaction(c, fmt.Sprint("conn", i))
		}, "250 2.0.0 Ok: conn1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln := rawServer(t, tc.script)
			s := &SMTP{Logger: quiet, CacheTime: -1}
			got := s.Deliver(context.Background(), msg(queue.Route{Transport: "smtp", Nexthop: "[127.0.0.1]:" + port(ln)}, "a@example.org", "x\r\n", "b@example.test"))
			wantResults(t, got, []queue.Result{{Status: queue.Delivered, DSN: "2.0.0", Text: tc.want, Remote: "[127.0.0.1]"}})
		})
	}
}

// Postfix's rules across MX hosts (outbound.md §2.7): a 4xx to RCPT sends
// that recipient to the next host, a 5xx bounces it there and then, a 4xx
// to MAIL or DATA sends every recipient on; a recipient delivered by the
// first host is not sent again.
func TestSMTPNextHostRules(t *testing.T) {
	first := &fakeBackend{RcptErr: map[string]error{
		"soft@example.test": &smtp.SMTPError{Code: 450, EnhancedCode: smtp.EnhancedCode{4, 2, 0}, Message: "Greylisted"},
		"bad@example.test":  &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "User unknown"},
	}}
	second := &fakeBackend{}
	l1, l2 := fakeServer(t, first, nil), fakeServer(t, second, nil)
	hosts := []Host{
		{Name: "127.0.0.1", Network: "tcp", Addr: l1.Addr().String()},
		{Name: "127.0.0.1", Network: "tcp", Addr: l2.Addr().String()},
	}
	s := &SMTP{Logger: quiet, CacheTime: -1, Resolve: func(context.Context, queue.Route) ([]Host, error) { return hosts, nil }}
	got := s.Deliver(context.Background(), msg(queue.Route{Transport: "smtp", Nexthop: "example.test"}, "a@example.org", "x\r\n",
		"ok@example.test", "soft@example.test", "bad@example.test"))
	if got[0].Status != queue.Delivered || got[1].Status != queue.Delivered || got[2].Status != queue.Bounced || got[2].DSN != "5.1.1" {
		t.Fatalf("results %+v", got)
	}
	if m := first.Mails(); len(m) != 1 || !slices.Equal(m[0].Rcpts, []string{"ok@example.test"}) {
		t.Errorf("first host got %+v", m)
	}
	if m := second.Mails(); len(m) != 1 || !slices.Equal(m[0].Rcpts, []string{"soft@example.test"}) {
		t.Errorf("second host got %+v, want only soft@", m)
	}

	// A 4xx to MAIL: everything goes to the next host.
	first.MailErr = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Try later"}
	got = s.Deliver(context.Background(), msg(queue.Route{Transport: "smtp", Nexthop: "example.test"}, "a@example.org", "x\r\n", "x@example.test"))
	if got[0].Status != queue.Delivered || len(second.Mails()) != 2 {
		t.Errorf("MAIL 451 at the first host: %+v, second host mails %d", got, len(second.Mails()))
	}
	// Both refuse temporarily: the last reason is kept.
	second.MailErr = &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 3, 1}, Message: "Full"}
	got = s.Deliver(context.Background(), msg(queue.Route{Transport: "smtp", Nexthop: "example.test"}, "a@example.org", "x\r\n", "x@example.test"))
	if got[0].Status != queue.Deferred || got[0].DSN != "4.3.1" {
		t.Errorf("both 4xx: %+v", got)
	}
}

// At may, a failed handshake is retried in plaintext only for a message
// at least PlaintextFallbackAge old (Postfix: $minimal_backoff_time); a
// younger one defers with the handshake's 4.7.5 (outbound.md §0.1).
func TestSMTPPlaintextFallbackAge(t *testing.T) {
	for _, tc := range []struct {
		name  string
		age   time.Duration
		want  queue.Status
		mails int
	}{
		{"young message: deferred", time.Second, queue.Deferred, 0},
		{"old message: plaintext", 2 * time.Hour, queue.Delivered, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			be := &fakeBackend{}
			l := fakeServer(t, be, func(s *smtp.Server) {
				s.TLSConfig = serverTLS(t)
				s.TLSConfig.MinVersion = tls.VersionTLS13
			})
			s := &SMTP{Logger: quiet, TLSLevel: TLSMay, PlaintextFallbackAge: time.Hour,
				TLS: &tls.Config{MaxVersion: tls.VersionTLS12, ServerName: "mx.example.test"}}
			defer s.Close()
			d := msg(route(l), "a@example.org", "x\r\n", "b@example.test")
			d.Message.Arrival = time.Now().Add(-tc.age)
			got := s.Deliver(context.Background(), d)
			if got[0].Status != tc.want {
				t.Fatalf("result %+v, want %v", got[0], tc.want)
			}
			if tc.want == queue.Deferred && (got[0].DSN != "4.7.5" || !strings.HasPrefix(got[0].Text, "Cannot start TLS: handshake failure")) {
				t.Errorf("result %+v, want 4.7.5 Cannot start TLS: handshake failure", got[0])
			}
			if n := len(be.Mails()); n != tc.mails {
				t.Errorf("server got %d messages, want %d", n, tc.mails)
			}
		})
	}
}

// A cached connection reused for another MX name at the same address
// (two domains whose MX hosts share an IP) is reported as the host this
// delivery asked for, not the one it was opened for.
func TestSMTPReuseReportsCurrentHost(t *testing.T) {
	be := &fakeBackend{}
	l := fakeServer(t, be, nil)
	ip := netip.MustParseAddr("127.0.0.1")
	s := &SMTP{Logger: quiet, CacheTime: time.Minute, Resolve: func(_ context.Context, r queue.Route) ([]Host, error) {
		return []Host{{Name: "mx." + r.Nexthop, Network: "tcp", Addr: "127.0.0.1:" + port(l), IP: ip, Nexthop: r.Nexthop}}, nil
	}}
	defer s.Close()
	for _, d := range []string{"a.example", "b.example"} {
		got := s.Deliver(context.Background(), msg(queue.Route{Transport: "smtp", Nexthop: d}, "s@example.org", "x\r\n", "u@"+d))
		if got[0].Status != queue.Delivered || got[0].Remote != "mx."+d {
			t.Errorf("%s: %+v, want delivered by mx.%s", d, got[0], d)
		}
	}
	if l.Accepted() != 1 {
		t.Errorf("accepted %d connections, want 1 (reuse)", l.Accepted())
	}
}
