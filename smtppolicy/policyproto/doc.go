// Package policyproto is Postfix's SMTP access policy delegation protocol
// (SMTPD_POLICY_README) in both directions: a check_policy_service
// restriction for smtppolicy that asks a policy server, and a Server that
// answers Postfix (or the restriction) with a Go handler.
//
// # Protocol
//
// A query is name=value lines, each ended by LF, then an empty line; the
// reply is "action=..." and an empty line. Names hold no '=', NUL, CR or
// LF and are not empty; values hold no NUL, CR or LF. One CR before the LF
// is removed on input (for people who type queries with telnet). Lines
// are limited to Limits.MaxLine bytes and lists to Limits.MaxAttrs
// attributes. Unknown attributes are kept in Request.Extra and otherwise
// ignored; when a name is repeated, the last value wins (as in postgrey
// and policyd-spf, which read queries into a hash). Numeric attributes
// (size, recipient_count, client_port, server_port, encryption_keysize)
// must be empty or decimal.
//
// # check_policy_service
//
// Register installs the restriction in a smtppolicy.Registry:
//
//	check_policy_service inet:127.0.0.1:10023
//	check_policy_service unix:/run/policyd.sock
//	check_policy_service { inet:127.0.0.1:10023, timeout=10s, default_action=DUNNO, policy_context=submission }
//
// The Client keeps connections open and reuses them (max_idle, max_ttl,
// request_limit), bounds each request by timeout, tries try_limit times
// retry_delay apart, and then applies default_action ("451 4.3.5 Server
// configuration problem"). The server's action, or the default action,
// is evaluated like an access(5) table value found for the list's reply
// name and class (smtppolicy.Registry.AccessAction): DUNNO, OK, REJECT,
// DEFER, DEFER_IF_PERMIT, DEFER_IF_REJECT, "4xx/5xx text", WARN, INFO,
// HOLD, DISCARD, FILTER, REDIRECT, BCC, PREPEND and restriction names all
// work, with Postfix's reply texts. A connection the server closed while
// idle is replaced without counting a try.
//
// Put check_policy_service after reject_unauth_destination: an OK from
// the server in smtpd_relay_restrictions or smtpd_recipient_restrictions
// permits the recipient, and before reject_unauth_destination that opens
// the relay. The engine does not count the check as relay protection.
//
// # Server
//
// Server serves many connections at once, answers any number of queries
// per connection, and on a malformed query logs and closes the connection
// without a reply, as SMTPD_POLICY_README asks. examples/policyd uses it
// to evaluate a main.cf's restrictions for a real Postfix.
//
// # Postfix parameters covered
//
// check_policy_service, smtpd_policy_service_timeout,
// smtpd_policy_service_max_idle, smtpd_policy_service_max_ttl,
// smtpd_policy_service_request_limit, smtpd_policy_service_try_limit,
// smtpd_policy_service_retry_delay, smtpd_policy_service_default_action,
// smtpd_policy_service_policy_context (as Options), and the per-service
// { name=value } form (Postfix 3.0 and later).
//
// # Known divergences from Postfix
//
//   - unix:private/name (relative to the queue directory) is dialled
//     relative to the working directory; give an absolute path.
//   - queue_id, sasl_sender and stress are sent empty; instance is a
//     hash of the session and its sender, not Postfix's queue-file
//     instance; mail_version and compatibility_level are empty unless
//     Options set them.
//   - encryption_cipher is Go's (IANA) cipher suite name; for TLS 1.2
//     OpenSSL's names differ.
//   - The Registry given to Register is used for restriction names in
//     actions; with a nil Registry such actions are configuration errors.
//   - Request.State does not rebuild the TLS connection state, so
//     permit_tls_clientcerts and reject_plaintext_session evaluated from a
//     query see a plaintext session.
package policyproto
