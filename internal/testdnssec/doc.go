// Package testdnssec runs a real DNSSEC chain and real STARTTLS servers
// on loopback for integration tests of DANE for SMTP (RFC 7672).
//
// Start signs a parent zone (DefaultParent, "dane.test.") and its child
// zones with Knot DNS (keymgr makes one ECDSA P-256 CSK per signed zone;
// knotd signs on load), serves them with knotd on 127.0.0.1 at a free
// port, and runs Unbound on another free port with the parent's DS as
// its only trust anchor and a stub zone per zone pointing at knotd. Each
// child zone is Secure (signed, DS in the parent: AD=1), Insecure
// (unsigned, delegated without DS: AD=0) or Bogus (signed, but the
// parent's DS digest matches no key: SERVFAIL with Extended DNS Error 9
// "DNSKEY Missing", or 6 "DNSSEC Bogus" once unbound has cached the key
// as bad). Zone content is zone-file lines supplied by the test.
//
// StartSMTP runs a minimal STARTTLS SMTP server with a given certificate
// chain; NewCA, NewLeaf and NewExpiredLeaf make certificates and TLSA
// makes TLSA RDATA ("3 1 1 hex", "2 0 1 hex"). OpenSSLDANE runs `openssl
// s_client -starttls smtp -dane_tlsa_domain … -dane_tlsa_rrdata …
// -dane_ee_no_namechecks -verify_return_error` against a server, as the
// reference verdict for the dane package's own.
//
// Require skips a test when knotd, keymgr, unbound or openssl is missing
// and fails it when the environment variable CI is "true". The Debian
// packages are knot, unbound and openssl (dig, from bind9-dnsutils, is
// handy for debugging but not used). The chain starts in about 0.3 s.
//
// Processes: knotd and unbound run in their own process groups with
// SIGKILL as parent-death signal, as the invoking user (neither drops
// privileges here, so the signal stays armed); Stop (registered with
// t.Cleanup) sends SIGTERM to each group, SIGKILL after 5 s, and removes
// the temporary directory. The directory comes from os.MkdirTemp, not
// t.TempDir, because knotd's control socket must fit a Unix socket path.
//
// RFCs: 4033-4035 (DNSSEC), 6698 and 7671 (TLSA), 7672 (DANE for SMTP),
// 8914 (Extended DNS Errors), 3207 (STARTTLS).
//
// Divergences and limits: loopback IPv4 only; one algorithm (13); no key
// rollovers; Bogus means a DS mismatch only (no expired signatures); the
// SMTP server accepts every command with 250 and delivers nothing.
package testdnssec
