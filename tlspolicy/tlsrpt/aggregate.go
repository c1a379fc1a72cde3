package tlsrpt

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// Key names the aggregate of one report: the domain the report is for
// (whose _smtp._tls record is read at send time) and the UTC day.
type Key struct {
	Domain string
	Day    time.Time // 00:00:00 UTC
}

func (k Key) String() string { return k.Domain + "/" + k.Day.Format(time.DateOnly) }

// Aggregate is the day's counts for one report domain, per policy, and
// the state of sending its report.
type Aggregate struct {
	Key
	Policies []PolicyCounts
	State    SendState
}

// PolicyCounts are the session counts of one policy block.
type PolicyCounts struct {
	Policy    Policy           `json:"policy"`
	Successes int64            `json:"successes,omitempty"`
	Failures  []FailureDetails `json:"failures,omitempty"`
}

// SendState is where the sending of an aggregate's report stands.
type SendState struct {
	// Sent is set when nothing remains to do: the report went to every
	// usable rua, there was nothing to send, or sending was given up.
	Sent time.Time `json:"sent,omitzero"`
	// Attempts counts attempts that left some rua undelivered.
	Attempts int `json:"attempts,omitempty"`
	// First is the time of the first attempt, Next the earliest time
	// of the next one.
	First time.Time `json:"first,omitzero"`
	Next  time.Time `json:"next,omitzero"`
	// Done lists the rua URIs that have the report already.
	Done []string `json:"done,omitempty"`
}

// FailureCount returns the number of failed sessions of a.
func (a *Aggregate) FailureCount() int64 {
	var n int64
	for _, p := range a.Policies {
		for _, f := range p.Failures {
			n += f.FailedSessionCount
		}
	}
	return n
}

// Merge adds the counts of b to a: equal policies are merged, and within
// a policy equal failures, by summing their counts. a.State is kept.
func (a *Aggregate) Merge(b *Aggregate) {
	for _, p := range b.Policies {
		a.add(p.Policy, p.Successes, p.Failures)
	}
}

func (a *Aggregate) add(p Policy, successes int64, failures []FailureDetails) {
	k := p.key()
	i := slices.IndexFunc(a.Policies, func(c PolicyCounts) bool { return c.Policy.key() == k })
	if i < 0 {
		a.Policies = append(a.Policies, PolicyCounts{Policy: p})
		i = len(a.Policies) - 1
	}
	c := &a.Policies[i]
	c.Successes += successes
	for _, f := range failures {
		j := slices.IndexFunc(c.Failures, func(d FailureDetails) bool { return d.Failure == f.Failure })
		if j < 0 {
			c.Failures = append(c.Failures, f)
		} else {
			c.Failures[j].FailedSessionCount += f.FailedSessionCount
		}
	}
	a.sort()
}

// sort orders policies and failures canonically, so that reports and
// stored files do not depend on the order results came in.
func (a *Aggregate) sort() {
	slices.SortFunc(a.Policies, func(x, y PolicyCounts) int { return cmp.Compare(x.Policy.key(), y.Policy.key()) })
	for i := range a.Policies {
		slices.SortFunc(a.Policies[i].Failures, func(x, y FailureDetails) int { return compareFailure(x.Failure, y.Failure) })
	}
}

func compareFailure(x, y Failure) int {
	return cmp.Or(
		cmp.Compare(x.ResultType, y.ResultType),
		cmp.Compare(x.ReceivingMXHostname, y.ReceivingMXHostname),
		x.ReceivingIP.Compare(y.ReceivingIP),
		x.SendingMTAIP.Compare(y.SendingMTAIP),
		cmp.Compare(x.ReceivingMXHelo, y.ReceivingMXHelo),
		cmp.Compare(x.FailureReasonCode, y.FailureReasonCode),
		cmp.Compare(x.AdditionalInformation, y.AdditionalInformation),
	)
}

// Check reports whether a is well formed: a valid domain, a UTC
// midnight, valid policies, known result types and positive counts. Stores
// check what they read back with it.
func (a *Aggregate) Check() error {
	if d, ok := normalizeDomain(a.Domain); !ok || d != a.Domain {
		return fmt.Errorf("tlsrpt: aggregate domain %q", a.Domain)
	}
	if !a.Day.Equal(dayOf(a.Day)) {
		return fmt.Errorf("tlsrpt: aggregate day %v is not a UTC midnight", a.Day)
	}
	for _, p := range a.Policies {
		q, err := p.Policy.normalize()
		if err != nil {
			return err
		}
		if q.key() != p.Policy.key() {
			return fmt.Errorf("tlsrpt: policy %s not in canonical form", p.Policy.key())
		}
		if p.Successes < 0 {
			return fmt.Errorf("tlsrpt: negative count")
		}
		for _, f := range p.Failures {
			if f.ResultType == "" || f.FailedSessionCount <= 0 {
				return fmt.Errorf("tlsrpt: failure %+v: no result type or count", f)
			}
		}
	}
	return nil
}

// Recorder takes the results of TLS sessions. *Aggregator implements it;
// delivery code depends on this interface only.
type Recorder interface {
	Record(r Result)
}

// Aggregator collects session results in memory, merged per (report
// domain, UTC day, policy, failure), and adds them to its Store at each
// Flush. Its zero value, and a nil *Aggregator, record nothing: TLS-RPT
// is opt-in. It is safe for concurrent use.
type Aggregator struct {
	// Store keeps the aggregates; nil turns recording off.
	Store Store
	// FlushInterval is how often Run flushes; zero means a minute.
	FlushInterval time.Duration
	// Now is the clock for results without a time; nil is time.Now.
	Now func() time.Time
	// Logger receives dropped results and store errors; nil is
	// slog.Default().
	Logger *slog.Logger

	mu      sync.Mutex
	pending map[Key]*Aggregate
}

var _ Recorder = (*Aggregator)(nil)

func (g *Aggregator) log() *slog.Logger {
	if g.Logger != nil {
		return g.Logger
	}
	return slog.Default()
}

// Record adds one session result. It never blocks on I/O. Results with an
// invalid domain or policy are dropped (and logged at debug level).
func (g *Aggregator) Record(r Result) {
	if g == nil || g.Store == nil {
		return
	}
	p, err := r.Policy.normalize()
	if err != nil {
		g.log().Debug("tlsrpt: result dropped", "err", err)
		return
	}
	domain := p.Domain
	if r.Domain != "" {
		d, ok := normalizeDomain(r.Domain)
		if !ok {
			g.log().Debug("tlsrpt: result dropped: invalid domain", "domain", r.Domain)
			return
		}
		domain = d
	}
	t := r.Time
	if t.IsZero() {
		t = time.Now()
		if g.Now != nil {
			t = g.Now()
		}
	}
	k := Key{Domain: domain, Day: dayOf(t)}
	var succ int64
	var fails []FailureDetails
	if r.Failure == nil {
		succ = 1
	} else {
		f := *r.Failure
		if f.ResultType == "" {
			f.ResultType = ResultValidationFailure
		}
		fails = []FailureDetails{{Failure: f, FailedSessionCount: 1}}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.pending == nil {
		g.pending = map[Key]*Aggregate{}
	}
	a := g.pending[k]
	if a == nil {
		a = &Aggregate{Key: k}
		g.pending[k] = a
	}
	a.add(p, succ, fails)
}

// Flush adds the results recorded since the last Flush to the Store. On
// error they are kept and added at the next Flush.
func (g *Aggregator) Flush(ctx context.Context) error {
	if g == nil || g.Store == nil {
		return nil
	}
	g.mu.Lock()
	p := g.pending
	g.pending = nil
	g.mu.Unlock()
	if len(p) == 0 {
		return nil
	}
	aggs := make([]*Aggregate, 0, len(p))
	for _, a := range p {
		aggs = append(aggs, a)
	}
	slices.SortFunc(aggs, func(x, y *Aggregate) int { return compareKey(x.Key, y.Key) })
	if err := g.Store.Add(ctx, aggs); err != nil {
		g.mu.Lock()
		if g.pending == nil {
			g.pending = map[Key]*Aggregate{}
		}
		for k, a := range p {
			if b := g.pending[k]; b != nil {
				a.Merge(b)
			}
			g.pending[k] = a
		}
		g.mu.Unlock()
		return fmt.Errorf("tlsrpt: flush: %w", err)
	}
	return nil
}

// Run flushes every FlushInterval until ctx ends, then flushes a last
// time (with a 10 s limit) and returns ctx's error.
func (g *Aggregator) Run(ctx context.Context) error {
	if g == nil || g.Store == nil {
		<-ctx.Done()
		return ctx.Err()
	}
	iv := g.FlushInterval
	if iv <= 0 {
		iv = time.Minute
	}
	t := time.NewTicker(iv)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			if err := g.Flush(ctx); err != nil {
				g.log().Warn("tlsrpt: cannot store results; kept in memory", "err", err)
			}
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			if err := g.Flush(fctx); err != nil {
				g.log().Error("tlsrpt: results lost at shutdown", "err", err)
			}
			cancel()
			return ctx.Err()
		}
	}
}

func compareKey(x, y Key) int {
	return cmp.Or(x.Day.Compare(y.Day), cmp.Compare(x.Domain, y.Domain))
}
