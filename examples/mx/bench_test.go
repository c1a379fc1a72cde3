package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mxkit/mxkit/internal/testpostfix"
	"github.com/mxkit/mxkit/queue"
	"github.com/mxkit/mxkit/queue/deliver"
)

// BenchmarkSMTPSource sends the same load with Postfix's smtp-source to a
// real Postfix and to this MX, side by side in one run, with the same
// main.cf (diffPolicy) at 1, 10 and 50 parallel sessions. Both queue every
// message on disk before the 250 (Postfix: cleanup writes and fsyncs the
// queue file; this MX: the queue's spool, file and folder fsynced) and
// then hand it to their queue manager, which delivers it with the
// discard transport. Report the ratios of the msgs/s figures of one run.
//
//	go test -run '^$' -bench SMTPSource -benchtime 1x ./examples/mx
func BenchmarkSMTPSource(b *testing.B) {
	if _, err := exec.LookPath("smtp-source"); err != nil {
		b.Skip("smtp-source (Debian package postfix) not installed")
	}
	testpostfix.Require(b)
	pf := testpostfix.Start(b, testpostfix.Options{MainCF: diffPolicy, Files: diffFiles})
	dir := b.TempDir()
	cf := "compatibility_level = 3.6\ninet_interfaces = 127.0.0.1\nsmtpd_banner = $myhostname ESMTP\nsmtpd_peername_lookup = no\n" +
		"relay_transport = discard\ndefault_transport = discard\n" + diffPolicy
	if err := os.WriteFile(filepath.Join(dir, "main.cf"), []byte(cf), 0o644); err != nil {
		b.Fatal(err)
	}
	for name, content := range diffFiles {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	ours, _ := startMX(b, "-config", filepath.Join(dir, "main.cf"))

	const messages = 2000
	for _, sessions := range []int{1, 10, 50} {
		for _, target := range []struct{ name, addr string }{{"postfix", pf.Addr}, {"mxkit", ours}} {
			b.Run(fmt.Sprintf("sessions=%d/%s", sessions, target.name), func(b *testing.B) {
				for b.Loop() {
					cmd := exec.Command("smtp-source", "-s", strconv.Itoa(sessions), "-m", strconv.Itoa(messages),
						"-l", "4096", "-f", "sender@example.org", "-t", "alice@example.test", "-M", "client.example.org",
						"inet:"+target.addr)
					if out, err := cmd.CombinedOutput(); err != nil {
						b.Fatalf("smtp-source: %v\n%s", err, out)
					}
				}
				b.ReportMetric(float64(messages)*float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
			})
		}
	}
}

// BenchmarkDeliverToSink measures delivery throughput: a spool holding
// 2,000 queued messages (4 kB, one recipient each) is drained by the
// queue runner over SMTP to Postfix's smtp-sink on loopback (connection
// reuse, 20 parallel deliveries: default_destination_concurrency_limit),
// each message removed from the spool (fsynced) after the sink's 250.
//
//	go test -run '^$' -bench DeliverToSink -benchtime 1x ./examples/mx
func BenchmarkDeliverToSink(b *testing.B) {
	sink := testpostfix.StartSink(b, testpostfix.SinkOptions{})
	const n = 2000
	body := "Subject: bench\r\n\r\n" + strings.Repeat(strings.Repeat("x", 78)+"\r\n", 50)
	ctx := context.Background()
	for b.Loop() {
		b.StopTimer()
		sp, err := queue.OpenSpool(b.TempDir(), queue.SpoolOptions{Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			b.Fatal(err)
		}
		var wg sync.WaitGroup
		for w := range 50 {
			wg.Go(func() {
				for i := w; i < n; i += 50 {
					m := &queue.Message{Sender: "sender@example.org", Arrival: time.Now(), Recipients: []queue.Recipient{{Addr: fmt.Sprintf("u%d@example.test", i)}}}
					if err := sp.Put(ctx, m, strings.NewReader(body)); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		smtpc := &deliver.SMTP{Hostname: "mx.example.test", Logger: slog.New(slog.DiscardHandler)}
		q := &queue.Queue{
			Store: sp,
			Router: queue.RouterFunc(func(context.Context, *queue.Message, string) (queue.Route, error) {
				return queue.Route{Transport: "smtp", Nexthop: "[127.0.0.1]:" + port(sink.Addr)}, nil
			}),
			Transports: map[string]queue.Deliverer{"smtp": smtpc},
			Logger:     slog.New(slog.DiscardHandler),
		}
		qctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		b.StartTimer()
		go func() { done <- q.Run(qctx) }()
		for sp.Len() > 0 {
			time.Sleep(5 * time.Millisecond)
		}
		b.StopTimer()
		cancel()
		<-done
		smtpc.Close()
		if s := q.Stats(); s.Delivered != n {
			b.Fatalf("delivered %d of %d", s.Delivered, n)
		}
		sp.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
