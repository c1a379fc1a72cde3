package queue

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// storeTimeout bounds the store operations that record an attempt; they
// run even when the runner is stopping.
const storeTimeout = time.Minute

// record applies the results of an attempt to m, queues the
// notifications they call for and stores m (or deletes it when every
// recipient is done). results[i] is nil for recipients that were done
// before the attempt.
func (q *Queue) record(ctx context.Context, m *Message, results []*Result, routes []Route) {
	interrupted := ctx.Err() != nil
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	now := q.now()
	var failed, delayed, success, relayed []int
	for i, res := range results {
		if res == nil {
			continue
		}
		r := &m.Recipients[i]
		if interrupted && res.Status == Deferred {
			// Our own shutdown or a lost lease, not the next hop's
			// verdict: no attempt is counted.
			continue
		}
		r.Attempts++
		r.LastAttempt = now
		r.Reply, r.DSNCode, r.Remote, r.FromRemote = res.Text, res.DSN, res.Remote, res.Remote != ""
		st := res.Status
		if st == Bounced && q.SoftBounce {
			st = Deferred
			r.DSNCode = softDSN(r.DSNCode)
		}
		switch st {
		case Delivered:
			r.Status = Delivered
			q.delivered.Add(1)
			if m.Sender != "" && r.Notify.Has(NotifySuccess) && !res.Relayed {
				// RFC 3461 §6.2.2: "delivered" by a final delivery
				// agent, "relayed" to a next hop that does not
				// take over the notification.
				if finalTransport[routes[i].Transport] {
					success = append(success, i)
				} else {
					relayed = append(relayed, i)
				}
			}
		case Bounced:
			r.Status = Bounced
			q.bounced.Add(1)
			if r.Notify.Has(NotifyFailure) {
				failed = append(failed, i)
			}
		default:
			r.Status = Deferred
			q.deferred.Add(1)
		}
	}
	var notDone []int
	for i, r := range m.Recipients {
		if !r.Status.Done() {
			notDone = append(notDone, i)
		}
	}
	if !interrupted {
		m.Attempts++
	}
	if len(notDone) > 0 && !interrupted {
		if !q.SoftBounce && q.Schedule.Expired(m.Arrival, now, m.Sender == "") {
			for _, i := range notDone {
				r := &m.Recipients[i]
				r.Status = Bounced
				if r.Reply == "" {
					r.Reply = "message expired"
				}
				if r.DSNCode == "" {
					r.DSNCode = "4.4.7" // RFC 3463: delivery time expired
				}
				q.bounced.Add(1)
				q.log().Info("queue: message expired, returned to sender", "id", m.ID, "to", r.Addr, "age", now.Sub(m.Arrival).Round(time.Second), "reason", r.Reply)
				if r.Notify.Has(NotifyFailure) {
					failed = append(failed, i)
				}
			}
			notDone = nil
		} else {
			m.NextAttempt = q.Schedule.Next(m.Arrival, now, m.Attempts)
			if !m.DelayWarned && q.Schedule.WarnDelay(m.Arrival, now) {
				m.DelayWarned = true
				for _, i := range notDone {
					if m.Recipients[i].Notify.Has(NotifyDelay) {
						delayed = append(delayed, i)
					}
				}
			}
		}
	}
	if m.Sender == "" {
		for _, i := range failed {
			q.log().Warn("queue: undeliverable notification discarded (null sender)", "id", m.ID, "to", m.Recipients[i].Addr)
		}
		failed, delayed, success, relayed = nil, nil, nil, nil
	}
	if len(failed) > 0 {
		if err := q.notify(sctx, DSNFailure, m, failed); err != nil {
			// Keep the recipients: they are tried (and returned) again.
			q.log().Error("queue: cannot queue failure notification; recipients stay queued", "id", m.ID, "err", err)
			for _, i := range failed {
				m.Recipients[i].Status = Deferred
			}
			if m.NextAttempt.Before(now) || m.NextAttempt.Equal(now) {
				m.NextAttempt = q.Schedule.Next(m.Arrival, now, m.Attempts)
			}
		}
	}
	if len(delayed) > 0 {
		if err := q.notify(sctx, DSNDelay, m, delayed); err != nil {
			q.log().Error("queue: cannot queue delay notification", "id", m.ID, "err", err)
			m.DelayWarned = false
		}
	}
	for kind, rcpts := range map[DSNKind][]int{DSNSuccess: success, DSNRelayed: relayed} {
		if len(rcpts) == 0 {
			continue
		}
		if err := q.notify(sctx, kind, m, rcpts); err != nil {
			q.log().Error("queue: cannot queue success notification", "id", m.ID, "err", err)
		}
	}
	q.finish(sctx, m)
}

// finalTransport lists the transports that deliver to the recipient's
// mailbox (or drop the message): a success there is "delivered"; through
// any other transport the message was "relayed".
var finalTransport = map[string]bool{"lmtp": true, "maildir": true, "local": true, "virtual": true, "discard": true, "pipe": true}

// softDSN turns a permanent status code into the temporary one with the
// same detail, as soft_bounce does ("5.1.1" → "4.1.1").
func softDSN(dsn string) string {
	if strings.HasPrefix(dsn, "5.") {
		return "4" + dsn[1:]
	}
	if dsn == "" {
		return "4.0.0"
	}
	return dsn
}

// finish stores the outcome of an attempt and ends it. It reports
// whether the outcome is in the store; if not, it is kept in memory and
// written before the message is delivered again.
func (q *Queue) finish(ctx context.Context, m *Message) (saved bool) {
	lock := q.msgLock(m.ID)
	lock.Lock()
	defer lock.Unlock()
	q.mu.Lock()
	a := q.active[m.ID]
	q.mu.Unlock()
	leaser, isLeaser := q.Store.(Leaser)
	var err error
	switch {
	case a != nil && a.lost:
		// Another runner owns the message now; what we did is lost
		// with the lease (only deliveries in flight may repeat).
	case (a != nil && a.delete) || m.Done():
		if isLeaser {
			err = leaser.Finish(ctx, q.Owner, m.ID)
		} else {
			err = q.Store.Delete(ctx, m.ID)
		}
		if a != nil && a.delete {
			q.log().Info("queue: message deleted by the administrator", "id", m.ID)
		} else {
			q.log().Info("queue: removed", "id", m.ID)
		}
	default:
		if a != nil {
			m.Hold = m.Hold || a.hold
		}
		if isLeaser {
			err = leaser.Release(ctx, q.Owner, m)
		} else {
			err = q.Store.Update(ctx, m)
		}
	}
	if errors.Is(err, ErrNotFound) && a != nil && !isLeaser {
		err = nil
	}
	q.mu.Lock()
	switch {
	case err == nil, errors.Is(err, ErrNotFound), errors.Is(err, ErrLeaseLost):
		// Recorded, or no longer ours to record.
		delete(q.unsaved, m.ID)
		saved = true
	default:
		// The store still has the message as it was before the
		// attempt. Keep the outcome and write it before any new
		// delivery; should this process stop first, recipients
		// delivered in this attempt may get the message twice. Never
		// a loss.
		q.log().Error("queue: cannot record delivery attempt; kept in memory", "id", m.ID, "err", err)
		q.unsaved[m.ID] = m
	}
	delete(q.active, m.ID)
	wasFull := q.full
	q.mu.Unlock()
	if wasFull {
		q.Kick()
	}
	return saved
}

// notify queues a delivery status notification of kind for rcpts of m.
func (q *Queue) notify(ctx context.Context, kind DSNKind, m *Message, rcpts []int) error {
	body, err := q.Store.Body(ctx, m.ID)
	if err != nil {
		return err
	}
	defer body.Close()
	opts := q.DSN
	if opts.Now == nil {
		opts.Now = q.now
	}
	if opts.Lifetime == 0 {
		opts.Lifetime = q.Schedule.lifetime(m.Sender == "")
	}
	dm, content, err := NewDSN(opts, kind, m, rcpts, body)
	if err != nil {
		return err
	}
	if err := q.Store.Put(ctx, dm, bytes.NewReader(content)); err != nil {
		return err
	}
	q.notified.Add(1)
	q.log().Info("queue: notification queued", "id", m.ID, "kind", kind.String(), "dsn_id", dm.ID, "to", m.Sender)
	q.Kick()
	return nil
}

// List returns every queued message (held ones included), by ID.
func (q *Queue) List(ctx context.Context) ([]*Message, error) { return q.Store.List(ctx) }

// Hold puts message id on hold (postsuper -h): it is not delivered until
// Release. A delivery in flight finishes; the message is then held.
func (q *Queue) Hold(ctx context.Context, id string) error {
	return q.change(ctx, id, func(m *Message, a *active) {
		m.Hold = true
		if a != nil {
			a.hold = true
		}
	})
}

// Release takes message id off hold (postsuper -H) and makes it due now.
func (q *Queue) Release(ctx context.Context, id string) error {
	err := q.change(ctx, id, func(m *Message, a *active) {
		m.Hold = false
		m.NextAttempt = time.Time{}
		if a != nil {
			a.hold = false
		}
	})
	if err == nil {
		q.Kick()
	}
	return err
}

// change applies an administrator's change of Hold or NextAttempt.
func (q *Queue) change(ctx context.Context, id string, f func(*Message, *active)) error {
	q.init()
	lock := q.msgLock(id)
	lock.Lock()
	defer lock.Unlock()
	m, err := q.Store.Get(ctx, id)
	if err != nil {
		return err
	}
	q.mu.Lock()
	a := q.active[id]
	f(m, a)
	q.mu.Unlock()
	if r, ok := q.Store.(Rescheduler); ok {
		return r.Reschedule(ctx, id, m.Hold, m.NextAttempt)
	}
	return q.Store.Update(ctx, m)
}

// Delete removes message id without notifying anyone (postsuper -d). A
// delivery in flight is canceled and the message removed when it stops.
func (q *Queue) Delete(ctx context.Context, id string) error {
	q.init()
	lock := q.msgLock(id)
	lock.Lock()
	defer lock.Unlock()
	q.mu.Lock()
	a := q.active[id]
	if a != nil {
		a.delete = true
		a.cancel()
	}
	q.mu.Unlock()
	if a != nil {
		return nil
	}
	return q.Store.Delete(ctx, id)
}

// Flush makes every queued message that is not on hold due now
// (postqueue -f), or, when domain is not empty, those with a recipient in
// domain still to deliver (ETRN, postqueue -s). It also lifts the
// suspension of destinations that did not answer. It returns the number
// of messages made due.
func (q *Queue) Flush(ctx context.Context, domain string) (int, error) {
	q.init()
	domain = strings.TrimSuffix(strings.ToLower(domain), ".")
	q.mu.Lock()
	for _, d := range q.dests {
		d.mu.Lock()
		d.suspendedUntil = time.Time{}
		d.mu.Unlock()
	}
	q.mu.Unlock()
	ms, err := q.Store.List(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	var errs []error
	for _, m := range ms {
		if m.Hold || m.NextAttempt.IsZero() || !wantsFlush(m, domain) {
			continue
		}
		err := q.change(ctx, m.ID, func(m *Message, a *active) {
			if !m.Hold {
				m.NextAttempt = time.Time{}
			}
		})
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", m.ID, err))
			continue
		}
		n++
	}
	q.Kick()
	return n, errors.Join(errs...)
}

func wantsFlush(m *Message, domain string) bool {
	for _, r := range m.Recipients {
		if r.Status.Done() {
			continue
		}
		if domain == "" {
			return true
		}
		if i := strings.LastIndexByte(r.Addr, '@'); i >= 0 && strings.EqualFold(strings.TrimSuffix(r.Addr[i+1:], "."), domain) {
			return true
		}
	}
	return false
}
