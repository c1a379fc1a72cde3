// Package queuetest is a conformance suite for implementations of
// queue.Store. Run it from a test of your store:
//
//	func TestMyStore(t *testing.T) {
//		queuetest.TestStore(t, func(t *testing.T) queue.Store { return openMyStore(t) })
//	}
//
// Use Run with a Suite to also test that messages survive closing and
// reopening the store.
package queuetest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mxkit/mxkit/queue"
)

// Suite describes the store under test.
type Suite struct {
	// New returns an empty store. Register cleanup with t.Cleanup.
	New func(t *testing.T) queue.Store
	// Reopen, optional, closes s and opens the same storage again.
	Reopen func(t *testing.T, s queue.Store) queue.Store
}

// TestStore runs the suite on stores made by newStore.
func TestStore(t *testing.T, newStore func(t *testing.T) queue.Store) {
	Run(t, Suite{New: newStore})
}

var base = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func msg(sender string, next time.Time) *queue.Message {
	return &queue.Message{
		Sender:      sender,
		Ret:         queue.RetHeaders,
		EnvID:       "env-" + sender,
		SMTPUTF8:    true,
		Arrival:     base,
		Client:      queue.Client{Helo: "client.example", Name: "client.example", Addr: "192.0.2.1", Protocol: "ESMTP"},
		NextAttempt: next,
		Recipients: []queue.Recipient{
			{Addr: "a@example.test", ORCPT: "rfc822;a@example.test", Notify: queue.NotifyFailure | queue.NotifyDelay},
			{Addr: "b@example.test", Notify: queue.NotifyNever},
		},
	}
}

func put(t *testing.T, s queue.Store, m *queue.Message, body string) {
	t.Helper()
	if err := s.Put(context.Background(), m, strings.NewReader(body)); err != nil {
		t.Fatalf("Put: %v", err)
	}
	if m.ID == "" {
		t.Fatal("Put did not assign an ID")
	}
}

func readBody(t *testing.T, s queue.Store, id string) string {
	t.Helper()
	rc, err := s.Body(context.Background(), id)
	if err != nil {
		t.Fatalf("Body(%s): %v", id, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("reading body %s: %v", id, err)
	}
	return string(b)
}

func ids(ms []*queue.Message) string {
	var s []string
	for _, m := range ms {
		s = append(s, m.Sender)
	}
	return strings.Join(s, ",")
}

func due(t *testing.T, s queue.Store, now time.Time, limit int) []*queue.Message {
	t.Helper()
	ms, err := s.Due(context.Background(), now, limit)
	if err != nil {
		t.Fatalf("Due: %v", err)
	}
	return ms
}

// Run runs the suite.
func Run(t *testing.T, s Suite) {
	ctx := context.Background()
	t.Run("DueOrder", func(t *testing.T) {
		st := s.New(t)
		put(t, st, msg("c", base.Add(3*time.Minute)), "x")
		put(t, st, msg("a", base.Add(time.Minute)), "x")
		put(t, st, msg("b", base.Add(2*time.Minute)), "x")
		put(t, st, msg("later", base.Add(time.Hour)), "x")
		if got := ids(due(t, st, base.Add(3*time.Minute), 0)); got != "a,b,c" {
			t.Errorf("Due order = %q, want a,b,c", got)
		}
		if got := ids(due(t, st, base.Add(3*time.Minute), 2)); got != "a,b" {
			t.Errorf("Due limit 2 = %q, want a,b", got)
		}
		if got := ids(due(t, st, base, 0)); got != "" {
			t.Errorf("Due before any = %q, want none", got)
		}
	})
	t.Run("RoundTripEnvelope", func(t *testing.T) {
		st := s.New(t)
		m := msg("s@example.test", time.Time{})
		m.EightBitMIME = true
		put(t, st, m, "hello\r\n")
		if m.Size != 7 || m.Version != queue.MessageVersion {
			t.Errorf("after Put: Size=%d Version=%d, want 7 %d", m.Size, m.Version, queue.MessageVersion)
		}
		got := due(t, st, base, 0)
		if len(got) != 1 {
			t.Fatalf("Due returned %d messages, want 1", len(got))
		}
		checkEqual(t, got[0], m)
	})
	t.Run("HoldExcluded", func(t *testing.T) {
		st := s.New(t)
		m := msg("held", time.Time{})
		m.Hold = true
		put(t, st, m, "x")
		put(t, st, msg("free", time.Time{}), "x")
		if got := ids(due(t, st, base, 0)); got != "free" {
			t.Errorf("Due = %q, want free", got)
		}
		m.Hold = false
		if err := st.Update(ctx, m); err != nil {
			t.Fatal(err)
		}
		if got := ids(due(t, st, base, 0)); got != "free,held" && got != "held,free" {
			t.Errorf("after release Due = %q, want both", got)
		}
	})
	t.Run("UpdatePersists", func(t *testing.T) {
		st := s.New(t)
		m := msg("u", time.Time{})
		put(t, st, m, "body\r\n")
		m.Attempts = 2
		m.DelayWarned = true
		m.NextAttempt = base.Add(time.Hour)
		m.Recipients[0].Status = queue.Delivered
		m.Recipients[0].Reply = "250 2.0.0 Ok: queued as 1234"
		m.Recipients[1].Status = queue.Deferred
		m.Recipients[1].DSNCode = "4.4.1"
		m.Recipients[1].Attempts = 2
		m.Recipients[1].NextAttempt = base.Add(time.Hour)
		if err := st.Update(ctx, m); err != nil {
			t.Fatal(err)
		}
		if got := due(t, st, base, 0); len(got) != 0 {
			t.Errorf("Due before NextAttempt returned %d messages", len(got))
		}
		got := due(t, st, base.Add(time.Hour), 0)
		if len(got) != 1 {
			t.Fatalf("Due returned %d messages, want 1", len(got))
		}
		checkEqual(t, got[0], m)
		if b := readBody(t, st, m.ID); b != "body\r\n" {
			t.Errorf("body after Update = %q", b)
		}
	})
	t.Run("ReturnedCopies", func(t *testing.T) {
		st := s.New(t)
		m := msg("c", time.Time{})
		put(t, st, m, "x")
		m.Recipients[0].Addr = "changed@example.test"
		got := due(t, st, base, 0)
		if got[0].Recipients[0].Addr != "a@example.test" {
			t.Errorf("store shares the caller's message: %q", got[0].Recipients[0].Addr)
		}
		got[0].Recipients[0].Addr = "x@example.test"
		if again := due(t, st, base, 0); again[0].Recipients[0].Addr != "a@example.test" {
			t.Errorf("store shares returned messages: %q", again[0].Recipients[0].Addr)
		}
	})
	t.Run("BodyByteExact", func(t *testing.T) {
		st := s.New(t)
		bodies := map[string]string{
			"empty": "",
			"crlf":  "Subject: x\r\n\r\nline\r\n.\r\n..dot\r\nno newline at end",
			"bare":  "a\nb\rc\x00\xff\r\n",
			"large": strings.Repeat("0123456789abcdef\r\n", 1<<16) + "end", // ~1.2 MB
		}
		idOf := map[string]string{}
		for name, b := range bodies {
			m := msg(name, time.Time{})
			put(t, st, m, b)
			if m.Size != int64(len(b)) {
				t.Errorf("%s: Size = %d, want %d", name, m.Size, len(b))
			}
			idOf[name] = m.ID
		}
		for name, b := range bodies {
			if got := readBody(t, st, idOf[name]); got != b {
				t.Errorf("%s: body differs (len %d, want %d)", name, len(got), len(b))
			}
		}
	})
	t.Run("Delete", func(t *testing.T) {
		st := s.New(t)
		m := msg("d", time.Time{})
		put(t, st, m, "x")
		keep := msg("k", time.Time{})
		put(t, st, keep, "y")
		if err := st.Delete(ctx, m.ID); err != nil {
			t.Fatal(err)
		}
		if got := ids(due(t, st, base, 0)); got != "k" {
			t.Errorf("Due after Delete = %q, want k", got)
		}
		if _, err := st.Body(ctx, m.ID); !errors.Is(err, queue.ErrNotFound) {
			t.Errorf("Body after Delete: err = %v, want ErrNotFound", err)
		}
		if err := st.Delete(ctx, m.ID); !errors.Is(err, queue.ErrNotFound) {
			t.Errorf("second Delete: err = %v, want ErrNotFound", err)
		}
	})
	t.Run("NotFound", func(t *testing.T) {
		st := s.New(t)
		const id = "nosuchmessage"
		if _, err := st.Body(ctx, id); !errors.Is(err, queue.ErrNotFound) {
			t.Errorf("Body: err = %v, want ErrNotFound", err)
		}
		if err := st.Delete(ctx, id); !errors.Is(err, queue.ErrNotFound) {
			t.Errorf("Delete: err = %v, want ErrNotFound", err)
		}
		if _, err := st.Get(ctx, id); !errors.Is(err, queue.ErrNotFound) {
			t.Errorf("Get: err = %v, want ErrNotFound", err)
		}
		m := msg("n", time.Time{})
		m.ID = id
		if err := st.Update(ctx, m); !errors.Is(err, queue.ErrNotFound) {
			t.Errorf("Update: err = %v, want ErrNotFound", err)
		}
		if got := due(t, st, base, 0); len(got) != 0 {
			t.Errorf("Update of unknown ID created %d messages", len(got))
		}
	})
	t.Run("GetList", func(t *testing.T) {
		st := s.New(t)
		if l, err := st.List(ctx); err != nil || len(l) != 0 {
			t.Fatalf("List of empty store = %d messages, %v; want 0, nil", len(l), err)
		}
		held := msg("held", time.Time{})
		held.ID = "m2"
		held.Hold = true
		held.Recipients[0].Status = queue.Deferred
		held.Recipients[0].Reply = "450 4.2.0 greylisted"
		held.Recipients[0].DSNCode = "4.2.0"
		held.Recipients[0].Remote = "mx.example.test"
		held.Recipients[0].FromRemote = true
		held.Recipients[0].Attempts = 2
		held.Recipients[0].LastAttempt = base.Add(time.Minute)
		held.Recipients[0].NextAttempt = base.Add(time.Hour)
		put(t, st, held, "x")
		free := msg("free", base.Add(time.Hour))
		free.ID = "m1"
		put(t, st, free, "x")
		l, err := st.List(ctx)
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		if got := ids(l); got != "free,held" {
			t.Errorf("List = %q, want free,held (ordered by ID, held included)", got)
		}
		g, err := st.Get(ctx, "m2")
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
		checkEqual(t, g, held)
		g.Recipients[0].Addr = "changed@example.test"
		if g2, _ := st.Get(ctx, "m2"); g2 == nil || g2.Recipients[0].Addr != "a@example.test" {
			t.Errorf("Get returned the stored message, not a copy")
		}
	})
	t.Run("Reschedule", func(t *testing.T) {
		st := s.New(t)
		r, ok := st.(queue.Rescheduler)
		if !ok {
			t.Skip("the store does not implement queue.Rescheduler")
		}
		m := msg("r", time.Time{})
		m.Recipients[0].Status = queue.Deferred
		m.Recipients[0].Reply = "450 4.2.0 later"
		put(t, st, m, "x")
		later := base.Add(time.Hour)
		if err := r.Reschedule(ctx, m.ID, true, later); err != nil {
			t.Fatalf("Reschedule: %v", err)
		}
		got, err := st.Get(ctx, m.ID)
		if err != nil {
			t.Fatal(err)
		}
		want := m.Clone()
		want.Hold, want.NextAttempt = true, later
		checkEqual(t, got, want)
		if d := due(t, st, later.Add(time.Hour), 0); len(d) != 0 {
			t.Errorf("held message due")
		}
		if err := r.Reschedule(ctx, m.ID, false, base); err != nil {
			t.Fatalf("Reschedule: %v", err)
		}
		if got := ids(due(t, st, base, 0)); got != "r" {
			t.Errorf("Due after release = %q, want r", got)
		}
		if err := r.Reschedule(ctx, "nosuchmessage", true, base); !errors.Is(err, queue.ErrNotFound) {
			t.Errorf("Reschedule of an unknown ID: err = %v, want ErrNotFound", err)
		}
	})
	t.Run("ConcurrentPuts", func(t *testing.T) {
		st := s.New(t)
		const n = 40
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := range n {
			wg.Go(func() {
				m := msg(fmt.Sprintf("p%02d", i), base.Add(time.Duration(i)*time.Second))
				if err := st.Put(ctx, m, strings.NewReader(fmt.Sprintf("body %d\r\n", i))); err != nil {
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		got := due(t, st, base.Add(time.Hour), 0)
		if len(got) != n {
			t.Fatalf("Due returned %d messages, want %d", len(got), n)
		}
		for i, m := range got {
			if want := fmt.Sprintf("p%02d", i); m.Sender != want {
				t.Errorf("Due[%d] = %s, want %s", i, m.Sender, want)
			}
			if b := readBody(t, st, m.ID); b != fmt.Sprintf("body %d\r\n", i) {
				t.Errorf("%s: body %q", m.Sender, b)
			}
		}
	})
	t.Run("ConcurrentUpdateDelete", func(t *testing.T) {
		st := s.New(t)
		const n = 20
		ms := make([]*queue.Message, n)
		for i := range n {
			ms[i] = msg(fmt.Sprintf("m%02d", i), time.Time{})
			put(t, st, ms[i], "x")
		}
		var wg sync.WaitGroup
		for i, m := range ms {
			wg.Go(func() {
				if i%2 == 1 {
					if err := st.Delete(ctx, m.ID); err != nil {
						t.Errorf("Delete %s: %v", m.Sender, err)
					}
					return
				}
				m.Attempts = i + 1
				if err := st.Update(ctx, m); err != nil {
					t.Errorf("Update %s: %v", m.Sender, err)
				}
			})
		}
		wg.Wait()
		got := due(t, st, base, 0)
		if len(got) != n/2 {
			t.Fatalf("Due returned %d messages, want %d", len(got), n/2)
		}
		for _, m := range got {
			var i int
			fmt.Sscanf(m.Sender, "m%d", &i)
			if i%2 != 0 || m.Attempts != i+1 {
				t.Errorf("%s: Attempts = %d, want %d (deleted ones must be gone)", m.Sender, m.Attempts, i+1)
			}
		}
	})
	if s.Reopen == nil {
		return
	}
	t.Run("Reopen", func(t *testing.T) {
		st := s.New(t)
		a := msg("a", base)
		put(t, st, a, "body a\r\n")
		b := msg("b", base.Add(time.Minute))
		put(t, st, b, "body b\r\n")
		gone := msg("gone", base)
		put(t, st, gone, "x")
		b.Attempts = 1
		b.Recipients[0].Status = queue.Deferred
		if err := st.Update(ctx, b); err != nil {
			t.Fatal(err)
		}
		if err := st.Delete(ctx, gone.ID); err != nil {
			t.Fatal(err)
		}
		st = s.Reopen(t, st)
		got := due(t, st, base.Add(time.Hour), 0)
		if ids(got) != "a,b" {
			t.Fatalf("after reopen Due = %q, want a,b", ids(got))
		}
		checkEqual(t, got[0], a)
		checkEqual(t, got[1], b)
		if s := readBody(t, st, b.ID); s != "body b\r\n" {
			t.Errorf("body after reopen = %q", s)
		}
	})
}

func checkEqual(t *testing.T, got, want *queue.Message) {
	t.Helper()
	g, w := fmt.Sprintf("%+v", norm(got)), fmt.Sprintf("%+v", norm(want))
	if g != w {
		t.Errorf("message differs:\n got %s\nwant %s", g, w)
	}
}

// norm makes times comparable after a round trip through storage.
func norm(m *queue.Message) *queue.Message {
	c := m.Clone()
	c.Arrival = c.Arrival.UTC()
	c.NextAttempt = c.NextAttempt.UTC()
	for i := range c.Recipients {
		c.Recipients[i].NextAttempt = c.Recipients[i].NextAttempt.UTC()
		c.Recipients[i].LastAttempt = c.Recipients[i].LastAttempt.UTC()
	}
	return c
}
