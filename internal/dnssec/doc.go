// Package dnssec is a DNSSEC-aware stub resolver for DANE (RFC 7672 §2.1).
//
// It does not validate signatures itself. Like Postfix with
// smtp_dns_support_level = dnssec, it asks a validating recursive resolver
// with the DO bit set (EDNS0, 4096-byte UDP payload, CD clear), retries over
// TCP when the UDP answer is truncated, and reads the AD bit. AD is trusted
// only from a server the user marks as trusted; by default only loopback
// addresses are (RFC 4035 §4.9.3: the path to the validator must be
// secure). From any other server every answer is insecure, and the first
// query logs a warning saying so.
//
// Each answer is classified with the RFC 4035 §4.3 states: Secure (AD=1),
// Insecure (AD=0 or untrusted), Bogus (SERVFAIL, with or without an RFC 8914
// Extended DNS Error) and Indeterminate (timeout, network error, other
// failure). Bogus and Indeterminate come back as *Error, which carries the
// Extended DNS Errors. NXDOMAIN and NODATA are not errors: the result is
// empty and its Security says whether the denial was authenticated.
//
// CNAME chains are followed (also across queries, up to 8 links), and the
// result keeps the weakest security of the whole chain (RFC 7672 §2.1.3) and
// the expanded names in order.
//
// miekg/dns stays behind this internal package; the public surface is the
// dane package.
package dnssec
