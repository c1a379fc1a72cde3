// Package postfix builds an smtppolicy.Policy and the SMTP server settings
// around it from a Postfix main.cf, so that an operator can bring an
// existing configuration.
//
// Load reads main.cf (postconf(5) syntax, $name expansion and Postfix's
// defaults, through the module's internal/postfixconf), opens the tables it names
// (through package relaymaps; relative paths are resolved against the
// file's folder) and parses the restriction lists.
//
// Every parameter set in the file is accounted for:
//
//   - the parameters this package implements (the restriction lists and
//     classes, the address classes and their tables, the limits, the reply
//     codes, smtpd_banner, smtpd_timeout, STARTTLS with security level
//     "may") become settings;
//   - parameters that concern only Postfix's own machinery (queue_directory,
//     biff, maillog_file, ...) or not the SMTP server's decisions (the SMTP
//     client, delivery agents, the queue, TLS cipher tuning, logging) are
//     accepted and listed in Server.Ignored, with a log line each;
//   - any other parameter stops Build with an error naming file, line and
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
