// Package tlsrptqueue hands TLS-RPT report messages (tlsrpt.BuildMessage,
// sent by tlsrpt.Reporter) to mxkit's queue: Submitter is a
// tlsrpt.MailSubmitter that puts each message into a queue.Store, from
// which the queue delivers it like any other message.
//
// The message carries "TLS-Required: No" (RFC 8689 §5), so that a report
// about the TLS failures of a domain is delivered to it even when those
// failures persist; the delivery code must honour that header field. Its
// recipients have NOTIFY=NEVER: a report that cannot be delivered causes
// no bounce (mox sends no DSNs for reports either).
package tlsrptqueue

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/mxkit/mxkit/queue"
	"github.com/mxkit/mxkit/tlspolicy/tlsrpt"
)

// Submitter puts report messages into a queue.
type Submitter struct {
	// Store is the queue's store.
	Store queue.Store
	// Kick, when not nil, is called after each message is stored, to
	// make the queue look at it at once: (*queue.Queue).Kick.
	Kick func()
	// Now is the arrival time clock; nil is time.Now.
	Now func() time.Time
}

var _ tlsrpt.MailSubmitter = (*Submitter)(nil)

// Submit implements tlsrpt.MailSubmitter: it stores a queue.Message with
// envelope sender from and the recipients to (NOTIFY=NEVER), due at
// once, with msg as the body. It returns when the message is durable in
// the store.
func (s *Submitter) Submit(ctx context.Context, from string, to []string, msg []byte) error {
	if s.Store == nil {
		return errors.New("tlsrptqueue: no Store")
	}
	if len(to) == 0 {
		return errors.New("tlsrptqueue: no recipients")
	}
	now := time.Now()
	if s.Now != nil {
		now = s.Now()
	}
	m := &queue.Message{
		Sender:       from,
		Arrival:      now,
		EightBitMIME: !ascii(msg),
		// The report carries "TLS-Required: No": it must get through
		// when the domain's TLS is what fails (RFC 8460 §5.4).
		TLSOptional: true,
	}
	for _, a := range to {
		m.Recipients = append(m.Recipients, queue.Recipient{Addr: a, Notify: queue.NotifyNever})
	}
	if err := s.Store.Put(ctx, m, bytes.NewReader(msg)); err != nil {
		return fmt.Errorf("tlsrptqueue: %w", err)
	}
	if s.Kick != nil {
		s.Kick()
	}
	return nil
}

func ascii(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}
