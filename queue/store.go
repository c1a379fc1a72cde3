package queue

import (
	"context"
	"errors"
	"io"
	"time"
)

// Store keeps queued messages. Implementations must be safe for concurrent use.
//
// Every method that changes the store is durable when it returns nil: the
// change survives a crash of the process or the machine. A store that cannot
// make a change durable (full disk, failing fsync, lost database) returns an
// error and leaves nothing of the change visible. Messages and IDs passed in
// and returned are copies; callers may keep and change them.
type Store interface {
	// Put stores a new message and its body (the message content exactly as
	// received, CRLF line endings kept). It assigns m.ID when empty, sets
	// m.Version and m.Size. The SMTP 250 reply may be sent only after Put
	// returned nil (RFC 5321 §4.2.5, §6.1).
	Put(ctx context.Context, m *Message, body io.Reader) error

	// Get returns the envelope of message id, held or not. It returns an
	// error wrapping ErrNotFound for an unknown ID.
	Get(ctx context.Context, id string) (*Message, error)

	// List returns every stored message, held ones included, ordered by ID.
	List(ctx context.Context) ([]*Message, error)

	// Due returns up to limit messages (all if limit <= 0) that are not on
	// hold and whose NextAttempt is not after now, earliest NextAttempt
	// first, ties broken by ID.
	Due(ctx context.Context, now time.Time, limit int) ([]*Message, error)

	// Update replaces the stored envelope and state of m.ID; the body is
	// unchanged. It returns an error wrapping ErrNotFound for an unknown ID.
	Update(ctx context.Context, m *Message) error

	// Body opens the body of message id. The caller closes it.
	// It returns an error wrapping ErrNotFound for an unknown ID.
	Body(ctx context.Context, id string) (io.ReadCloser, error)

	// Delete removes the message id and its body. It returns an error
	// wrapping ErrNotFound for an unknown ID. Delete alone may return
	// before the removal is durable (Spool makes it durable within
	// LazyDeleteSync): a crash then brings the message back, so it is
	// delivered twice, never lost; Postfix's removal of a delivered
	// queue file is not synced either.
	Delete(ctx context.Context, id string) error
}

// DueSkipper is implemented by stores that can leave messages out of Due
// cheaply (Spool). The runner then asks only for messages it does not
// already hold, instead of limit plus the ones it holds.
type DueSkipper interface {
	// DueSkip is Due without the messages for which skip reports true.
	DueSkip(ctx context.Context, now time.Time, limit int, skip func(id string) bool) ([]*Message, error)
}

// Rescheduler is implemented by stores that can change a message's Hold
// and NextAttempt without rewriting the rest of its envelope. Stores that
// several runners share should implement it: an administrator's hold,
// release or flush (Queue.Hold, Release, Flush) then never writes back
// recipient states that a runner changed meanwhile. It returns an error
// wrapping ErrNotFound for an unknown ID. Leases are not affected.
type Rescheduler interface {
	Reschedule(ctx context.Context, id string, hold bool, next time.Time) error
}

// ErrLeaseLost is returned (possibly wrapped) by a Leaser when the caller's
// lease on a message has expired and the message may be leased by another
// runner, or was deleted by an administrator.
var ErrLeaseLost = errors.New("queue: lease lost")

// Leaser is implemented by stores that several queue runners (processes,
// machines) share. A runner leases the messages it works on; a leased
// message is not returned by Lease to any other owner until the lease ends
// (Release, Finish) or expires (the owner died). Expiry is measured by the
// store's clock (for a database, the database server's), so runners need
// not agree on the time.
//
// Stores used by a single runner (Spool) need not implement Leaser: the
// runner then keeps its own in-flight set and uses Due, Update and Delete.
type Leaser interface {
	Store

	// Lease claims up to limit messages (limit > 0) that are due at now
	// (not on hold, NextAttempt not after now) and not leased by anyone
	// else, earliest NextAttempt first, and leases them to owner for ttl.
	Lease(ctx context.Context, owner string, now time.Time, limit int, ttl time.Duration) ([]*Message, error)

	// Renew extends owner's leases on ids by ttl from now (store clock).
	// It returns the ids whose lease was lost (expired and taken over,
	// or the message deleted); the caller must stop working on those.
	Renew(ctx context.Context, owner string, ids []string, ttl time.Duration) (lost []string, err error)

	// Release stores m's new state (as Update does, except that Hold is
	// left as the store has it, so an administrator's hold during the
	// attempt wins) and ends owner's lease. It returns an error wrapping
	// ErrLeaseLost when owner no longer holds the lease, ErrNotFound when
	// the message is gone.
	Release(ctx context.Context, owner string, m *Message) error

	// Finish deletes message id, which owner has leased. It returns an
	// error wrapping ErrLeaseLost when owner no longer holds the lease.
	Finish(ctx context.Context, owner string, id string) error
}
