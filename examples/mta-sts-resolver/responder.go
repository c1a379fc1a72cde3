package main

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/mxkit/mxkit/dane"
	"github.com/mxkit/mxkit/dnsres"
	"github.com/mxkit/mxkit/mtasts"
	"github.com/mxkit/mxkit/relaymaps"
)

// Answer texts, as postfix-mta-sts-resolver sends them (without the
// netstring framing).
const (
	notFound = "NOTFOUND "
	daneOnly = "OK dane-only"
)

// zoneResponder answers for one zone (a socketmap name).
type zoneResponder struct {
	name   string
	zone   Zone
	client *mtasts.Client
	dane   *daneChecker // nil: dane_first is off
	log    *slog.Logger
}

// tempError is a TEMP answer: its text is the reason.
type tempError struct{ msg string }

func (e *tempError) Error() string { return e.msg }

// Unwrap makes the socketmap server answer TEMP.
func (e *tempError) Unwrap() error { return relaymaps.ErrTemporary }

// normalizeKey turns a socketmap key into the domain asked for, as
// postfix-mta-sts-resolver's filter_domain does: "[host]:port",
// "[host]" and "host:port" lose brackets and port; lower case; no
// surrounding white space; no trailing dots (keys with white space are
// not domains and get NOTFOUND anyway).
func normalizeKey(key string) string {
	var d string
	if l, _, ok := strings.Cut(key, "]"); ok {
		d = strings.TrimLeft(l, "[")
	} else if i := strings.LastIndexByte(key, ':'); i >= 0 {
		d = key[:i]
	} else {
		d = key
	}
	return strings.TrimLeft(strings.TrimRight(strings.ToLower(d), ". \t\r\n\v\f"), " \t\r\n\v\f")
}

// skipKey reports whether a normalised key gets NOTFOUND without any
// lookup: Postfix's parent-domain probes (".example.com"), IP literals,
// and the empty key.
func skipKey(d string) bool {
	if d == "" || d[0] == '.' {
		return true
	}
	_, err := netip.ParseAddr(d)
	return err == nil
}

// Lookup implements relaymaps.Map for the socketmap server: "OK value"
// is found, "NOTFOUND " not found, "TEMP reason" a temporary error.
func (z *zoneResponder) Lookup(ctx context.Context, key string) (string, bool, error) {
	reply := z.answer(ctx, key)
	if z.log.Enabled(ctx, slog.LevelDebug) {
		z.log.Debug("request", "zone", z.name, "key", key, "reply", reply)
	}
	switch {
	case strings.HasPrefix(reply, "OK "):
		return strings.TrimPrefix(reply, "OK "), true, nil
	case strings.HasPrefix(reply, "TEMP "):
		// The reason alone goes back to Postfix, as the Python daemon sends it.
		return "", false, &tempError{strings.TrimPrefix(reply, "TEMP ")}
	}
	return "", false, nil
}

// answer returns the reply to a request for key: "OK ...", "NOTFOUND "
// or "TEMP reason".
func (z *zoneResponder) answer(ctx context.Context, key string) string {
	raw := key
	if _, err := netip.ParseAddr(strings.Trim(raw, "[]")); err == nil {
		return notFound // "[::1]" and bare IPv6, before the port is cut
	}
	d := normalizeKey(raw)
	if skipKey(d) {
		return notFound
	}
	if _, err := mtasts.NormalizeDomain(d); err != nil {
		z.log.Debug("not a domain", "zone", z.name, "domain", d, "err", err)
		return notFound
	}
	if z.dane != nil {
		secure, err := z.dane.check(ctx, d)
		if err != nil {
			z.log.Warn("DANE lookup failed", "zone", z.name, "domain", d, "err", err)
			return "TEMP " + err.Error() // the socketmap server makes it printable
		}
		if secure {
			z.log.Debug("DANE policy", "zone", z.name, "domain", d)
			return daneOnly
		}
	}
	p, err := z.client.Lookup(ctx, d)
	if err != nil {
		var fe *mtasts.FetchError
		switch {
		case errors.Is(err, mtasts.ErrTemporary):
			z.log.Warn("MTA-STS lookup failed", "zone", z.name, "domain", d, "err", err)
			return "TEMP " + err.Error() // the socketmap server makes it printable
		case errors.As(err, &fe):
			// RFC 8461 §3.3: a policy that cannot be fetched, with none
			// cached, is no policy.
			z.log.Info("MTA-STS policy fetch failed, no policy", "zone", z.name, "domain", d, "err", err)
		default:
			z.log.Warn("MTA-STS lookup failed, no policy", "zone", z.name, "domain", d, "err", err)
		}
		return notFound
	}
	if p == nil || p.Mode == mtasts.ModeNone || (p.Mode == mtasts.ModeTesting && !z.zone.StrictTesting) || len(p.MX) == 0 {
		return notFound
	}
	return "OK " + policyValue(d, p, z.zone)
}

// policyValue is the smtp_tls_policy_maps value for an enforced policy:
// "secure match=P1:P2 [servername=hostname] [policy_type=sts
// policy_domain=D mx_host_pattern=P1 ...]". Patterns keep the policy's
// order, without duplicates; in match, "*.example.net" becomes
// ".example.net" (Postfix's syntax, which matches subdomains of any
// depth, wider than RFC 8461's one label).
func policyValue(domain string, p *mtasts.Policy, z Zone) string {
	var b strings.Builder
	b.WriteString("secure match=")
	pats := make([]string, 0, len(p.MX))
	for _, mx := range p.MX {
		dup := false
		for _, q := range pats {
			if q == mx {
				dup = true
				break
			}
		}
		if !dup {
			pats = append(pats, mx)
		}
	}
	for i, mx := range pats {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(strings.TrimPrefix(mx, "*"))
	}
	if z.RequireSNI {
		b.WriteString(" servername=hostname")
	}
	if z.TLSRPT {
		b.WriteString(" policy_type=sts policy_domain=")
		b.WriteString(domain)
		for _, mx := range pats {
			b.WriteString(" mx_host_pattern=")
			b.WriteString(mx)
		}
	}
	return b.String()
}

// daneChecker decides whether a destination is fully DANE-protected: a
// DNSSEC-secure MX RRset and, for every MX host, secure and usable TLSA
// records (dane.Discover says Required). Verdicts are kept for ttl
// (cache_grace), TEMP results not at all.
type daneChecker struct {
	r   dane.Resolver
	ttl time.Duration
	max int

	mu sync.Mutex
	m  map[string]daneVerdict
}

type daneVerdict struct {
	secure  bool
	expires time.Time
}

// check returns whether d is DANE-only, or an error (a DNSSEC lookup that
// failed or was bogus) that must become TEMP.
func (c *daneChecker) check(ctx context.Context, d string) (bool, error) {
	now := time.Now()
	if c.ttl > 0 {
		c.mu.Lock()
		v, ok := c.m[d]
		c.mu.Unlock()
		if ok && now.Before(v.expires) {
			return v.secure, nil
		}
	}
	secure, err := c.discover(ctx, d)
	if err != nil {
		return false, err
	}
	if c.ttl > 0 {
		c.mu.Lock()
		if c.m == nil {
			c.m = map[string]daneVerdict{}
		}
		if len(c.m) >= c.max {
			for k, v := range c.m {
				if !now.Before(v.expires) {
					delete(c.m, k)
				}
			}
			if len(c.m) >= c.max {
				clear(c.m)
			}
		}
		c.m[d] = daneVerdict{secure, now.Add(c.ttl)}
		c.mu.Unlock()
	}
	return secure, nil
}

func (c *daneChecker) discover(ctx context.Context, d string) (bool, error) {
	mx, err := c.r.LookupMX(ctx, d)
	switch {
	case errors.Is(err, dnsres.ErrNXDomain), errors.Is(err, dnsres.ErrNullMX):
		return false, nil // no domain, or no mail (RFC 7505): no policy
	case errors.Is(err, dnsres.ErrNoData):
		// No MX records: the domain is its own MX host (below).
	case err != nil:
		return false, &tempError{"DNSSEC MX lookup for " + d + " failed: " + err.Error()}
	}
	if mx.Security != dane.Secure {
		return false, nil
	}
	hosts := make([]string, 0, len(mx.Hosts))
	for _, h := range mx.Hosts {
		if h.Host == "" {
			return false, nil // null MX (RFC 7505): no mail, no policy
		}
		if !contains(hosts, h.Host) {
			hosts = append(hosts, h.Host)
		}
	}
	if len(hosts) == 0 {
		hosts = []string{d} // no MX records: the domain is its own MX
	}
	all := true
	for _, h := range hosts {
		dec, err := dane.Discover(ctx, c.r, mx, h, 25, dane.InsecureMXDane)
		if err != nil {
			return false, &tempError{"DANE lookup for " + h + " (MX of " + d + ") failed: " + err.Error()}
		}
		if dec.Outcome != dane.Required {
			all = false // keep going: a later failure is still TEMP
		}
	}
	return all, nil
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}
