package pgstore

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/mxkit/mxkit/internal/testdb"
)

// The test server runs with fsync=off, so these figures measure
// round trips and PostgreSQL's CPU work, not the disk.

var body1K = bytes.Repeat([]byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\r\n"), 16)

func BenchmarkPut(b *testing.B) {
	p := testdb.StartPostgres(b)
	for _, writers := range []int{1, 20} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			s := connect(b, p, newPrefix())
			ctx := context.Background()
			b.SetBytes(int64(len(body1K)))
			if writers == 1 {
				for b.Loop() {
					if err := s.Put(ctx, msg("bench"), bytes.NewReader(body1K)); err != nil {
						b.Fatal(err)
					}
				}
				return
			}
			b.SetParallelism((writers + 1) / 2) // GOMAXPROCS is 2 here
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := s.Put(ctx, msg("bench"), bytes.NewReader(body1K)); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkLeaseFinish measures one Lease of 10 messages and their 10
// Finishes per operation; msgs/s is the resulting throughput of a runner.
func BenchmarkLeaseFinish(b *testing.B) {
	p := testdb.StartPostgres(b)
	s := connect(b, p, newPrefix())
	ctx := context.Background()
	fill := func() {
		for range 1000 {
			if err := s.Put(ctx, msg("bench"), bytes.NewReader(body1K)); err != nil {
				b.Fatal(err)
			}
		}
	}
	now := time.Now().Add(time.Hour)
	var msgs int
	start := time.Now()
	var paused time.Duration
	for b.Loop() {
		ms, err := s.Lease(ctx, "bench", now, 10, time.Minute)
		if err != nil {
			b.Fatal(err)
		}
		if len(ms) == 0 {
			b.StopTimer()
			t0 := time.Now()
			fill()
			paused += time.Since(t0)
			b.StartTimer()
			continue
		}
		for _, m := range ms {
			if err := s.Finish(ctx, "bench", m.ID); err != nil {
				b.Fatal(err)
			}
		}
		msgs += len(ms)
	}
	b.ReportMetric(float64(msgs)/(time.Since(start)-paused).Seconds(), "msgs/s")
}
