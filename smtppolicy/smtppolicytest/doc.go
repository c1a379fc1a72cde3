// Package smtppolicytest helps downstream users unit-test their
// smtppolicy.Policy without sockets: NewState builds client facts, Play
// and Expect run SMTP dialogues through smtpcmd.Driver against a fake
// server that accepts whatever the policy accepts, and Map, FailingMap,
// Domains and Networks stand in for tables and match lists.
//
// Standards: the dialogues follow RFC 5321; replies are Postfix's
// (see smtpcmd).
//
// Postfix parameters: those of the Policy under test; myhostname comes
// from Policy.Site.MyHostname (Hostname when empty).
//
// Known divergences: the fake server answers EHLO with a single
// "250 <hostname>" line, AUTH and STARTTLS with 502, and every accepted
// message with "250 2.0.0 Ok: queued as TESTn"; message bodies are only
// counted (their size goes to Session.EndOfData), never parsed.
package smtppolicytest
