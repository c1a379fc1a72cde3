package tlsrpt

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"
)

// Store keeps aggregates until their report is sent. Implementations must
// be safe for concurrent use; a Store that several MXs share (the
// PostgreSQL store in tlsrptpg) adds their counts to the same aggregates,
// so that one report per domain and day is sent, not one per MX.
type Store interface {
	// Add merges the counts of aggs into the stored aggregates of
	// their keys (creating them), summing equal policies and failures.
	// Their State is ignored. It is durable when it returns nil.
	Add(ctx context.Context, aggs []*Aggregate) error

	// Unsent returns the keys of the aggregates whose day is before
	// the UTC midnight before and whose State.Sent is zero, by day and
	// domain.
	Unsent(ctx context.Context, before time.Time) ([]Key, error)

	// Claim calls fn with the aggregate of k if it exists, is not sent
	// and no other caller holds it, and stores the State fn leaves in
	// it when fn returns nil (nothing when fn fails). Only one caller,
	// in any process sharing the store, runs fn for a key at a time.
	// claimed is false when fn was not called.
	Claim(ctx context.Context, k Key, fn func(ctx context.Context, a *Aggregate) error) (claimed bool, err error)

	// Prune deletes the aggregates (sent or not) whose day is before
	// the UTC midnight before, and returns how many it deleted.
	Prune(ctx context.Context, before time.Time) (int, error)
}

// ErrClosed is returned by a store used after Close.
var ErrClosed = errors.New("tlsrpt: store closed")

// MemoryStore is a Store in memory, for one process and tests: its
// aggregates are lost when the process ends. The zero value is ready to
// use.
type MemoryStore struct {
	mu   sync.Mutex // held during Claim's fn
	aggs map[Key]*Aggregate
}

var _ Store = (*MemoryStore)(nil)

// Add implements Store.
func (s *MemoryStore) Add(ctx context.Context, aggs []*Aggregate) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.aggs == nil {
		s.aggs = map[Key]*Aggregate{}
	}
	for _, a := range aggs {
		b := s.aggs[a.Key]
		if b == nil {
			b = &Aggregate{Key: a.Key}
			s.aggs[a.Key] = b
		}
		b.Merge(a)
	}
	return nil
}

// Unsent implements Store.
func (s *MemoryStore) Unsent(ctx context.Context, before time.Time) ([]Key, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var keys []Key
	for k, a := range s.aggs {
		if k.Day.Before(before) && a.State.Sent.IsZero() {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, compareKey)
	return keys, nil
}

// Claim implements Store.
func (s *MemoryStore) Claim(ctx context.Context, k Key, fn func(context.Context, *Aggregate) error) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.aggs[k]
	if a == nil || !a.State.Sent.IsZero() {
		return false, nil
	}
	c := a.clone()
	if err := fn(ctx, c); err != nil {
		return true, err
	}
	a.State = c.State
	a.State.Done = slices.Clone(c.State.Done)
	return true, nil
}

// Prune implements Store.
func (s *MemoryStore) Prune(ctx context.Context, before time.Time) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for k := range s.aggs {
		if k.Day.Before(before) {
			delete(s.aggs, k)
			n++
		}
	}
	return n, nil
}

// Get returns a copy of the aggregate of k, or nil.
func (s *MemoryStore) Get(k Key) *Aggregate {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := s.aggs[k]; a != nil {
		return a.clone()
	}
	return nil
}

func (a *Aggregate) clone() *Aggregate {
	c := &Aggregate{Key: a.Key, State: a.State}
	c.State.Done = slices.Clone(a.State.Done)
	for _, p := range a.Policies {
		p.Failures = slices.Clone(p.Failures)
		c.Policies = append(c.Policies, p)
	}
	return c
}
