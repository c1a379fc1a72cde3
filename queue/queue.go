package queue

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Limit bounds delivery to one destination (a Route's transport and next
// hop). Zero fields take Postfix's defaults.
type Limit struct {
	// Concurrency is the number of parallel deliveries
	// (default_destination_concurrency_limit). Zero: 20.
	Concurrency int
	// RateDelay is the pause between the starts of two deliveries
	// (default_destination_rate_delay). With a rate delay deliveries to
	// the destination run one at a time, as in Postfix.
	RateDelay time.Duration
	// Recipients is the most recipients in one delivery
	// (default_destination_recipient_limit). Zero: 50.
	Recipients int
}

// Postfix's defaults for Limit and for the runner.
const (
	DefaultConcurrency = 20
	DefaultRecipients  = 50
	DefaultMaxActive   = 5000
	DefaultLeaseTTL    = 2 * time.Minute
	DefaultPoll        = time.Second
)

// Stats counts what a Queue did since it was made.
type Stats struct {
	Attempts      uint64 // delivery attempts of messages
	Delivered     uint64 // recipients delivered
	Bounced       uint64 // recipients returned as undeliverable
	Deferred      uint64 // recipient deferrals
	Notifications uint64 // DSNs queued (failure, delay, success)
}

// Queue is the scheduler: it takes due messages from its Store, routes
// each recipient, delivers through the Transports with per-destination
// limits, records the results, retries on its Schedule, and sends
// delivery status notifications. Fields are read when Run starts; do not
// change them afterwards. Several Queues (processes, machines) may share
// a Store that implements Leaser.
type Queue struct {
	Store      Store
	Router     Router
	Transports map[string]Deliverer // by Route.Transport

	Schedule Schedule
	// Limit applies to every destination; TransportLimits overrides it
	// for the destinations of one transport (Postfix's
	// transport_destination_concurrency_limit and friends).
	Limit           Limit
	TransportLimits map[string]Limit
	// SoftBounce turns every permanent failure into a temporary one, and
	// keeps expired messages queued instead of returning them
	// (soft_bounce = yes): nothing is ever bounced.
	SoftBounce bool
	// DSN configures the notifications (Reporting-MTA, From).
	DSN DSNOptions

	// MaxActive is how many messages are in delivery at once, waiting
	// for their destinations' slots included (Postfix's
	// qmgr_message_active_limit, 20,000). A backlog for one busy
	// destination larger than this delays the others. Zero: 5000.
	MaxActive int
	// Owner names this runner in leases (Leaser stores). Empty: host
	// name, process ID and a random suffix.
	Owner string
	// LeaseTTL is how long a lease lasts without renewal; it is renewed
	// every third of it. Zero: 2 minutes.
	LeaseTTL time.Duration
	// Poll is how often the store is asked for due messages when
	// nothing called Kick. Zero: 1 s.
	Poll   time.Duration
	Logger *slog.Logger
	// Now returns the current time; nil is time.Now (tests set it).
	Now func() time.Time

	initOnce sync.Once
	running  atomic.Bool
	wake     chan struct{}

	mu     sync.Mutex
	active map[string]*active
	dests  map[string]*dest
	full   bool // the last fill found no free slot
	// unsaved holds outcomes the store could not record (full disk,
	// lost database): the next attempt writes them first instead of
	// delivering again, so a storage fault does not turn into a storm
	// of duplicate deliveries.
	unsaved map[string]*Message

	msgLocks lockStripes

	attempts, delivered, bounced, deferred, notified atomic.Uint64
}

// active is a message in delivery.
type active struct {
	cancel       context.CancelFunc
	hold, delete bool // administrator actions that arrived during the attempt
	lost         bool // the lease was lost
}

func (q *Queue) init() {
	q.initOnce.Do(func() {
		q.wake = make(chan struct{}, 1)
		q.active = make(map[string]*active)
		q.dests = make(map[string]*dest)
		q.unsaved = make(map[string]*Message)
		if q.Owner == "" {
			h, _ := os.Hostname()
			var b [4]byte
			_, _ = rand.Read(b[:])
			q.Owner = fmt.Sprintf("%s:%d:%s", h, os.Getpid(), hex.EncodeToString(b[:]))
		}
	})
}

func (q *Queue) now() time.Time {
	if q.Now != nil {
		return q.Now()
	}
	return time.Now()
}

func (q *Queue) log() *slog.Logger {
	if q.Logger != nil {
		return q.Logger
	}
	return slog.Default()
}

func (q *Queue) leaseTTL() time.Duration {
	if q.LeaseTTL > 0 {
		return q.LeaseTTL
	}
	return DefaultLeaseTTL
}

func (q *Queue) msgLock(id string) *sync.Mutex { return q.msgLocks.of(id) }

// Stats returns the counters.
func (q *Queue) Stats() Stats {
	return Stats{
		Attempts: q.attempts.Load(), Delivered: q.delivered.Load(), Bounced: q.bounced.Load(),
		Deferred: q.deferred.Load(), Notifications: q.notified.Load(),
	}
}

// Kick tells the runner that something became due (a new message was
// Put): it looks at once instead of at the next Poll.
func (q *Queue) Kick() {
	q.init()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// Run delivers until ctx is done, then cancels the deliveries in flight,
// records what they achieved, and returns nil. Messages whose attempt
// was interrupted stay due.
func (q *Queue) Run(ctx context.Context) error {
	q.init()
	if q.Store == nil || q.Router == nil {
		return errors.New("queue: Run needs a Store and a Router")
	}
	if !q.running.CompareAndSwap(false, true) {
		return errors.New("queue: Run called twice")
	}
	defer q.running.Store(false)
	poll := q.Poll
	if poll <= 0 {
		poll = DefaultPoll
	}
	var wg sync.WaitGroup
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	if l, ok := q.Store.(Leaser); ok {
		wg.Go(func() { q.renewLoop(runCtx, l) })
	}
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			cancel()
			wg.Wait()
			return nil
		case <-q.wake:
		case <-t.C:
		}
		q.fill(runCtx, &wg)
		t.Reset(poll)
	}
}

// fill starts attempts for due messages while there are free slots.
func (q *Queue) fill(ctx context.Context, wg *sync.WaitGroup) {
	maxActive := q.MaxActive
	if maxActive <= 0 {
		maxActive = DefaultMaxActive
	}
	q.mu.Lock()
	n := len(q.active)
	free := maxActive - n
	q.full = free <= 0
	q.mu.Unlock()
	if free <= 0 {
		return
	}
	now := q.now()
	var msgs []*Message
	var err error
	if l, ok := q.Store.(Leaser); ok {
		msgs, err = l.Lease(ctx, q.Owner, now, free, q.leaseTTL())
	} else if d, ok := q.Store.(DueSkipper); ok {
		msgs, err = d.DueSkip(ctx, now, free, func(id string) bool {
			q.mu.Lock()
			defer q.mu.Unlock()
			return q.active[id] != nil
		})
	} else {
		msgs, err = q.Store.Due(ctx, now, free+n)
	}
	if err != nil {
		if ctx.Err() == nil {
			q.log().Error("queue: cannot read due messages", "err", err)
		}
		return
	}
	started := 0
	for _, m := range msgs {
		if started == free {
			break
		}
		actx, acancel := context.WithCancel(ctx)
		q.mu.Lock()
		if q.active[m.ID] != nil {
			q.mu.Unlock()
			acancel()
			continue
		}
		q.active[m.ID] = &active{cancel: acancel}
		q.mu.Unlock()
		started++
		wg.Go(func() {
			defer acancel()
			q.attempt(actx, m)
		})
	}
	if started == free {
		q.mu.Lock()
		q.full = true
		q.mu.Unlock()
	}
}

func (q *Queue) renewLoop(ctx context.Context, l Leaser) {
	ttl := q.leaseTTL()
	t := time.NewTicker(ttl / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		q.mu.Lock()
		ids := make([]string, 0, len(q.active))
		for id := range q.active {
			ids = append(ids, id)
		}
		q.mu.Unlock()
		if len(ids) == 0 {
			continue
		}
		lost, err := l.Renew(ctx, q.Owner, ids, ttl)
		if err != nil {
			if ctx.Err() == nil {
				q.log().Error("queue: cannot renew leases", "err", err)
			}
			continue
		}
		q.mu.Lock()
		for _, id := range lost {
			if a := q.active[id]; a != nil {
				a.lost = true
				a.cancel()
				q.log().Warn("queue: lease lost; abandoning the attempt", "id", id)
			}
		}
		q.mu.Unlock()
	}
}

// attempt delivers m to its pending recipients and records the outcome.
func (q *Queue) attempt(ctx context.Context, m *Message) {
	q.mu.Lock()
	u := q.unsaved[m.ID]
	q.mu.Unlock()
	if u != nil {
		// The last outcome is not in the store yet: write it, and
		// deliver only what it left to deliver, when due.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
		defer cancel()
		if !q.finish(sctx, u) {
			return
		}
		q.log().Info("queue: recorded an earlier delivery attempt", "id", m.ID)
		return // the runner picks the message up again when it is due
	}
	q.attempts.Add(1)
	results := make([]*Result, len(m.Recipients))
	routes := make([]Route, len(m.Recipients))
	type group struct {
		route Route
		rcpts []int
	}
	var groups []*group
	byRoute := map[Route]*group{}
	for i := range m.Recipients {
		r := &m.Recipients[i]
		if r.Status.Done() {
			continue
		}
		route, err := q.Router.Route(ctx, m, r.Addr)
		if err != nil {
			res := Deferf("4.3.0", "transport table lookup failed: %v", err)
			results[i] = &res
			continue
		}
		routes[i] = route
		g := byRoute[route]
		if g == nil {
			g = &group{route: route}
			byRoute[route] = g
			groups = append(groups, g)
		}
		g.rcpts = append(g.rcpts, i)
	}
	var wg sync.WaitGroup
	for _, g := range groups {
		lim := q.limit(g.route)
		for chunk := range chunks(g.rcpts, lim.Recipients) {
			wg.Go(func() {
				res := q.deliver(ctx, m, g.route, chunk)
				for k, i := range chunk {
					results[i] = &res[k]
				}
			})
		}
	}
	wg.Wait()
	q.record(ctx, m, results, routes)
}

func chunks(s []int, n int) func(func([]int) bool) {
	return func(yield func([]int) bool) {
		for len(s) > 0 {
			k := min(n, len(s))
			if !yield(s[:k:k]) {
				return
			}
			s = s[k:]
		}
	}
}

func (q *Queue) limit(r Route) Limit {
	l := q.Limit
	if tl, ok := q.TransportLimits[r.Transport]; ok {
		l = tl
	}
	if l.Concurrency <= 0 {
		l.Concurrency = DefaultConcurrency
	}
	if l.RateDelay > 0 {
		l.Concurrency = 1
	}
	if l.Recipients <= 0 {
		l.Recipients = DefaultRecipients
	}
	return l
}

// dest is the state of one destination: its concurrency slots, its rate
// and whether it is suspended after a connection failure.
type dest struct {
	slots chan struct{}

	mu             sync.Mutex
	nextStart      time.Time
	suspendedUntil time.Time
	reason         string
}

func (q *Queue) dest(r Route, lim Limit) *dest {
	key := r.Destination()
	q.mu.Lock()
	defer q.mu.Unlock()
	d := q.dests[key]
	if d == nil {
		d = &dest{slots: make(chan struct{}, lim.Concurrency)}
		q.dests[key] = d
	}
	return d
}

// deliver runs one Delivery through the route's transport, within the
// destination's limits.
func (q *Queue) deliver(ctx context.Context, m *Message, route Route, rcpts []int) []Result {
	lim := q.limit(route)
	d := q.dest(route, lim)
	d.mu.Lock()
	if q.now().Before(d.suspendedUntil) {
		reason := d.reason
		d.mu.Unlock()
		return Results(len(rcpts), Deferf("4.4.1", "delivery temporarily suspended: %s", reason))
	}
	d.mu.Unlock()
	tr := q.Transports[route.Transport]
	if tr == nil {
		return Results(len(rcpts), Deferf("4.3.5", "mail transport unavailable: no transport %q", route.Transport))
	}
	select {
	case d.slots <- struct{}{}:
	case <-ctx.Done():
		return Results(len(rcpts), Deferf("4.4.0", "delivery interrupted: %v", ctx.Err()))
	}
	defer func() { <-d.slots }()
	if lim.RateDelay > 0 {
		d.mu.Lock()
		wait := time.Until(d.nextStart)
		d.nextStart = time.Now().Add(max(wait, 0) + lim.RateDelay)
		d.mu.Unlock()
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return Results(len(rcpts), Deferf("4.4.0", "delivery interrupted: %v", ctx.Err()))
			}
		}
	}
	res := tr.Deliver(ctx, &Delivery{
		Message: m,
		Rcpts:   rcpts,
		Route:   route,
		Open:    func(ctx context.Context) (io.ReadCloser, error) { return q.Store.Body(ctx, m.ID) },
	})
	if len(res) != len(rcpts) {
		q.log().Error("queue: transport returned the wrong number of results", "transport", route.Transport, "got", len(res), "want", len(rcpts))
		return Results(len(rcpts), Deferf("4.3.0", "internal error: transport %q returned %d results for %d recipients", route.Transport, len(res), len(rcpts)))
	}
	// A destination that did not answer at all is suspended for the
	// minimal backoff time, so that the rest of its mail is deferred
	// without a connection attempt each (Postfix's dead destination).
	dead := ctx.Err() == nil
	for _, r := range res {
		if r.Status != Deferred || r.Remote != "" || !(strings.HasPrefix(r.DSN, "4.4.1") || strings.HasPrefix(r.DSN, "4.4.2")) {
			dead = false
			break
		}
	}
	if dead {
		d.mu.Lock()
		d.suspendedUntil = q.now().Add(q.Schedule.minBackoff())
		d.reason = res[0].Text
		d.mu.Unlock()
	}
	return res
}
