// Package dane implements DANE for SMTP (RFC 7672, with RFC 7671 and
// RFC 6698): TLSA records, DNSSEC-aware discovery per MX host, and
// certificate verification that composes with crypto/tls.
//
// It is the Go side of Postfix's smtp_tls_security_level = dane (and
// dane-only, which a caller gets by treating every outcome other than
// Required as a failure with result type "dane-required"),
// smtp_dns_support_level = dnssec and smtp_tls_dane_insecure_mx_policy
// (InsecureMXPolicy).
//
// # Resolution
//
// The lookups go through mxkit's DNS layer, dnsres: it asks a validating
// recursive resolver with the DO bit set and trusts its AD bit only from
// loopback (or when TrustAD is set), as Postfix does; it does not validate
// signatures itself. Answers are Secure, Insecure, Bogus or Indeterminate
// (RFC 4035 §4.3); bogus and indeterminate answers are errors carrying RFC
// 8914 Extended DNS Errors. CNAME chains keep the weakest security of the
// chain (RFC 7672 §2.1.3).
//
// # Discovery
//
// Discover runs RFC 7672 §2.2 for one MX host: an insecure MX RRset follows
// InsecureMXPolicy; an insecure A/AAAA RRset means no TLSA lookup; TLSA is
// looked up at _PORT._tcp under the CNAME-expanded host name first (when
// the expansion is secure), then under the MX host name; a secure usable
// TLSA RRset makes DANE Required, a secure RRset with no usable record
// (usages 0 and 1 are unusable for SMTP) makes TLS mandatory without
// authentication (EncryptOnly), and a TLSA lookup that fails or is bogus is
// a TempFail: never cleartext, never "no DANE".
//
// # Verification
//
// Verify and Config give a tls.Config with InsecureSkipVerify and a
// VerifyConnection callback, and SNI set to the TLSA base domain.
// DANE-EE(3) matches the leaf with no name or date checks; DANE-TA(2)
// builds a path from the leaf to a trust anchor matched in the presented
// chain (or carried in a "2 0 0" record) with no other roots, checks dates,
// and matches names against the reference identifiers. Errors are *Error,
// whose ResultType is the TLS-RPT result type (RFC 8460 §4.3).
//
// RecordFor makes the TLSA record for a certificate ("3 1 1" is the usual
// choice for a server's own key).
//
// # Divergences
//
//   - A DANE-TA(2) record with selector 1 (SPKI) is only usable when the
//     trust-anchor certificate is in the presented chain: a bare public key
//     as trust anchor (RFC 7671 §5.2.3) is not supported.
//   - Digest agility (RFC 7671 §9, tls_dane_digests) is not applied: any
//     usable record that matches authenticates.
//   - Under InsecureMXEncrypt, "TLSA records exist" means a secure non-empty
//     TLSA RRset.
package dane
