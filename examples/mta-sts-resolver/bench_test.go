package main

import (
	"bufio"
	"net"
	"sync"
	"testing"

	"github.com/mxkit/mxkit/internal/netstring"
)

// BenchmarkCachedAnswers measures cached socketmap answers over loopback
// with 50 connections, each asking in turn (one request, one reply, as
// Postfix does). The policy of good.loc is in the cache and within
// cache_grace, and its DANE verdict (not DANE) too: no DNS, no HTTP.
// Report answers per second with the answers/s metric.
func BenchmarkCachedAnswers(b *testing.B) {
	e := start(b, "")
	const want = "OK secure match=mail.loc servername=hostname"
	if got := ask(b, e.addr, "postfix", "good.loc"); got != want {
		b.Fatalf("got %q", got)
	}
	const conns = 50
	req := netstring.Encode("postfix good.loc")
	type conn struct {
		c net.Conn
		r *netstring.Reader
		w *bufio.Writer
	}
	cs := make([]conn, conns)
	for i := range cs {
		c, err := net.Dial("tcp", e.addr)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		cs[i] = conn{c, netstring.NewReader(c, 1000), bufio.NewWriter(c)}
	}
	work := make(chan struct{}, 1024)
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for _, c := range cs {
		wg.Go(func() {
			for range work {
				c.w.Write(req)
				if err := c.w.Flush(); err != nil {
					errs <- err
					return
				}
				reply, err := c.r.Next()
				if err != nil || string(reply) != want {
					errs <- err
					return
				}
			}
		})
	}
	b.ResetTimer()
	n := 0
	for b.Loop() {
		work <- struct{}{}
		n++
	}
	close(work)
	wg.Wait()
	b.StopTimer()
	select {
	case err := <-errs:
		b.Fatalf("bad reply: %v", err)
	default:
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "answers/s")
}
