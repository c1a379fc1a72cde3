package postfix

import (
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/mxkit/mxkit/dane"
	"github.com/mxkit/mxkit/internal/pfbuild"
	"github.com/mxkit/mxkit/internal/pflist"
	"github.com/mxkit/mxkit/queue/deliver"
	"github.com/mxkit/mxkit/tlspolicy"
)

// SMTPClient is what main.cf says about the SMTP client, Postfix's smtp(8):
// delivery by MX lookup and its limits. The TLS side (smtp_tls_*) is read
// by the TLS policy layer.
type SMTPClient struct {
	// HeloName is smtp_helo_name ($myhostname).
	HeloName string
	// Timeouts are smtp_connect_timeout, smtp_helo_timeout,
	// smtp_starttls_timeout, smtp_mail_timeout, smtp_rcpt_timeout,
	// smtp_data_init_timeout, smtp_data_xfer_timeout,
	// smtp_data_done_timeout, smtp_rset_timeout and smtp_quit_timeout.
	Timeouts deliver.Timeouts
	// AddressLimit is smtp_mx_address_limit (5; 0 in main.cf means no
	// limit, kept here as -1); SessionLimit is smtp_mx_session_limit (2;
	// 0 is no limit, -1 here).
	AddressLimit, SessionLimit int
	// Randomize is smtp_randomize_addresses.
	Randomize bool
	// FallbackRelays is smtp_fallback_relay (or the older fallback_relay).
	FallbackRelays []string
	// IPv4 and IPv6 are inet_protocols.
	IPv4, IPv6 bool
	// Self is inet_interfaces plus proxy_interfaces: the addresses at
	// which an MX host is ourselves (self-truncation, loop detection), on
	// port SelfPort ("" means 25, as in Postfix; a server that listens
	// on another port sets it).
	Self     []netip.Addr
	SelfPort string
	// DNSSEC is smtp_dns_support_level = dnssec: MX and address lookups
	// carry their DNSSEC state, which DANE needs. (Our DNS layer always
	// asks with DO; the level says whether main.cf asked for it.)
	DNSSEC bool
	// CacheTime, ReuseCount and ReuseTime are
	// smtp_connection_cache_time_limit, smtp_connection_reuse_count_limit
	// and smtp_connection_reuse_time_limit.
	CacheTime, ReuseTime time.Duration
	ReuseCount           int
	// TLS is smtp_tls_*.
	TLS SMTPTLS
}

// DNS is what delivery asks the DNS layer: MX and address lookups with
// their DNSSEC state, and TLSA for DANE. *dnsres.Resolver implements it.
type DNS interface {
	deliver.MXDNS
	dane.Resolver
}

func (b *builder) smtpClient() error {
	c := &b.qs.SMTP
	var err error
	if c.HeloName, err = b.Get("smtp_helo_name"); err != nil {
		return err
	}
	for name, dst := range map[string]*time.Duration{
		"smtp_connect_timeout": &c.Timeouts.Connect, "smtp_helo_timeout": &c.Timeouts.Helo,
		"smtp_starttls_timeout": &c.Timeouts.StartTLS, "smtp_mail_timeout": &c.Timeouts.Mail,
		"smtp_rcpt_timeout": &c.Timeouts.Rcpt, "smtp_data_init_timeout": &c.Timeouts.DataInit,
		"smtp_data_xfer_timeout": &c.Timeouts.DataXfer, "smtp_data_done_timeout": &c.Timeouts.DataDone,
		"smtp_rset_timeout": &c.Timeouts.Rset, "smtp_quit_timeout": &c.Timeouts.Quit,
		"smtp_connection_cache_time_limit": &c.CacheTime, "smtp_connection_reuse_time_limit": &c.ReuseTime,
	} {
		if *dst, err = b.Cfg.Duration(name); err != nil {
			return b.Fail(name, err)
		}
	}
	for name, dst := range map[string]*int{
		"smtp_mx_address_limit": &c.AddressLimit, "smtp_mx_session_limit": &c.SessionLimit,
		"smtp_connection_reuse_count_limit": &c.ReuseCount,
	} {
		if *dst, err = b.Cfg.Int(name); err != nil {
			return b.Fail(name, err)
		}
		if *dst < 0 {
			return b.Fail(name, fmt.Errorf("negative value %d", *dst))
		}
	}
	if c.AddressLimit == 0 {
		c.AddressLimit = -1 // Postfix: 0 means no limit
	}
	if c.SessionLimit == 0 {
		c.SessionLimit = -1
	}
	if c.Randomize, err = b.Bool("smtp_randomize_addresses"); err != nil {
		return err
	}
	fb, err := b.Get("smtp_fallback_relay")
	if err != nil {
		return err
	}
	if fb == "" {
		if fb, err = b.Get("fallback_relay"); err != nil {
			return err
		}
	}
	c.FallbackRelays = pflist.Split(fb)

	protos, err := b.Get("inet_protocols")
	if err != nil {
		return err
	}
	for _, p := range pflist.Split(strings.ToLower(protos)) {
		switch p {
		case "all":
			c.IPv4, c.IPv6 = true, true
		case "ipv4":
			c.IPv4 = true
		case "ipv6":
			c.IPv6 = true
		default:
			return b.Fail("inet_protocols", fmt.Errorf("unknown protocol %q", p))
		}
	}
	if !c.IPv4 && !c.IPv6 {
		return b.Fail("inet_protocols", fmt.Errorf("no protocol"))
	}
	site := b.srv.Policy.Site
	c.Self = slices.Concat(site.InetInterfaces, site.ProxyInterfaces)

	// Parameters whose other values would change where mail goes, and
	// that are not implemented: refused rather than ignored.
	for _, r := range []struct{ name, want, why string }{
		{"smtp_address_preference", "any", "address family preference is %w (equal preferences are shuffled across families)"},
		{"smtp_skip_5xx_greeting", "yes", "bouncing on a 5xx greeting is %w"},
		{"smtp_always_send_ehlo", "yes", "HELO first is %w"},
		{"smtp_defer_if_no_mx_address_found", "no", "deferring when no MX host has an address is %w"},
	} {
		v, err := b.Get(r.name)
		if err != nil {
			return err
		}
		if !strings.EqualFold(v, r.want) {
			return b.Fail(r.name, fmt.Errorf(r.why, pfbuild.ErrUnsupported))
		}
	}
	level, err := b.Get("smtp_dns_support_level")
	if err != nil {
		return err
	}
	switch strings.ToLower(level) {
	case "", "enabled":
	case "dnssec":
		c.DNSSEC = true
	case "disabled":
		return b.Fail("smtp_dns_support_level", fmt.Errorf("delivery without DNS (no MX lookups) is %w", pfbuild.ErrUnsupported))
	default:
		return b.Fail("smtp_dns_support_level", fmt.Errorf("unknown level %q", level))
	}
	return b.smtpTLS()
}

// MXResolver returns the MX resolution main.cf describes (smtp(8)'s
// address list), asking dns; it is the Resolve hook of a deliver.SMTP for
// the smtp transport.
func (q *Settings) MXResolver(dns deliver.MXDNS) *deliver.MXResolver {
	c := q.SMTP
	self := slices.Clone(c.Self)
	return &deliver.MXResolver{
		DNS:            dns,
		Self:           func(a netip.Addr) bool { return slices.Contains(self, a.Unmap()) },
		SelfPort:       c.SelfPort,
		AddressLimit:   c.AddressLimit,
		IPv4:           c.IPv4,
		IPv6:           c.IPv6,
		NoRandomize:    !c.Randomize,
		FallbackRelays: c.FallbackRelays,
	}
}

// SMTPDeliverer returns a deliver.SMTP with main.cf's smtp(8) settings
// (EHLO name, timeouts, connection reuse, smtp_tls_*) that delivers by MX
// lookup through dns, logging to logger. DANE applies when
// smtp_dns_support_level = dnssec; sts, when not nil, adds MTA-STS in
// process (the seed asks its resolver through smtp_tls_policy_maps
// instead).
func (q *Settings) SMTPDeliverer(dns DNS, sts tlspolicy.STSSource, logger *slog.Logger) *deliver.SMTP {
	c := q.SMTP
	var daneDNS dane.Resolver
	if c.DNSSEC {
		daneDNS = dns
	}
	tp := q.TLSPolicies(daneDNS, sts)
	tp.Logger = logger
	return &deliver.SMTP{
		Hostname:          c.HeloName,
		Resolve:           q.MXResolver(dns).Resolve,
		TLSPolicies:       tp,
		TLS:               c.TLS.Config,
		MandatoryTLS:      c.TLS.Mandatory,
		FingerprintDigest: c.TLS.FingerprintDigest,
		// Postfix retries a failed handshake at may in plaintext only
		// for a queue file at least $minimal_backoff_time old.
		PlaintextFallbackAge: q.Schedule.MinBackoff,
		Timeouts:             c.Timeouts,
		SessionLimit:         c.SessionLimit,
		CacheTime:            c.CacheTime,
		ReuseCount:           c.ReuseCount,
		ReuseTime:            c.ReuseTime,
		Logger:               logger,
	}
}
