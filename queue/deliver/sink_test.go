package deliver

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mxkit/mxkit/internal/testpostfix"
	"github.com/mxkit/mxkit/queue"
)

// startSink runs Postfix's smtp-sink on a free loopback port for the
// test (internal/testpostfix: skipped without it, failing under CI=true)
// and returns its address. args are extra options ("-L", "-d", dir+"/m.").
func startSink(t testing.TB, args ...string) string {
	t.Helper()
	return testpostfix.StartSink(t, testpostfix.SinkOptions{Args: args}).Addr
}

// sinkDump reads the one message smtp-sink dumped into dir and splits it
// into smtp-sink's own header lines and the content as received (with
// LF line endings: smtp-sink writes lines).
func sinkDump(t *testing.T, dir string) (meta, content string) {
	t.Helper()
	var files []string
	deadline := time.Now().Add(5 * time.Second)
	for {
		files, _ = filepath.Glob(filepath.Join(dir, "m.*"))
		if len(files) > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(files) != 1 {
		t.Fatalf("smtp-sink dumped %d files", len(files))
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	// The Received header (three lines) ends smtp-sink's part.
	i := strings.Index(s, "\n\tby smtp-sink")
	if i < 0 {
		t.Fatalf("dump without smtp-sink's Received header:\n%s", s)
	}
	j := strings.Index(s[i+1:], "\n\t")
	k := strings.IndexByte(s[i+1+j+1:], '\n')
	end := i + 1 + j + 1 + k + 1
	// smtp-sink appends one empty line after the message.
	return s[:end], strings.TrimSuffix(s[end:], "\n")
}

func TestSMTPSinkSMTP(t *testing.T) {
	dir := t.TempDir()
	addr := startSink(t, "-d", dir+"/m.")
	s := &SMTP{Logger: quiet, Hostname: "client.example.org"}
	defer s.Close()
	body := "Subject: sink\r\nMessage-ID: <1@example.org>\r\n\r\n.leading dot\r\n..two dots\r\n.\r\nend\r\n"
	d := msg(queue.Route{Transport: "smtp", Nexthop: "[" + strings.Replace(addr, ":", "]:", 1)}, "alice@example.org", body, "b@example.test", "c@example.test")
	d.Message.Ret, d.Message.EnvID = queue.RetFull, "id+1"
	d.Message.Recipients[0].Notify = queue.NotifySuccess
	d.Message.Recipients[0].ORCPT = "rfc822;B@example.test"
	got := s.Deliver(context.Background(), d)
	ok := queue.Result{Status: queue.Delivered, DSN: "2.0.0", Text: "250 2.0.0 Ok", Remote: "[127.0.0.1]", Relayed: true}
	wantResults(t, got, []queue.Result{ok, ok})
	meta, content := sinkDump(t, dir)
	if want := strings.ReplaceAll(body, "\r\n", "\n"); content != want {
		t.Errorf("content\n%q\nwant\n%q", content, want)
	}
	for _, line := range []string{
		"X-Client-Proto: ESMTP\n",
		"X-Helo-Args: client.example.org\n",
		"X-Mail-Args: <alice@example.org> BODY=8BITMIME RET=FULL ENVID=id+2B1\n",
		"X-Rcpt-Args: <b@example.test> NOTIFY=SUCCESS ORCPT=RFC822;B@example.test\n",
		"X-Rcpt-Args: <c@example.test>\n",
	} {
		if !strings.Contains(meta, line) {
			t.Errorf("dump lacks %q:\n%s", line, meta)
		}
	}
}

func TestSMTPSinkLMTP(t *testing.T) {
	dir := t.TempDir()
	addr := startSink(t, "-L", "-d", dir+"/m.")
	s := &SMTP{LMTP: true, Logger: quiet}
	defer s.Close()
	body := "Subject: lmtp\r\n\r\n.x\r\n"
	got := s.Deliver(context.Background(), msg(queue.Route{Transport: "lmtp", Nexthop: "inet:" + addr}, "alice@example.org", body, "b@example.test", "c@example.test"))
	ok := queue.Result{Status: queue.Delivered, DSN: "2.2.0", Text: "250 2.2.0 Ok", Remote: "[127.0.0.1]", Relayed: true}
	wantResults(t, got, []queue.Result{ok, ok})
	meta, content := sinkDump(t, dir)
	if content != "Subject: lmtp\n\n.x\n" || !strings.Contains(meta, "X-Client-Proto: LMTP\n") {
		t.Errorf("dump:\n%s%q", meta, content)
	}
}

// Soft and hard rejections from smtp-sink (-r, -f) reach the recipients.
func TestSMTPSinkRejects(t *testing.T) {
	soft := startSink(t, "-r", "RCPT")
	hard := startSink(t, "-f", ".")
	s := &SMTP{Logger: quiet}
	defer s.Close()
	br := func(a string) queue.Route {
		return queue.Route{Transport: "smtp", Nexthop: "[" + strings.Replace(a, ":", "]:", 1)}
	}
	got := s.Deliver(context.Background(), msg(br(soft), "a@example.org", "x\r\n", "b@example.test"))
	wantResults(t, got, []queue.Result{{Status: queue.Deferred, DSN: "4.3.0", Text: "450 4.3.0 Error: command failed", Remote: "[127.0.0.1]"}})
	got = s.Deliver(context.Background(), msg(br(hard), "a@example.org", "x\r\n", "b@example.test"))
	wantResults(t, got, []queue.Result{{Status: queue.Bounced, DSN: "5.3.0", Text: "500 5.3.0 Error: command failed", Remote: "[127.0.0.1]"}})
}

// BenchmarkSMTPSink measures delivery throughput to smtp-sink over
// loopback: 10 concurrent deliveries of 4 KB messages, one recipient each,
// with connection reuse. Each b.Loop iteration delivers 100 messages.
func BenchmarkSMTPSink(b *testing.B) {
	addr := startSink(b)
	s := &SMTP{Logger: quiet}
	defer s.Close()
	line := strings.Repeat("x", 76) + "\r\n"
	body := "Subject: bench\r\n\r\n" + strings.Repeat(line, 4096/len(line))
	rt := queue.Route{Transport: "smtp", Nexthop: "[" + strings.Replace(addr, ":", "]:", 1)}
	const perIter, workers = 100, 10
	msgs := 0
	var failed sync.Once
	for b.Loop() {
		jobs := make(chan int, perIter)
		for i := range perIter {
			jobs <- i
		}
		close(jobs)
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for range jobs {
					r := s.Deliver(context.Background(), msg(rt, "a@example.org", body, "b@example.test"))
					if r[0].Status != queue.Delivered {
						failed.Do(func() { b.Errorf("%+v", r[0]) })
					}
				}
			})
		}
		wg.Wait()
		msgs += perIter
	}
	b.ReportMetric(float64(msgs)/b.Elapsed().Seconds(), "msgs/s")
}
