// Package postfix builds the queue side of a Postfix main.cf: the queue's
// schedule and limits, soft_bounce and the DSN settings (Settings), the
// transport router (Postfix's trivial-rewrite(8): address classes,
// transport_maps, relayhost; Settings.Router) and the SMTP client, smtp(8)
// with smtp_tls_* (Settings.SMTPDeliverer, MXResolver, TLSPolicies). It is
// the queue-side twin of smtppolicy/postfix, which builds the SMTP
// server's policy and settings from the same file.
//
// Load and Parse read main.cf once and return both halves: the
// smtppolicy/postfix Server (whose address classes the router uses) and
// the Settings. Both packages are named postfix; import this one under
// another name:
//
//	import (
//		"github.com/mxkit/mxkit/smtppolicy/postfix"
//		qpostfix "github.com/mxkit/mxkit/queue/postfix"
//	)
//
//	srv, qs, err := qpostfix.Load("/etc/postfix/main.cf", &postfix.Options{})
//
// Every parameter is accounted for once, whichever half reads it:
// smtppolicy/postfix's classify step knows the parameters read here (as
// honoured), so a program that needs only the server (examples/policyd)
// loads with smtppolicy/postfix.Load alone and the same main.cf is judged
// the same way. Every smtp_* parameter is honoured or refused: delivery
// must not quietly do less than main.cf says. The parameters honoured are
// listed in docs/postfix-mapping.md.
//
// Divergences: relayhost takes one host; smtp_address_preference,
// smtp_skip_5xx_greeting, smtp_always_send_ehlo and
// smtp_defer_if_no_mx_address_found keep their defaults (other values
// are refused); smtp_dns_support_level = disabled is refused;
// smtp_tls_session_cache_database keeps sessions in memory (Go's client
// cache), not across restarts.
package postfix
