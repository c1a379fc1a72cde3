// Package tlsrpttest is a conformance suite for tlsrpt.Store
// implementations: run it against your own store in a test.
package tlsrpttest

import (
	"context"
	"errors"
	"net/netip"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mxkit/mxkit/tlspolicy/tlsrpt"
)

// Day is the day the suite's aggregates are for.
var Day = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

// STS is the policy the suite records.
var STS = tlsrpt.Policy{
	Type:    tlsrpt.PolicySTS,
	Strings: []string{"version: STSv1", "mode: enforce", "mx: *.example.com", "max_age: 86400"},
	Domain:  "example.com",
	MXHosts: []string{"*.example.com"},
}

// Failure is the failure the suite records.
var Failure = tlsrpt.Failure{
	ResultType:          tlsrpt.ResultSTARTTLSNotSupported,
	SendingMTAIP:        netip.MustParseAddr("192.0.2.10"),
	ReceivingMXHostname: "mx1.example.com",
	ReceivingMXHelo:     "mx1.example.com",
	ReceivingIP:         netip.MustParseAddr("192.0.2.1"),
}

// Agg returns an aggregate of domain on day with succ successes and fail
// failures (Failure) under STS.
func Agg(domain string, day time.Time, succ, fail int64) *tlsrpt.Aggregate {
	a := &tlsrpt.Aggregate{Key: tlsrpt.Key{Domain: domain, Day: day}}
	p := tlsrpt.PolicyCounts{Policy: STS, Successes: succ}
	if fail > 0 {
		p.Failures = []tlsrpt.FailureDetails{{Failure: Failure, FailedSessionCount: fail}}
	}
	a.Policies = []tlsrpt.PolicyCounts{p}
	return a
}

// Run runs the suite; newStore returns an empty store, cleaned up by the
// test.
func Run(t *testing.T, newStore func(t *testing.T) tlsrpt.Store) {
	ctx := context.Background()
	k := tlsrpt.Key{Domain: "example.com", Day: Day}
	claim := func(t *testing.T, s tlsrpt.Store, k tlsrpt.Key, fn func(a *tlsrpt.Aggregate) error) (*tlsrpt.Aggregate, bool) {
		t.Helper()
		var got *tlsrpt.Aggregate
		ok, err := s.Claim(ctx, k, func(_ context.Context, a *tlsrpt.Aggregate) error {
			got = a
			if fn != nil {
				return fn(a)
			}
			return nil
		})
		if err != nil && fn == nil {
			t.Fatalf("Claim(%s): %v", k, err)
		}
		if ok != (got != nil) {
			t.Fatalf("Claim(%s) = %v, but fn called: %v", k, ok, got != nil)
		}
		return got, ok
	}

	t.Run("AddMerges", func(t *testing.T) {
		s := newStore(t)
		if err := s.Add(ctx, []*tlsrpt.Aggregate{Agg("example.com", Day, 1, 0)}); err != nil {
			t.Fatal(err)
		}
		other := Agg("example.com", Day, 1, 1)
		tlsa := tlsrpt.PolicyCounts{Policy: tlsrpt.Policy{Type: tlsrpt.PolicyTLSA, Strings: []string{"3 1 1 aabb"}, Domain: "mx1.example.com"}, Successes: 5}
		other.Policies = append(other.Policies, tlsa)
		if err := s.Add(ctx, []*tlsrpt.Aggregate{other, Agg("example.org", Day, 0, 3)}); err != nil {
			t.Fatal(err)
		}
		a, ok := claim(t, s, k, nil)
		if !ok {
			t.Fatal("not claimed")
		}
		want := Agg("example.com", Day, 2, 1)
		want.Merge(&tlsrpt.Aggregate{Policies: []tlsrpt.PolicyCounts{tlsa}})
		if !reflect.DeepEqual(a.Policies, want.Policies) {
			t.Errorf("policies:\n got %+v\nwant %+v", a.Policies, want.Policies)
		}
		if a.FailureCount() != 1 {
			t.Errorf("FailureCount = %d", a.FailureCount())
		}
		b, _ := claim(t, s, tlsrpt.Key{Domain: "example.org", Day: Day}, nil)
		if b == nil || b.FailureCount() != 3 {
			t.Errorf("example.org: %+v", b)
		}
	})

	t.Run("Unsent", func(t *testing.T) {
		s := newStore(t)
		next := Day.Add(24 * time.Hour)
		if err := s.Add(ctx, []*tlsrpt.Aggregate{Agg("b.example", Day, 1, 0), Agg("a.example", Day, 1, 0), Agg("a.example", next, 1, 0)}); err != nil {
			t.Fatal(err)
		}
		got, err := s.Unsent(ctx, next)
		if err != nil {
			t.Fatal(err)
		}
		want := []tlsrpt.Key{{Domain: "a.example", Day: Day}, {Domain: "b.example", Day: Day}}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Unsent = %v, want %v", got, want)
		}
		claim(t, s, want[0], func(a *tlsrpt.Aggregate) error { a.State.Sent = next; return nil })
		got, _ = s.Unsent(ctx, next.Add(24*time.Hour))
		want = []tlsrpt.Key{{Domain: "b.example", Day: Day}, {Domain: "a.example", Day: next}}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Unsent after sending = %v, want %v", got, want)
		}
		if _, ok := claim(t, s, tlsrpt.Key{Domain: "a.example", Day: Day}, nil); ok {
			t.Error("a sent aggregate was claimed again")
		}
		if _, ok := claim(t, s, tlsrpt.Key{Domain: "unknown.example", Day: Day}, nil); ok {
			t.Error("an unknown key was claimed")
		}
	})

	t.Run("ClaimState", func(t *testing.T) {
		s := newStore(t)
		if err := s.Add(ctx, []*tlsrpt.Aggregate{Agg("example.com", Day, 1, 1)}); err != nil {
			t.Fatal(err)
		}
		boom := errors.New("boom")
		if _, err := s.Claim(ctx, k, func(_ context.Context, a *tlsrpt.Aggregate) error {
			a.State.Sent = Day
			return boom
		}); !errors.Is(err, boom) {
			t.Fatalf("Claim: err = %v, want boom", err)
		}
		next := Day.Add(25 * time.Hour)
		first := Day.Add(24*time.Hour + 5*time.Minute)
		claim(t, s, k, func(a *tlsrpt.Aggregate) error {
			if !a.State.Sent.IsZero() {
				t.Error("state of a failed fn was stored")
			}
			a.State = tlsrpt.SendState{Attempts: 1, First: first, Next: next, Done: []string{"mailto:a@example.com"}}
			return nil
		})
		// Counts added later are kept with the state.
		if err := s.Add(ctx, []*tlsrpt.Aggregate{Agg("example.com", Day, 1, 0)}); err != nil {
			t.Fatal(err)
		}
		a, ok := claim(t, s, k, nil)
		if !ok {
			t.Fatal("not claimed")
		}
		want := tlsrpt.SendState{Attempts: 1, First: first, Next: next, Done: []string{"mailto:a@example.com"}}
		if !a.State.First.Equal(want.First) || !a.State.Next.Equal(want.Next) || a.State.Attempts != 1 || !reflect.DeepEqual(a.State.Done, want.Done) {
			t.Errorf("state = %+v, want %+v", a.State, want)
		}
		if a.Policies[0].Successes != 2 {
			t.Errorf("successes = %d, want 2", a.Policies[0].Successes)
		}
	})

	t.Run("Prune", func(t *testing.T) {
		s := newStore(t)
		if err := s.Add(ctx, []*tlsrpt.Aggregate{Agg("example.com", Day.Add(-24*time.Hour), 1, 0), Agg("example.com", Day, 1, 0), Agg("example.org", Day.Add(-48*time.Hour), 1, 0)}); err != nil {
			t.Fatal(err)
		}
		n, err := s.Prune(ctx, Day)
		if err != nil || n != 2 {
			t.Fatalf("Prune = %d, %v; want 2", n, err)
		}
		got, _ := s.Unsent(ctx, Day.Add(48*time.Hour))
		if want := []tlsrpt.Key{k}; !reflect.DeepEqual(got, want) {
			t.Errorf("Unsent after Prune = %v, want %v", got, want)
		}
	})

	t.Run("OneSender", func(t *testing.T) {
		s := newStore(t)
		if err := s.Add(ctx, []*tlsrpt.Aggregate{Agg("example.com", Day, 1, 1)}); err != nil {
			t.Fatal(err)
		}
		OneSender(t, s, s, k)
	})
}

// OneSender claims k from a and b at once and checks that fn ran once:
// while a's fn runs, b's Claim returns false or waits and then finds the
// aggregate sent.
func OneSender(t *testing.T, a, b tlsrpt.Store, k tlsrpt.Key) {
	t.Helper()
	ctx := context.Background()
	var calls atomic.Int32
	started, release := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, err := a.Claim(ctx, k, func(_ context.Context, ag *tlsrpt.Aggregate) error {
			calls.Add(1)
			close(started)
			<-release
			ag.State.Sent = k.Day.Add(24 * time.Hour)
			return nil
		})
		if err != nil {
			t.Errorf("first Claim: %v", err)
		}
	}()
	<-started
	wg.Add(1)
	go func() {
		defer wg.Done()
		ok, err := b.Claim(ctx, k, func(context.Context, *tlsrpt.Aggregate) error {
			calls.Add(1)
			return nil
		})
		if ok || err != nil {
			t.Errorf("second Claim = %v, %v; want false, nil", ok, err)
		}
	}()
	time.Sleep(50 * time.Millisecond)
	close(release)
	wg.Wait()
	if n := calls.Load(); n != 1 {
		t.Errorf("fn ran %d times, want 1", n)
	}
}
