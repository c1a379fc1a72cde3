package tlspolicy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"

	"github.com/mxkit/mxkit/dane"
	"github.com/mxkit/mxkit/mtasts"
	"github.com/mxkit/mxkit/relaymaps"
)

// STSSource finds the MTA-STS policy in force for a domain (RFC 8461).
// *mtasts.Client implements it. Its answers are classified as follows:
//
//   - a policy (mode enforce or testing): applied; mode none is no policy;
//   - nil and nil, or an error matching ErrNoSTSPolicy or
//     mtasts.ErrNoRecord: no policy;
//   - an error wrapping a *mtasts.FetchError: no policy (RFC 8461 §3.3,
//     nothing usable cached), reported to TLS-RPT with the fetch error's
//     kind;
//   - any other error (mtasts.ErrTemporary, a cache or DNS failure):
//     temporary; the destination is deferred, never delivered as if it
//     had no policy.
//
// A source that has a cached enforce policy and fails to refresh it
// must return the cached policy (mtasts.Client does).
type STSSource interface {
	Lookup(ctx context.Context, domain string) (*mtasts.Policy, error)
}

// ErrNoSTSPolicy lets an STSSource say "no policy" explicitly.
var ErrNoSTSPolicy = errors.New("tlspolicy: no MTA-STS policy")

// Resolver decides the TLS policy for each (next hop, MX host, port), in
// this order: a policy-table hit (smtp_tls_policy_maps) wins; else DANE
// (usable secure TLSA records); else MTA-STS (enforce); else Level. The
// zero value uses level may for everything.
type Resolver struct {
	// Level is smtp_tls_security_level, used when nothing else applies.
	// Default is may. At none, DANE and MTA-STS are not looked up.
	Level Level
	// Maps are smtp_tls_policy_maps, searched with TableKeys.
	Maps []relaymaps.Map
	// DNS does the DNSSEC lookups for DANE; nil disables DANE (a dane
	// level then falls back to may, and dane-only defers with "client TLS
	// configuration problem", as Postfix without DNSSEC support).
	DNS dane.Resolver
	// InsecureMXPolicy is smtp_tls_dane_insecure_mx_policy.
	InsecureMXPolicy dane.InsecureMXPolicy
	// STS finds MTA-STS policies; nil disables MTA-STS.
	STS STSSource
	// ServerName is smtp_tls_servername: "", "hostname", "nexthop" or a
	// literal SNI, for policies that do not set their own.
	ServerName string
	// Logger receives the reasons for downgrades and deferrals; nil means
	// slog.Default().
	Logger *slog.Logger
}

// Destination is what a policy is resolved for.
type Destination struct {
	// Nexthop is the current next hop as the route names it: a domain
	// ("example.com"), "[relay.example]", "[relay.example]:587" or
	// "relay.example:587". It is the policy-table key.
	Nexthop string
	// MX is the next hop's MX lookup as found (only Domain, CNAMEs,
	// Security and Hosts are used). For a "[host]" next hop leave it
	// zero: it counts as a secure MX RRset. For a domain without MX
	// records, pass the result with no hosts.
	MX dane.MXResult
	// Host is the MX host name (for "[host]", the host).
	Host string
	// Port is the TCP port; 0 means 25.
	Port int
}

func (d Destination) port() int {
	if d.Port == 0 {
		return 25
	}
	return d.Port
}

// NexthopDomain returns the next-hop domain: the next hop without "[]" and
// ":port", lower case.
func NexthopDomain(nexthop string) string {
	n := strings.TrimSpace(nexthop)
	if strings.HasPrefix(n, "[") {
		if i := strings.IndexByte(n, ']'); i > 0 {
			return normName(n[1:i])
		}
	}
	if h, _, err := net.SplitHostPort(n); err == nil {
		return normName(h)
	}
	return normName(n)
}

func bracketed(nexthop string) bool { return strings.HasPrefix(strings.TrimSpace(nexthop), "[") }

func (r *Resolver) logger() *slog.Logger {
	if r.Logger != nil {
		return r.Logger
	}
	return slog.Default()
}

// Resolve returns the policy for d. A non-nil error is an *Error: the
// host must not be used now (try the next one, defer when none is left);
// it is never a reason to use a weaker policy.
func (r *Resolver) Resolve(ctx context.Context, d Destination) (*Policy, error) {
	host := normName(d.Host)
	domain := NexthopDomain(d.Nexthop)
	if host == "" {
		host = domain
	}
	label := domain + "/" + host

	// 1. The policy table.
	p, _, err := lookupTable(ctx, r.Maps, d.Nexthop, host)
	if err != nil {
		r.logger().Warn("TLS policy lookup for "+label+": "+err.Error(), "nexthop", d.Nexthop, "host", host)
		return nil, err
	}
	if p != nil {
		if e := stsPatterns(p, domain, host); e != nil {
			r.logger().Warn(e.Text, "nexthop", d.Nexthop, "host", host)
			return nil, e
		}
		if p.ServerName == "" {
			p.ServerName = r.ServerName
		}
		if p.Level != Dane && p.Level != DaneOnly {
			return p, nil
		}
		dec, derr, ran := r.discover(ctx, d, host)
		dp, fallback, e := daneStep(p.Level, dec, derr, ran, host, d.port())
		if e != nil {
			r.logger().Warn("TLS policy for "+label+": "+e.Text, "err", e.Err)
			return nil, e
		}
		if dp != nil {
			dp.Source = "table"
			return dp, nil
		}
		p.Level, p.Reason = fallback, "dane: "+dec.Reason
		return p, nil
	}

	// 2. DANE.
	level := r.Level.effective()
	if level == None {
		return &Policy{Level: None, Source: "default"}, nil
	}
	dp, fallback, e := r.daneDefault(ctx, d, host, level)
	if e != nil {
		r.logger().Warn("TLS policy for "+label+": "+e.Text, "err", e.Err)
		return nil, e
	}
	var unusable *Policy // DANE said encrypt: MTA-STS enforce may still verify
	if dp != nil {
		if dp.Level != Encrypt || level == DaneOnly {
			return dp, nil
		}
		unusable = dp
		if level.matchLevel() {
			// A stronger configured default keeps its checks.
			fallback, unusable = level, nil
		} else {
			fallback = Encrypt
		}
	}

	// 3. MTA-STS, 4. the default.
	var sp *mtasts.Policy
	var serr error
	if r.STS != nil && !bracketed(d.Nexthop) && walkable(domain) && !strings.Contains(d.Nexthop, ":") {
		sp, serr = r.STS.Lookup(ctx, domain)
	}
	p, e = stsStep(sp, serr, domain, host, fallback)
	if e != nil {
		r.logger().Warn(e.Text, "nexthop", d.Nexthop, "host", host, "err", e.Err)
		return nil, e
	}
	if p.Source == "default" && unusable != nil {
		return unusable, nil
	}
	if p.Source == "default" && p.ServerName == "" {
		p.ServerName = r.ServerName
	}
	return p, nil
}

// daneDefault runs DANE when no table entry applies: Postfix's rules at
// a default level of dane or dane-only, otherwise opportunistically
// (usable TLSA records raise the level to dane; unusable ones to
// encrypt).
func (r *Resolver) daneDefault(ctx context.Context, d Destination, host string, level Level) (*Policy, Level, *Error) {
	if r.DNS == nil && level != Dane && level != DaneOnly {
		return nil, level, nil
	}
	dec, derr, ran := r.discover(ctx, d, host)
	asked := level
	if level != DaneOnly {
		asked = Dane
	}
	dp, fb, e := daneStep(asked, dec, derr, ran, host, d.port())
	if e != nil || dp != nil {
		if dp != nil {
			dp.Source = "dane"
		}
		return dp, 0, e
	}
	if level == Dane {
		return nil, fb, nil
	}
	return nil, max(fb, level), nil
}

// discover runs dane.Discover; ran is false without a DNS resolver.
func (r *Resolver) discover(ctx context.Context, d Destination, host string) (dane.Decision, error, bool) {
	if r.DNS == nil {
		return dane.Decision{}, nil, false
	}
	mx := d.MX
	if mx.Domain == "" && bracketed(d.Nexthop) {
		// RFC 7672 §2.2.2, Postfix: a [nexthop] is a statically secure MX.
		mx = dane.MXResult{Domain: host, Security: dane.Secure}
	}
	dec, err := dane.Discover(ctx, r.DNS, mx, host, d.port(), r.InsecureMXPolicy)
	return dec, err, true
}

// daneStep is Postfix's dane/dane-only table (outbound.md §1.3) for one
// host, a pure function of the Discover decision. It returns a policy
// when DANE decides, or the level to fall back to (may, or encrypt for
// unusable records), or the error that skips the host. ran is false when
// DANE could not be looked up at all (no DNSSEC resolver).
func daneStep(level Level, dec dane.Decision, err error, ran bool, host string, port int) (*Policy, Level, *Error) {
	hp := host + ":" + strconv.Itoa(port)
	if !ran {
		if level == DaneOnly {
			return nil, 0, configError(host, errors.New("dane-only without a DNSSEC resolver"))
		}
		return nil, May, nil
	}
	if dec.Outcome == dane.TempFail {
		rt := ResultType(dane.ResultType(err))
		if strings.HasPrefix(dec.Reason, "address lookup failed") {
			return nil, 0, &Error{Kind: KindPolicy, DSN: "4.4.3", Host: host, Result: rt, Err: err,
				Text: "Host or domain name not found. Name service error for name=" + host + " type=A: Host not found, try again"}
		}
		return nil, 0, policyError(host, "TLSA lookup error for "+hp, rt, "", err)
	}
	if level == DaneOnly {
		if e := dec.DaneOnly(host, err); e != nil {
			switch {
			case !dec.MXSecure:
				return nil, 0, policyError(host, "non DNSSEC destination", ResultDANERequired, "", e)
			case dec.Outcome == dane.EncryptOnly:
				return nil, 0, policyError(host, "TLSA records unusable", ResultTLSAInvalid, "all-TLSA-records-unusable", e)
			default:
				return nil, 0, policyError(host, "no TLSA records found", ResultDANERequired, "", e)
			}
		}
	}
	switch dec.Outcome {
	case dane.Required:
		d := dec
		return &Policy{Level: level, DANE: &d, Report: tlsaReport(dec), Reason: "usable TLSA records"}, 0, nil
	case dane.EncryptOnly:
		d := dec
		rep := tlsaReport(dec)
		if dec.MXSecure || !strings.HasPrefix(dec.Reason, "insecure MX") {
			rep.Failure, rep.FailureReason = ResultTLSAInvalid, "all-TLSA-records-unusable"
		}
		return &Policy{Level: Encrypt, DANE: &d, Report: rep, Reason: dec.Reason}, 0, nil
	}
	return nil, May, nil
}

func tlsaReport(dec dane.Decision) ReportPolicy {
	rp := ReportPolicy{Type: PolicyTLSA, Domain: dec.BaseDomain}
	for _, t := range dec.Records {
		rp.Strings = append(rp.Strings, t.String())
	}
	return rp
}

// stsPatterns enforces a table's mx_host_pattern= list (Postfix ≥3.10.5
// smtp_tls_enforce_sts_mx_patterns = yes): a host matching no pattern is
// skipped, and the match list becomes "hostname".
func stsPatterns(p *Policy, domain, host string) *Error {
	if p.Report.Type != PolicySTS || len(p.Report.MXHosts) == 0 {
		return nil
	}
	sp := &mtasts.Policy{MX: p.Report.MXHosts}
	if !sp.Match(host) {
		return policyError(host, fmt.Sprintf("MX name '%s' does not match STS MX pattern for '%s'", host, domain),
			ResultValidationFailure, "mtasts-policy-mx-mismatch", nil)
	}
	if p.Level == Verify || p.Level == Secure {
		p.Match = []string{"hostname"}
	}
	return nil
}

// stsStep applies an MTA-STS lookup result for one host (RFC 8461 §4,
// §5), a pure function: enforce gives secure with name = SNI = the MX
// host, or skips a host the policy does not list; testing reports only;
// a temporary failure defers. fallback is the level without a policy.
func stsStep(sp *mtasts.Policy, err error, domain, host string, fallback Level) (*Policy, *Error) {
	def := &Policy{Level: fallback, Source: "default", Report: ReportPolicy{Type: PolicyNoPolicyFound, Domain: domain}}
	if err != nil {
		var fe *mtasts.FetchError
		switch {
		case errors.As(err, &fe):
			def.Report = ReportPolicy{Type: PolicySTS, Domain: domain, Failure: ResultType(fe.Kind), FailureReason: fe.Error()}
			def.Reason = "MTA-STS policy fetch failed"
			return def, nil
		case errors.Is(err, ErrNoSTSPolicy), errors.Is(err, mtasts.ErrNoRecord), errors.Is(err, mtasts.ErrInvalidRecord),
			errors.Is(err, mtasts.ErrMultipleRecords):
			return def, nil
		}
		return nil, policyError(host, "TLS policy lookup for "+domain+"/"+host+": MTA-STS policy temporarily unavailable",
			ResultSTSPolicyFetchError, "", err)
	}
	if sp == nil || sp.Mode == mtasts.ModeNone {
		return def, nil
	}
	rep := ReportPolicy{Type: PolicySTS, Domain: domain, MXHosts: append([]string(nil), sp.MX...)}
	for l := range strings.SplitSeq(strings.TrimSpace(sp.String()), "\r\n") {
		rep.Strings = append(rep.Strings, l)
	}
	match := sp.Match(host)
	if sp.Mode == mtasts.ModeTesting {
		def.Report, def.ReportOnly = rep, true
		if !match {
			def.Report.Failure, def.Report.FailureReason = ResultValidationFailure, "mtasts-policy-mx-mismatch"
		}
		def.Reason = "MTA-STS testing mode"
		return def, nil
	}
	if !match {
		return nil, policyError(host, fmt.Sprintf("MX name '%s' does not match STS MX pattern for '%s'", host, domain),
			ResultValidationFailure, "mtasts-policy-mx-mismatch", nil)
	}
	return &Policy{Level: Secure, Match: []string{"hostname"}, ServerName: "hostname", Report: rep,
		Source: "sts", Reason: "MTA-STS enforce"}, nil
}
