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
// Known divergences: the address syntax is checked by RFC 5321 rules rather
// than by Postfix's RFC 822 tokenizer, so a few exotic forms Postfix takes
// are refused (unbalanced comments, several addresses in one path) and
// "Name <a@b>" with a space before "<" is accepted (Postfix answers 555).
// VRFY runs the recipient restrictions on its address as Postfix does
// (Session.Vrfy) and answers "252 2.0.0 <arg>" when they pass. ETRN is served when Driver.ETRN is set (Postfix's replies: "250 Queuing started",
// "459 <domain>: service unavailable"); XCLIENT and XFORWARD are "not recognized". The
// smtpd_soft_error_limit sleeps and smtpd_junk_command_limit are not
// implemented.
package smtpcmd
