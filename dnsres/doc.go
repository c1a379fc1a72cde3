// Package dnsres is mxkit's DNS layer: one stub resolver, with one cache,
// that the restriction checks (smtppolicy), DANE (dane), MTA-STS (mtasts),
// the TLS policy (tlspolicy) and delivery by MX (queue/deliver) all use.
// Create one Resolver and share it.
//
// # Queries and DNSSEC
//
// Like Postfix with smtp_dns_support_level = dnssec, every query sets the
// DO bit (EDNS0, 1232-byte UDP payload, CD clear) and the AD bit, retries
// over TCP when the UDP answer is truncated, and reads the AD bit of the
// reply. The resolver does not validate signatures itself: it relies on a
// validating recursive resolver such as a local Unbound. AD is trusted only
// from loopback servers, or from every server with Options.TrustAD (or
// "options trust-ad" in resolv.conf); from any other server every answer is
// Insecure and the first AD answer logs a warning (RFC 4035 §4.9.3, RFC
// 6840 §5.7).
//
// Each answer carries a Security state (RFC 4035 §4.3): Secure, Insecure,
// Bogus (SERVFAIL from a validating resolver, or an RFC 8914 Extended DNS
// Error of the DNSSEC family) and Indeterminate (timeouts, network
// errors, REFUSED, EDE codes saying the resolver could not ask). CNAME
// chains are followed, also across queries (up to 8), and keep the weakest
// state of the chain (RFC 7672 §2.1.3) and the expanded names.
//
// # Errors
//
// A lookup fails with an *Error whose Kind is ErrNXDomain or ErrNoData
// (both match ErrNotFound), ErrNullMX (RFC 7505: like Postfix, any MX
// record whose target is the root), ErrMalformed, ErrTemporary or ErrBogus
// (which also matches ErrTemporary: a validation failure is never a
// definite answer). StatusOf classifies any error as Postfix's dns_lookup
// does; an error of unknown origin is StatusRetry. An *Error of
// ErrNXDomain or ErrNoData still has a Security, and the typed results
// returned with it too, so that DANE can tell an authenticated denial from
// an insecure one.
//
// # Servers
//
// Options.Servers, or the nameserver lines of /etc/resolv.conf, are asked
// in order; a server that times out, fails, or answers SERVFAIL or REFUSED
// passes the question to the next, within one lookup timeout shared among
// them. LookupIP("ip") and LookupAddrs ask A and AAAA in parallel.
//
// # Cache
//
// One cache holds every answer by (name, type): positive answers for their
// lowest TTL (at most Options.MaxTTL), NXDOMAIN and NODATA for the SOA's
// TTL or MINIMUM, whichever is lower (RFC 2308 §5), between
// Options.MinNegativeTTL and Options.MaxNegativeTTL (the floor also when the
// answer has no SOA), and failures for Options.FailureTTL (RFC 9520 §3.2).
// It is bounded by Options.CacheSize: a full cache drops an expired entry,
// or the one nearest to expiry, among a few sampled at random, which costs
// O(1) per insertion. Concurrent askers of one question share one upstream
// query, which goes on when the caller that started it gives up.
//
// # Divergences
//
// Postfix's smtp_dns_support_level = enabled or disabled has no
// counterpart: answers always carry their DNSSEC state, and users that do
// not care ignore it. The resolv.conf options other than trust-ad
// (ndots, search, rotate, timeout, attempts) are not read: names are
// always absolute, as Postfix's smtp client and smtpd checks use them.
package dnsres
