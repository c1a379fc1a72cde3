// Package smtppolicy is Postfix's SMTP restriction engine for Go: the
// smtpd_*_restrictions lists of main.cf as typed values, with Postfix's
// evaluation rules and reply texts, for servers built on go-smtp (see the
// gosmtp sub-package) or anything else that speaks SMTP.
//
// # Model
//
// A Policy holds one Chain per restriction list (Client, Helo, Sender,
// Relay, Recipient, Data, EndOfData) and a Site that describes the address
// classes (mydestination, relay_domains, virtual domains, the recipient
// tables). A Session evaluates the Policy for one SMTP session: its methods
// take the commands in order and return nil or the reply to send.
//
// A Chain is a list of Checks; a Check looks at the session State and
// returns a Decision. The rules are Postfix's (SMTPD_ACCESS_README,
// smtpd_check.c):
//
//   - the first check that decides wins; the end of a list is a permit;
//   - a permit ends only its own list, a reject ends the stage;
//   - by default (smtpd_delay_reject = yes) the client, HELO and sender lists
//     run at every RCPT, followed by the relay and recipient lists, relay
//     first (compatibility_level ≥ 3.6; Policy.RecipientBeforeRelay swaps
//     them); Policy.EarlyReject evaluates them at their own commands;
//   - defer_if_permit is carried from the client list to the RCPT stage,
//     defer_if_reject holds within one stage, warn_if_reject covers the next
//     check only;
//   - after the lists, every accepted recipient is validated against its
//     address class (smtpd_reject_unlisted_recipient), even after a permit;
//   - soft_bounce turns every 5xx into a 4xx;
//   - a table or DNS failure becomes a 4xx, never a permit and never a 5xx.
//
// One reply formatter forces the DSN class to the reply code's, maps
// configured DSNs to the kind of thing rejected (FixDSN), caps replies at
// 510 bytes and replaces non-printable bytes, as Postfix's
// smtpd_check_reject does.
//
// Every decision can be explained: set State.Trace and each step (list,
// check, table key and value, reply) is recorded.
//
// # Postfix parameters covered
//
// smtpd_client_restrictions, smtpd_helo_restrictions,
// smtpd_sender_restrictions, smtpd_relay_restrictions,
// smtpd_recipient_restrictions, smtpd_data_restrictions,
// smtpd_end_of_data_restrictions, smtpd_restriction_classes,
// smtpd_delay_reject, smtpd_relay_before_recipient_restrictions,
// smtpd_reject_unlisted_recipient, smtpd_reject_unlisted_sender,
// smtpd_helo_required, message_size_limit, smtpd_recipient_limit,
// soft_bounce, mynetworks, mydestination, relay_domains,
// virtual_alias_domains, virtual_mailbox_domains, virtual_alias_maps,
// virtual_mailbox_maps, local_recipient_maps, relay_recipient_maps,
// transport_maps (error: and retry: only), local_transport, inet_interfaces,
// proxy_interfaces, recipient_delimiter, relay_clientcerts,
// show_user_unknown_table_name, allow_untrusted_routing, and the reply code
// parameters in Codes.
//
// Restrictions: permit, reject, defer, defer_if_permit, defer_if_reject,
// warn_if_reject, permit_mynetworks, permit_sasl_authenticated,
// permit_tls_clientcerts, reject_unauth_destination,
// defer_unauth_destination, permit_auth_destination,
// reject_invalid_helo_hostname, reject_non_fqdn_helo_hostname,
// reject_non_fqdn_sender, reject_non_fqdn_recipient, reject_unlisted_sender,
// reject_unlisted_recipient, reject_unauth_pipelining,
// reject_plaintext_session, reject_multi_recipient_bounce,
// check_client_access, check_helo_access, check_sender_access,
// check_recipient_access (every access(5) action), and restriction classes.
// DNS-based checks (Policy.Resolver answers them; *dnsres.Resolver, mxkit's
// DNS layer, is the usual one; LookupClient verifies the client name at
// connect):
// reject_unknown_client_hostname, reject_unknown_reverse_client_hostname,
// reject_unknown_helo_hostname, reject_unknown_sender_domain,
// reject_unknown_recipient_domain,
// check_{client,reverse_client,helo,sender,recipient}_{a,mx,ns}_access;
// DNS lists: reject_rbl_client, reject_rhsbl_client,
// reject_rhsbl_reverse_client, reject_rhsbl_helo, reject_rhsbl_sender,
// reject_rhsbl_recipient, permit_dnswl_client (with reply filters,
// maps_rbl_reject_code and default_rbl_reply), and the mxkit extension
// reject_dnsbl_score (postscreen-style weights). A DNS check with a nil
// Policy.Resolver answers 451 4.3.5. Other restrictions (policy
// delegation) plug in through Registry.Extensions.
//
// # RFCs
//
// RFC 5321 (§4.5.1 postmaster, §4.5.3.1 limits, reply codes), RFC 3463
// (enhanced status codes), RFC 2920 (pipelining), RFC 7505 (null MX),
// RFC 5782 (DNS lists), RFC 2308 (negative caching), RFC 7372 (4.7.25).
//
// # Known divergences from Postfix
//
//   - Access-table actions that disconnect (421/521 values) reject without
//     disconnecting.
//   - The HOLD, FILTER, REDIRECT, BCC and PREPEND actions are recorded on
//     the State for the application to carry out; the engine itself stores
//     no mail.
//   - rbl_reply_maps and reply templates other than default_rbl_reply are
//     not supported; DNS list answers are cached for five minutes (one
//     for failures) rather than for the life of an smtpd process.
//   - A DNS list answering 127.255.255.x, or listing its RFC 5782 negative
//     test entry (127.0.0.1, or "invalid" for domain lists), is ignored
//     (fail open) where Postfix would reject.
//   - A policy whose relay and recipient lists contain no check that can
//     refuse relaying answers every RCPT with 451 4.3.5 (Postfix refuses to
//     start): the library never becomes an open relay by omission.
package smtppolicy
