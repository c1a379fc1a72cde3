package queue

import (
	"context"
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
	// wrapping ErrNotFound for an unknown ID.
	Delete(ctx context.Context, id string) error
}
