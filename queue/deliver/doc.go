// Package deliver holds mxkit's next-hop deliverers, the queue.Deliverer
// implementations behind transport(5) values:
//
//	smtp:[host]:port, smtp:[host], smtp:[ipv6:2001:db8::1]   SMTP
//	lmtp:[host]:port, lmtp:host:port, lmtp:inet:host:port,
//	lmtp:unix:/path                                      LMTP
//	error:5.1.1 text    bounce (Error)
//	retry:4.3.2 text    defer (Retry)
//	discard:text        accept and drop (Discard)
//	maildir:/base       local Maildir, BASE/<domain>/<localpart>/ (Maildir)
//
// # SMTP and LMTP
//
// SMTP speaks RFC 5321 (LMTP, RFC 2033, when its LMTP field is set) with
// go-smtp's client: greeting, EHLO/LHLO, opportunistic STARTTLS (RFC 3207),
// MAIL FROM, one RCPT TO per recipient, DATA. Each recipient gets its own
// Result: a 5xx RCPT reply bounces it, a 4xx defers it; the reply to the
// final dot applies to every accepted recipient, except over LMTP, where
// the server answers once per accepted recipient. Result.Text is the
// server's reply ("550 5.1.1 <bob@example.test>: Recipient address
// rejected: User unknown", lines of a multi-line reply joined with a
// space) and Result.Remote the host that gave it; the DSN code is the
// reply's enhanced status code (RFC 3463), or X.0.0 from the reply code
// when the reply has none or one of another class. A 552 reply to RCPT
// is a temporary "too many recipients" (RFC 5321 §4.5.3.1.10): deferred,
// with the class of the DSN code changed to 4.
//
// Failures that are not a server's verdict are deferred with our own
// reason: "connect to [127.0.0.1]:25: Connection refused" (4.4.1, no
// answer), "lost connection with [host]:25 while sending RCPT TO" and
// "conversation with [host]:25 timed out while ..." (4.4.2, bad
// connection), as Postfix words them. A host name in brackets that does
// not exist bounces with 5.4.4, as in Postfix; a failed name lookup
// defers with 4.4.3.
//
// RFC 3461: when the server advertises DSN, NOTIFY, ORCPT, RET and ENVID
// are passed on and accepted recipients have Result.Relayed set, so the
// queue does not send a "relayed" notice itself. RFC 6531: a message that
// needs SMTPUTF8 (a non-ASCII envelope address, or a non-ASCII header
// when the client asked for SMTPUTF8) bounces with 5.6.7 when the server
// does not offer SMTPUTF8; SMTPUTF8 is sent whenever the client asked for
// it and the server offers it. RFC 1870: SIZE= is sent when advertised,
// and a message larger than the server's limit bounces with 5.3.4
// without being sent. RFC 6152: go-smtp adds BODY=8BITMIME to every MAIL
// FROM when the server advertises 8BITMIME.
//
// The content is sent as stored. go-smtp's data writer (net/textproto's
// DotWriter) doubles a leading dot on each line, adds the final
// ".<CRLF>" line, turns a bare LF into CRLF and ends a last line that
// lacks one with CRLF; CRLF content otherwise arrives byte for byte
// (checked against smtp-sink's dumps and an unstuffing server).
//
// # TLS
//
// The dialogue up to the mail transaction is tlspolicy's Dialer: it reads
// the greeting, says EHLO (LHLO) with Hostname, sends STARTTLS only when
// the server advertises it (keywords are matched case-insensitively) and
// the level uses TLS, checks the certificate as the level says, and hands
// the connection to go-smtp, which says EHLO again. TLSLevel (or a
// TLSPolicy hook, or a tlspolicy.Resolver in TLSPolicies for
// smtp_tls_policy_maps, DANE and MTA-STS) mirrors smtp_tls_security_level:
// TLSDefault means "may" for SMTP and none for LMTP (Postfix's empty
// lmtp_tls_security_level). A message with Message.TLSOptional (RFC 8689
// "TLS-Required: No", set by TLS-RPT reports) skips the policy and gets
// "may" at most. At "may" STARTTLS is used when offered and the
// certificate is not checked; a refused STARTTLS continues in plaintext on
// the same connection, and a failed handshake makes the deliverer connect
// to the same host again without TLS, as Postfix does for "may" (its
// RETRY_AS_PLAINTEXT), once the message is SMTP.PlaintextFallbackAge old
// (Postfix's $minimal_backoff_time; before that the attempt defers with
// 4.7.5). TLSEncrypt
// requires STARTTLS (4.7.4 "TLS is required, but was not offered by host
// ...") and a handshake (4.7.5 "Cannot start TLS: handshake failure
// ..."); TLSVerify and TLSSecure also check the chain against TLS's roots
// and the names of tlspolicy's match rules, the DANE levels the TLSA
// records; a certificate that fails these checks gives Postfix's 4.7.5
// "Server certificate not verified" (the reason is logged). Plaintext the server sent after its 220 to
// STARTTLS aborts the session. No SNI is sent unless the policy or the
// TLS configuration's ServerName names one (DANE: the TLSA base domain).
// A policy that cannot be resolved skips the host with its 4.7.x DSN
// (tlspolicy.Error, "4.7.5 client TLS configuration problem"), and a
// refused STARTTLS at a level requiring TLS is deferred even when the
// reply was a 5xx (Postfix bounces).
//
// # Connection reuse
//
// After a delivery the connection waits CacheTime (2s,
// smtp_connection_cache_time_limit) for the next message to the same host
// (and TLS level), up to MaxIdle connections per host. A cached connection
// is reused after RSET and a new EHLO; if it has died (RSET, EHLO or MAIL
// FROM fail without a reply), the delivery moves to a new connection and
// nothing is counted as failed. ReuseCount (smtp_connection_reuse_count_limit)
// and ReuseTime (smtp_connection_reuse_time_limit, 300s) bound a
// connection's use. Close ends the idle connections with QUIT.
//
// # Plugging in MX lookup and TLS policy
//
// A nexthop without brackets ("smtp:example.com", or an empty one, which
// Postfix fills with the recipient domain) needs an MX lookup, which this
// package does not do: the recipients are deferred with 4.3.5 and a text
// that says to use [host]. A later layer plugs in through two hooks:
// Resolve returns the hosts to try in order (MX hosts by preference, each
// with its address), or an error wrapping a *Failure with the result to
// give (a null MX's 5.1.10, say); TLSPolicy (or TLSPolicies) returns each
// host's tlspolicy.Policy (DANE, MTA-STS, the policy table). Dial replaces the network dialer (a source address, a
// proxy). Hosts are tried in order while no server has given a verdict:
// a connection failure, a greeting or EHLO refusal, or a TLS requirement
// not met moves on to the next host.
//
// # Postfix parameters mirrored
//
// smtp_connect_timeout, smtp_helo_timeout, smtp_starttls_timeout,
// smtp_mail_timeout, smtp_rcpt_timeout, smtp_data_init_timeout,
// smtp_data_xfer_timeout, smtp_data_done_timeout, smtp_rset_timeout,
// smtp_quit_timeout (Timeouts, same defaults); smtp_helo_name
// (Hostname); smtp_tls_security_level (TLSLevel); smtp_tls_policy_maps
// and the DANE/MTA-STS layer (TLSPolicies, see tlspolicy);
// smtp_connection_cache_time_limit, smtp_connection_reuse_count_limit,
// smtp_connection_reuse_time_limit;
// the lmtp_ equivalents. error(8), retry and discard(8) take a leading
// DSN code from the nexthop as Postfix's dsn_split does.
//
// # Known divergences
//
//   - No MX lookup, no smtp_fallback_relay, no smtp_bind_address (use
//     Dial), no SASL (smtp_sasl_*), no XFORWARD, no PIPELINING: go-smtp's
//     client sends one command at a time.
//   - BODY=8BITMIME is sent whenever the server offers 8BITMIME (go-smtp
//     does that), and 8-bit content goes to a server without 8BITMIME
//     as is: Postfix would convert it to quoted-printable.
//   - Connections are always cached (Postfix caches on demand, when a
//     destination has a backlog) and kept per host and TLS policy (and
//     next-hop domain at the levels that match names); a
//     reused connection costs RSET and EHLO round trips (go-smtp's
//     client says EHLO again after every RSET).
//   - Error's DSN code always has class 5, Retry's class 4 and Discard's
//     class 2; an empty error:/retry: text becomes "no reason given".
//   - Over LMTP, go-smtp keys the per-recipient replies by address:
//     the same address twice in one delivery gets the last reply.
//   - Maildir writes files as the process's user (no virtual_uid_maps),
//     uses the whole local part (no recipient_delimiter folding) and
//     has no quota (virtual_mailbox_limit).
package deliver
