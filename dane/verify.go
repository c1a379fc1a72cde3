package dane

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"strings"
	"time"
)

// Verify returns a crypto/tls VerifyConnection callback that authenticates
// the server by records (RFC 7672 §3). Use it with InsecureSkipVerify and
// ServerName = baseDomain (see Config); the callback also checks that the
// SNI sent was baseDomain (RFC 7672 §8.1).
//
// Unusable records (usages 0 and 1, unknown selectors or matching types,
// malformed data) are ignored; with no usable record every connection
// fails with "tlsa-invalid". DANE-EE(3) matches the leaf certificate or its
// SPKI with no name or date checks. DANE-TA(2) finds a certificate in the
// presented chain that matches (or, for "2 0 0", takes it from the record),
// builds a path from the leaf to it with x509.Verify (dates checked, no
// other roots) and requires the leaf to match one of refIDs (the TLSA base
// domain, the MX host name and, when the MX RRset is secure, the next-hop
// domain); a wildcard matches only one complete leftmost label.
func Verify(records []TLSA, baseDomain string, refIDs []string) func(tls.ConnectionState) error {
	return verifier(records, baseDomain, refIDs, time.Now)
}

// Config returns a tls.Config that sends baseDomain as SNI and verifies the
// server with Verify. Callers may set more fields on the result.
func Config(records []TLSA, baseDomain string, refIDs []string) *tls.Config {
	return &tls.Config{
		ServerName:         strings.TrimSuffix(baseDomain, "."),
		InsecureSkipVerify: true, // verification is done by VerifyConnection below
		VerifyConnection:   Verify(records, baseDomain, refIDs),
		MinVersion:         tls.VersionTLS12,
	}
}

func verifier(records []TLSA, baseDomain string, refIDs []string, now func() time.Time) func(tls.ConnectionState) error {
	base := normName(baseDomain)
	var usable []TLSA
	for _, r := range records {
		if r.Usable() {
			usable = append(usable, r)
		}
	}
	var ids []string
	for _, id := range append([]string{base}, refIDs...) {
		if id = normName(id); id != "" && !contains(ids, id) {
			ids = append(ids, id)
		}
	}
	return func(cs tls.ConnectionState) error {
		if len(usable) == 0 {
			return &Error{Result: ResultTLSAInvalid, Host: base, Reason: "no usable TLSA records"}
		}
		if normName(cs.ServerName) != base {
			return &Error{Result: ResultValidationFailure, Host: base, Reason: "SNI " + quote(cs.ServerName) + " is not the TLSA base domain"}
		}
		return verifyChain(usable, cs.PeerCertificates, base, ids, now())
	}
}

func quote(s string) string { return "\"" + s + "\"" }

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func normName(s string) string { return strings.ToLower(strings.TrimSuffix(s, ".")) }

// verifyChain is the core of Verify over usable records.
func verifyChain(usable []TLSA, chain []*x509.Certificate, base string, ids []string, now time.Time) error {
	if len(chain) == 0 || chain[0] == nil {
		return &Error{Result: ResultCertificateNotTrusted, Host: base, Reason: "server sent no certificate"}
	}
	leaf := chain[0]
	for _, r := range usable {
		if r.Usage == UsageDANEEE && r.Matches(leaf) {
			return nil
		}
	}
	// DANE-TA: collect trust anchors.
	var tas []*x509.Certificate
	for _, r := range usable {
		if r.Usage != UsageDANETA {
			continue
		}
		for _, c := range chain {
			if c != nil && r.Matches(c) && !containsCert(tas, c) {
				tas = append(tas, c)
			}
		}
		if r.Selector == SelectorCert && r.MatchingType == MatchFull {
			if c, err := x509.ParseCertificate(r.Data); err == nil && !containsCert(tas, c) {
				tas = append(tas, c)
			}
		}
	}
	if len(tas) == 0 {
		return &Error{Result: ResultCertificateNotTrusted, Host: base, Reason: "no TLSA record matches the server certificate chain"}
	}
	roots := x509.NewCertPool()
	for _, c := range tas {
		roots.AddCert(c)
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		if c != nil {
			inter.AddCert(c)
		}
	}
	opts := x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}
	if _, err := leaf.Verify(opts); err != nil {
		var inv x509.CertificateInvalidError
		if errors.As(err, &inv) && inv.Reason == x509.Expired {
			return &Error{Result: ResultCertificateExpired, Host: base, Reason: "DANE-TA chain", Err: err}
		}
		return &Error{Result: ResultCertificateNotTrusted, Host: base, Reason: "no path from the server certificate to a DANE-TA trust anchor", Err: err}
	}
	if matchesAny(leaf, ids) {
		return nil
	}
	return &Error{Result: ResultCertificateHostMismatch, Host: base,
		Reason: "server certificate matches none of " + strings.Join(ids, ", ")}
}

func containsCert(cs []*x509.Certificate, c *x509.Certificate) bool {
	for _, x := range cs {
		if x.Equal(c) {
			return true
		}
	}
	return false
}

// matchesAny reports whether cert names one of ids (RFC 7672 §3.2.3): the
// DNS-ID SANs if there are any, else the subject CN; "*" only as the whole
// leftmost label of a name with at least two more labels.
func matchesAny(cert *x509.Certificate, ids []string) bool {
	names := cert.DNSNames
	if len(names) == 0 && cert.Subject.CommonName != "" {
		names = []string{cert.Subject.CommonName}
	}
	for _, n := range names {
		n = normName(n)
		for _, id := range ids {
			if nameMatch(n, id) {
				return true
			}
		}
	}
	return false
}

func nameMatch(pattern, id string) bool {
	if pattern == "" || id == "" {
		return false
	}
	if rest, ok := strings.CutPrefix(pattern, "*."); ok {
		label, parent, ok := strings.Cut(id, ".")
		return ok && label != "" && strings.Contains(rest, ".") && !strings.Contains(rest, "*") && parent == rest
	}
	return !strings.Contains(pattern, "*") && pattern == id
}
