package main

import "strings"

// dlg builds a dialogue whose replies are compared by code and enhanced
// code.
func dlg(name, client string, script []string) dialogue {
	return dialogue{name: name, client: client, script: script}
}

// exact marks a dialogue whose reply texts are compared too.
func (d dialogue) exact() dialogue { d.text = true; return d }

func ehlo(lines ...string) []string {
	return append([]string{"EHLO client.example.org"}, lines...)
}

// mailFrom is a dialogue that tries a sender address and then a valid
// recipient, where the sender restrictions run.
func mailFrom(addr string) []string {
	return []string{"EHLO client.example.org", "MAIL FROM:" + addr, "RCPT TO:<alice@example.test>"}
}

// bigBody is larger than message_size_limit.
var bigBody = "Subject: big\r\n\r\n" + strings.Repeat(strings.Repeat("x", 998)+"\r\n", 1100)

// baseDialogues are the dialogues of the base configuration (diffPolicy).
var baseDialogues = []dialogue{

	dlg("relay denied", "127.0.0.2", helo("RCPT TO:<u@elsewhere.example>")),
	dlg("valid recipient", "127.0.0.2", helo("RCPT TO:<alice@example.test>")),
	dlg("unknown recipient", "127.0.0.2", helo("RCPT TO:<mallory@example.test>")),
	dlg("virtual alias", "127.0.0.2", helo("RCPT TO:<info@example.test>")),
	dlg("plus extension", "127.0.0.3", helo("RCPT TO:<alice+news@example.test>")),
	dlg("minus extension", "127.0.0.3", helo("RCPT TO:<alice-news@example.test>")),
	dlg("upper case", "127.0.0.3", helo("RCPT TO:<ALICE@EXAMPLE.TEST>")),
	dlg("trailing dot", "127.0.0.3", helo("RCPT TO:<alice@example.test.>")),
	dlg("percent hack", "127.0.0.4", helo("RCPT TO:<u%elsewhere.example@example.test>")),
	dlg("bang path", "127.0.0.4", helo("RCPT TO:<elsewhere.example!u@example.test>")),
	dlg("quoted at", "127.0.0.4", helo(`RCPT TO:<"u@elsewhere.example"@example.test>`)),
	dlg("source route", "127.0.0.4", helo("RCPT TO:<@example.test:u@elsewhere.example>")),
	dlg("own address literal", "127.0.0.5", helo("RCPT TO:<u@[127.0.0.1]>")),
	dlg("foreign address literal", "127.0.0.5", helo("RCPT TO:<u@[192.0.2.1]>")),
	dlg("bare postmaster", "127.0.0.5", helo("RCPT TO:<postmaster>")),
	dlg("subdomain of relay domain", "127.0.0.5", helo("RCPT TO:<alice@sub.example.test>")),
	dlg("non-fqdn recipient", "127.0.0.6", helo("RCPT TO:<alice@example>")),
	dlg("non-fqdn helo", "127.0.0.6", []string{"EHLO client", "MAIL FROM:<sender@example.org>", "RCPT TO:<alice@example.test>"}),
	dlg("invalid helo", "127.0.0.6", []string{"EHLO a..b", "MAIL FROM:<sender@example.org>", "RCPT TO:<alice@example.test>"}),
	dlg("invalid helo literal", "127.0.0.6", []string{"EHLO [1.2.3]", "MAIL FROM:<sender@example.org>", "RCPT TO:<alice@example.test>"}),
	dlg("HELO session", "127.0.0.7", []string{"HELO client.example.org", "MAIL FROM:<sender@example.org>", "RCPT TO:<alice@example.test>", "RSET", "NOOP"}),
	dlg("MAIL before HELO", "127.0.0.7", []string{"MAIL FROM:<sender@example.org>"}),
	dlg("RCPT before MAIL", "127.0.0.7", []string{"EHLO client.example.org", "RCPT TO:<alice@example.test>"}),
	dlg("DATA before RCPT", "127.0.0.7", helo("DATA")),
	dlg("nested MAIL", "127.0.0.8", helo("MAIL FROM:<other@example.org>")),
	dlg("unknown command", "127.0.0.8", []string{"EHLO client.example.org", "FROB"}),
	dlg("sender without brackets", "127.0.0.8", []string{"EHLO client.example.org", "MAIL FROM:sender@example.org"}),
	dlg("recipient without brackets", "127.0.0.8", helo("RCPT TO:alice@example.test")),
	dlg("size too big", "127.0.0.9", []string{"EHLO client.example.org", "MAIL FROM:<sender@example.org> SIZE=2000000"}),
	dlg("non-fqdn sender", "127.0.0.9", []string{"EHLO client.example.org", "MAIL FROM:<sender@example>", "RCPT TO:<alice@example.test>"}),
	dlg("unlisted sender", "127.0.0.9", []string{"EHLO client.example.org", "MAIL FROM:<nobody@example.test>", "RCPT TO:<alice@example.test>"}),
	dlg("sender access reject", "127.0.0.10", []string{"EHLO client.example.org", "MAIL FROM:<spammer@example.org>", "RCPT TO:<alice@example.test>"}),
	dlg("sender access code with DSN fix", "127.0.0.10", []string{"EHLO client.example.org", "MAIL FROM:<x@sub.bad.example>", "RCPT TO:<alice@example.test>"}),
	dlg("sender access warn", "127.0.0.10", []string{"EHLO client.example.org", "MAIL FROM:<warned@example.org>", "RCPT TO:<alice@example.test>"}),
	dlg("recipient access reject", "127.0.0.11", helo("RCPT TO:<blocked@example.test>")),
	dlg("recipient access defer", "127.0.0.11", helo("RCPT TO:<deferred@example.test>")),
	dlg("recipient defer_if_permit", "127.0.0.11", helo("RCPT TO:<bob@example.test>")),
	dlg("client access reject", "127.0.0.66", helo("RCPT TO:<alice@example.test>")),
	dlg("client access 450", "127.0.0.67", helo("RCPT TO:<alice@example.test>")),
	dlg("multi-recipient bounce", "127.0.0.12", []string{"EHLO client.example.org", "MAIL FROM:<>", "RCPT TO:<alice@example.test>", "RCPT TO:<info@example.test>", "DATA"}),
	dlg("no valid recipients", "127.0.0.12", helo("RCPT TO:<mallory@example.test>", "DATA")),
	dlg("message accepted", "127.0.0.12", helo("RCPT TO:<alice@example.test>", "DATA", "DATA-BODY:Subject: test\r\n\r\nHello.\r\n", "QUIT")),
	dlg("mynetworks relays", "127.0.0.1", helo("RCPT TO:<u@elsewhere.example>")),
	dlg("mynetworks skips helo checks", "127.0.0.1", []string{"EHLO client", "MAIL FROM:<nobody@example.test>", "RCPT TO:<u@elsewhere.example>"}),
	dlg("mynetworks non-fqdn recipient", "127.0.0.1", helo("RCPT TO:<u@elsewhere>")),
	dlg("VRFY valid", "127.0.0.14", []string{"EHLO client.example.org", "VRFY alice@example.test", "VRFY <bob@example.test>"}),
	dlg("VRFY unknown", "127.0.0.14", []string{"EHLO client.example.org", "VRFY mallory@example.test"}),
	dlg("VRFY relay denied", "127.0.0.14", []string{"EHLO client.example.org", "VRFY u@elsewhere.example"}),
	dlg("VRFY recipient access", "127.0.0.14", []string{"EHLO client.example.org", "VRFY blocked@example.test", "VRFY deferred@example.test"}),
	dlg("VRFY postmaster and alias", "127.0.0.14", []string{"EHLO client.example.org", "VRFY postmaster", "VRFY info@example.test"}),
	dlg("VRFY before HELO", "127.0.0.14", []string{"VRFY alice@example.test"}),
	dlg("VRFY bad syntax", "127.0.0.14", []string{"EHLO client.example.org", "VRFY <>", "VRFY"}),
	dlg("VRFY rejected client", "127.0.0.66", []string{"EHLO client.example.org", "VRFY alice@example.test"}),
	dlg("VRFY inside a transaction", "127.0.0.14", helo("VRFY mallory@example.test", "RCPT TO:<alice@example.test>", "DATA")),
	dlg("VRFY from mynetworks", "127.0.0.1", []string{"EHLO client.example.org", "VRFY u@elsewhere.example"}),
	dlg("ETRN before HELO", "127.0.0.15", []string{"ETRN example.test"}),
	dlg("ETRN", "127.0.0.15", []string{"EHLO client.example.org", "ETRN", "ETRN example.test", "ETRN elsewhere.example", "ETRN @example.test", "ETRN #example.test", "ETRN sub.example.test"}),
	dlg("ETRN in a transaction", "127.0.0.15", helo("ETRN example.test")),
	dlg("RSET and again", "127.0.0.13", helo("RCPT TO:<alice@example.test>", "RSET", "MAIL FROM:<sender@example.org>", "RCPT TO:<u@elsewhere.example>")),

	// Envelope addresses under strict_rfc821_envelopes = yes: Postfix's
	// RFC 822 tokenizer takes unqualified, routed and spaced forms and
	// lets the restrictions decide.
	dlg("unqualified sender", "127.0.0.20", mailFrom("<sender>")),
	dlg("unqualified recipient", "127.0.0.20", helo("RCPT TO:<alice>")),
	dlg("unqualified recipient from mynetworks", "127.0.0.1", helo("RCPT TO:<alice>")),
	dlg("percent sender", "127.0.0.20", mailFrom("<u%elsewhere.example@example.org>")),
	dlg("bang sender", "127.0.0.20", mailFrom("<elsewhere.example!u@example.org>")),
	dlg("double at sender", "127.0.0.20", mailFrom("<u@elsewhere.example@example.org>")),
	dlg("double at recipient, ours last", "127.0.0.21", helo("RCPT TO:<u@elsewhere.example@example.test>")),
	dlg("double at recipient, ours first", "127.0.0.21", helo("RCPT TO:<alice@example.test@elsewhere.example>")),
	dlg("percent recipient from mynetworks", "127.0.0.1", helo("RCPT TO:<u%elsewhere.example@example.test>")),
	dlg("bang recipient unqualified", "127.0.0.21", helo("RCPT TO:<elsewhere.example!u>")),
	dlg("percent recipient unqualified", "127.0.0.21", helo("RCPT TO:<u%elsewhere.example>")),
	dlg("spaces inside brackets", "127.0.0.22", helo("RCPT TO:< alice@example.test >")),
	dlg("spaces around the at", "127.0.0.22", helo("RCPT TO:<alice @ example.test>")),
	dlg("sender with spaces inside brackets", "127.0.0.22", mailFrom("< sender@example.org >")),
	dlg("space after the colon", "127.0.0.22", []string{"EHLO client.example.org", "MAIL FROM: <sender@example.org>", "RCPT TO: <alice@example.test>"}),
	dlg("bare IPv4 recipient domain", "127.0.0.23", helo("RCPT TO:<u@192.0.2.1>")),
	dlg("bare IPv4 own address", "127.0.0.23", helo("RCPT TO:<u@127.0.0.1>")),
	dlg("bare IPv4 sender domain", "127.0.0.23", mailFrom("<sender@192.0.2.1>")),
	dlg("numeric domain", "127.0.0.23", mailFrom("<sender@123>")),
	dlg("numeric labels with a name", "127.0.0.23", mailFrom("<sender@123.example>")),
	dlg("address literal sender", "127.0.0.23", mailFrom("<sender@[192.0.2.1]>")),
	dlg("IPv6 literal sender", "127.0.0.23", mailFrom("<sender@[IPv6:2001:db8::1]>")),
	dlg("bad IPv4 literal", "127.0.0.24", mailFrom("<sender@[1.2.3]>")),
	dlg("bad IPv6 literal", "127.0.0.24", helo("RCPT TO:<u@[IPv6:zz::1]>")),
	dlg("general address literal", "127.0.0.24", helo("RCPT TO:<u@[x-tag:abc]>")),
	dlg("double dot domain", "127.0.0.24", mailFrom("<sender@example..org>")),
	dlg("leading dot domain", "127.0.0.24", mailFrom("<sender@.example.org>")),
	dlg("leading hyphen label", "127.0.0.24", mailFrom("<sender@-x.example.org>")),
	dlg("underscore label", "127.0.0.25", mailFrom("<sender@under_score.example.org>")),
	dlg("domain with two trailing dots", "127.0.0.25", helo("RCPT TO:<alice@example.test..>")),
	dlg("empty domain", "127.0.0.25", mailFrom("<sender@>")),
	dlg("empty local part", "127.0.0.25", mailFrom("<@example.org>")),
	dlg("route to a valid recipient", "127.0.0.25", helo("RCPT TO:<@mx.example.test:alice@example.test>")),
	dlg("route sender", "127.0.0.25", mailFrom("<@relay.example.org:sender@example.org>")),
	dlg("route with two hops", "127.0.0.25", helo("RCPT TO:<@a.example,@b.example:alice@example.test>")),
	dlg("route without address", "127.0.0.25", helo("RCPT TO:<@a.example:>")),
	dlg("quoted local part", "127.0.0.26", mailFrom(`<"sender name"@example.org>`)),
	dlg("quoted recipient local part", "127.0.0.26", helo(`RCPT TO:<"alice"@example.test>`)),
	dlg("quoted whole address", "127.0.0.26", helo(`RCPT TO:<"alice@example.test">`)),
	dlg("quoted percent", "127.0.0.26", helo(`RCPT TO:<"u%elsewhere.example"@example.test>`)),
	dlg("double dot local part", "127.0.0.26", mailFrom("<a..b@example.org>")),
	dlg("leading dot local part", "127.0.0.26", mailFrom("<.a@example.org>")),
	dlg("backslash in local part", "127.0.0.26", mailFrom(`<a\@b@example.org>`)),
	dlg("comment inside brackets", "127.0.0.27", mailFrom("<sender@example.org (comment)>")),
	dlg("comment after brackets", "127.0.0.27", mailFrom("<sender@example.org> (comment)")),
	dlg("phrase inside brackets", "127.0.0.27", mailFrom("<Sender <sender@example.org>>")),
	dlg("two addresses", "127.0.0.27", mailFrom("<a@example.org,b@example.org>")),
	dlg("two recipients in one path", "127.0.0.27", helo("RCPT TO:<alice@example.test, bob@example.test>")),
	dlg("unterminated bracket", "127.0.0.27", mailFrom("<sender@example.org")),
	dlg("unterminated quote", "127.0.0.27", mailFrom(`<"sender@example.org>`)),
	dlg("8-bit domain without SMTPUTF8", "127.0.0.28", mailFrom("<sender@exämple.org>")),
	dlg("8-bit local part without SMTPUTF8", "127.0.0.28", mailFrom("<sändér@example.org>")),
	dlg("SMTPUTF8 sender", "127.0.0.28", []string{"EHLO client.example.org", "MAIL FROM:<sändér@exämple.org> SMTPUTF8", "RCPT TO:<alice@example.test>"}),
	dlg("null sender then recipient", "127.0.0.28", mailFrom("<>")),
	dlg("null sender with spaces", "127.0.0.28", mailFrom("< >")),
	dlg("doubled brackets", "127.0.0.28", mailFrom("<<sender@example.org>>")),
	dlg("null recipient", "127.0.0.29", helo("RCPT TO:<>")),
	dlg("recipient postmaster variants", "127.0.0.29", helo("RCPT TO:<POSTMASTER>", "RCPT TO:<postmaster@example.test>", "RCPT TO:<postmaster@elsewhere.example>", "RCPT TO:<Postmaster@mx.example.test>")),
	dlg("recipient with subdomain trick", "127.0.0.29", helo("RCPT TO:<u@example.test.elsewhere.example>")),
	dlg("sender trailing dot", "127.0.0.29", mailFrom("<sender@example.org.>")),
	dlg("long local part", "127.0.0.29", helo("RCPT TO:<"+strings.Repeat("a", 100)+"@example.test>")),
	dlg("long label", "127.0.0.29", helo("RCPT TO:<u@"+strings.Repeat("a", 64)+".example.test>")),

	// MAIL and RCPT syntax and parameters.
	dlg("MAIL without argument", "127.0.0.30", ehlo("MAIL")),
	dlg("MAIL FROM without colon", "127.0.0.30", ehlo("MAIL FROM <sender@example.org>")),
	dlg("MAIL FROM: empty", "127.0.0.30", ehlo("MAIL FROM:")),
	dlg("MAIL lower case", "127.0.0.30", []string{"ehlo client.example.org", "mail from:<sender@example.org>", "rcpt to:<alice@example.test>", "rset", "quit"}),
	dlg("SIZE not a number", "127.0.0.30", ehlo("MAIL FROM:<sender@example.org> SIZE=abc")),
	dlg("SIZE overflow", "127.0.0.30", ehlo("MAIL FROM:<sender@example.org> SIZE=99999999999999999999")),
	dlg("SIZE within limit", "127.0.0.30", ehlo("MAIL FROM:<sender@example.org> SIZE=1000")),
	dlg("BODY values", "127.0.0.31", ehlo("MAIL FROM:<sender@example.org> BODY=8BITMIME", "RSET", "MAIL FROM:<sender@example.org> BODY=7BIT", "RSET", "MAIL FROM:<sender@example.org> BODY=BINARYMIME")),
	dlg("RET and ENVID", "127.0.0.31", ehlo("MAIL FROM:<sender@example.org> RET=HDRS ENVID=abc+2Bdef", "RSET", "MAIL FROM:<sender@example.org> RET=BOGUS", "MAIL FROM:<sender@example.org> ENVID=a+zz")),
	dlg("unknown MAIL parameter", "127.0.0.31", ehlo("MAIL FROM:<sender@example.org> FOO=bar")),
	dlg("bad address before a bad parameter", "127.0.0.31", ehlo("MAIL FROM:<sender@192.0.2.1> FOO=bar")),
	dlg("RCPT without argument", "127.0.0.32", helo("RCPT")),
	dlg("RCPT TO without colon", "127.0.0.32", helo("RCPT TO <alice@example.test>")),
	dlg("RCPT TO: empty", "127.0.0.32", helo("RCPT TO:")),
	dlg("NOTIFY and ORCPT", "127.0.0.32", helo("RCPT TO:<alice@example.test> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;alice@example.test", "RCPT TO:<info@example.test> NOTIFY=NEVER,SUCCESS", "RCPT TO:<info@example.test> ORCPT=bogus")),
	dlg("unknown RCPT parameter", "127.0.0.32", helo("RCPT TO:<alice@example.test> FOO=bar")),
	dlg("relay denied with parameter", "127.0.0.32", helo("RCPT TO:<u@elsewhere.example> NOTIFY=NEVER")),

	// HELO and EHLO.
	dlg("HELO without argument", "127.0.0.33", []string{"HELO", "EHLO", "HELO client.example.org"}).exact(),
	dlg("HELO with two words", "127.0.0.33", []string{"HELO client example", "MAIL FROM:<sender@example.org>", "RCPT TO:<alice@example.test>"}),
	dlg("EHLO keywords", "127.0.0.33", []string{"EHLO client.example.org"}).exact(),
	dlg("EHLO twice resets", "127.0.0.33", helo("EHLO client.example.org", "RCPT TO:<alice@example.test>")),
	dlg("HELO address literal", "127.0.0.33", []string{"EHLO [192.0.2.1]", "MAIL FROM:<sender@example.org>", "RCPT TO:<alice@example.test>"}),
	dlg("HELO bare IP", "127.0.0.33", []string{"EHLO 192.0.2.1", "MAIL FROM:<sender@example.org>", "RCPT TO:<alice@example.test>"}),

	// Other commands, and commands out of place.
	dlg("unknown commands", "127.0.0.34", ehlo("EXPN alice", "HELP", "TURN", "XCLIENT NAME=x", "XFORWARD NAME=x", "SEND FROM:<a@b.example>")),
	dlg("blank lines", "127.0.0.34", ehlo("", "   ", "NOOP")),
	dlg("AUTH without SASL", "127.0.0.34", ehlo("AUTH PLAIN AGFiAGM=")),
	dlg("STARTTLS without TLS", "127.0.0.34", ehlo("STARTTLS")),
	dlg("NOOP and RSET with arguments", "127.0.0.34", ehlo("NOOP hello", "RSET now")),
	dlg("RSET before HELO", "127.0.0.34", []string{"RSET", "NOOP", "QUIT"}),
	dlg("QUIT with argument", "127.0.0.34", ehlo("QUIT now")),
	dlg("DATA with argument", "127.0.0.35", helo("RCPT TO:<alice@example.test>", "DATA now")),
	dlg("DATA before MAIL", "127.0.0.35", ehlo("DATA")),
	dlg("DATA before HELO", "127.0.0.35", []string{"DATA"}),
	dlg("RCPT before HELO", "127.0.0.35", []string{"RCPT TO:<alice@example.test>"}),
	dlg("bare LF command", "127.0.0.35", ehlo("RAW:NOOP\n", "NOOP")),
	dlg("too many errors", "127.0.0.36", ehlo("FROB", "FROB", "FROB", "FROB", "FROB", "FROB", "FROB", "FROB", "FROB", "FROB",
		"FROB", "FROB", "FROB", "FROB", "FROB", "FROB", "FROB", "FROB", "FROB", "FROB", "FROB", "NOOP")),
	dlg("mixed recipients then DATA", "127.0.0.36", helo("RCPT TO:<u@elsewhere.example>", "RCPT TO:<alice@example.test>", "RCPT TO:<mallory@example.test>", "DATA", "DATA-BODY:Subject: t\r\n\r\nHi.\r\n")),
	dlg("message too big", "127.0.0.36", helo("RCPT TO:<alice@example.test>", "DATA", "DATA-BODY:"+bigBody, "NOOP")),
	dlg("second message", "127.0.0.36", helo("RCPT TO:<alice@example.test>", "DATA", "DATA-BODY:Subject: 1\r\n\r\n1\r\n", "MAIL FROM:<sender@example.org>", "RCPT TO:<info@example.test>", "DATA", "DATA-BODY:Subject: 2\r\n\r\n2\r\n")),
	dlg("body with dots", "127.0.0.36", helo("RCPT TO:<alice@example.test>", "DATA", "DATA-BODY:Subject: dots\r\n\r\n.\r\n..\r\n.x\r\n")),
	dlg("null sender one recipient", "127.0.0.36", []string{"EHLO client.example.org", "MAIL FROM:<>", "RCPT TO:<alice@example.test>", "DATA", "DATA-BODY:Subject: bounce\r\n\r\nx\r\n"}),

	// BDAT (RFC 3030).
	dlg("BDAT LAST", "127.0.0.37", helo("RCPT TO:<alice@example.test>", bdat("Subject: t\r\n\r\nHello.\r\n", true))),
	dlg("BDAT chunks", "127.0.0.37", helo("RCPT TO:<alice@example.test>", bdat("Subject: t\r\n", false), bdat("\r\nHello.\r\n", false), bdat("", true))),
	dlg("BDAT before MAIL", "127.0.0.37", ehlo("RAW:BDAT 5 LAST\r\nhello", "NOOP")),
	dlg("BDAT before RCPT", "127.0.0.37", helo("RAW:BDAT 5 LAST\r\nhello", "NOOP")),
	dlg("BDAT without valid recipients", "127.0.0.37", helo("RCPT TO:<mallory@example.test>", "RAW:BDAT 5 LAST\r\nhello", "NOOP")),
	dlg("BDAT syntax", "127.0.0.37", helo("RCPT TO:<alice@example.test>", "BDAT", "BDAT x", "RAW:BDAT 5 FOO\r\nhello", "NOOP")),
	dlg("DATA after BDAT", "127.0.0.38", helo("RCPT TO:<alice@example.test>", "RAW:BDAT 3\r\nabc", "DATA", "NOOP")),
	dlg("MAIL after BDAT", "127.0.0.38", helo("RCPT TO:<alice@example.test>", "RAW:BDAT 3\r\nabc", "MAIL FROM:<sender@example.org>", "RSET", "MAIL FROM:<sender@example.org>")),
	dlg("BDAT multi-recipient bounce", "127.0.0.38", []string{"EHLO client.example.org", "MAIL FROM:<>", "RCPT TO:<alice@example.test>", "RCPT TO:<info@example.test>", "RAW:BDAT 3 LAST\r\nabc", "NOOP"}),
	dlg("BDAT too big", "127.0.0.38", helo("RCPT TO:<alice@example.test>", bdat(bigBody, true), "NOOP")),

	// Pipelining (RFC 2920) and reject_unauth_pipelining.
	dlg("pipelining after EHLO", "127.0.0.40", []string{"EHLO client.example.org", "PIPE:MAIL FROM:<sender@example.org>\nRCPT TO:<alice@example.test>\nDATA", "DATA-BODY:Subject: t\r\n\r\nx\r\n"}),
	dlg("pipelining after HELO", "127.0.0.40", []string{"HELO client.example.org", "PIPE:MAIL FROM:<sender@example.org>\nRCPT TO:<alice@example.test>\nDATA"}),
	dlg("pipelined MAIL and RCPT after HELO, DATA alone", "127.0.0.40", []string{"HELO client.example.org", "PIPE:MAIL FROM:<sender@example.org>\nRCPT TO:<alice@example.test>", "DATA"}),
	dlg("pipelined EHLO and MAIL", "127.0.0.40", []string{"PIPE:EHLO client.example.org\nMAIL FROM:<sender@example.org>", "RCPT TO:<alice@example.test>", "DATA"}),
	dlg("pipelined NOOP", "127.0.0.41", []string{"EHLO client.example.org", "PIPE:NOOP\nMAIL FROM:<sender@example.org>", "RCPT TO:<alice@example.test>", "DATA"}),
	dlg("pipelined RSET is allowed", "127.0.0.41", []string{"EHLO client.example.org", "PIPE:RSET\nMAIL FROM:<sender@example.org>\nRCPT TO:<alice@example.test>", "DATA"}),
	dlg("pipelined VRFY", "127.0.0.41", []string{"EHLO client.example.org", "PIPE:VRFY alice@example.test\nMAIL FROM:<sender@example.org>", "RCPT TO:<alice@example.test>", "DATA"}),
	dlg("command after DATA in the group", "127.0.0.41", []string{"EHLO client.example.org", "MAIL FROM:<sender@example.org>", "RCPT TO:<alice@example.test>", "PIPE:DATA\nSubject: t", "DATA-BODY:\r\nx\r\n"}),
	dlg("pipelining before HELO", "127.0.0.42", []string{"PIPE:NOOP\nHELO client.example.org", "MAIL FROM:<sender@example.org>", "RCPT TO:<alice@example.test>", "DATA"}),
	dlg("BDAT after HELO", "127.0.0.42", []string{"HELO client.example.org", "MAIL FROM:<sender@example.org>", "RCPT TO:<alice@example.test>", "RAW:BDAT 5 LAST\r\nhello", "NOOP"}),
	dlg("pipelined BDAT after EHLO", "127.0.0.42", helo("RAW2:RCPT TO:<alice@example.test>\r\nBDAT 5 LAST\r\nhello")),
	dlg("pipelining from mynetworks after HELO", "127.0.0.1", []string{"HELO client.example.org", "PIPE:MAIL FROM:<sender@example.org>\nRCPT TO:<alice@example.test>\nDATA"}),
	dlg("pipelined QUIT", "127.0.0.43", []string{"EHLO client.example.org", "PIPE:MAIL FROM:<sender@example.org>\nQUIT"}),

	// VRFY and ETRN, more.
	dlg("VRFY forms", "127.0.0.44", ehlo("VRFY alice", "VRFY <alice@example.test> extra", "VRFY u@192.0.2.1", "VRFY Alice <alice@example.test>", "VRFY <u%elsewhere.example@example.test>")),
	dlg("VRFY soft errors", "127.0.0.44", ehlo("VRFY bob@example.test", "VRFY blocked@example.test")),
	dlg("ETRN syntax", "127.0.0.45", ehlo("ETRN example.test extra", "ETRN 192.0.2.1", "ETRN [127.0.0.1]")),
	dlg("ETRN rejected client", "127.0.0.66", ehlo("ETRN example.test")),
	dlg("ETRN deferred client", "127.0.0.67", ehlo("ETRN example.test")),
}

// bdat is a BDAT command with its chunk.
func bdat(chunk string, last bool) string {
	cmd := "RAW:BDAT " + itoa(len(chunk))
	if last {
		cmd += " LAST"
	}
	return cmd + "\r\n" + chunk
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}

// diffConfigs are the configurations of TestDifferentialPostfix.
var diffConfigs = []diffConfig{
	// Postfix sleeps smtpd_error_sleep_time after each error past
	// smtpd_soft_error_limit (not implemented by mxkit); the replies are
	// the same without the sleep.
	{name: "base", dialogues: baseDialogues, postfixCF: "smtpd_error_sleep_time = 0s\n"},
	{name: "early reject", mainCF: "smtpd_delay_reject = no\n", dialogues: []dialogue{
		dlg("rejected at connect", "127.0.0.66", ehlo("MAIL FROM:<sender@example.org>", "RCPT TO:<alice@example.test>", "VRFY alice", "NOOP", "RSET", "QUIT")),
		dlg("deferred at connect", "127.0.0.67", ehlo("MAIL FROM:<sender@example.org>", "QUIT")),
		dlg("early helo reject", "127.0.0.50", []string{"EHLO client", "MAIL FROM:<sender@example.org>", "EHLO a..b", "EHLO client.example.org", "MAIL FROM:<sender@example.org>"}),
		dlg("early sender reject", "127.0.0.50", ehlo("MAIL FROM:<spammer@example.org>", "MAIL FROM:<sender>", "MAIL FROM:<sender@example.org>", "RCPT TO:<alice@example.test>")),
		dlg("early unlisted sender", "127.0.0.50", ehlo("MAIL FROM:<nobody@example.test>", "MAIL FROM:<u%x@example.org>", "RCPT TO:<alice@example.test>")),
		dlg("early routed sender", "127.0.0.50", ehlo("MAIL FROM:<u@x.example@example.org>", "RCPT TO:<alice@example.test>")),
	}},
	{name: "one smtpd", postfixCF: "default_process_limit = 1\n", dialogues: []dialogue{
		dlg("client speaks before the greeting", "127.0.0.42", []string{"EARLY:EHLO client.example.org", "MAIL FROM:<sender@example.org>", "RCPT TO:<alice@example.test>", "DATA"}),
		dlg("client sends HELO before the greeting", "127.0.0.42", []string{"EARLY:HELO client.example.org", "MAIL FROM:<sender@example.org>", "RCPT TO:<alice@example.test>", "RAW:BDAT 5 LAST\r\nhello"}),
		dlg("no early input", "127.0.0.43", []string{"EHLO client.example.org", "MAIL FROM:<sender@example.org>", "RCPT TO:<alice@example.test>", "DATA", "DATA-BODY:Subject: t\r\n\r\nx\r\n"}),
	}},
	{name: "vrfy disabled", mainCF: "disable_vrfy_command = yes\nsmtpd_helo_required = no\n", dialogues: []dialogue{
		dlg("EHLO without VRFY", "127.0.0.51", []string{"EHLO client.example.org"}).exact(),
		dlg("VRFY refused", "127.0.0.51", ehlo("VRFY alice@example.test", "VRFY")),
		dlg("no HELO needed", "127.0.0.51", []string{"MAIL FROM:<sender@example.org>", "RCPT TO:<alice@example.test>", "DATA", "DATA-BODY:Subject: t\r\n\r\nx\r\n"}),
		dlg("no HELO, pipelined", "127.0.0.51", []string{"PIPE:MAIL FROM:<sender@example.org>\nRCPT TO:<alice@example.test>", "DATA"}),
	}},
	{name: "lax envelopes", mainCF: "strict_rfc821_envelopes = no\n", dialogues: []dialogue{
		dlg("sender without brackets", "127.0.0.52", mailFrom("sender@example.org")),
		dlg("recipient without brackets", "127.0.0.52", helo("RCPT TO:alice@example.test")),
		dlg("phrase", "127.0.0.52", mailFrom("<Sender <sender@example.org>>")),
		dlg("comment", "127.0.0.52", mailFrom("<sender@example.org (comment)>")),
		dlg("two addresses", "127.0.0.52", mailFrom("<a@example.org,b@example.org>")),
		dlg("routed recipient", "127.0.0.52", helo("RCPT TO:u%elsewhere.example@example.test")),
		dlg("bare IP recipient", "127.0.0.52", helo("RCPT TO:<u@192.0.2.1>")),
		dlg("empty local part", "127.0.0.52", mailFrom("<@example.org>")),
	}},
}
