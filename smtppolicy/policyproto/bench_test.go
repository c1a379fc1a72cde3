package policyproto

import (
	"bufio"
	"context"
	"net"
	"sync"
	"testing"
	"time"
)

// BenchmarkServer50Conns measures the policy server: 50 client
// connections over loopback, each sending queries one after the other as
// Postfix's smtpd processes do. Reported as requests/s.
func BenchmarkServer50Conns(b *testing.B) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &Server{Logger: quiet, Handler: decide}
	go srv.Serve(l)
	defer srv.Shutdown(context.Background())

	q := Request{Request: RequestType, ProtocolState: "RCPT", ProtocolName: "ESMTP", ClientAddress: "192.0.2.1",
		ClientName: "unknown", ReverseClientName: "unknown", HeloName: "client.example", Sender: "a@example.org",
		Recipient: "refused@example.com", Instance: "1.2.3", ClientPort: 40000, ServerAddress: "127.0.0.1", ServerPort: 25}
	payload, err := q.AppendTo(nil)
	if err != nil {
		b.Fatal(err)
	}
	const conns = 50
	type client struct {
		c  net.Conn
		br *bufio.Reader
	}
	clients := make([]client, conns)
	for i := range clients {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		clients[i] = client{c, bufio.NewReader(c)}
	}
	work := make(chan struct{}, conns)
	var wg sync.WaitGroup
	var failed sync.Once
	for _, cl := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range work {
				if _, err := cl.c.Write(payload); err != nil {
					failed.Do(func() { b.Error(err) })
					return
				}
				if a, err := ReadReply(cl.br, Limits{}); err != nil || a != "550 5.7.1 go away" {
					failed.Do(func() { b.Error(a, err) })
					return
				}
			}
		}()
	}
	start := time.Now()
	n := 0
	for b.Loop() {
		work <- struct{}{}
		n++
	}
	close(work)
	wg.Wait()
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "requests/s")
}
