// Package smtpdialog is a raw SMTP client for tests: it sends exactly the
// lines a test gives it and returns the server's replies, parsed but
// otherwise untouched, so that the same dialogue can be played against a
// real Postfix (see internal/testpostfix) and against our own server and
// the replies compared line for line.
//
// Dial can bind the client's source address, so a test can connect from
// 127.0.0.2, 127.0.0.3, ... (Linux puts all of 127.0.0.0/8 on the
// loopback interface) and exercise mynetworks and client checks. Run plays
// a whole script; Conn gives step-by-step control, including SendRaw for
// pipelining and for deliberately malformed input.
//
// Standards: replies are parsed by RFC 5321 §4.2 (three-digit code
// 2xx-5xx, "-" on every line but the last, the same code on every line,
// CRLF line ends) and enhanced status codes by RFC 3463 (class.subject.detail
// at the start of the text). Message bodies are dot-stuffed by RFC 5321
// §4.5.2.
//
// Postfix parameters: none; this package is a client.
//
// Known divergences and limits: the reader is strict on purpose, since its
// job is to catch servers that are not: a bare LF line end, a code outside
// 200-599, a line without " " or "-" after the code, or mixed codes in one
// reply are errors. Lines longer than MaxLineLen (64 KiB) and replies of
// more than MaxReplyLines lines are errors too, although RFC 5321 itself
// sets 512 octets per line. There is no TLS (STARTTLS) and no AUTH helper.
package smtpdialog
