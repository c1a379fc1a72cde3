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

	"github.com/mxkit/mxkit/internal/testdnssec"
	"github.com/mxkit/mxkit/internal/testpostfix"
	"github.com/mxkit/mxkit/internal/testproc"
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
	_, err := exec.LookPath("smtp-source")
	testproc.Require(b, "smtp-source (Debian package postfix)", err)
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

// BenchmarkDeliverByMX is the end-to-end rate of relaying by MX lookup,
// Postfix 3.7 and this MX side by side in one run: Postfix's smtp-source
// sends 2,000 messages of 4 kB over 10 sessions from mynetworks to
// u@sink.dane.test; the MTA queues each one on disk before its 250, looks
// sink.dane.test's MX up in a Knot-signed zone through a validating
// Unbound on loopback (smtp_dns_support_level = dnssec), and delivers to
// Postfix's smtp-sink (which dumps each message to a file, on tmpfs where
// /dev/shm exists, so that the sink does not load the queues' disk). The
// timer runs until the sink holds every message.
//
//	go test -run '^$' -bench DeliverByMX -benchtime 1x ./examples/mx
func BenchmarkDeliverByMX(b *testing.B) {
	_, err := exec.LookPath("smtp-source")
	testproc.Require(b, "smtp-source (Debian package postfix)", err)
	testpostfix.Require(b)
	const dnsAddr = "127.0.25.63"
	chain := testdnssec.Start(b, testdnssec.Config{ResolverListen: dnsAddr + ":53", Zones: []testdnssec.Zone{
		{Name: "sink.dane.test.", Security: testdnssec.Secure, Records: []string{"@ MX 10 mx", "mx A 127.0.0.1"}},
	}})
	common := "mydestination =\nrelay_domains =\nmynetworks = 127.0.0.0/8\nsmtpd_peername_lookup = no\ninet_protocols = ipv4\n" +
		"smtp_dns_support_level = dnssec\nsmtp_tls_security_level = may\nsmtpd_helo_required = no\n" +
		"default_destination_concurrency_limit = 20\n"
	const messages = 2000
	run := func(b *testing.B, name string, start func(sinkPort string) (addr string)) {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				// The sink dumps to tmpfs when there is one: its writes are
				// the measuring device's, not the MTA's.
				dump := b.TempDir()
				if d, err := os.MkdirTemp("/dev/shm", "mxkit-sink"); err == nil {
					dump = d
					b.Cleanup(func() { os.RemoveAll(d) })
				}
				sink := testpostfix.StartSink(b, testpostfix.SinkOptions{DumpDir: dump})
				addr := start(port(sink.Addr))
				b.StartTimer()
				cmd := exec.Command("smtp-source", "-s", "10", "-m", strconv.Itoa(messages), "-l", "4096",
					"-f", "sender@example.org", "-t", "u@sink.dane.test", "-M", "client.example.org", "inet:"+addr)
				if out, err := cmd.CombinedOutput(); err != nil {
					b.Fatalf("smtp-source: %v\n%s", err, out)
				}
				for deadline := time.Now().Add(5 * time.Minute); countFiles(sink.Dir) < messages; time.Sleep(20 * time.Millisecond) {
					if time.Now().After(deadline) {
						b.Fatalf("%s: the sink got %d of %d messages", name, countFiles(sink.Dir), messages)
					}
				}
			}
			b.ReportMetric(float64(messages)*float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
	run(b, "postfix", func(sinkPort string) string {
		pf := testpostfix.Start(b, testpostfix.Options{
			ResolvConf: "nameserver " + dnsAddr + "\noptions trust-ad\n",
			MainCF: common + "transport_maps = inline:{ sink.dane.test=smtp:sink.dane.test:" + sinkPort + " }\n" +
				"default_transport = smtp\nrelay_transport = smtp\ndnssec_probe = ns:dane.test\n",
			MasterCF: "smtp unix - - n - - smtp\n",
		})
		return pf.Addr
	})
	run(b, "mxkit", func(sinkPort string) string {
		cf := "compatibility_level = 3.6\nmyhostname = mx.example.test\ninet_interfaces = 127.0.0.1\n" + common +
			"transport_maps = inline:{ sink.dane.test=smtp:sink.dane.test:" + sinkPort + " }\n"
		addr, _ := startMX(b, "-config", writeConfig(b, cf), "-resolver", chain.ResolverAddr)
		return addr
	})
}

// countFiles counts the regular files under dir.
func countFiles(dir string) int {
	n := 0
	_ = filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
		}
		return nil
	})
	return n
}
