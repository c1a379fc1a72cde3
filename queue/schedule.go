package queue

import (
	"math/rand/v2"
	"time"
)

// Postfix's defaults for the retry schedule (postconf(5)).
const (
	DefaultMinBackoff = 300 * time.Second  // minimal_backoff_time
	DefaultMaxBackoff = 4000 * time.Second // maximal_backoff_time
	DefaultLifetime   = 5 * 24 * time.Hour // maximal_queue_lifetime
	DefaultJitter     = 0.1                // none in Postfix; spreads retries of a burst
	minBackoffFloor   = 100 * time.Millisecond
)

// Schedule is the retry policy as data. The zero value is Postfix's
// default schedule: retry after the message's age, at least 300 s and at
// most 4000 s apart (so the interval roughly doubles), give up after 5
// days, no delay warnings.
type Schedule struct {
	// MinBackoff and MaxBackoff bound the time between attempts
	// (minimal_backoff_time, maximal_backoff_time). Zero: 300 s, 4000 s.
	MinBackoff, MaxBackoff time.Duration
	// Backoff, if set, lists the intervals after the 1st, 2nd, ...
	// failed attempt; the last one repeats. It replaces the age-based
	// rule (an Exim-style retry rule as data).
	Backoff []time.Duration
	// Lifetime is how long a message may stay queued before its
	// deferred recipients are returned to the sender
	// (maximal_queue_lifetime). Zero: 5 days. Negative: return at the
	// first temporary failure (Postfix's maximal_queue_lifetime = 0).
	Lifetime time.Duration
	// BounceLifetime is Lifetime for notifications (null sender,
	// bounce_queue_lifetime). Zero: the same as Lifetime.
	BounceLifetime time.Duration
	// DelayWarning, when positive, sends one delay notification to the
	// sender for recipients still deferred after this time
	// (delay_warning_time; Postfix's default 0 means never; the seed
	// uses 6h).
	DelayWarning time.Duration
	// Jitter spreads each retry interval by ±Jitter (a fraction; zero:
	// 0.1, negative: none) so that messages deferred together do not
	// come back together.
	Jitter float64
}

func (s Schedule) minBackoff() time.Duration {
	if s.MinBackoff > 0 {
		return max(s.MinBackoff, minBackoffFloor)
	}
	return DefaultMinBackoff
}

func (s Schedule) maxBackoff() time.Duration {
	if s.MaxBackoff > 0 {
		return max(s.MaxBackoff, s.minBackoff())
	}
	return max(DefaultMaxBackoff, s.minBackoff())
}

// lifetime returns the queue lifetime for a message (nullSender: a
// notification), negative meaning "no retries".
func (s Schedule) lifetime(nullSender bool) time.Duration {
	if nullSender && s.BounceLifetime != 0 {
		return s.BounceLifetime
	}
	if s.Lifetime != 0 {
		return s.Lifetime
	}
	return DefaultLifetime
}

// Interval returns the time to wait after the attempts-th failed attempt
// of a message that arrived age ago, before jitter: Backoff[attempts-1]
// when Backoff is set, else age bounded by MinBackoff and MaxBackoff
// (Postfix's qmgr rule).
func (s Schedule) Interval(age time.Duration, attempts int) time.Duration {
	if len(s.Backoff) > 0 {
		i := min(max(attempts-1, 0), len(s.Backoff)-1)
		return max(s.Backoff[i], minBackoffFloor)
	}
	return min(max(age, s.minBackoff()), s.maxBackoff())
}

// Next returns when to try a message again after a failed attempt at now.
func (s Schedule) Next(arrival, now time.Time, attempts int) time.Time {
	d := s.Interval(now.Sub(arrival), attempts)
	j := s.Jitter
	if j == 0 {
		j = DefaultJitter
	}
	if j > 0 {
		j = min(j, 0.5)
		d = time.Duration(float64(d) * (1 + j*(2*rand.Float64()-1)))
	}
	return now.Add(d)
}

// Expired reports whether a message that arrived at arrival has outlived
// its queue lifetime at now.
func (s Schedule) Expired(arrival, now time.Time, nullSender bool) bool {
	l := s.lifetime(nullSender)
	return l < 0 || now.Sub(arrival) >= l
}

// WarnDelay reports whether a delay notification is due at now.
func (s Schedule) WarnDelay(arrival, now time.Time) bool {
	return s.DelayWarning > 0 && now.Sub(arrival) >= s.DelayWarning
}
