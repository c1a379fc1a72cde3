package postfix

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/mxkit/mxkit/internal/pfbuild"
	"github.com/mxkit/mxkit/queue"
	"github.com/mxkit/mxkit/smtppolicy"
)

// Settings is what main.cf says about the queue side: the queue and
// delivery, the transport router and the SMTP client. Load and Parse make
// it with the smtppolicy/postfix Server of the same file; Close closes
// the tables it opened (smtp_tls_policy_maps, fast_flush_domains).
type Settings struct {
	// Schedule holds minimal_backoff_time, maximal_backoff_time,
	// maximal_queue_lifetime, bounce_queue_lifetime and
	// delay_warning_time.
	Schedule queue.Schedule
	// SoftBounce is soft_bounce.
	SoftBounce bool
	// Limit holds default_destination_concurrency_limit,
	// default_destination_rate_delay and
	// default_destination_recipient_limit; TransportLimits the
	// TRANSPORT_destination_* parameters main.cf sets.
	Limit           queue.Limit
	TransportLimits map[string]queue.Limit
	// DSN holds myhostname (Reporting-MTA) and bounce_size_limit.
	DSN queue.DSNOptions
	// FastFlushDomains is fast_flush_domains (default $relay_domains,
	// parent domains matching subdomains): the domains a client may ask
	// to have flushed with ETRN.
	FastFlushDomains smtppolicy.DomainMatcher
	// MinFree is queue_minfree: the free space (bytes) the queue's file
	// system must keep after a message; MAIL is answered "452 4.3.1
	// Insufficient system storage" below it, or when the declared SIZE
	// exceeds half the free space, as Postfix's smtpd does.
	MinFree int64
	// Relayhost, VirtualTransport, RelayTransport, DefaultTransport and
	// LocalTransport are relayhost, virtual_transport, relay_transport,
	// default_transport and local_transport: the routes of the address
	// classes (see Router).
	Relayhost, VirtualTransport, RelayTransport, DefaultTransport, LocalTransport string
	// SMTP is what main.cf says about the SMTP client (smtp_*).
	SMTP SMTPClient

	site     *smtppolicy.Site // the address classes Route resolves with
	hostname string           // myhostname: the next hop of last resort
	closers  []io.Closer
}

func (b *builder) queue() error {
	qs := b.qs
	var err error
	for _, d := range []struct {
		name string
		dst  *time.Duration
		zero time.Duration // what 0 means in Postfix
	}{
		{"minimal_backoff_time", &qs.Schedule.MinBackoff, 0},
		{"maximal_backoff_time", &qs.Schedule.MaxBackoff, 0},
		{"maximal_queue_lifetime", &qs.Schedule.Lifetime, -1}, // 0: return at the first temporary failure
		{"bounce_queue_lifetime", &qs.Schedule.BounceLifetime, -1},
		{"delay_warning_time", &qs.Schedule.DelayWarning, 0}, // 0: never
	} {
		v, err := b.Cfg.Duration(d.name)
		if err != nil {
			return b.Fail(d.name, err)
		}
		if v == 0 {
			v = d.zero
		}
		*d.dst = v
	}
	if qs.SoftBounce, err = b.Bool("soft_bounce"); err != nil {
		return err
	}
	if qs.Limit, err = b.limit("default"); err != nil {
		return err
	}
	for _, name := range b.Cfg.Names() {
		m := pfbuild.TransportLimit.FindStringSubmatch(name)
		if m == nil || m[1] == "default" || m[1] == "initial" {
			continue
		}
		if qs.TransportLimits == nil {
			qs.TransportLimits = map[string]queue.Limit{}
		}
		if _, done := qs.TransportLimits[m[1]]; done {
			continue
		}
		if qs.TransportLimits[m[1]], err = b.limit(m[1]); err != nil {
			return err
		}
	}
	size, err := b.Cfg.Size("bounce_size_limit")
	if err != nil {
		return b.Fail("bounce_size_limit", err)
	}
	qs.DSN = queue.DSNOptions{ReportingMTA: b.srv.Hostname, MaxReturned: size}
	if qs.MinFree, err = b.Cfg.Size("queue_minfree"); err != nil {
		return b.Fail("queue_minfree", err)
	}
	if qs.FastFlushDomains, err = b.DomainList("fast_flush_domains", true); err != nil {
		return err
	}
	for name, dst := range map[string]*string{
		"relayhost": &qs.Relayhost, "virtual_transport": &qs.VirtualTransport, "relay_transport": &qs.RelayTransport,
		"default_transport": &qs.DefaultTransport, "local_transport": &qs.LocalTransport,
	} {
		if *dst, err = b.Get(name); err != nil {
			return err
		}
	}
	if qs.Relayhost != "" && strings.ContainsAny(qs.Relayhost, ", \t") {
		return b.Fail("relayhost", fmt.Errorf("more than one relay host is %w", pfbuild.ErrUnsupported))
	}
	return b.smtpClient()
}

// limit reads TRANSPORT_destination_{concurrency_limit,rate_delay,
// recipient_limit}; for a transport, unset ones inherit the defaults.
func (b *builder) limit(transport string) (queue.Limit, error) {
	var l queue.Limit
	if transport != "default" {
		l = b.qs.Limit
	}
	name := transport + "_destination_concurrency_limit"
	if _, set := b.Cfg.Param(name); set || transport == "default" {
		n, err := b.Int(name)
		if err != nil {
			return l, err
		}
		l.Concurrency = n
	}
	name = transport + "_destination_rate_delay"
	if _, set := b.Cfg.Param(name); set || transport == "default" {
		d, err := b.Cfg.Duration(name)
		if err != nil {
			return l, b.Fail(name, err)
		}
		l.RateDelay = d
	}
	name = transport + "_destination_recipient_limit"
	if _, set := b.Cfg.Param(name); set || transport == "default" {
		n, err := b.Int(name)
		if err != nil {
			return l, err
		}
		l.Recipients = n
	}
	return l, nil
}

// Router returns the queue.Router of this configuration: Postfix's
// trivial-rewrite(8) resolution of a recipient to transport:nexthop.
// The address class picks the transport (local_transport for
// mydestination, virtual_transport for virtual_mailbox_domains,
// relay_transport for relay_domains, default_transport for the rest; a
// virtual alias domain recipient that virtual_alias_maps did not rewrite
// is "User unknown in virtual alias table"); transport_maps overrides
// transport, next hop or both; an empty next hop is relayhost for the
// relay and default classes, else the recipient's domain.
func (q *Settings) Router() queue.Router {
	return queue.RouterFunc(func(ctx context.Context, _ *queue.Message, rcpt string) (queue.Route, error) {
		return q.Route(ctx, rcpt)
	})
}

// Route resolves one recipient as Router does.
func (q *Settings) Route(ctx context.Context, rcpt string) (queue.Route, error) {
	site := q.site
	if site == nil {
		site = &smtppolicy.Site{}
	}
	res, err := site.Resolve(ctx, rcpt)
	if err != nil {
		return queue.Route{}, err
	}
	qs := q
	var classTransport string
	relayhostApplies := false
	switch res.Class {
	case smtppolicy.ClassLocalDomain:
		classTransport = qs.LocalTransport
	case smtppolicy.ClassVirtualMailboxDomain:
		classTransport = qs.VirtualTransport
	case smtppolicy.ClassRelayDomain:
		classTransport, relayhostApplies = qs.RelayTransport, true
	case smtppolicy.ClassDefaultDomain:
		classTransport, relayhostApplies = qs.DefaultTransport, true
	}
	ct, cn, _ := strings.Cut(classTransport, ":")
	t, nh := res.Transport, res.Nexthop
	if res.Class == smtppolicy.ClassVirtualAliasDomain {
		return queue.Route{Transport: t, Nexthop: nh}, nil
	}
	if t == "" {
		t = ct
		if nh == "" {
			nh = cn
		}
	}
	if nh == "" && t != "error" && t != "retry" {
		switch {
		case relayhostApplies && qs.Relayhost != "":
			nh = qs.Relayhost
		case res.Domain != "":
			nh = res.Domain
		default:
			nh = q.hostname
		}
	}
	if t == "" {
		t = "smtp"
	}
	return queue.Route{Transport: t, Nexthop: nh}, nil
}
