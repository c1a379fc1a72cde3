// Command mta-sts-resolver is a drop-in replacement for
// postfix-mta-sts-resolver's mta-sts-daemon: a socketmap server
// (Postfix's socketmap_table(5)) for smtp_tls_policy_maps that answers
// MTA-STS policies (RFC 8461) as that daemon does and reads the same
// mta-sts-daemon.yml:
//
//	go run ./examples/mta-sts-resolver -config /etc/postfix/mta-sts-daemon.yml
//
// Answers: "NOTFOUND " for parent-domain probes (".example.com"), IP
// literals, no policy, mode none, and mode testing unless strict_testing;
// "OK secure match=P1:P2 servername=hostname" for an enforced policy
// (servername with require_sni; the TLS-RPT attributes policy_type,
// policy_domain and mx_host_pattern of Postfix 3.10 with tlsrpt);
// "TEMP reason" when DNS fails and nothing is cached.
//
// The difference, on by default (dane_first): when the destination's MX
// RRset is DNSSEC-secure and every MX host has secure, usable TLSA records
// (RFC 7672), the answer is "OK dane-only", because an MTA-STS answer in
// the policy table would replace Postfix's DANE (RFC 8461 §2 says it must
// not); a failed DNSSEC lookup answers TEMP, never a weaker policy.
//
// Divergences from the Python daemon (see README.md): DANE first; any DNS
// failure of the _mta-sts lookup is TEMP (it answers "no policy" for
// errors other than timeouts); mx patterns keep the policy's order; the
// redis caches are refused; the SQL caches use their own table.
package main
