// Package mxkit is an embeddable Go library for the policy side of SMTP:
// what a Postfix MX does with main.cf, as composable packages for mail
// servers built on github.com/emersion/go-smtp.
//
// Package map:
//
//   - smtppolicy: Postfix's restriction engine (smtpd_*_restrictions) with
//     Postfix's semantics and replies, DNS checks and DNS lists, an explain
//     trace and a dry-run mode.
//   - smtppolicy/gosmtp: the adapter to go-smtp and a net.Listener front
//     that repairs what go-smtp cannot do (connect-time checks, exact
//     Postfix protocol replies, pipelining checks, timeouts, limits,
//     STARTTLS).
//   - smtppolicy/smtpcmd: SMTP command and address parsing, and a driver
//     that plays commands against a policy session.
//   - smtppolicy/policyproto: Postfix's policy delegation protocol, client
//     (check_policy_service) and server.
//   - smtppolicy/smtppolicytest: helpers to unit-test policies without
//     sockets.
//   - smtppolicy/postfix: builds a Policy and the server settings from a
//     Postfix main.cf; queue/postfix builds the queue side of the same
//     file (queue settings, a transport router, the SMTP client).
//   - internal/postfixconf: main.cf syntax ($name expansion, defaults,
//     lists, table specs), internal to the main.cf layer.
//   - relaymaps: lookup tables (static, inline, cidr, texthash, regexp,
//     pgsql, mysql, sqlite, socketmap, union, cache) behind one interface,
//     match lists and Postfix's key derivation; the SQL drivers register
//     from relaymaps/pgsql, relaymaps/mysql and relaymaps/sqlite.
//   - dnsres: the DNS layer every package uses: one cache, DNSSEC state
//     per answer (AD trusted only from loopback or trusted servers), RFC
//     8914 Extended DNS Errors, errors that tell not-found, temporary and
//     bogus apart.
//   - dane: RFC 7672 DANE for SMTP over dnsres.
//   - mtasts: RFC 8461 MTA-STS and TLS-RPT records.
//   - tlspolicy: outbound TLS policy (Postfix's levels, smtp_tls_policy_maps,
//     DANE and MTA-STS per MX host), the STARTTLS dialer that hands over
//     to go-smtp's client, and TLS-RPT result types; tlspolicy/tlsrpt
//     aggregates the results per domain and day and sends the RFC 8460
//     reports.
//   - examples/mx, examples/policyd, examples/mta-sts-resolver,
//     examples/danecheck: runnable programs.
//   - queue: the store-and-forward queue: Message, Store (the durable
//     Spool), the scheduler (retries, limits, hold/release/flush, soft
//     bounce) and RFC 3464 notifications; queue/pgstore keeps the queue in
//     PostgreSQL for several runners; queue/deliver has the SMTP, LMTP,
//     maildir, error, retry and discard transports; queue/queuetest is a
//     conformance suite for stores.
//
// Packages import only downward (layout_test.go states the arrows):
// examples import anything; queue/deliver imports tlspolicy, dane, mtasts,
// dnsres and queue; smtppolicy imports relaymaps and dnsres; dane and
// mtasts import only dnsres; nothing of the core imports the optional
// main.cf layer (smtppolicy/postfix, queue/postfix, internal/postfixconf,
// internal/pfbuild); shared helpers are
// leaves under internal/.
package mxkit
