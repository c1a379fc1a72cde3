// Package dsncode recognises RFC 3463 enhanced status codes ("5.7.1"). It
// is the one leaf that validates, splits and parses them for smtppolicy
// (reply fix-ups, access and policy actions), relaymaps (access and
// transport values), tlspolicy, the queue and its deliverers, and the SMTP
// dialogue reader of the tests.
//
// The rules are Postfix's dsn_valid(3) and dsn_split(3): class 2, 4 or 5,
// subject and detail of one to three digits, and, at the start of a text,
// the code ends at white space or at the end of the text.
package dsncode

import (
	"strconv"
	"strings"
)

// Valid reports whether s is an enhanced status code "c.sss.ddd" with class
// 2, 4 or 5 (RFC 3463 §2: subject and detail up to three digits).
func Valid(s string) bool { return codeLen(s) == len(s) && len(s) > 0 }

// Parse returns the class, subject and detail of the enhanced status code
// s, and whether s is one (Valid).
func Parse(s string) (code [3]int, ok bool) {
	if !Valid(s) {
		return code, false
	}
	code[0] = int(s[0] - '0')
	i := 1
	for _, dst := range []*int{&code[1], &code[2]} {
		i++ // the dot
		for ; i < len(s) && s[i] != '.'; i++ {
			*dst = *dst*10 + int(s[i]-'0')
		}
	}
	return code, true
}

// Prefix returns the enhanced status code at the start of text when it
// is followed by white space or the end of text (Postfix's dsn_valid on
// a reply's text), or "".
func Prefix(text string) string {
	n := codeLen(text)
	if n == 0 || (n < len(text) && !isSpace(text[n])) {
		return ""
	}
	return text[:n]
}

// Split splits "4.3.2 text" into the enhanced status code and the text,
// as Postfix's dsn_split does: white space before the code and between
// code and text is dropped. Without a leading code, code is "" and rest
// is text without its leading white space.
func Split(text string) (code, rest string) {
	text = strings.TrimLeft(text, spaces)
	code = Prefix(text)
	return code, strings.TrimLeft(text[len(code):], spaces)
}

// Class returns the class digit of an enhanced status code for the SMTP
// reply code: '2' for 2xx, '5' for 5xx, '4' for anything else.
func Class(replyCode int) byte {
	switch replyCode / 100 {
	case 2:
		return '2'
	case 5:
		return '5'
	}
	return '4'
}

// OfReply returns the enhanced status code that starts a reply's text
// (the text after the three-digit code, "5.1.1 User unknown") when it has
// the class class, else class.0.0: a reply without a code, or with one of
// another class, gets the generic code of its class (RFC 3463 §3.1).
func OfReply(class byte, text string) string {
	if c := Prefix(strings.TrimLeft(text, spaces)); c != "" && c[0] == class {
		return c
	}
	return string(class) + ".0.0"
}

// spaces is Postfix's ISSPACE set.
const spaces = " \t\n\v\f\r"

func isSpace(c byte) bool { return strings.IndexByte(spaces, c) >= 0 }

// codeLen returns the length of the enhanced status code at the start of
// s, or 0: class, dot, 1-3 digits, dot, 1-3 digits, and no further digit.
func codeLen(s string) int {
	if len(s) < 5 || strings.IndexByte("245", s[0]) < 0 || s[1] != '.' {
		return 0
	}
	i := 2
	for part := 0; part < 2; part++ {
		n := 0
		for i+n < len(s) && s[i+n] >= '0' && s[i+n] <= '9' {
			n++
		}
		if n < 1 || n > 3 {
			return 0
		}
		i += n
		if part == 0 {
			if i >= len(s) || s[i] != '.' {
				return 0
			}
			i++
		}
	}
	return i
}

// OneLine formats a reply read with net/textproto (code, and the lines
// of its text joined with "\n") on one line, as Postfix quotes a remote
// server's reply: "550 5.1.1 User unknown". Continuation lines lose a
// repeated enhanced status code.
func OneLine(code int, msg string) string {
	lines := strings.Split(msg, "\n")
	if first := Prefix(lines[0]); first != "" {
		for i := 1; i < len(lines); i++ {
			lines[i] = strings.TrimPrefix(lines[i], first+" ")
		}
	}
	return strings.TrimSpace(strconv.Itoa(code) + " " + strings.Join(lines, " "))
}
