package queuetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mxkit/mxkit/queue"
)

// RunLeaser runs the conformance tests of queue.Leaser on stores made by
// newLeaser. Each call of newLeaser must return an empty store. The
// subtests run in parallel (t.Parallel), so newLeaser must be safe for
// concurrent use. Some subtests wait for short leases (300 ms, 1.5 s) to
// expire, measured by the store's clock.
func RunLeaser(t *testing.T, newLeaser func(t *testing.T) queue.Leaser) {
	ctx := context.Background()
	const long = time.Hour
	later := base.Add(24 * time.Hour) // every test message is due then

	t.Run("Exclusive", func(t *testing.T) {
		t.Parallel()
		st := newLeaser(t)
		var want []*queue.Message
		for i, s := range []string{"a", "b", "c"} {
			m := msg(s, base.Add(time.Duration(i)*time.Minute))
			put(t, st, m, "x")
			want = append(want, m)
		}
		got := lease(t, st, "A", later, 10, long)
		if ids(got) != "a,b,c" {
			t.Fatalf("A leased %q, want a,b,c", ids(got))
		}
		for i := range got {
			checkEqual(t, got[i], want[i])
		}
		if got := lease(t, st, "B", later, 10, long); len(got) != 0 {
			t.Errorf("B leased %q while A holds every lease", ids(got))
		}
		if got := lease(t, st, "A", later, 10, long); len(got) != 0 {
			t.Errorf("A leased %q again", ids(got))
		}
		// Leases do not hide messages from Get and List.
		if l, err := st.List(ctx); err != nil || len(l) != 3 {
			t.Errorf("List = %d messages, %v; want 3", len(l), err)
		}
	})

	t.Run("SkipsHeldAndNotDue", func(t *testing.T) {
		t.Parallel()
		st := newLeaser(t)
		held := msg("held", base)
		held.Hold = true
		put(t, st, held, "x")
		put(t, st, msg("future", base.Add(time.Hour)), "x")
		put(t, st, msg("second", base.Add(-time.Minute)), "x")
		put(t, st, msg("first", base.Add(-time.Hour)), "x")
		put(t, st, msg("third", base), "x")
		if got := ids(lease(t, st, "A", base, 2, long)); got != "first,second" {
			t.Errorf("Lease(limit 2) = %q, want first,second (earliest NextAttempt first)", got)
		}
		if got := ids(lease(t, st, "B", base, 10, long)); got != "third" {
			t.Errorf("Lease = %q, want third (held and not-due skipped)", got)
		}
		if got := ids(lease(t, st, "B", base.Add(time.Hour), 10, long)); got != "future" {
			t.Errorf("Lease an hour later = %q, want future", got)
		}
	})

	t.Run("Expiry", func(t *testing.T) {
		t.Parallel()
		st := newLeaser(t)
		m := msg("m", base)
		put(t, st, m, "x")
		if got := lease(t, st, "A", base, 1, 300*time.Millisecond); ids(got) != "m" {
			t.Fatalf("A leased %q, want m", ids(got))
		}
		time.Sleep(300 * time.Millisecond)
		var got []*queue.Message
		waitFor(t, "B to take over the expired lease", func() bool {
			got = lease(t, st, "B", base, 1, long)
			return len(got) > 0
		})
		if ids(got) != "m" {
			t.Fatalf("B leased %q, want m", ids(got))
		}
		upd := got[0].Clone()
		upd.Attempts = 7
		if err := st.Release(ctx, "A", upd); !errors.Is(err, queue.ErrLeaseLost) {
			t.Errorf("A's Release after expiry: err = %v, want ErrLeaseLost", err)
		}
		if err := st.Finish(ctx, "A", m.ID); !errors.Is(err, queue.ErrLeaseLost) {
			t.Errorf("A's Finish after expiry: err = %v, want ErrLeaseLost", err)
		}
		if lost := renew(t, st, "A", []string{m.ID}, long); !slices.Equal(lost, []string{m.ID}) {
			t.Errorf("A's Renew after expiry: lost = %q, want [%s]", lost, m.ID)
		}
		if g := get(t, st, m.ID); g.Attempts != 0 {
			t.Errorf("A's failed Release changed the message: Attempts = %d", g.Attempts)
		}
		if err := st.Finish(ctx, "B", m.ID); err != nil {
			t.Errorf("B's Finish: %v", err)
		}
	})

	t.Run("Renew", func(t *testing.T) {
		t.Parallel()
		st := newLeaser(t)
		a, b, c := msg("a", base), msg("b", base), msg("c", base)
		// Equal next attempts: Lease orders by ID, so fix the IDs
		// (Put's time-based IDs may tie within a millisecond).
		a.ID, b.ID, c.ID = "renew-1", "renew-2", "renew-3"
		put(t, st, a, "x")
		put(t, st, b, "x")
		put(t, st, c, "x")
		const ttl = 1500 * time.Millisecond
		start := time.Now()
		if got := lease(t, st, "A", base, 3, ttl); ids(got) != "a,b,c" {
			t.Fatalf("A leased %q, want a,b,c", ids(got))
		}
		if err := st.Delete(ctx, c.ID); err != nil { // an administrator's delete
			t.Fatal(err)
		}
		lost := renew(t, st, "A", []string{a.ID, b.ID, c.ID, "nosuchmessage"}, long)
		if time.Since(start) >= ttl {
			t.Skip("too slow: the first lease expired before Renew ran")
		}
		if !slices.Equal(lost, []string{c.ID, "nosuchmessage"}) {
			t.Errorf("Renew lost = %q, want [%s nosuchmessage]", lost, c.ID)
		}
		if lost := renew(t, st, "B", []string{a.ID}, long); !slices.Equal(lost, []string{a.ID}) {
			t.Errorf("B's Renew of A's lease: lost = %q, want [%s]", lost, a.ID)
		}
		// Wait past the first ttl: the renewed leases must hold.
		time.Sleep(ttl + 300*time.Millisecond - time.Since(start))
		if got := lease(t, st, "B", base, 10, long); len(got) != 0 {
			t.Errorf("B leased %q although A renewed", ids(got))
		}
		// Renew may also shorten a lease: ttl counts from the renewal.
		if lost := renew(t, st, "A", []string{b.ID}, 300*time.Millisecond); len(lost) != 0 {
			t.Errorf("Renew to 300ms: lost %q", lost)
		}
		time.Sleep(300 * time.Millisecond)
		var got []*queue.Message
		waitFor(t, "the shortened lease to expire", func() bool {
			got = lease(t, st, "B", base, 10, long)
			return len(got) > 0
		})
		if ids(got) != "b" {
			t.Errorf("B leased %q, want b", ids(got))
		}
		if err := st.Finish(ctx, "A", a.ID); err != nil {
			t.Errorf("A's Finish of a renewed lease: %v", err)
		}
	})

	t.Run("Release", func(t *testing.T) {
		t.Parallel()
		st := newLeaser(t)
		m := msg("m", base)
		put(t, st, m, "body\r\n")
		got := lease(t, st, "A", base, 1, long)
		if ids(got) != "m" {
			t.Fatalf("A leased %q, want m", ids(got))
		}
		upd := got[0]
		upd.Attempts = 1
		upd.NextAttempt = base.Add(time.Minute)
		upd.Recipients[0].Status = queue.Delivered
		upd.Recipients[1].Status = queue.Deferred
		upd.Recipients[1].Reply = "451 4.3.0 try again"
		if err := st.Release(ctx, "B", upd); !errors.Is(err, queue.ErrLeaseLost) {
			t.Errorf("B's Release of A's lease: err = %v, want ErrLeaseLost", err)
		}
		if err := st.Release(ctx, "A", upd); err != nil {
			t.Fatalf("Release: %v", err)
		}
		checkEqual(t, get(t, st, m.ID), upd)
		if b := readBody(t, st, m.ID); b != "body\r\n" {
			t.Errorf("body after Release = %q", b)
		}
		if err := st.Release(ctx, "A", upd); !errors.Is(err, queue.ErrLeaseLost) {
			t.Errorf("second Release: err = %v, want ErrLeaseLost", err)
		}
		// The lease has ended: the message is due again at its new NextAttempt.
		if got := lease(t, st, "B", base, 1, long); len(got) != 0 {
			t.Errorf("B leased %q before its NextAttempt", ids(got))
		}
		got = lease(t, st, "B", base.Add(time.Minute), 1, long)
		if ids(got) != "m" {
			t.Fatalf("B leased %q after A's Release, want m", ids(got))
		}
		checkEqual(t, got[0], upd)
	})

	t.Run("ReleaseKeepsHold", func(t *testing.T) {
		t.Parallel()
		st := newLeaser(t)
		put(t, st, msg("m", base), "x")
		got := lease(t, st, "A", base, 1, long)
		if ids(got) != "m" {
			t.Fatalf("A leased %q, want m", ids(got))
		}
		// An administrator holds the message during the attempt.
		admin := get(t, st, got[0].ID)
		admin.Hold = true
		if err := st.Update(ctx, admin); err != nil {
			t.Fatal(err)
		}
		upd := got[0]
		upd.Attempts = 1
		if err := st.Release(ctx, "A", upd); err != nil {
			t.Fatalf("Release: %v", err)
		}
		after := get(t, st, upd.ID)
		if !after.Hold || after.Attempts != 1 {
			t.Errorf("after Release: Hold = %v, Attempts = %d; want true, 1", after.Hold, after.Attempts)
		}
		if got := lease(t, st, "B", later, 1, long); len(got) != 0 {
			t.Errorf("B leased held message %q", ids(got))
		}
		// And the other way: a runner cannot set Hold through Release.
		after.Hold = false
		if err := st.Update(ctx, after); err != nil {
			t.Fatal(err)
		}
		got = lease(t, st, "B", later, 1, long)
		if ids(got) != "m" {
			t.Fatalf("B leased %q after the hold was lifted, want m", ids(got))
		}
		got[0].Hold = true
		if err := st.Release(ctx, "B", got[0]); err != nil {
			t.Fatalf("Release: %v", err)
		}
		if g := get(t, st, upd.ID); g.Hold {
			t.Error("Release set Hold")
		}
	})

	t.Run("RescheduleDuringLease", func(t *testing.T) {
		t.Parallel()
		st := newLeaser(t)
		r, ok := st.(queue.Rescheduler)
		if !ok {
			t.Skip("the store does not implement queue.Rescheduler")
		}
		put(t, st, msg("m", base), "x")
		got := lease(t, st, "A", base, 1, long)
		if ids(got) != "m" {
			t.Fatalf("A leased %q, want m", ids(got))
		}
		// The administrator holds the message while A delivers it; A's
		// results and the hold must both survive.
		if err := r.Reschedule(ctx, got[0].ID, true, base); err != nil {
			t.Fatalf("Reschedule: %v", err)
		}
		upd := got[0]
		upd.Recipients[0].Status = queue.Delivered
		upd.Attempts = 1
		if err := st.Release(ctx, "A", upd); err != nil {
			t.Fatalf("Release after Reschedule: %v", err)
		}
		after := get(t, st, upd.ID)
		if !after.Hold || after.Attempts != 1 || after.Recipients[0].Status != queue.Delivered {
			t.Errorf("after Release: Hold %v, Attempts %d, first recipient %v; want true, 1, delivered",
				after.Hold, after.Attempts, after.Recipients[0].Status)
		}
	})
	t.Run("Finish", func(t *testing.T) {
		t.Parallel()
		st := newLeaser(t)
		m, keep, gone := msg("m", base), msg("keep", base), msg("gone", base)
		put(t, st, m, "x")
		put(t, st, keep, "x")
		put(t, st, gone, "x")
		if got := lease(t, st, "A", base, 3, long); len(got) != 3 {
			t.Fatalf("A leased %q, want 3 messages", ids(got))
		}
		if err := st.Finish(ctx, "B", m.ID); !errors.Is(err, queue.ErrLeaseLost) {
			t.Errorf("B's Finish of A's lease: err = %v, want ErrLeaseLost", err)
		}
		if err := st.Finish(ctx, "A", m.ID); err != nil {
			t.Fatalf("Finish: %v", err)
		}
		if _, err := st.Get(ctx, m.ID); !errors.Is(err, queue.ErrNotFound) {
			t.Errorf("Get after Finish: err = %v, want ErrNotFound", err)
		}
		if _, err := st.Body(ctx, m.ID); !errors.Is(err, queue.ErrNotFound) {
			t.Errorf("Body after Finish: err = %v, want ErrNotFound", err)
		}
		if err := st.Finish(ctx, "A", m.ID); !errors.Is(err, queue.ErrLeaseLost) {
			t.Errorf("second Finish: err = %v, want ErrLeaseLost", err)
		}
		// An administrator deletes a leased message.
		if err := st.Delete(ctx, gone.ID); err != nil {
			t.Fatal(err)
		}
		if err := st.Finish(ctx, "A", gone.ID); !errors.Is(err, queue.ErrLeaseLost) {
			t.Errorf("Finish after Delete: err = %v, want ErrLeaseLost", err)
		}
		if err := st.Release(ctx, "A", gone); !errors.Is(err, queue.ErrNotFound) {
			t.Errorf("Release after Delete: err = %v, want ErrNotFound", err)
		}
		if l, err := st.List(ctx); err != nil || ids(l) != "keep" {
			t.Errorf("List = %q, %v; want keep", ids(l), err)
		}
	})

	t.Run("Concurrent", func(t *testing.T) {
		t.Parallel()
		st := newLeaser(t)
		const n, workers = 500, 8
		for i := range n {
			m := msg(fmt.Sprintf("m%03d", i), base)
			if err := st.Put(ctx, m, strings.NewReader("x")); err != nil {
				t.Fatal(err)
			}
		}
		var mu sync.Mutex
		count := map[string]int{}
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				owner := fmt.Sprintf("runner%d", w)
				for {
					ms, err := st.Lease(ctx, owner, base, 7, long)
					if err != nil {
						t.Errorf("%s: Lease: %v", owner, err)
						return
					}
					if len(ms) == 0 {
						return
					}
					mu.Lock()
					for _, m := range ms {
						count[m.Sender]++
					}
					mu.Unlock()
					for _, m := range ms {
						if err := st.Finish(ctx, owner, m.ID); err != nil {
							t.Errorf("%s: Finish %s: %v", owner, m.Sender, err)
						}
					}
				}
			})
		}
		wg.Wait()
		if len(count) != n {
			t.Errorf("%d distinct messages leased, want %d", len(count), n)
		}
		for s, c := range count {
			if c != 1 {
				t.Errorf("%s leased %d times", s, c)
			}
		}
		if l, err := st.List(ctx); err != nil || len(l) != 0 {
			t.Errorf("after Finish of all: List = %d messages, %v; want 0", len(l), err)
		}
	})
}

func lease(t *testing.T, st queue.Leaser, owner string, now time.Time, limit int, ttl time.Duration) []*queue.Message {
	t.Helper()
	ms, err := st.Lease(context.Background(), owner, now, limit, ttl)
	if err != nil {
		t.Fatalf("%s: Lease: %v", owner, err)
	}
	return ms
}

func renew(t *testing.T, st queue.Leaser, owner string, ids []string, ttl time.Duration) []string {
	t.Helper()
	lost, err := st.Renew(context.Background(), owner, ids, ttl)
	if err != nil {
		t.Fatalf("%s: Renew: %v", owner, err)
	}
	return lost
}

func get(t *testing.T, st queue.Store, id string) *queue.Message {
	t.Helper()
	m, err := st.Get(context.Background(), id)
	if err != nil {
		t.Fatalf("Get(%s): %v", id, err)
	}
	return m
}

// waitFor polls cond until it holds, failing the test after 10 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
