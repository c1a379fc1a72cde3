package tlsrpt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/emersion/go-msgauth/dkim"
)

// Defaults of Reporter.
const (
	// DefaultDelay and DefaultJitter: reports of a day go out 4 to 6
	// minutes after the following midnight UTC, as mox sends them, so
	// that every MX has flushed its last results of the day and the
	// receivers do not get every report in the same second.
	DefaultDelay  = 4 * time.Minute
	DefaultJitter = 2 * time.Minute
	// DefaultRetryInterval is the pause before a failed delivery (a
	// temporary DNS failure, an https POST or a submission that failed)
	// is tried again; RFC 8460 §5.5 asks for retries during 24 hours,
	// after which the report is given up.
	DefaultRetryInterval = 30 * time.Minute
	retryFor             = 24 * time.Hour
	// DefaultKeep is how long aggregates are kept (sent or not):
	// aggregates of days more than 3 days before today are dropped.
	DefaultKeep = 3 * 24 * time.Hour
	// HTTPTimeout limits one https POST (sys4's tlsrpt-reporter uses 10 s).
	HTTPTimeout = 10 * time.Second
)

// Reporter sends the reports of the aggregates in its Store, once a day,
// for the days that are over. Its zero value sends nothing: mailto:
// reports need Mail, https: reports need HTTPS. It is safe for concurrent
// use, and several Reporters (on several MXs sharing a Store) send each
// report once.
type Reporter struct {
	// Store holds the aggregates (the Aggregator's Store).
	Store Store
	// Aggregator, when not nil, is flushed before each round of sending,
	// so the last results of the day are counted.
	Aggregator *Aggregator
	// Resolver reads the _smtp._tls records at send time.
	Resolver Resolver

	// Submitter is the reporting domain: TLS-Report-Submitter, report
	// IDs, file names, Message-IDs. Required when sending.
	Submitter string
	// OrganizationName and ContactInfo go into the report; empty
	// means Submitter and "postmaster@" + Submitter.
	OrganizationName string
	ContactInfo      string
	// From is the author and envelope sender of report messages; empty
	// means "postmaster@" + Submitter.
	From string

	// Mail takes the report messages for mailto: rua; nil skips them.
	Mail MailSubmitter
	// DKIM, when not nil, signs report messages (RFC 8460 §5.3 requires
	// a DKIM signature by the submitter's domain; a receiver may drop
	// unsigned reports).
	DKIM *dkim.SignOptions
	// HTTPS enables https: rua (a POST of the gzipped report). mox
	// ignores them because such reports cannot be authenticated.
	HTTPS bool
	// HTTPClient posts https reports; nil is a client that follows no
	// redirects. Each POST is limited to HTTPTimeout.
	HTTPClient *http.Client

	// SendWithoutFailures sends reports for days without a failed
	// session too. The default, false, sends only reports with
	// failures, as mox does: a report that says all is well costs every
	// receiving domain a message a day and nobody reads it.
	SendWithoutFailures bool

	// Delay and Jitter: a day's reports go out at the next midnight UTC
	// plus Delay plus a random duration below Jitter. Zero means
	// DefaultDelay and DefaultJitter; a negative Jitter means none.
	Delay, Jitter time.Duration
	// RetryInterval: zero means DefaultRetryInterval.
	RetryInterval time.Duration
	// Keep: zero means DefaultKeep.
	Keep time.Duration

	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// Logger; nil is slog.Default().
	Logger *slog.Logger
}

func (r *Reporter) enabled() bool { return r != nil && (r.Mail != nil || r.HTTPS) }

func (r *Reporter) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Reporter) log() *slog.Logger {
	if r.Logger != nil {
		return r.Logger
	}
	return slog.Default()
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

func (r *Reporter) options() ReportOptions {
	return ReportOptions{Submitter: r.Submitter, OrganizationName: r.OrganizationName, ContactInfo: r.ContactInfo}
}

// Run sends reports until ctx ends: at start the days already over (after
// a jitter, or at today's send time if that is still to come), then every
// day at midnight UTC plus Delay and jitter, and failed deliveries every
// RetryInterval. It returns ctx's error, or at once if the Reporter sends
// nothing (its zero value) or is misconfigured.
func (r *Reporter) Run(ctx context.Context) error {
	if !r.enabled() {
		return nil
	}
	if err := r.check(); err != nil {
		return err
	}
	now := r.now()
	next := r.sendTime(dayOf(now))
	if next.Before(now) {
		next = now.Add(r.jitter())
	}
	for {
		t := time.NewTimer(next.Sub(r.now()))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		retry, err := r.SendDue(ctx)
		if err != nil {
			r.log().Warn("tlsrpt: sending reports", "err", err)
			retry = true
		}
		now := r.now()
		next = r.sendTime(dayOf(now).Add(24 * time.Hour))
		if retry {
			if t := now.Add(orDefault(r.RetryInterval, DefaultRetryInterval)); t.Before(next) {
				next = t
			}
		}
	}
}

// sendTime is when the reports of the day before midnight go out.
func (r *Reporter) sendTime(midnight time.Time) time.Time {
	return midnight.Add(orDefault(r.Delay, DefaultDelay) + r.jitter())
}

func (r *Reporter) jitter() time.Duration {
	j := orDefault(r.Jitter, DefaultJitter)
	if j <= 0 {
		return 0
	}
	return rand.N(j)
}

func (r *Reporter) check() error {
	if r.Store == nil {
		return errors.New("tlsrpt: Reporter without Store")
	}
	if r.Resolver == nil {
		return errors.New("tlsrpt: Reporter without Resolver")
	}
	if _, ok := normalizeDomain(r.Submitter); !ok {
		return fmt.Errorf("tlsrpt: Reporter: invalid Submitter %q", r.Submitter)
	}
	return nil
}

// SendDue sends the reports of the days before today (UTC) that are not
// sent yet and whose retry time has come, and drops aggregates older than
// Keep. retry reports whether some delivery failed and is to be tried
// again. Errors of single deliveries are logged, not returned; err is a
// store failure.
func (r *Reporter) SendDue(ctx context.Context) (retry bool, err error) {
	if !r.enabled() {
		return false, nil
	}
	if err := r.check(); err != nil {
		return false, err
	}
	if err := r.Aggregator.Flush(ctx); err != nil {
		r.log().Warn("tlsrpt: cannot store results before sending", "err", err)
	}
	today := dayOf(r.now())
	keys, err := r.Store.Unsent(ctx, today)
	if err != nil {
		return false, fmt.Errorf("tlsrpt: %w", err)
	}
	var errs []error
	for _, k := range keys {
		var again bool
		_, err := r.Store.Claim(ctx, k, func(ctx context.Context, a *Aggregate) error {
			again = r.send(ctx, a)
			return nil
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("tlsrpt: %s: %w", k, err))
			retry = true
		}
		retry = retry || again
	}
	keep := orDefault(r.Keep, DefaultKeep)
	if n, err := r.Store.Prune(ctx, dayOf(today.Add(-keep))); err != nil {
		errs = append(errs, fmt.Errorf("tlsrpt: prune: %w", err))
	} else if n > 0 {
		r.log().Debug("tlsrpt: old aggregates dropped", "count", n)
	}
	return retry, errors.Join(errs...)
}

// send delivers the report of a to its rua and updates a.State. It
// reports whether a retry is due.
func (r *Reporter) send(ctx context.Context, a *Aggregate) (retry bool) {
	now := r.now()
	if now.Before(a.State.Next) {
		return true
	}
	log := r.log().With("domain", a.Domain, "day", a.Day.Format(time.DateOnly))
	failures := a.FailureCount()
	if failures == 0 && !r.SendWithoutFailures {
		a.State.Sent = now
		return false
	}
	rua, err := LookupRUA(ctx, r.Resolver, a.Domain)
	if err != nil {
		if errors.Is(err, ErrTemporary) {
			log.Info("tlsrpt: report postponed", "err", err)
			return r.failed(a, now, log)
		}
		log.Debug("tlsrpt: no report: no usable TLS-RPT record", "err", err)
		a.State.Sent = now
		return false
	}
	rep := BuildReport(a, r.options())
	gz, err := rep.Gzip()
	if err != nil {
		log.Error("tlsrpt: report", "err", err)
		a.State.Sent = now
		return false
	}
	pending := 0
	for _, u := range rua {
		us := u.String()
		if slices.Contains(a.State.Done, us) {
			continue
		}
		var err error
		switch strings.ToLower(u.Scheme) {
		case "mailto":
			if r.Mail == nil {
				continue
			}
			err = r.mail(ctx, a, rep, gz, mailtoAddr(u), now)
		case "https":
			if !r.HTTPS {
				continue
			}
			err = r.post(ctx, u, gz)
		default:
			continue
		}
		if err != nil {
			log.Warn("tlsrpt: report not delivered", "rua", us, "err", err)
			pending++
			continue
		}
		log.Info("tlsrpt: report sent", "rua", us, "report_id", rep.ReportID, "failures", failures)
		a.State.Done = append(a.State.Done, us)
	}
	if pending > 0 {
		return r.failed(a, now, log)
	}
	a.State.Sent = now
	return false
}

// failed records a failed attempt: a retry after RetryInterval, or, 24
// hours after the first attempt, giving up (RFC 8460 §5.5).
func (r *Reporter) failed(a *Aggregate, now time.Time, log *slog.Logger) bool {
	a.State.Attempts++
	if a.State.First.IsZero() {
		a.State.First = now
	}
	if now.Sub(a.State.First) >= retryFor {
		log.Warn("tlsrpt: report given up", "attempts", a.State.Attempts)
		a.State.Sent = now
		return false
	}
	a.State.Next = now.Add(orDefault(r.RetryInterval, DefaultRetryInterval))
	return true
}

func (r *Reporter) mail(ctx context.Context, a *Aggregate, rep *Report, gz []byte, to string, now time.Time) error {
	from := r.From
	if from == "" {
		from = "postmaster@" + r.Submitter
	}
	msg, err := BuildMessage(a.Key, rep, gz, MessageOptions{
		ReportOptions: r.options(), From: from, To: to, Date: now, DKIM: r.DKIM,
	})
	if err != nil {
		return err
	}
	if err := r.Mail.Submit(ctx, from, []string{to}, msg); err != nil {
		return fmt.Errorf("tlsrpt: submit: %w", err)
	}
	return nil
}

var errRedirect = errors.New("tlsrpt: redirect not followed")

var defaultHTTPClient = &http.Client{
	Timeout:       HTTPTimeout,
	CheckRedirect: func(*http.Request, []*http.Request) error { return errRedirect },
}

// post delivers the gzipped report to an https: rua (RFC 8460 §5.4).
func (r *Reporter) post(ctx context.Context, u *url.URL, gz []byte) error {
	c := r.HTTPClient
	if c == nil {
		c = defaultHTTPClient
	}
	ctx, cancel := context.WithTimeout(ctx, HTTPTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(gz))
	if err != nil {
		return fmt.Errorf("tlsrpt: %w", err)
	}
	req.Header.Set("Content-Type", "application/tlsrpt+gzip")
	req.Header.Set("User-Agent", "mxkit-tlsrpt")
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("tlsrpt: POST: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("tlsrpt: POST %s: %s", u.Redacted(), resp.Status)
	}
	return nil
}
