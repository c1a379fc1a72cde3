package dane

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"

	"github.com/mxkit/mxkit/dnsres"
)

// Security is the DNSSEC state of an RRset (RFC 4035 §4.3, RFC 7672 §2.1.1).
type Security = dnsres.Security

// The four DNSSEC states.
const (
	Secure        = dnsres.Secure
	Insecure      = dnsres.Insecure
	Bogus         = dnsres.Bogus
	Indeterminate = dnsres.Indeterminate
)

// Lookup results, from mxkit's DNS layer (dnsres); see Resolver.
type (
	MXResult   = dnsres.MXResult
	MX         = dnsres.MX
	AddrResult = dnsres.AddrResult
	TLSAResult = dnsres.TLSAResult
)

// Resolver is the DNSSEC-aware lookups DANE needs, with dnsres's error
// classes: not found (dnsres.ErrNotFound, with the result's Security
// telling an authenticated denial from an insecure one), temporary,
// bogus. *dnsres.Resolver implements it; point it at a validating resolver
// on loopback (a local Unbound), whose AD bit it trusts.
type Resolver interface {
	LookupMX(ctx context.Context, domain string) (MXResult, error)
	LookupAddrs(ctx context.Context, host string) (AddrResult, error)
	LookupTLSA(ctx context.Context, port int, proto, host string) (TLSAResult, error)
}

var _ Resolver = (*dnsres.Resolver)(nil)

// InsecureMXPolicy is smtp_tls_dane_insecure_mx_policy: what to do with an
// MX host reached through an insecure MX RRset.
type InsecureMXPolicy int

const (
	// InsecureMXDane uses TLSA records of the MX host anyway (Postfix's
	// default since 3.6.17); success counts only as "Trusted", and the
	// next-hop domain is not a reference identifier.
	InsecureMXDane InsecureMXPolicy = iota
	// InsecureMXEncrypt requires TLS without authentication when the host
	// has secure TLSA records, and is opportunistic otherwise.
	InsecureMXEncrypt
	// InsecureMXMay ignores DANE for the host (no TLSA lookup).
	InsecureMXMay
)

// ParseInsecureMXPolicy parses "dane", "encrypt" or "may".
func ParseInsecureMXPolicy(s string) (InsecureMXPolicy, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "dane":
		return InsecureMXDane, nil
	case "encrypt":
		return InsecureMXEncrypt, nil
	case "may":
		return InsecureMXMay, nil
	}
	return 0, fmt.Errorf("dane: smtp_tls_dane_insecure_mx_policy %q: want dane, encrypt or may", s)
}

func (p InsecureMXPolicy) String() string {
	switch p {
	case InsecureMXDane:
		return "dane"
	case InsecureMXEncrypt:
		return "encrypt"
	case InsecureMXMay:
		return "may"
	}
	return fmt.Sprintf("InsecureMXPolicy(%d)", int(p))
}

// Outcome is what discovery decided for one MX host.
type Outcome int

const (
	// NotApplicable: DANE does not apply; use opportunistic TLS (or
	// MTA-STS). Decision.Reason says why.
	NotApplicable Outcome = iota
	// Required: STARTTLS is mandatory and the certificate must match
	// Decision.Records (use Decision.Config).
	Required
	// EncryptOnly: TLS is mandatory but not authenticated (secure TLSA
	// records exist and none is usable, or insecure-MX policy "encrypt").
	EncryptOnly
	// TempFail: do not use this host (no cleartext, no unauthenticated
	// TLS); try the next MX, and defer when none is left.
	TempFail
)

func (o Outcome) String() string {
	switch o {
	case NotApplicable:
		return "not applicable"
	case Required:
		return "dane required"
	case EncryptOnly:
		return "encrypt"
	case TempFail:
		return "temporary failure"
	}
	return fmt.Sprintf("Outcome(%d)", int(o))
}

// Decision is the result of Discover for one MX host.
type Decision struct {
	Outcome Outcome
	Reason  string // why, for logs: "insecure MX RRset", "no TLSA records", ...
	// BaseDomain is the TLSA base domain: the SNI to send (RFC 7672 §8.1).
	// Set with Required and EncryptOnly when TLSA records were found.
	BaseDomain string
	// Records are the usable TLSA records (Required), or all records found
	// (EncryptOnly).
	Records []TLSA
	// RefIDs are the names a DANE-TA certificate may match: the base
	// domain, the MX host name and, when the MX RRset is secure, the
	// next-hop domain and its CNAME expansion.
	RefIDs []string
	// MXSecure is whether the MX RRset was secure; a verified connection
	// through an insecure MX logs as "Trusted", not "Verified".
	MXSecure bool
}

// Config returns the tls.Config for a Required or EncryptOnly decision:
// SNI = BaseDomain, and for Required a DANE VerifyConnection.
func (d Decision) Config() *tls.Config {
	if d.Outcome != Required {
		c := Config(nil, d.BaseDomain, nil)
		c.VerifyConnection = nil
		return c
	}
	return Config(d.Records, d.BaseDomain, d.RefIDs)
}

// Discover decides how to use DANE for mxHost, one of the hosts of mx (the
// result of Resolver.LookupMX for the next-hop domain), at TCP port (25
// for SMTP), following RFC 7672 §2.2 and Postfix's smtp_tls_security_level
// = dane. For a next hop without MX records, pass the MX result with no
// hosts and the next-hop domain as mxHost.
//
// The error is non-nil exactly when the outcome is TempFail; it is an
// *Error whose ResultType is "dnssec-invalid" for a bogus or indeterminate
// lookup and wraps the *DNSError.
func Discover(ctx context.Context, r Resolver, mx MXResult, mxHost string, port int, policy InsecureMXPolicy) (Decision, error) {
	host := normName(mxHost)
	d := Decision{MXSecure: mx.Security == Secure}
	if mx.Security != Secure {
		if mx.Security != Insecure {
			return tempFail(d, host, "MX lookup failed", nil)
		}
		if policy == InsecureMXMay {
			d.Reason = "insecure MX RRset"
			return d, nil
		}
	}
	addrs, err := r.LookupAddrs(ctx, host)
	switch {
	case errors.Is(err, dnsres.ErrNotFound):
		d.Reason = "no A/AAAA records"
		return d, nil
	case err != nil:
		return tempFail(d, host, "address lookup failed", err)
	}
	if addrs.Security != Secure {
		d.Reason = "insecure A/AAAA records"
		return d, nil
	}
	candidates := []string{host}
	if exp := normName(addrs.Expanded()); exp != host && exp != "" {
		candidates = []string{exp, host}
	}
	var found TLSAResult
	var base string
	for _, c := range candidates {
		t, err := r.LookupTLSA(ctx, port, "tcp", c)
		if errors.Is(err, dnsres.ErrNotFound) {
			continue // RFC 7672 §2.2.2: then the MX host name
		}
		if err != nil {
			return tempFail(d, c, "TLSA lookup error", err)
		}
		if t.Security == Secure && len(t.Records) > 0 {
			found, base = t, c
			break
		}
	}
	if base == "" {
		d.Reason = "no TLSA records"
		return d, nil
	}
	d.BaseDomain = base
	for _, rec := range found.Records {
		t := TLSA(rec)
		if t.Usable() {
			d.Records = append(d.Records, t)
		}
	}
	if len(d.Records) == 0 || (!d.MXSecure && policy == InsecureMXEncrypt) {
		d.Records = d.Records[:0]
		for _, rec := range found.Records {
			d.Records = append(d.Records, TLSA(rec))
		}
		d.Outcome = EncryptOnly
		if !d.MXSecure && policy == InsecureMXEncrypt {
			d.Reason = "insecure MX RRset, TLSA records present"
		} else {
			d.Reason = "TLSA records unusable"
		}
		return d, nil
	}
	d.Outcome = Required
	ids := []string{base, host}
	if d.MXSecure {
		ids = append(ids, normName(mx.Domain))
		for _, c := range mx.CNAMEs {
			ids = append(ids, normName(c))
		}
	}
	for _, id := range ids {
		if id != "" && !contains(d.RefIDs, id) {
			d.RefIDs = append(d.RefIDs, id)
		}
	}
	return d, nil
}

// DaneOnly applies smtp_tls_security_level = dane-only (RFC 7672 §6,
// mandatory DANE) to d: nil only for a Required decision reached through a
// secure MX RRset (or a next hop without MX). Otherwise the host must not
// be used; the error's ResultType is "dane-required", or "tlsa-invalid"
// when secure TLSA records exist but none is usable, and for a TempFail
// decision it is err from Discover unchanged.
func (d Decision) DaneOnly(host string, err error) error {
	switch {
	case d.Outcome == TempFail:
		return err
	case !d.MXSecure:
		return &Error{Result: ResultDANERequired, Host: host, Reason: "non DNSSEC destination"}
	case d.Outcome == Required:
		return nil
	case d.Outcome == EncryptOnly:
		return &Error{Result: ResultTLSAInvalid, Host: host, Reason: "TLSA records unusable"}
	}
	return &Error{Result: ResultDANERequired, Host: host, Reason: "no TLSA records found (" + d.Reason + ")"}
}

func tempFail(d Decision, host, reason string, err error) (Decision, error) {
	d.Outcome = TempFail
	d.Reason = reason
	result := ResultDNSSECInvalid
	var de *dnsres.Error
	if err != nil && !errors.As(err, &de) {
		result = ResultValidationFailure
	}
	if err != nil {
		d.Reason += ": " + err.Error()
	}
	return d, &Error{Result: result, Host: host, Reason: reason, Err: err}
}
