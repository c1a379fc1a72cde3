// Package postfix builds an smtppolicy.Policy and the SMTP server settings
// around it from a Postfix main.cf, so that an operator can bring an
// existing configuration.
//
// Load reads main.cf (postconf(5) syntax, $name expansion and Postfix's
// defaults, through the module's internal/postfixconf), opens the tables
// it names (through package relaymaps, with the pgsql, mysql and sqlite
// drivers linked; relative paths are resolved against the file's folder)
// and parses the restriction lists. Parse does the same for main.cf text
// from an io.Reader. Options.Overrides set parameters after the file, as
// "postconf -o name=value" does (examples/mx points
// smtpd_tls_chain_files at its self-signed certificate that way).
//
// The queue side of the same file (the queue's schedule and limits, the
// transport router, the SMTP client and its TLS) is package queue/postfix,
// whose Load and Parse read main.cf once and return this package's Server
// with its own Settings. This package accounts for the queue side's
// parameters without reading them.
//
// Build, which builds a Server from a parsed file, is exported for
// queue/postfix only: its argument's type is internal to the module, so
// no other program can call it. Keeping it exported (rather than passing
// the parse through an unexported hook) is the simplest way to let the
// two halves share one parse.
//
// Every parameter set in the file is accounted for:
//
//   - the parameters this package implements (the restriction lists and
//     classes, the address classes and their tables, the limits, the reply
//     codes, smtpd_banner, smtpd_timeout, STARTTLS with security level
//     "may") become settings;
//   - parameters that concern only Postfix's own machinery (queue_directory,
//     biff, maillog_file, ...) or not the SMTP server's decisions (local
//     delivery agents, the LMTP client, TLS library tuning, logging) are
//     accepted and listed in Server.Ignored, with a log line each;
//   - the queue side's parameters (queue and delivery, smtp_*,
//     smtp_tls_*) are accepted here and read by queue/postfix; an smtp_*
//     parameter that neither honours stops Load;
//   - any other parameter stops Load with an error naming file, line and
//     parameter: a restriction or policy setting that mxkit does not
//     implement (milters, postscreen, anvil rate limits, SASL, ...) would
//     make the server accept mail the operator meant to refuse.
//
// Divergences: mail_name defaults to "mxkit" (MailName), not "Postfix",
// so the default smtpd_banner ("$myhostname ESMTP $mail_name") reads
// "mx.example.test ESMTP mxkit"; a mail_name or smtpd_banner set in
// main.cf wins (internal/postfixconf keeps Postfix's default, as postconf
// -d prints it). mynetworks left unset means loopback only (Postfix computes
// it from mynetworks_style and the host's interfaces); inet_interfaces and
// proxy_interfaces take addresses, not host names;
// parent_domain_matches_subdomains must keep mynetworks, relay_domains and
// smtpd_access_maps; smtpd_tls_security_level takes none, may and
// encrypt (Server.RequireTLS), not the legacy verify levels.
package postfix
