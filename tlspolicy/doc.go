// Package tlspolicy decides and applies the TLS policy of outbound SMTP,
// as Postfix's smtp(8) does with smtp_tls_security_level and
// smtp_tls_policy_maps, with DANE (RFC 7672) and MTA-STS (RFC 8461) on
// top, and types the results for TLS-RPT (RFC 8460).
//
// # Levels
//
// Level has Postfix's levels with their exact meaning: none (no
// STARTTLS), may (STARTTLS when offered, nothing checked, a refused
// STARTTLS continues in plaintext on the same connection), encrypt (TLS
// required, nothing checked), fingerprint (the leaf certificate's or
// public key's digest must be in match=; digest smtp_tls_fingerprint_digest,
// sha256 by default; colons optional), dane and dane-only (RFC 7672,
// through the dane package), verify (PKIX chain plus a name in match=,
// default "hostname") and secure (default "nexthop:dot-nexthop"). match=
// is invalid at the other levels. Names follow OpenSSL's rules as Postfix
// uses them: DNS SANs, else the subject CN; "*" only as a whole leftmost
// label (no partial wildcards); ".name" and dot-nexthop match any
// subdomain. SNI: none by default; the TLSA base domain with DANE;
// otherwise servername= or smtp_tls_servername (Resolver.ServerName, or
// the Dialer's base tls.Config ServerName): a literal name, "hostname"
// (the MX host) or "nexthop".
//
// # Resolving a policy
//
// Resolver.Resolve decides per (next hop, MX host, port):
//
//  1. smtp_tls_policy_maps, any relaymaps.Map (socketmap included), with
//     the keys of TableKeys: the next hop, then ".parent" forms
//     (sub.example.com, .example.com, .com; never the bare parent);
//     "[h]", "[h]:p" and "h:p" get one verbatim lookup. A hit wins. A
//     table error or a value relaymaps.ParseTLSPolicy or FromTable
//     rejects defers the host with "4.7.5 client TLS configuration
//     problem" (fail closed).
//  2. DANE via dane.Discover (usable secure TLSA records: level dane, and
//     dane-only's rules when that is the level asked for; outbound.md
//     §1.3). A temporary DNSSEC or TLSA failure skips the host ("4.7.5
//     TLSA lookup error for H:25") and never falls through to MTA-STS;
//     dane-only gives "4.7.5 non DNSSEC destination", "4.7.5 no TLSA
//     records found" or "4.7.5 TLSA records unusable".
//  3. MTA-STS through an STSSource (*mtasts.Client): enforce gives secure
//     with name and SNI = the MX host, and skips MX hosts the policy does
//     not list; testing never raises the level and only reports
//     (Policy.ReportOnly); a temporary failure defers.
//  4. Resolver.Level (smtp_tls_security_level).
//
// The steps are pure functions of their lookups (daneStep, stsStep),
// table-tested with Postfix's texts.
//
// # Dialing
//
// Dialer does the dialogue before the mail transaction itself and then
// hands the connection to go-smtp's client (a synthetic 220, then
// Client.Hello): a real EHLO name instead of go-smtp's "localhost",
// case-insensitive EHLO keywords, STARTTLS only when advertised (RFC
// 3207), plaintext on the same connection when STARTTLS is refused at
// may, bytes sent after the 220 to STARTTLS abort the session (RFC 3207
// §5), per-phase deadlines (connect 30s, greeting and EHLO 300s, STARTTLS
// 300s), and verification through crypto/tls VerifyConnection with
// InsecureSkipVerify, so that SNI stays under control. Errors are *Error
// with Postfix's texts: "4.7.4 TLS is required, but was not offered by
// host H[A]", "TLS is required, but host H[A] refused to start TLS:
// <reply>" (DSN from the reply), "4.7.5 Cannot start TLS: handshake
// failure", "4.7.5 Server certificate not verified"; log lines are
// Postfix's "Verified/Trusted/Untrusted/Anonymous TLS connection
// established to H[A]:25: ...". Conn carries the TLS state, the EHLO
// reply (for loop detection and TLS-RPT) and the TLS-RPT Result.
//
// # TLS-RPT
//
// ReportPolicy, FailureDetails and Result are RFC 8460 §4.4's objects;
// ResultOf maps dialer and resolver errors to result types. Aggregation
// and sending are not here.
//
// # Postfix parameters
//
// smtp_tls_security_level (Resolver.Level), smtp_tls_policy_maps
// (Resolver.Maps), smtp_tls_servername (Resolver.ServerName),
// smtp_tls_fingerprint_digest (Dialer.FingerprintDigest),
// smtp_tls_dane_insecure_mx_policy (Resolver.InsecureMXPolicy),
// smtp_dns_support_level = dnssec (Resolver.DNS), smtp_helo_name
// (Dialer.Hostname), smtp_connect_timeout, smtp_helo_timeout,
// smtp_starttls_timeout (Dialer.Timeouts),
// smtp_tls_enforce_sts_mx_patterns = yes (always on).
//
// # Known divergences
//
//   - Default (the zero Level) is may; Postfix's empty default means none.
//     At none, DANE and MTA-STS are not looked up.
//   - Without a table entry, DANE and MTA-STS apply at every level but
//     none (Postfix has no MTA-STS, and DANE only at level dane); unusable
//     TLSA records give encrypt unless an MTA-STS enforce policy applies.
//   - Every failure is temporary: a 5xx reply to an advertised STARTTLS at
//     a level requiring TLS keeps the reply's DSN in Error.DSN, but
//     callers defer (Postfix bounces, outbound.md §0.3).
//   - tafile= is refused (the policy is invalid) rather than read;
//     ciphers=, protocols=, exclude=, connection_reuse= and enable_rpk=
//     are accepted and ignored; Go's TLS defaults (TLS 1.2 minimum)
//     apply.
//   - The plaintext retry after a failed handshake at may (Postfix's
//     conditions in outbound.md §0.1) is the caller's decision.
//   - After the handover, go-smtp's own EHLO keyword parsing is
//     case-sensitive; use Extensions on Conn.EHLO for the pre-TLS set.
//   - An MTA-STS temporary failure defers ("4.7.5 TLS policy lookup for
//     D/H: MTA-STS policy temporarily unavailable"), as mox does; RFC
//     8461 §3.3 would deliver as without a policy.
package tlspolicy
