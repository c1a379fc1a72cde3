// Package smtpcmd parses SMTP commands and MAIL/RCPT paths as Postfix's
// smtpd does, and drives a smtppolicy.Session with them: Driver decides,
// for each client line, whether to answer it (with Postfix's exact reply)
// or to forward a cleaned-up line to the real SMTP server.
//
// Standards: RFC 5321 §4.1.1 (commands), §4.1.2 (Path, Mailbox, Local-part,
// Quoted-string, source routes), §4.1.3 (address literals), §4.5.1 (bare
// <postmaster>); RFC 1870 (SIZE), RFC 6152 (BODY), RFC 3461 (RET, ENVID,
// NOTIFY, ORCPT), RFC 6531 (SMTPUTF8), RFC 4954 (AUTH=), RFC 3030 (BDAT).
//
// Postfix parameters: strict_rfc821_envelopes (Options.Strict,
// Driver.Strict), smtputf8_enable (Driver.SMTPUTF8), disable_vrfy_command,
// smtpd_hard_error_limit, smtpd_helo_required (through the Policy). Reply
// texts are those of src/smtpd/smtpd.c: "501 5.1.7 Bad sender address
// syntax", "501 5.5.4 Syntax: MAIL FROM:<address>", "555 5.5.4 Unsupported
// option: X", "503 5.5.1 Error: nested MAIL command", "500 5.5.2 Error:
// command not recognized", ...
//
// Addresses are parsed as Postfix's extract_addr does, with a port of its
// RFC 822 parser (tok822.go): even with strict_rfc821_envelopes,
// unqualified local parts, sender-specified routing ('%', '!', a second
// '@'), spaces inside the brackets and quoted strings are taken and left
// to the restrictions (which must refuse routed relaying); the domain must
// be a valid host name or an [a.b.c.d] / [IPv6:...] literal (a bare IP
// address, a numeric or an 8-bit domain without SMTPUTF8 are "501 5.1.7
// Bad sender address syntax" / "501 5.1.3 Bad recipient address syntax"),
// as trivial-rewrite checks it. The forwarded form is the internal address
// with its local part quoted where RFC 5321 needs it and "@Hostname"
// appended to an unqualified address.
//
// With soft_bounce (Policy.SoftBounce) Handle returns every 5xx reply as
// 4xx, syntax errors included (SoftBounce, SoftBounceLine). HELO/EHLO
// without argument get "501 Syntax: HELO hostname" without an enhanced
// code (RFC 2034), bad BDAT syntax "521 5.5.4 Syntax: BDAT count [LAST]"
// and the end of the session, DATA in a BDAT transaction "503 5.5.1
// Error: DATA after BDAT", XCLIENT and XFORWARD "550 5.7.0 Error:
// insufficient authorization", ETRN with a bad domain "501 Error: invalid
// parameter syntax", as Postfix 3.7.11 answers them.
//
// Known divergences: "Name <a@b>" with a space before "<" is accepted
// without strict_rfc821_envelopes (Postfix answers 555); 8-bit domains
// with SMTPUTF8 are checked for UTF-8 and host name syntax, not converted
// with IDNA.
// VRFY runs the recipient restrictions on its address as Postfix does
// (Session.Vrfy) and answers "252 2.0.0 <arg>" when they pass. ETRN is served when Driver.ETRN is set, after the delayed client and
// HELO restrictions (Session.Etrn, Postfix's smtpd_check_etrn), with
// Postfix's replies ("250 Queuing started",
// "459 <domain>: service unavailable"); XCLIENT and XFORWARD are "not recognized". The
// smtpd_soft_error_limit sleeps and smtpd_junk_command_limit are not
// implemented.
package smtpcmd
