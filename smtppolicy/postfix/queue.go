package postfix

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/mxkit/mxkit/queue"
	"github.com/mxkit/mxkit/smtppolicy"
)

// QueueSettings is what main.cf says about the queue and delivery.
type QueueSettings struct {
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
	// classes (see Server.Router).
	Relayhost, VirtualTransport, RelayTransport, DefaultTransport, LocalTransport string
	// SMTP is what main.cf says about the SMTP client (smtp_*).
	SMTP SMTPClient
}

// transportLimit matches the per-transport limit parameters, whose names
// come from master.cf service names and are not in Postfix's defaults.
var transportLimit = regexp.MustCompile(`^([a-z0-9-]+)_destination_(concurrency_limit|rate_delay|recipient_limit)$`)

// queueSupported are the queue and delivery parameters this package reads.
var queueSupported = []string{
	"minimal_backoff_time", "maximal_backoff_time", "maximal_queue_lifetime", "bounce_queue_lifetime",
	"delay_warning_time", "default_destination_concurrency_limit", "default_destination_rate_delay",
	"default_destination_recipient_limit", "relayhost", "virtual_transport", "bounce_size_limit",
	"queue_minfree", "fast_flush_domains",
}

func init() {
	for _, n := range queueSupported {
		supported[n] = true
	}
}

func (b *builder) queue() error {
	qs := &b.srv.Queue
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
		v, err := b.cfg.Duration(d.name)
		if err != nil {
			return b.fail(d.name, err)
		}
		if v == 0 {
			v = d.zero
		}
		*d.dst = v
	}
	if qs.SoftBounce, err = b.boolean("soft_bounce"); err != nil {
		return err
	}
	if qs.Limit, err = b.limit("default"); err != nil {
		return err
	}
	for _, name := range b.cfg.Names() {
		m := transportLimit.FindStringSubmatch(name)
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
	size, err := b.cfg.Size("bounce_size_limit")
	if err != nil {
		return b.fail("bounce_size_limit", err)
	}
	qs.DSN = queue.DSNOptions{ReportingMTA: b.srv.Hostname, MaxReturned: size}
	if qs.MinFree, err = b.cfg.Size("queue_minfree"); err != nil {
		return b.fail("queue_minfree", err)
	}
	if qs.FastFlushDomains, err = b.domainList("fast_flush_domains", true); err != nil {
		return err
	}
	for name, dst := range map[string]*string{
		"relayhost": &qs.Relayhost, "virtual_transport": &qs.VirtualTransport, "relay_transport": &qs.RelayTransport,
		"default_transport": &qs.DefaultTransport, "local_transport": &qs.LocalTransport,
	} {
		if *dst, err = b.get(name); err != nil {
			return err
		}
	}
	if qs.Relayhost != "" && strings.ContainsAny(qs.Relayhost, ", \t") {
		return b.fail("relayhost", fmt.Errorf("more than one relay host is %w", ErrUnsupported))
	}
	return b.smtpClient()
}

// limit reads TRANSPORT_destination_{concurrency_limit,rate_delay,
// recipient_limit}; for a transport, unset ones inherit the defaults.
func (b *builder) limit(transport string) (queue.Limit, error) {
	var l queue.Limit
	if transport != "default" {
		l = b.srv.Queue.Limit
	}
	name := transport + "_destination_concurrency_limit"
	if _, set := b.cfg.Param(name); set || transport == "default" {
		n, err := b.integer(name)
		if err != nil {
			return l, err
		}
		l.Concurrency = n
	}
	name = transport + "_destination_rate_delay"
	if _, set := b.cfg.Param(name); set || transport == "default" {
		d, err := b.cfg.Duration(name)
		if err != nil {
			return l, b.fail(name, err)
		}
		l.RateDelay = d
	}
	name = transport + "_destination_recipient_limit"
	if _, set := b.cfg.Param(name); set || transport == "default" {
		n, err := b.integer(name)
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
func (s *Server) Router() queue.Router {
	return queue.RouterFunc(func(ctx context.Context, _ *queue.Message, rcpt string) (queue.Route, error) {
		return s.Route(ctx, rcpt)
	})
}

// Route resolves one recipient as Router does.
func (s *Server) Route(ctx context.Context, rcpt string) (queue.Route, error) {
	site := s.Policy.Site
	if site == nil {
		site = &smtppolicy.Site{}
	}
	res, err := site.Resolve(ctx, rcpt)
	if err != nil {
		return queue.Route{}, err
	}
	qs := &s.Queue
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
			nh = s.Hostname
		}
	}
	if t == "" {
		t = "smtp"
	}
	return queue.Route{Transport: t, Nexthop: nh}, nil
}
