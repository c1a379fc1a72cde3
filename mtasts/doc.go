// Package mtasts implements SMTP MTA Strict Transport Security (RFC 8461)
// for a sending MTA and for an operator publishing a policy, and parses
// TLS-RPT records (RFC 8460 §3).
//
// # Discovery, fetch, parse (RFC 8461 §3)
//
// LookupRecord reads the TXT records at _mta-sts.<domain>, ignores those
// not starting with "v=STSv1" and requires exactly one to remain (§3.1:
// "If the number of resulting records is not one ... senders MUST assume
// the recipient domain does not have an available MTA-STS policy"), with
// an id of 1 to 32 letters and digits. A DNS failure is ErrTemporary,
// never "no policy".
//
// Fetcher.Fetch gets https://mta-sts.<domain>/.well-known/mta-sts.txt
// (§3.3): redirects are not followed, only status 200 counts, the media
// type must be text/plain (parameters are allowed), the body is capped at
// 64 KiB (MaxPolicySize) by Content-Length and while reading, the whole
// fetch has a timeout (one minute by default), and the certificate must be
// PKIX-valid for mta-sts.<domain>, which is also the SNI name. RootCAs
// adds private roots (tests, a daemon's ca_file). Every DNS lookup goes
// through the configured Resolver, the address of mta-sts.<domain>
// included: the HTTP transport dials addresses it resolved itself, and no
// proxy is used.
//
// ParsePolicy parses the policy (§3.2): version STSv1, mode enforce,
// testing or none, max_age 0 to 31557600 seconds, mx patterns (required
// unless mode is none) of host names in A-labels or "*." and a domain;
// LF or CRLF line endings; unknown keys ignored; the first of a repeated
// key other than mx wins. Policy.Match applies §4.1: exact or one-label
// wildcard match, ignoring case and a trailing dot.
//
// # Cache rules (§3.3, §5.1)
//
// Client.Lookup keeps policies in a Cache (MemoryCache, FileCache,
// SQLCache, or yours) for their max_age. While a policy is cached and
// unexpired it is used: when the TXT id is unchanged (no fetch), when the
// TXT record is missing, invalid or cannot be looked up, and when a new
// policy cannot be fetched. A new id refetches; an expired entry is
// dropped and refetched. Client.Grace skips the TXT check for a while
// after one. Refresher refreshes entries before they expire.
//
// # Publishing
//
// Handler serves an operator's policy at WellKnownPath; PolicyID derives
// the TXT record's id from the policy's content.
//
// # TLS-RPT (RFC 8460 §3)
//
// ParseTLSRPT and LookupTLSRPT read _smtp._tls records: "v=TLSRPTv1"
// first, exactly one such record, a rua field of mailto: and https: URIs.
// Reports themselves belong to the TLS policy layer.
//
// # Compared with postfix-mta-sts-resolver
//
// Kept: one v=STSv1 record with an id, the same id means no fetch, no
// redirects, 200 only, text/plain, 64 KiB checked on Content-Length and
// while streaming, max_age above 31557600 is an error (RFC 8461 only
// states the maximum), mx required unless mode is none, a cached policy
// used until max_age even when fetches fail, a grace time without DNS
// (its cache_grace), proactive refresh.
//
// Changed: any DNS failure other than "no such name / no data" is
// temporary (it treats only timeouts so, and other errors as no policy,
// its issue #60); the policy host's address comes from the configured
// (validating) resolver instead of the system's, and the environment's
// proxy is not used; mx patterns are validated, lower-cased and stripped
// of a trailing dot; Match implements the one-label wildcard of §4.1
// (Postfix's ".example.com" match syntax is any depth, which the daemon
// layer must handle).
//
// A failed fetch is not retried for the same id for 5 minutes
// (Client.RetryInterval; RFC 8461 §3.3).
//
// Concurrent lookups that need the same policy share one fetch.
//
// # Postfix
//
// The package is the library behind a socketmap server for
// smtp_tls_policy_maps; it does not itself produce Postfix answers.
package mtasts
