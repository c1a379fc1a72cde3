package tlsrpt_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/mxkit/mxkit/tlspolicy/tlsrpt"
	"github.com/mxkit/mxkit/tlspolicy/tlsrpt/tlsrpttest"
)

// TestSchedule: in a synctest bubble (its clock starts at 2000-01-01
// 00:00 UTC), a day's report goes out once, 4 to 6 minutes after the
// next midnight UTC; a failed submission is retried 30 minutes later.
func TestSchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := &tlsrpt.MemoryStore{}
		g := &tlsrpt.Aggregator{Store: store}
		f := tlsrpttest.Failure
		record := func() {
			g.Record(tlsrpt.Result{Policy: tlsrpttest.STS, Failure: &f})
			g.Record(tlsrpt.Result{Policy: tlsrpttest.STS})
		}
		record()
		res := &txtResolver{txt: map[string][]string{"_smtp._tls.example.com": {"v=TLSRPTv1; rua=mailto:tlsrpt@example.com"}}}
		out := &outbox{err: errors.New("queue down")}
		r := &tlsrpt.Reporter{Store: store, Aggregator: g, Resolver: res, Mail: out, Submitter: "sub", Logger: quiet}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { done <- r.Run(ctx) }()

		start := time.Now()
		midnight := start.Add(24 * time.Hour)
		time.Sleep(24*time.Hour - time.Second)
		synctest.Wait()
		if q := res.questions(); len(q) != 0 {
			t.Fatalf("DNS asked before the day was over: %v", q)
		}
		time.Sleep(10 * time.Minute) // 00:09:59 on the 2nd
		synctest.Wait()
		if q := res.questions(); len(q) != 1 || len(out.all()) != 0 {
			t.Fatalf("after midnight: asked %v, sent %d", q, len(out.all()))
		}
		out.mu.Lock()
		out.err = nil
		out.mu.Unlock()
		record() // results of the 2nd: not in the report of the 1st
		time.Sleep(30 * time.Minute)
		synctest.Wait()
		msgs := out.all()
		if len(msgs) != 1 {
			t.Fatalf("%d messages after the retry, want 1", len(msgs))
		}
		if at := msgs[0].at.Sub(midnight); at < 34*time.Minute || at >= 36*time.Minute {
			t.Errorf("retry sent at midnight + %v, want 34 to 36 min", at)
		}
		// The 2nd's report goes out after the next midnight, once.
		time.Sleep(24*time.Hour - 40*time.Minute)
		synctest.Wait()
		if n := len(out.all()); n != 1 {
			t.Fatalf("%d messages before the second midnight", n)
		}
		time.Sleep(7 * time.Minute)
		synctest.Wait()
		msgs = out.all()
		if len(msgs) != 2 {
			t.Fatalf("%d messages after the second midnight, want 2", len(msgs))
		}
		if at := msgs[1].at.Sub(midnight.Add(24 * time.Hour)); at < 4*time.Minute || at >= 6*time.Minute {
			t.Errorf("sent at midnight + %v, want 4 to 6 min", at)
		}
		time.Sleep(3 * 24 * time.Hour)
		synctest.Wait()
		if n := len(out.all()); n != 2 {
			t.Errorf("%d messages three days later, want 2", n)
		}
		if a := store.Get(tlsrpt.Key{Domain: "example.com", Day: start}); a != nil {
			t.Errorf("old aggregate kept: %+v", a)
		}
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run = %v", err)
		}
	})
}

// TestAggregatorRun: results reach the store within FlushInterval and at
// shutdown.
func TestAggregatorRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := &tlsrpt.MemoryStore{}
		g := &tlsrpt.Aggregator{Store: store}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { done <- g.Run(ctx) }()
		k := tlsrpt.Key{Domain: "example.com", Day: time.Now().UTC().Truncate(24 * time.Hour)}
		g.Record(tlsrpt.Result{Policy: tlsrpttest.STS})
		synctest.Wait()
		if store.Get(k) != nil {
			t.Fatal("stored before the interval")
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		if a := store.Get(k); a == nil || a.Policies[0].Successes != 1 {
			t.Fatalf("after a minute: %+v", a)
		}
		g.Record(tlsrpt.Result{Policy: tlsrpttest.STS})
		cancel()
		<-done
		if a := store.Get(k); a.Policies[0].Successes != 2 {
			t.Errorf("after shutdown: %+v", a)
		}
	})
}
