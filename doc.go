// Package mxkit is an embeddable Go library for the policy side of SMTP:
// what a Postfix MX does with main.cf, as composable packages for mail
// servers built on github.com/emersion/go-smtp.
//
// Package map:
//
//   - smtppolicy: Postfix's restriction engine (smtpd_*_restrictions) with
//     Postfix's semantics and replies, an explain trace and a dry-run mode.
//   - smtppolicy/gosmtp: the adapter to go-smtp and a net.Listener front
//     that repairs what go-smtp cannot do (connect-time checks, exact
//     Postfix protocol replies, pipelining checks, timeouts, limits).
//   - smtppolicy/smtpcmd: SMTP command and address parsing, and a driver
//     that plays commands against a policy session.
//   - smtppolicy/smtppolicytest: helpers to unit-test policies without
//     sockets.
//   - smtppolicy/postfix: builds a Policy from a Postfix main.cf.
//   - postfixconf: main.cf syntax ($name expansion, lists, table specs).
//   - relaymaps: lookup tables (static, inline, cidr, texthash, ...) behind
//     one interface, match lists and Postfix's key derivation.
//   - examples/mx: a runnable MX.
//
// Planned: dane, mtasts, tlspolicy, queue (see docs/).
package mxkit
