package queue_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mxkit/mxkit/queue"
)

// fakeTransport records deliveries and answers with the function's result.
type fakeTransport struct {
	mu     sync.Mutex
	calls  [][]string // recipients of each delivery
	bodies []string
	answer func(d *queue.Delivery, rcpt string) queue.Result
	block  chan struct{} // if not nil, deliveries wait for it (or ctx)

	cur, peak atomic.Int32
}

func (f *fakeTransport) Deliver(ctx context.Context, d *queue.Delivery) []queue.Result {
	n := f.cur.Add(1)
	defer f.cur.Add(-1)
	for {
		p := f.peak.Load()
		if n <= p || f.peak.CompareAndSwap(p, n) {
			break
		}
	}
	if f.block != nil {
		select {
		case <-f.block:
		case <-ctx.Done():
			return queue.Results(len(d.Rcpts), queue.Deferf("4.4.2", "interrupted"))
		}
	}
	var body string
	if rc, err := d.Open(ctx); err == nil {
		b, _ := io.ReadAll(rc)
		rc.Close()
		body = string(b)
	}
	f.mu.Lock()
	f.calls = append(f.calls, d.Addrs())
	f.bodies = append(f.bodies, body)
	f.mu.Unlock()
	out := make([]queue.Result, len(d.Rcpts))
	for i, a := range d.Addrs() {
		if f.answer != nil {
			out[i] = f.answer(d, a)
		} else {
			out[i] = queue.Result{Status: queue.Delivered, DSN: "2.0.0", Text: "250 2.0.0 Ok", Remote: "sink.example"}
		}
	}
	return out
}

func (f *fakeTransport) ncalls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

// byDomain routes every recipient to transport "test" with its domain as
// next hop.
var byDomain = queue.RouterFunc(func(_ context.Context, _ *queue.Message, rcpt string) (queue.Route, error) {
	_, d, _ := strings.Cut(rcpt, "@")
	return queue.Route{Transport: "test", Nexthop: d}, nil
})

type harness struct {
	t     *testing.T
	spool *queue.Spool
	tr    *fakeTransport
	q     *queue.Queue
	now   atomic.Pointer[time.Time]
	stop  func()
}

var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

func newHarness(t *testing.T, tr *fakeTransport) *harness {
	t.Helper()
	h := &harness{t: t, spool: openSpool(t, t.TempDir(), nil), tr: tr}
	h.setNow(t0)
	h.q = &queue.Queue{
		Store:      h.spool,
		Router:     byDomain,
		Transports: map[string]queue.Deliverer{"test": tr},
		Poll:       20 * time.Millisecond,
		Now:        func() time.Time { return *h.now.Load() },
		DSN:        queue.DSNOptions{ReportingMTA: "mx.example.test"},
		Logger:     slog.New(slog.DiscardHandler),
	}
	return h
}

func (h *harness) setNow(t time.Time) { h.now.Store(&t) }

func (h *harness) run() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.q.Run(ctx) }()
	h.stop = func() {
		cancel()
		if err := <-done; err != nil {
			h.t.Errorf("Run: %v", err)
		}
	}
	h.t.Cleanup(func() {
		if h.stop != nil {
			h.stop()
		}
	})
}

func (h *harness) halt() {
	h.stop()
	h.stop = nil
}

func (h *harness) put(sender string, arrival time.Time, rcpts ...string) *queue.Message {
	h.t.Helper()
	m := &queue.Message{Sender: sender, Arrival: arrival}
	for _, r := range rcpts {
		m.Recipients = append(m.Recipients, queue.Recipient{Addr: r})
	}
	if err := h.spool.Put(context.Background(), m, strings.NewReader("Subject: test\r\nMessage-ID: <"+sender+">\r\n\r\nbody\r\n")); err != nil {
		h.t.Fatal(err)
	}
	h.q.Kick()
	return m
}

// waitFor polls cond until it holds; a generous limit only guards against
// a hang (this is not a timing assertion).
func (h *harness) waitFor(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (h *harness) get(id string) *queue.Message {
	h.t.Helper()
	m, err := h.spool.Get(context.Background(), id)
	if err != nil {
		h.t.Fatalf("Get %s: %v", id, err)
	}
	return m
}

func (h *harness) gone(id string) func() bool {
	return func() bool {
		_, err := h.spool.Get(context.Background(), id)
		return err != nil
	}
}

// attempted waits until message id has been tried n times.
func (h *harness) attempted(id string, n int) func() bool {
	return func() bool {
		m, err := h.spool.Get(context.Background(), id)
		return err == nil && m.Attempts >= n
	}
}

// notifications returns the queued messages with the null sender.
func (h *harness) notifications() []*queue.Message {
	ms, _ := h.spool.List(context.Background())
	var out []*queue.Message
	for _, m := range ms {
		if m.Sender == "" {
			out = append(out, m)
		}
	}
	return out
}

func (h *harness) body(id string) string {
	rc, err := h.spool.Body(context.Background(), id)
	if err != nil {
		h.t.Fatal(err)
	}
	defer rc.Close()
	b, _ := io.ReadAll(rc)
	// Unfold header continuation lines so tests can match whole fields.
	return strings.NewReplacer("\r\n\t", " ", "\r\n    ", " ", "\r\n ", " ").Replace(string(b))
}

func TestQueueDelivers(t *testing.T) {
	tr := &fakeTransport{}
	h := newHarness(t, tr)
	h.run()
	m := h.put("alice@example.org", t0, "bob@example.test", "carol@example.test", "dave@other.test")
	h.waitFor("delivery", h.gone(m.ID))
	if got := fmt.Sprint(tr.calls); got != "[[bob@example.test carol@example.test] [dave@other.test]]" &&
		got != "[[dave@other.test] [bob@example.test carol@example.test]]" {
		t.Errorf("deliveries = %s, want one per destination", got)
	}
	if !strings.Contains(tr.bodies[0], "Subject: test\r\n") {
		t.Errorf("body = %q", tr.bodies[0])
	}
	if s := h.q.Stats(); s.Delivered != 3 || s.Bounced != 0 || s.Deferred != 0 || s.Attempts != 1 {
		t.Errorf("stats = %+v", s)
	}
	if n := h.notifications(); len(n) != 0 {
		t.Errorf("%d notifications queued for a delivered message", len(n))
	}
}

func TestQueueDefersWithBackoff(t *testing.T) {
	tr := &fakeTransport{answer: func(_ *queue.Delivery, _ string) queue.Result {
		return queue.Result{Status: queue.Deferred, DSN: "4.2.0", Text: "450 4.2.0 Greylisted", Remote: "mx.example.test"}
	}}
	h := newHarness(t, tr)
	h.q.Schedule.Jitter = -1
	h.run()
	// Arrived 10 minutes ago: the interval is the age (600 s), within
	// [300 s, 4000 s].
	m := h.put("alice@example.org", t0.Add(-10*time.Minute), "bob@example.test")
	h.waitFor("first attempt", h.attempted(m.ID, 1))
	got := h.get(m.ID)
	r := got.Recipients[0]
	if r.Status != queue.Deferred || r.DSNCode != "4.2.0" || r.Reply != "450 4.2.0 Greylisted" || r.Remote != "mx.example.test" || !r.FromRemote || r.Attempts != 1 || !r.LastAttempt.Equal(t0) {
		t.Errorf("recipient = %+v", r)
	}
	if want := t0.Add(10 * time.Minute); !got.NextAttempt.Equal(want) {
		t.Errorf("NextAttempt = %v, want %v", got.NextAttempt, want)
	}
	// Not due yet: no second attempt however often the runner looks.
	time.Sleep(100 * time.Millisecond)
	if n := tr.ncalls(); n != 1 {
		t.Errorf("%d deliveries before the retry time, want 1", n)
	}
	// At the retry time it is tried again; the age is now 20 minutes.
	h.setNow(t0.Add(10 * time.Minute))
	h.q.Kick()
	h.waitFor("second attempt", h.attempted(m.ID, 2))
	if got := h.get(m.ID); !got.NextAttempt.Equal(t0.Add(30*time.Minute)) || got.Recipients[0].Attempts != 2 {
		t.Errorf("after 2nd attempt: next %v attempts %d", got.NextAttempt, got.Recipients[0].Attempts)
	}
}

func TestScheduleInterval(t *testing.T) {
	var s queue.Schedule
	for _, tc := range []struct {
		age  time.Duration
		want time.Duration
	}{
		{0, 300 * time.Second},
		{299 * time.Second, 300 * time.Second},
		{1000 * time.Second, 1000 * time.Second},
		{5 * time.Hour, 4000 * time.Second},
	} {
		if got := s.Interval(tc.age, 1); got != tc.want {
			t.Errorf("Interval(%v) = %v, want %v", tc.age, got, tc.want)
		}
	}
	s = queue.Schedule{Backoff: []time.Duration{time.Minute, 10 * time.Minute, time.Hour}}
	for n, want := range map[int]time.Duration{1: time.Minute, 2: 10 * time.Minute, 3: time.Hour, 9: time.Hour} {
		if got := s.Interval(time.Hour, n); got != want {
			t.Errorf("Backoff Interval(attempt %d) = %v, want %v", n, got, want)
		}
	}
	s = queue.Schedule{}
	if s.Expired(t0, t0.Add(5*24*time.Hour-time.Second), false) || !s.Expired(t0, t0.Add(5*24*time.Hour), false) {
		t.Error("default lifetime is not 5 days")
	}
	if !(queue.Schedule{Lifetime: -1}).Expired(t0, t0, false) {
		t.Error("negative lifetime does not expire at once")
	}
	if !(queue.Schedule{BounceLifetime: time.Hour}).Expired(t0, t0.Add(time.Hour), true) {
		t.Error("BounceLifetime not applied to the null sender")
	}
	if (queue.Schedule{}).WarnDelay(t0, t0.Add(100*time.Hour)) {
		t.Error("delay warnings are on by default")
	}
	// Jitter stays within ±10 %.
	for range 200 {
		d := queue.Schedule{}.Next(t0, t0.Add(1000*time.Second), 1).Sub(t0.Add(1000 * time.Second))
		if d < 900*time.Second || d > 1100*time.Second {
			t.Fatalf("jittered interval %v outside [900s, 1100s]", d)
		}
	}
}

func TestQueueBounceSendsDSN(t *testing.T) {
	tr := &fakeTransport{answer: func(_ *queue.Delivery, rcpt string) queue.Result {
		if strings.HasPrefix(rcpt, "nobody") {
			return queue.Result{Status: queue.Bounced, DSN: "5.1.1", Text: "550 5.1.1 <nobody@example.test>: Recipient address rejected: User unknown", Remote: "mx.example.test"}
		}
		return queue.Result{Status: queue.Delivered, DSN: "2.0.0", Text: "250 2.0.0 Ok", Remote: "mx.example.test"}
	}}
	h := newHarness(t, tr)
	h.q.Transports["drop"] = queue.DelivererFunc(func(_ context.Context, d *queue.Delivery) []queue.Result {
		return queue.Results(len(d.Rcpts), queue.Result{Status: queue.Delivered})
	})
	// Notifications go to transport "drop" so they stay observable.
	h.q.Router = queue.RouterFunc(func(ctx context.Context, m *queue.Message, rcpt string) (queue.Route, error) {
		if m.Sender == "" {
			return queue.Route{Transport: "hold"}, nil
		}
		return byDomain(ctx, m, rcpt)
	})
	h.run()
	m := h.put("alice@example.org", t0, "bob@example.test", "nobody@example.test")
	h.waitFor("removal", h.gone(m.ID))
	n := h.notifications()
	if len(n) != 1 {
		t.Fatalf("%d notifications, want 1", len(n))
	}
	d := n[0]
	if len(d.Recipients) != 1 || d.Recipients[0].Addr != "alice@example.org" || d.Recipients[0].Notify != queue.NotifyNever {
		t.Errorf("notification envelope = %+v", d)
	}
	body := h.body(d.ID)
	for _, want := range []string{
		"Final-Recipient: rfc822; nobody@example.test",
		"Action: failed",
		"Status: 5.1.1",
		"Diagnostic-Code: smtp; 550 5.1.1 <nobody@example.test>: Recipient address rejected: User unknown",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("DSN lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, "bob@example.test") {
		t.Errorf("DSN mentions the delivered recipient:\n%s", body)
	}
}

func TestQueueNullSenderNeverNotified(t *testing.T) {
	tr := &fakeTransport{answer: func(*queue.Delivery, string) queue.Result {
		return queue.Result{Status: queue.Bounced, DSN: "5.1.1", Text: "550 5.1.1 unknown", Remote: "mx.example.test"}
	}}
	h := newHarness(t, tr)
	h.run()
	m := h.put("", t0, "bob@example.test")
	h.waitFor("removal", h.gone(m.ID))
	if n := h.notifications(); len(n) != 0 {
		t.Errorf("%d notifications for a null-sender message, want 0", len(n))
	}
	if s := h.q.Stats(); s.Bounced != 1 || s.Notifications != 0 {
		t.Errorf("stats = %+v", s)
	}
}

func TestQueueNotifyNever(t *testing.T) {
	tr := &fakeTransport{answer: func(*queue.Delivery, string) queue.Result {
		return queue.Result{Status: queue.Bounced, DSN: "5.1.1", Text: "550 5.1.1 unknown", Remote: "mx.example.test"}
	}}
	h := newHarness(t, tr)
	h.run()
	m := &queue.Message{Sender: "alice@example.org", Arrival: t0, Recipients: []queue.Recipient{{Addr: "bob@example.test", Notify: queue.NotifyNever}}}
	if err := h.spool.Put(context.Background(), m, strings.NewReader("x\r\n")); err != nil {
		t.Fatal(err)
	}
	h.q.Kick()
	h.waitFor("removal", h.gone(m.ID))
	if n := h.notifications(); len(n) != 0 {
		t.Errorf("%d notifications despite NOTIFY=NEVER", len(n))
	}
}

func TestQueueSoftBounce(t *testing.T) {
	tr := &fakeTransport{answer: func(*queue.Delivery, string) queue.Result {
		return queue.Result{Status: queue.Bounced, DSN: "5.1.1", Text: "550 5.1.1 unknown", Remote: "mx.example.test"}
	}}
	h := newHarness(t, tr)
	h.q.SoftBounce = true
	h.run()
	// Even a message far past its lifetime is kept.
	m := h.put("alice@example.org", t0.Add(-30*24*time.Hour), "bob@example.test")
	h.waitFor("attempt", h.attempted(m.ID, 1))
	r := h.get(m.ID).Recipients[0]
	if r.Status != queue.Deferred || r.DSNCode != "4.1.1" {
		t.Errorf("soft bounce: status %v dsn %s, want deferred 4.1.1", r.Status, r.DSNCode)
	}
	if n := h.notifications(); len(n) != 0 {
		t.Errorf("%d notifications under soft_bounce", len(n))
	}
}

func TestQueueExpiry(t *testing.T) {
	tr := &fakeTransport{answer: func(*queue.Delivery, string) queue.Result {
		return queue.Result{Status: queue.Deferred, DSN: "4.4.1", Text: "connect to [192.0.2.1]:25: Connection refused"}
	}}
	h := newHarness(t, tr)
	h.run()
	m := h.put("alice@example.org", t0.Add(-5*24*time.Hour-time.Minute), "bob@example.test")
	h.waitFor("removal", h.gone(m.ID))
	n := h.notifications()
	if len(n) != 1 {
		t.Fatalf("%d notifications, want 1", len(n))
	}
	body := h.body(n[0].ID)
	for _, want := range []string{"Action: failed", "Status: 4.4.1", "Connection refused"} {
		if !strings.Contains(body, want) {
			t.Errorf("expiry DSN lacks %q:\n%s", want, body)
		}
	}
}

func TestQueueDelayWarning(t *testing.T) {
	tr := &fakeTransport{answer: func(*queue.Delivery, string) queue.Result {
		return queue.Result{Status: queue.Deferred, DSN: "4.4.1", Text: "connect to [192.0.2.1]:25: Connection refused"}
	}}
	h := newHarness(t, tr)
	h.q.Schedule.DelayWarning = 6 * time.Hour
	h.q.Router = queue.RouterFunc(func(ctx context.Context, m *queue.Message, rcpt string) (queue.Route, error) {
		if m.Sender == "" {
			return queue.Route{Transport: "hold"}, nil // keep notifications observable
		}
		// a fresh destination each time: no suspension
		return queue.Route{Transport: "test", Nexthop: m.ID + fmt.Sprint(m.Attempts)}, nil
	})
	h.run()
	young := h.put("young@example.org", t0.Add(-time.Hour), "bob@example.test")
	old := h.put("old@example.org", t0.Add(-7*time.Hour), "bob@example.test")
	h.waitFor("attempts", func() bool { return h.attempted(young.ID, 1)() && h.attempted(old.ID, 1)() })
	if !h.get(old.ID).DelayWarned || h.get(young.ID).DelayWarned {
		t.Errorf("DelayWarned: old %v young %v, want true false", h.get(old.ID).DelayWarned, h.get(young.ID).DelayWarned)
	}
	n := h.notifications()
	if len(n) != 1 || n[0].Recipients[0].Addr != "old@example.org" {
		t.Fatalf("notifications = %d, want one to old@example.org", len(n))
	}
	body := h.body(n[0].ID)
	for _, want := range []string{"Action: delayed", "Status: 4.4.1", "Will-Retry-Until:"} {
		if !strings.Contains(body, want) {
			t.Errorf("delay DSN lacks %q:\n%s", want, body)
		}
	}
	// A second attempt sends no second warning.
	h.setNow(t0.Add(2 * time.Hour))
	h.q.Kick()
	h.waitFor("second attempt", h.attempted(old.ID, 2))
	if n := h.notifications(); len(n) != 1 {
		t.Errorf("%d notifications after the second attempt, want 1", len(n))
	}
}

func TestQueueDestinationConcurrency(t *testing.T) {
	tr := &fakeTransport{block: make(chan struct{})}
	h := newHarness(t, tr)
	h.q.Limit.Concurrency = 2
	h.run()
	var ids []string
	for i := range 6 {
		ids = append(ids, h.put(fmt.Sprintf("s%d@example.org", i), t0, "bob@example.test").ID)
	}
	other := h.put("x@example.org", t0, "carol@other.test")
	h.waitFor("two deliveries to example.test and one to other.test", func() bool { return tr.cur.Load() == 3 })
	time.Sleep(50 * time.Millisecond)
	if p := tr.peak.Load(); p != 3 {
		t.Errorf("peak concurrency %d, want 3 (2 for example.test + 1 for other.test)", p)
	}
	close(tr.block)
	for _, id := range append(ids, other.ID) {
		h.waitFor("delivery", h.gone(id))
	}
}

func TestQueueRateDelaySerializes(t *testing.T) {
	tr := &fakeTransport{}
	h := newHarness(t, tr)
	h.q.Limit = queue.Limit{Concurrency: 10, RateDelay: 10 * time.Millisecond}
	h.run()
	var ids []string
	for i := range 5 {
		ids = append(ids, h.put(fmt.Sprintf("s%d@example.org", i), t0, "bob@example.test").ID)
	}
	for _, id := range ids {
		h.waitFor("delivery", h.gone(id))
	}
	if p := tr.peak.Load(); p != 1 {
		t.Errorf("peak concurrency with a rate delay = %d, want 1", p)
	}
}

func TestQueueRecipientLimit(t *testing.T) {
	tr := &fakeTransport{}
	h := newHarness(t, tr)
	h.run()
	var rcpts []string
	for i := range 120 {
		rcpts = append(rcpts, fmt.Sprintf("r%d@example.test", i))
	}
	m := h.put("alice@example.org", t0, rcpts...)
	h.waitFor("delivery", h.gone(m.ID))
	var sizes []int
	for _, c := range tr.calls {
		sizes = append(sizes, len(c))
	}
	total := 0
	for _, s := range sizes {
		total += s
		if s > 50 {
			t.Errorf("a delivery with %d recipients (limit 50)", s)
		}
	}
	if len(sizes) != 3 || total != 120 {
		t.Errorf("deliveries %v, want 3 totalling 120", sizes)
	}
}

func TestQueueDeadDestinationSuspended(t *testing.T) {
	tr := &fakeTransport{answer: func(*queue.Delivery, string) queue.Result {
		return queue.Deferf("4.4.1", "connect to [192.0.2.1]:25: Connection refused")
	}}
	h := newHarness(t, tr)
	h.q.MaxActive = 1 // one message at a time: the order is known
	h.run()
	a := h.put("a@example.org", t0, "bob@example.test")
	h.waitFor("attempt", h.attempted(a.ID, 1))
	b := h.put("b@example.org", t0, "carol@example.test")
	h.waitFor("attempt", h.attempted(b.ID, 1))
	if n := tr.ncalls(); n != 1 {
		t.Errorf("%d connection attempts, want 1 (the destination is suspended)", n)
	}
	if r := h.get(b.ID).Recipients[0]; r.Reply != "delivery temporarily suspended: connect to [192.0.2.1]:25: Connection refused" || r.DSNCode != "4.4.1" {
		t.Errorf("suspended recipient = %+v", r)
	}
	// A flush lifts the suspension.
	if n, err := h.q.Flush(context.Background(), "example.test"); err != nil || n != 2 {
		t.Errorf("Flush = %d, %v; want 2, nil", n, err)
	}
	h.waitFor("attempt after flush", h.attempted(b.ID, 2))
	if n := tr.ncalls(); n < 2 {
		t.Errorf("%d connection attempts after a flush, want at least 2", n)
	}
}

func TestQueueRouteErrors(t *testing.T) {
	tr := &fakeTransport{}
	h := newHarness(t, tr)
	h.q.Router = queue.RouterFunc(func(_ context.Context, _ *queue.Message, rcpt string) (queue.Route, error) {
		if strings.HasPrefix(rcpt, "fail") {
			return queue.Route{}, fmt.Errorf("pgsql:/etc/postfix/transport.cf: connection refused")
		}
		return queue.Route{Transport: "nosuch", Nexthop: "x"}, nil
	})
	h.run()
	m := h.put("a@example.org", t0, "fail@example.test", "other@example.test")
	h.waitFor("attempt", h.attempted(m.ID, 1))
	got := h.get(m.ID).Recipients
	if got[0].Status != queue.Deferred || got[0].DSNCode != "4.3.0" || got[0].Reply != "transport table lookup failed: pgsql:/etc/postfix/transport.cf: connection refused" {
		t.Errorf("lookup failure: %+v", got[0])
	}
	if got[1].Status != queue.Deferred || got[1].DSNCode != "4.3.5" || got[1].Reply != `mail transport unavailable: no transport "nosuch"` {
		t.Errorf("unknown transport: %+v", got[1])
	}
}

func TestQueueHoldReleaseDelete(t *testing.T) {
	tr := &fakeTransport{}
	h := newHarness(t, tr)
	ctx := context.Background()
	held := h.put("a@example.org", t0, "bob@example.test")
	doomed := h.put("b@example.org", t0, "bob@example.test")
	if err := h.q.Hold(ctx, held.ID); err != nil {
		t.Fatal(err)
	}
	if err := h.q.Delete(ctx, doomed.ID); err != nil {
		t.Fatal(err)
	}
	h.run()
	time.Sleep(100 * time.Millisecond)
	if n := tr.ncalls(); n != 0 {
		t.Fatalf("%d deliveries of a held or deleted message", n)
	}
	if !h.get(held.ID).Hold {
		t.Fatal("held message lost its hold")
	}
	if err := h.q.Release(ctx, held.ID); err != nil {
		t.Fatal(err)
	}
	h.waitFor("delivery after release", h.gone(held.ID))
	if err := h.q.Hold(ctx, "nosuch"); err == nil {
		t.Error("Hold of an unknown ID succeeded")
	}
}

func TestQueueHoldDuringDelivery(t *testing.T) {
	tr := &fakeTransport{block: make(chan struct{}), answer: func(*queue.Delivery, string) queue.Result {
		return queue.Deferf("4.2.0", "busy")
	}}
	h := newHarness(t, tr)
	h.run()
	m := h.put("a@example.org", t0, "bob@example.test")
	h.waitFor("delivery start", func() bool { return tr.cur.Load() == 1 })
	if err := h.q.Hold(context.Background(), m.ID); err != nil {
		t.Fatal(err)
	}
	close(tr.block)
	h.waitFor("attempt", h.attempted(m.ID, 1))
	if got := h.get(m.ID); !got.Hold || got.Recipients[0].Status != queue.Deferred {
		t.Errorf("after hold during delivery: hold %v status %v, want true deferred", got.Hold, got.Recipients[0].Status)
	}
}

func TestQueueFlushDomain(t *testing.T) {
	tr := &fakeTransport{answer: func(*queue.Delivery, string) queue.Result { return queue.Deferf("4.2.0", "later") }}
	h := newHarness(t, tr)
	h.run()
	a := h.put("a@example.org", t0, "bob@example.test")
	b := h.put("b@example.org", t0, "carol@other.test")
	h.waitFor("attempts", func() bool { return h.attempted(a.ID, 1)() && h.attempted(b.ID, 1)() })
	h.halt()
	n, err := h.q.Flush(context.Background(), "EXAMPLE.TEST.")
	if err != nil || n != 1 {
		t.Fatalf("Flush(example.test) = %d, %v; want 1, nil", n, err)
	}
	if !h.get(a.ID).NextAttempt.IsZero() || h.get(b.ID).NextAttempt.IsZero() {
		t.Errorf("Flush(example.test) changed the wrong messages")
	}
}

func TestQueueShutdownInterruptsWithoutPenalty(t *testing.T) {
	tr := &fakeTransport{block: make(chan struct{})}
	h := newHarness(t, tr)
	h.run()
	m := h.put("a@example.org", t0, "bob@example.test")
	h.waitFor("delivery start", func() bool { return tr.cur.Load() == 1 })
	h.halt()
	got := h.get(m.ID)
	if got.Attempts != 0 || got.Recipients[0].Attempts != 0 || !got.NextAttempt.IsZero() || got.Recipients[0].Status != queue.Pending {
		t.Errorf("after an interrupted attempt: %+v, want untouched and due", got)
	}
}

func TestQueueSuccessNotifications(t *testing.T) {
	tr := &fakeTransport{answer: func(_ *queue.Delivery, rcpt string) queue.Result {
		// A next hop that takes over DSN duties for "dsn" recipients.
		return queue.Result{Status: queue.Delivered, DSN: "2.0.0", Text: "250 2.0.0 Ok", Remote: "next.example", Relayed: strings.HasPrefix(rcpt, "dsn")}
	}}
	h := newHarness(t, tr)
	h.q.Transports["lmtp"] = tr
	h.q.Router = queue.RouterFunc(func(ctx context.Context, m *queue.Message, rcpt string) (queue.Route, error) {
		switch {
		case m.Sender == "":
			return queue.Route{Transport: "hold"}, nil // keep notifications observable
		case strings.HasPrefix(rcpt, "box"):
			return queue.Route{Transport: "lmtp", Nexthop: "unix:/run/lmtp"}, nil
		}
		return byDomain(ctx, m, rcpt)
	})
	h.run()
	m := &queue.Message{Sender: "alice@example.org", Arrival: t0, Recipients: []queue.Recipient{
		{Addr: "relay@example.test", Notify: queue.NotifySuccess},
		{Addr: "box@example.test", Notify: queue.NotifySuccess | queue.NotifyFailure},
		{Addr: "dsn@example.test", Notify: queue.NotifySuccess},
		{Addr: "quiet@example.test"},
	}}
	if err := h.spool.Put(context.Background(), m, strings.NewReader("Subject: x\r\n\r\ny\r\n")); err != nil {
		t.Fatal(err)
	}
	h.q.Kick()
	h.waitFor("removal", h.gone(m.ID))
	h.waitFor("notifications", func() bool { return len(h.notifications()) == 2 })
	var actions []string
	for _, n := range h.notifications() {
		body := h.body(n.ID)
		for _, a := range []string{"Action: relayed", "Action: delivered"} {
			if strings.Contains(body, a) {
				actions = append(actions, a)
			}
		}
		if strings.Contains(body, "dsn@example.test") || strings.Contains(body, "quiet@example.test") {
			t.Errorf("notification mentions a recipient that asked for none here:\n%s", body)
		}
	}
	slices.Sort(actions)
	if strings.Join(actions, ",") != "Action: delivered,Action: relayed" {
		t.Errorf("success notifications %q, want one delivered (lmtp) and one relayed (smtp)", actions)
	}
}

// TestQueueBusyDestinationDoesNotStarveOthers: a backlog for a
// destination that takes its time (one delivery at a time, blocked) does
// not keep mail for another destination waiting.
func TestQueueBusyDestinationDoesNotStarveOthers(t *testing.T) {
	slow := &fakeTransport{block: make(chan struct{})}
	fast := &fakeTransport{}
	h := newHarness(t, slow)
	h.q.Transports["fast"] = fast
	h.q.Router = queue.RouterFunc(func(_ context.Context, _ *queue.Message, rcpt string) (queue.Route, error) {
		if strings.HasSuffix(rcpt, "@fast.test") {
			return queue.Route{Transport: "fast", Nexthop: "fast.test"}, nil
		}
		return queue.Route{Transport: "test", Nexthop: "slow.test"}, nil
	})
	h.q.Limit.Concurrency = 1
	h.run()
	var slowIDs []string
	for i := range 300 {
		slowIDs = append(slowIDs, h.put(fmt.Sprintf("s%d@example.org", i), t0, "u@slow.test").ID)
	}
	h.waitFor("a blocked delivery", func() bool { return slow.cur.Load() == 1 })
	f := h.put("f@example.org", t0, "u@fast.test")
	h.waitFor("the fast destination's delivery", h.gone(f.ID))
	close(slow.block)
	for _, id := range slowIDs {
		h.waitFor("slow delivery", h.gone(id))
	}
	if p := slow.peak.Load(); p != 1 {
		t.Errorf("peak concurrency to the slow destination %d, want 1", p)
	}
}

// lossyLeaser is a Leaser over a Spool whose Renew reports every lease
// lost, as when the runner's leases expired and another runner took the
// messages over.
type lossyLeaser struct {
	*queue.Spool
	mu                 sync.Mutex
	leased             map[string]bool
	released, finished int
}

func (l *lossyLeaser) Lease(ctx context.Context, owner string, now time.Time, limit int, ttl time.Duration) ([]*queue.Message, error) {
	ms, err := l.Spool.Due(ctx, now, 0)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []*queue.Message
	for _, m := range ms {
		if !l.leased[m.ID] && len(out) < limit {
			l.leased[m.ID] = true
			out = append(out, m)
		}
	}
	return out, nil
}

func (l *lossyLeaser) Renew(_ context.Context, _ string, ids []string, _ time.Duration) ([]string, error) {
	return ids, nil
}

func (l *lossyLeaser) Release(ctx context.Context, _ string, m *queue.Message) error {
	l.mu.Lock()
	l.released++
	l.mu.Unlock()
	return l.Spool.Update(ctx, m)
}

func (l *lossyLeaser) Finish(ctx context.Context, _ string, id string) error {
	l.mu.Lock()
	l.finished++
	l.mu.Unlock()
	return l.Spool.Delete(ctx, id)
}

// TestQueueLeaseLost: when Renew reports a lease lost, the delivery in
// flight is canceled and the runner writes nothing back (another runner
// owns the message now).
func TestQueueLeaseLost(t *testing.T) {
	tr := &fakeTransport{block: make(chan struct{})}
	h := newHarness(t, tr)
	l := &lossyLeaser{Spool: h.spool, leased: map[string]bool{}}
	h.q.Store = l
	h.q.LeaseTTL = 150 * time.Millisecond // renewed every 50 ms
	h.run()
	m := h.put("a@example.org", t0, "bob@example.test")
	h.waitFor("delivery start", func() bool { return tr.cur.Load() == 1 })
	h.waitFor("the canceled delivery to end", func() bool { return tr.cur.Load() == 0 })
	h.halt()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.released != 0 || l.finished != 0 {
		t.Errorf("after a lost lease: %d releases, %d finishes; want none", l.released, l.finished)
	}
	if got := h.get(m.ID); got.Attempts != 0 || got.Recipients[0].Status != queue.Pending {
		t.Errorf("message changed by a runner that lost its lease: %+v", got)
	}
}

// TestQueueStoreFailureNoDuplicateStorm: when the store cannot record an
// attempt (full disk), the runner keeps the outcome and writes it before
// any new delivery, instead of delivering the message again at every
// poll.
func TestQueueStoreFailureNoDuplicateStorm(t *testing.T) {
	var full atomic.Bool
	ffs := &faultFS{fail: func(op, path string) error {
		if full.Load() && op == "open" && strings.HasSuffix(path, ".env.upd") {
			return syscall.ENOSPC
		}
		return nil
	}}
	tr := &fakeTransport{answer: func(_ *queue.Delivery, rcpt string) queue.Result {
		if strings.HasPrefix(rcpt, "later") {
			return queue.Deferf("4.2.0", "greylisted")
		}
		return queue.Result{Status: queue.Delivered, DSN: "2.0.0", Text: "250 2.0.0 Ok", Remote: "mx.example.test"}
	}}
	h := newHarness(t, tr)
	h.spool = openSpool(t, t.TempDir(), ffs)
	h.q.Store = h.spool
	full.Store(true)
	h.run()
	m := h.put("a@example.org", t0, "now@example.test", "later@example.test")
	h.waitFor("the first delivery", func() bool { return tr.ncalls() >= 1 })
	time.Sleep(200 * time.Millisecond) // ten polls
	if n := tr.ncalls(); n != 1 {
		t.Fatalf("%d deliveries while the disk was full, want 1", n)
	}
	if got := h.get(m.ID); got.Recipients[0].Status != queue.Pending {
		t.Fatalf("the store recorded the attempt despite the fault: %+v", got.Recipients[0])
	}
	full.Store(false)
	h.waitFor("the outcome to be recorded", func() bool { return h.get(m.ID).Recipients[0].Status == queue.Delivered })
	got := h.get(m.ID)
	if got.Recipients[1].Status != queue.Deferred || got.Attempts != 1 {
		t.Errorf("recorded %+v", got)
	}
	time.Sleep(100 * time.Millisecond)
	if n := tr.ncalls(); n != 1 {
		t.Errorf("%d deliveries in all, want 1", n)
	}
}
