package tlspolicy

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
)

// ParseFingerprint parses a match= digest of level fingerprint:
// hexadecimal, any case, with or without colons between bytes
// ("3D:95:34:..." or "3d9534..."), as Postfix 3.6 and later accept it.
// Its length must be that of a digest smtp_tls_fingerprint_digest can
// name (MD5, SHA-1, SHA-224, SHA-256, SHA-384 or SHA-512).
func ParseFingerprint(s string) ([]byte, error) {
	h := strings.ReplaceAll(strings.TrimSpace(s), ":", "")
	b, err := hex.DecodeString(h)
	if err != nil || len(b) == 0 {
		return nil, fmt.Errorf("tlspolicy: fingerprint %q: not a hexadecimal digest", s)
	}
	switch len(b) {
	case md5.Size, sha1.Size, sha256.Size224, sha256.Size, sha512.Size384, sha512.Size:
		return b, nil
	}
	return nil, fmt.Errorf("tlspolicy: fingerprint %q: %d bytes is no digest length", s, len(b))
}

// digest returns the smtp_tls_fingerprint_digest function; "" is sha256.
func digest(name string) (func([]byte) []byte, error) {
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "", "sha256":
		return func(b []byte) []byte { s := sha256.Sum256(b); return s[:] }, nil
	case "sha1":
		return func(b []byte) []byte { s := sha1.Sum(b); return s[:] }, nil
	case "md5":
		return func(b []byte) []byte { s := md5.Sum(b); return s[:] }, nil
	case "sha224":
		return func(b []byte) []byte { s := sha256.Sum224(b); return s[:] }, nil
	case "sha384":
		return func(b []byte) []byte { s := sha512.Sum384(b); return s[:] }, nil
	case "sha512":
		return func(b []byte) []byte { s := sha512.Sum512(b); return s[:] }, nil
	}
	return nil, fmt.Errorf("tlspolicy: unsupported smtp_tls_fingerprint_digest %q", name)
}

// checkFingerprint matches the leaf certificate, or its public key, against
// the match= digests (Postfix's fingerprint level: no CA, name or date
// checks).
func checkFingerprint(leaf *x509.Certificate, match []string, digestName string) error {
	sum, err := digest(digestName)
	if err != nil {
		return err
	}
	cert, spki := sum(leaf.Raw), sum(leaf.RawSubjectPublicKeyInfo)
	for _, m := range match {
		want, err := ParseFingerprint(m)
		if err != nil {
			continue
		}
		if len(want) == len(cert) && (subtle.ConstantTimeCompare(want, cert) == 1 || subtle.ConstantTimeCompare(want, spki) == 1) {
			return nil
		}
	}
	return fmt.Errorf("%w (%s %s)", errFingerprintMismatch, strings.ToLower(strings.TrimSpace(orDefault(digestName, "sha256"))), colonHex(cert))
}

func orDefault(s, def string) string {
	if strings.TrimSpace(s) == "" {
		return def
	}
	return s
}

func colonHex(b []byte) string {
	var sb strings.Builder
	for i, c := range b {
		if i > 0 {
			sb.WriteByte(':')
		}
		fmt.Fprintf(&sb, "%02X", c)
	}
	return sb.String()
}

// refNames resolves a verify/secure match list for one destination:
// "hostname" is the MX host, "nexthop" the next-hop domain, "dot-nexthop"
// "." + the next-hop domain; other entries are names (".name": any
// subdomain of name). Names are lower case without a trailing dot.
func refNames(match []string, host, nexthop string) []string {
	var out []string
	add := func(s string) {
		s = normName(s)
		if s != "" && s != "." {
			for _, x := range out {
				if x == s {
					return
				}
			}
			out = append(out, s)
		}
	}
	for _, m := range match {
		switch strings.ToLower(m) {
		case "hostname":
			add(host)
		case "nexthop":
			add(nexthop)
		case "dot-nexthop":
			if nexthop != "" {
				add("." + normName(nexthop))
			}
		default:
			add(m)
		}
	}
	return out
}

func normName(s string) string { return strings.ToLower(strings.TrimSuffix(strings.TrimSpace(s), ".")) }

// certNames returns the DNS names a certificate is for: its DNS SANs, or
// its subject CN when it has none (as OpenSSL's X509_check_host does).
func certNames(c *x509.Certificate) []string {
	if len(c.DNSNames) > 0 {
		return c.DNSNames
	}
	if c.Subject.CommonName != "" {
		return []string{c.Subject.CommonName}
	}
	return nil
}

// nameMatches reports whether the certificate name pattern (a SAN or CN)
// matches the reference ref. A wildcard is only a whole leftmost label
// ("*.example.com") followed by at least two labels, and stands for
// exactly one label (no partial wildcards such as "mx*.example.com",
// OpenSSL's X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS). A reference ".name"
// matches any name below name, at any depth (Postfix's dot-nexthop and
// ".domain" match entries).
func nameMatches(pattern, ref string) bool {
	pattern, ref = normName(pattern), normName(ref)
	if pattern == "" || ref == "" {
		return false
	}
	wild := false
	if rest, ok := strings.CutPrefix(pattern, "*."); ok {
		if !strings.Contains(rest, ".") || strings.Contains(rest, "*") {
			return false
		}
		wild, pattern = true, rest
	} else if strings.Contains(pattern, "*") {
		return false
	}
	if parent, ok := strings.CutPrefix(ref, "."); ok {
		if parent == "" {
			return false
		}
		if wild {
			// "*.P" stands for names one label below P: all below parent
			// when P is parent or below it.
			return pattern == parent || strings.HasSuffix(pattern, "."+parent)
		}
		return strings.HasSuffix(pattern, "."+parent)
	}
	if wild {
		label, rest, ok := strings.Cut(ref, ".")
		return ok && label != "" && rest == pattern
	}
	return pattern == ref
}

// matchCert reports whether the certificate names one of refs.
func matchCert(c *x509.Certificate, refs []string) bool {
	for _, n := range certNames(c) {
		for _, r := range refs {
			if nameMatches(n, r) {
				return true
			}
		}
	}
	return false
}

// verifyPKIX checks the presented chain against roots (nil: the system
// roots) at now. Name checks are separate (matchCert). Errors are
// *tls.CertificateVerificationError, as crypto/tls's own.
func verifyPKIX(cs tls.ConnectionState, roots *x509.CertPool, now time.Time) error {
	certs := cs.PeerCertificates
	if len(certs) == 0 {
		return &tls.CertificateVerificationError{Err: fmt.Errorf("tlspolicy: server sent no certificate")}
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	opts := x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	if _, err := certs[0].Verify(opts); err != nil {
		return &tls.CertificateVerificationError{UnverifiedCertificates: certs, Err: err}
	}
	return nil
}
