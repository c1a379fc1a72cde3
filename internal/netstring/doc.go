// Package netstring reads and writes netstrings, the framing of Postfix's
// socketmap protocol (socketmap_table(5)) and of Sendmail's socket maps:
//
//	<decimal length>:<bytes>,
//
// "5:hello," carries "hello"; "0:," carries the empty string. The format is
// D. J. Bernstein's netstring (http://cr.yp.to/proto/netstrings.txt).
//
// A Reader decodes a stream of netstrings one after the other, as sent by a
// client that pipelines requests, and refuses a length over its limit
// before it reads the data, so a peer cannot make it allocate more than
// the limit.
//
// # Divergences from the netstring document
//
// Leading zeros in the length ("05:hello,") are accepted, as Postfix's
// netstring_get_length accepts them; the document forbids them. An empty
// length (":,") is refused (Postfix reads it as 0). Lengths are limited to
// 9 digits, far above any limit a caller sets.
package netstring
