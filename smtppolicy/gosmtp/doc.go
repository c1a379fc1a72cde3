// Package gosmtp runs a smtppolicy.Policy in a github.com/emersion/go-smtp
// server. It is the only package of mxkit that imports go-smtp's server.
//
// Backend wraps the application's smtp.Backend: MAIL, RCPT and DATA go
// through the policy first, rejections reach go-smtp as bare
// *smtp.SMTPError values (go-smtp turns anything else into 451), message
// bodies are counted (message_size_limit) and refused on a bare LF
// (smtpd_forbid_bare_newline = yes: "521 5.5.2 <host> Error: bare <LF>
// received"), and the application sees only what the policy accepted. Each
// session has a context, cancelled at Logout.
//
// Listener wraps the net.Listener given to Server.Serve and repairs what
// go-smtp cannot do: the per-IP connection limit
// (smtpd_client_connection_count_limit), connect-time client checks
// (smtpd_delay_reject = no), smtpd_timeout for commands and body reads,
// Postfix's exact protocol replies and sequence errors (503 need MAIL,
// nested MAIL, bare <postmaster>, 555 for unknown parameters), illegal
// pipelining detection (reject_unauth_pipelining), and STARTTLS. Leave
// go-smtp's Server.TLSConfig nil and set Listener.TLSConfig instead. The
// EHLO reply advertises "SIZE <message_size_limit>" when the policy has
// a limit; an intermediate BDAT chunk is answered "250 2.0.0 Ok: N
// bytes" and the last one like the end of DATA ("250 2.0.0 Ok: queued").
// With RequireTLS (smtpd_tls_security_level = encrypt) MAIL, RCPT, DATA,
// BDAT, VRFY, RSET and AUTH get "530 5.7.0 Must issue a STARTTLS command
// first" until STARTTLS. As in Postfix, illegal pipelining is
// remembered for the rest of the session, and the bytes of a message body
// sent ahead of a refused DATA are read as commands (a header line among
// them ends the session: "221 2.7.0 Error: I can break rules, too.
// Goodbye."). Illegal pipelining is what Postfix's smtpd counts (measured
// against Postfix 3.7.11): input waiting after HELO, EHLO, DATA, NOOP or
// VRFY, after any command before EHLO, or before the greeting.
//
// Replies follow Postfix (smtpd.c) where go-smtp's differ: the EHLO
// keywords in Postfix's order (PIPELINING, SIZE, VRFY unless
// disable_vrfy_command, ETRN, STARTTLS, AUTH, ENHANCEDSTATUSCODES,
// 8BITMIME, DSN, SMTPUTF8, CHUNKING, each as the application offers it),
// "503 5.5.1 Error: authentication not enabled" for AUTH when go-smtp
// offers none, "552 5.3.4 Error: message file too big" for a body over
// message_size_limit and "552 5.3.4 Chunk exceeds message size limit"
// for a BDAT chunk that would pass it (the chunk is skipped, the message
// dropped). With soft_bounce (Policy.SoftBounce) every 5xx line the front
// sends, whoever made it, becomes 4xx, its 5.x.x enhanced code 4.x.x, as
// Postfix's smtpd_chat_reply does.
//
// Standards: RFC 5321, RFC 2920 (PIPELINING), RFC 3207 (STARTTLS), RFC 3030
// (BDAT, passed through by byte count), RFC 1870 (SIZE).
//
// Known divergences: with Backend alone (no Listener) the DATA
// restrictions run after the 354 reply and go-smtp's own texts and
// sequence errors are sent. The queue ID in "250 2.0.0 Ok: queued as ID"
// comes from application sessions that implement QueueIDer. SASL: the application must set SASLUsername through
// StateOf after a successful AUTH. Message bodies are buffered in memory
// up to message_size_limit before the application's Data sees them.
// "BDAT 0" without LAST is passed to go-smtp (Postfix refuses it with
// "551 5.7.1 Null BDAT request" and discards the rest of the message).
package gosmtp
