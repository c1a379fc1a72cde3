package smtpcmd

import (
	"math"
	"net/netip"
	"strconv"
	"strings"

	"github.com/mxkit/mxkit/smtppolicy"
)

// Command is one SMTP command line: the verb in upper case and the rest of
// the line, with the spaces around it removed.
type Command struct {
	Verb string
	Arg  string
}

// ParseCommand splits a command line (without CRLF) into its verb and
// argument. The verb is upper-cased; an empty or blank line gives an empty
// verb.
func ParseCommand(line string) Command {
	line = strings.TrimRight(line, "\r\n")
	line = strings.Trim(line, " \t")
	verb, arg, _ := strings.Cut(line, " ")
	if i := strings.IndexByte(verb, '\t'); i >= 0 {
		verb, arg = verb[:i], verb[i+1:]+" "+arg
	}
	return Command{Verb: upperASCII(verb), Arg: strings.Trim(arg, " \t")}
}

func upperASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'a' && c <= 'z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if b[j] >= 'a' && b[j] <= 'z' {
					b[j] -= 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// PathKind says which command a path comes from.
type PathKind uint8

// The path kinds.
const (
	MailPath PathKind = iota + 1 // MAIL FROM: reverse-path, may be <>
	RcptPath                     // RCPT TO: forward-path
)

// Options changes how ParsePathOptions parses.
type Options struct {
	// Strict requires <...> around the address and refuses RFC 822
	// phrases and comments (strict_rfc821_envelopes = yes).
	Strict bool
	// UTF8 allows 8-bit (UTF-8) addresses (RFC 6531). For a MAIL path the
	// SMTPUTF8 parameter must be present as well.
	UTF8 bool
}

// Path is a parsed MAIL FROM or RCPT TO argument.
type Path struct {
	// Addr is the address in internal form: the local part unquoted,
	// without the source route; "" for the null sender <>.
	Addr string
	// Raw is the address as the client wrote it (quoted local part kept),
	// without angle brackets, phrase or source route.
	Raw string
	// Route is the RFC 5321 source route ("@a,@b"), or "".
	Route string
	// Params are the ESMTP parameters.
	Params Params
}

// Params are the ESMTP parameters of MAIL and RCPT.
type Params struct {
	Size     int64  // SIZE= (RFC 1870); 0 when absent
	HasSize  bool   // SIZE= was given
	Body     string // BODY=: "7BIT", "8BITMIME" or "" (RFC 6152)
	SMTPUTF8 bool   // SMTPUTF8 (RFC 6531)
	Ret      string // RET=: "FULL" or "HDRS" (RFC 3461)
	EnvID    string // ENVID=, xtext as sent
	Auth     string // AUTH= (RFC 4954), as sent
	Notify   []string
	ORcpt    string // ORCPT=, "type;xtext" as sent
	// Raw are the parameters as sent, separated by single spaces.
	Raw string
}

// Postfix's replies to syntax errors (src/smtpd/smtpd.c).
var (
	replyMailSyntax = rep(501, 5, 5, 4, "Syntax: MAIL FROM:<address>")
	replyRcptSyntax = rep(501, 5, 5, 4, "Syntax: RCPT TO:<address>")
	replyBadSender  = rep(501, 5, 1, 7, "Bad sender address syntax")
	replyBadRcpt    = rep(501, 5, 1, 3, "Bad recipient address syntax")
	replyBadSize    = rep(501, 5, 5, 4, "Bad message size syntax")
	replySizeTooBig = rep(552, 5, 3, 4, "Message size exceeds file system imposed limit")
	replyBadRet     = rep(501, 5, 5, 4, "Bad RET parameter syntax")
	replyBadEnvID   = rep(501, 5, 5, 4, "Bad ENVID parameter syntax")
	replyBadNotify  = rep(501, 5, 5, 4, "Error: Bad NOTIFY parameter syntax")
	replyBadORcpt   = rep(501, 5, 5, 4, "Error: Bad ORCPT parameter syntax")
)

func rep(code, a, b, c int, text string) smtppolicy.Reply {
	return smtppolicy.Reply{Code: code, Enhanced: smtppolicy.EnhancedCode{a, b, c}, Text: text}
}

func replyErr(r smtppolicy.Reply) error { return &smtppolicy.ReplyError{Reply: r} }

// ParsePath parses the argument of MAIL ("FROM:<addr> params") or RCPT
// ("TO:<addr> params") as Postfix does. Errors are *smtppolicy.ReplyError
// carrying Postfix's reply. 8-bit addresses are refused; see
// ParsePathOptions.
func ParsePath(arg string, kind PathKind, strict bool) (Path, error) {
	return ParsePathOptions(arg, kind, Options{Strict: strict})
}

// ParsePathOptions is ParsePath with options.
func ParsePathOptions(arg string, kind PathKind, o Options) (Path, error) {
	syntax, bad := replyMailSyntax, replyBadSender
	keyword := "from:"
	if kind == RcptPath {
		syntax, bad, keyword = replyRcptSyntax, replyBadRcpt, "to:"
	}
	toks := tokenize(arg)
	if len(toks) < 2 || !strings.EqualFold(toks[0].text, keyword) {
		return Path{}, replyErr(syntax)
	}
	if !o.Strict {
		toks = joinPhrase(toks)
	}
	if toks[1].bad {
		return Path{}, replyErr(bad)
	}
	params, perr := parseParams(toks[2:], kind)
	utf8 := o.UTF8 && (kind == RcptPath || params.SMTPUTF8)
	p, ok := extractAddr(toks[1].text, kind, o.Strict, utf8)
	if !ok {
		return Path{}, replyErr(bad)
	}
	if perr != nil {
		return Path{}, perr
	}
	if params.SMTPUTF8 && !o.UTF8 {
		return Path{}, replyErr(rep(555, 5, 5, 4, "Unsupported option: SMTPUTF8"))
	}
	p.Params = params
	return p, nil
}

// joinPhrase joins an RFC 822 phrase written with spaces before its
// <address> ("Joe Q <a@b>") into one token. Postfix would take the first
// word as the address and refuse "<a@b>" as an unsupported option; this is
// the one place where we accept more than Postfix does.
func joinPhrase(toks []token) []token {
	t := toks[1].text
	if t == "" || t[0] == '<' || strings.ContainsAny(t, "@=<") {
		return toks
	}
	for j := 2; j < len(toks); j++ {
		w := toks[j].text
		if strings.HasPrefix(w, "<") {
			parts := make([]string, 0, j)
			bad := false
			for _, x := range toks[1 : j+1] {
				parts = append(parts, x.text)
				bad = bad || x.bad
			}
			out := append([]token{toks[0], {strings.Join(parts, " "), bad}}, toks[j+1:]...)
			return out
		}
		if strings.ContainsAny(w, "@=") {
			break
		}
	}
	return toks
}

type token struct {
	text string
	bad  bool // an unterminated <...> or "..."
}

// tokenize splits an SMTP command argument the way Postfix's smtpd_token
// does: whitespace separates tokens, except inside <...> and "..." (which
// nest), a backslash quotes the next byte, and "from:" / "to:" end a token.
func tokenize(s string) []token {
	var toks []token
	var b strings.Builder
	bad := false
	flush := func() {
		if b.Len() > 0 || bad {
			toks = append(toks, token{b.String(), bad})
		}
		b.Reset()
		bad = false
	}
	for i := 0; i < len(s); {
		c := s[i]
		i++
		switch {
		case c == ' ' || c == '\t':
			flush()
		case c == '<' || c == '"':
			var ok bool
			i, ok = quoted(s, i, c, &b)
			if !ok {
				bad = true
			}
		case c == ':':
			b.WriteByte(c)
			if t := b.String(); strings.EqualFold(t, "to:") || strings.EqualFold(t, "from:") {
				flush()
			}
		case c == '\\':
			b.WriteByte(c)
			if i < len(s) {
				b.WriteByte(s[i])
				i++
			}
		default:
			b.WriteByte(c)
		}
	}
	flush()
	return toks
}

// quoted copies a <...> or "..." group starting after the opening byte at
// s[i-1]; it returns the index after the group and whether it was closed.
func quoted(s string, i int, start byte, b *strings.Builder) (int, bool) {
	last := byte('"')
	if start == '<' {
		last = '>'
	}
	stack := []byte{last}
	b.WriteByte(start)
	for i < len(s) {
		c := s[i]
		i++
		b.WriteByte(c)
		want := stack[len(stack)-1]
		switch {
		case c == '\\':
			if i < len(s) {
				b.WriteByte(s[i])
				i++
			}
		case c == want:
			stack = stack[:len(stack)-1]
			if len(stack) == 0 {
				return i, true
			}
		case c == '"':
			stack = append(stack, '"')
		case c == '<' && want == '>':
			stack = append(stack, '>')
		}
	}
	return i, false
}

// extractAddr is Postfix's extract_addr with RFC 5321 syntax checks.
func extractAddr(tok string, kind PathKind, strict, utf8 bool) (Path, bool) {
	inner, bracketed := tok, false
	if len(tok) >= 2 && tok[0] == '<' && tok[len(tok)-1] == '>' {
		inner, bracketed = tok[1:len(tok)-1], true
	}
	if strict && !bracketed {
		return Path{}, false
	}
	for i := 0; i < len(inner); i++ {
		if c := inner[i]; c < 0x20 || c == 0x7f || (c >= 0x80 && !utf8) {
			return Path{}, false
		}
	}
	if !strict {
		// RFC 822 phrases and comments: "Name <a@b>", "a@b (comment)".
		var ok bool
		if inner, ok = stripPhrase(inner); !ok {
			return Path{}, false
		}
	}
	var p Path
	// RFC 5321 §4.1.2 / App. C: the source route is kept aside.
	if len(inner) > 0 && inner[0] == '@' {
		colon := strings.IndexByte(inner, ':')
		if colon < 0 {
			return Path{}, false
		}
		p.Route, inner = inner[:colon], inner[colon+1:]
		if !validRoute(p.Route) {
			return Path{}, false
		}
	}
	if inner == "" {
		if kind == MailPath && p.Route == "" {
			return p, true
		}
		return Path{}, false
	}
	local, domain, hasAt := splitAt(inner)
	if !validLocal(local, strict) || unquote(local) == "" {
		return Path{}, false
	}
	if !hasAt {
		// A bare local part: Postfix appends $myorigin. RFC 5321 §4.1.1.3
		// requires <postmaster> to be accepted even in strict mode.
		if strict && !(kind == RcptPath && strings.EqualFold(local, "postmaster")) {
			return Path{}, false
		}
		p.Raw, p.Addr = inner, unquote(local)
		return p, true
	}
	if !validDomain(domain, strict) {
		return Path{}, false
	}
	p.Raw = inner
	p.Addr = unquote(local) + "@" + domain
	return p, true
}

// stripPhrase removes an RFC 822 phrase and angle brackets
// ("Name <a@b>" → "a@b") and trailing comments. It reports false when the
// text holds more than one address.
func stripPhrase(s string) (string, bool) {
	s = stripComments(s)
	lt := indexOutsideQuotes(s, '<')
	if lt < 0 {
		return strings.TrimSpace(s), true
	}
	gt := indexOutsideQuotes(s[lt:], '>')
	if gt < 0 {
		return "", false
	}
	addr := s[lt+1 : lt+gt]
	phrase, rest := s[:lt], strings.TrimSpace(s[lt+gt+1:])
	if rest != "" || strings.ContainsAny(phrase, "<>@,;:[]") && !isQuotedPhrase(phrase) {
		return "", false
	}
	if indexOutsideQuotes(addr, '<') >= 0 {
		return "", false
	}
	return strings.TrimSpace(addr), true
}

func isQuotedPhrase(p string) bool {
	p = strings.TrimSpace(p)
	return len(p) >= 2 && p[0] == '"' && p[len(p)-1] == '"'
}

func stripComments(s string) string {
	if !strings.Contains(s, "(") {
		return s
	}
	var b strings.Builder
	depth, inQ := 0, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s):
			if depth == 0 {
				b.WriteByte(c)
				b.WriteByte(s[i+1])
			}
			i++
		case inQ:
			b.WriteByte(c)
			if c == '"' {
				inQ = false
			}
		case c == '"' && depth == 0:
			inQ = true
			b.WriteByte(c)
		case c == '(':
			depth++
		case c == ')' && depth > 0:
			depth--
		case depth == 0:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func indexOutsideQuotes(s string, want byte) int {
	inQ := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			i++
		case c == '"':
			inQ = !inQ
		case c == want && !inQ:
			return i
		}
	}
	return -1
}

// splitAt splits at the last '@' outside a quoted local part.
func splitAt(s string) (local, domain string, ok bool) {
	inQ, at := false, -1
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			i++
		case c == '"':
			inQ = !inQ
		case c == '@' && !inQ:
			at = i
		}
	}
	if at < 0 {
		return s, "", false
	}
	return s[:at], s[at+1:], true
}

func validRoute(r string) bool {
	for _, hop := range strings.Split(r, ",") {
		if len(hop) < 2 || hop[0] != '@' || !validDomain(hop[1:], true) {
			return false
		}
	}
	return true
}

// atext is RFC 5322 §3.2.3 atext.
func atext(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c >= 0x80:
		return true
	}
	return strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0
}

// validLocal checks an RFC 5321 §4.1.2 Local-part: a Dot-string or a
// Quoted-string. Without strict, empty dot-separated atoms are allowed
// ("a..b", "a."), as Postfix's RFC 822 tokenizer allows them.
func validLocal(l string, strict bool) bool {
	if l == "" {
		return false
	}
	if l[0] == '"' {
		if len(l) < 2 || l[len(l)-1] != '"' {
			return false
		}
		for i := 1; i < len(l)-1; i++ {
			c := l[i]
			switch {
			case c == '\\':
				i++
				if i >= len(l)-1 {
					return false
				}
			case c == '"':
				return false
			}
		}
		return true
	}
	for _, atom := range strings.Split(l, ".") {
		if atom == "" {
			if strict {
				return false
			}
			continue
		}
		for i := 0; i < len(atom); i++ {
			if !atext(atom[i]) {
				return false
			}
		}
	}
	return true
}

// validDomain checks an RFC 5321 §4.1.2 Domain or address literal
// (§4.1.3). One trailing dot is accepted. Without strict, '_' is allowed
// in labels.
func validDomain(d string, strict bool) bool {
	if d == "" {
		return false
	}
	if d[0] == '[' {
		if len(d) < 3 || d[len(d)-1] != ']' {
			return false
		}
		lit := d[1 : len(d)-1]
		if tag, rest, ok := strings.Cut(lit, ":"); ok {
			if strings.EqualFold(tag, "IPv6") {
				a, err := netip.ParseAddr(rest)
				return err == nil && a.Is6() && a.Zone() == ""
			}
			// General-address-literal: Standardized-tag ":" 1*dcontent.
			if tag == "" || rest == "" || !validLabel(tag, true) {
				return false
			}
			for i := 0; i < len(rest); i++ {
				if c := rest[i]; c < 33 || c > 126 || c == '[' || c == ']' || c == '\\' {
					return false
				}
			}
			return true
		}
		a, err := netip.ParseAddr(lit)
		return err == nil && a.Is4()
	}
	d = strings.TrimSuffix(d, ".")
	if d == "" || len(d) > 255 {
		return false
	}
	for _, label := range strings.Split(d, ".") {
		if !validLabel(label, strict) {
			return false
		}
	}
	return true
}

func validLabel(l string, strict bool) bool {
	if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
		return false
	}
	for i := 0; i < len(l); i++ {
		switch c := l[i]; {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c >= 0x80:
		case c == '_' && !strict:
		default:
			return false
		}
	}
	return true
}

// unquote removes the quoting of a quoted local part: "\"a b\"" → "a b".
func unquote(l string) string {
	if !strings.ContainsAny(l, "\"\\") {
		return l
	}
	var b strings.Builder
	for i := 0; i < len(l); i++ {
		switch c := l[i]; c {
		case '"':
		case '\\':
			if i+1 < len(l) {
				i++
				b.WriteByte(l[i])
			}
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// parseParams parses ESMTP parameters in Postfix's order and with its
// replies: the first bad parameter decides.
func parseParams(toks []token, kind PathKind) (Params, error) {
	var p Params
	raw := make([]string, 0, len(toks))
	envid, orcpt := false, false
	for _, t := range toks {
		arg := t.text
		raw = append(raw, arg)
		name, val, hasVal := strings.Cut(arg, "=")
		up := strings.ToUpper(name)
		unsupported := replyErr(rep(555, 5, 5, 4, "Unsupported option: "+arg))
		if kind == MailPath {
			switch {
			case up == "BODY" && hasVal:
				v := strings.ToUpper(val)
				if v != "7BIT" && v != "8BITMIME" {
					return p, unsupported
				}
				p.Body = v
			case up == "SIZE" && hasVal:
				if val == "" || strings.Trim(val, "0123456789") != "" {
					return p, replyErr(replyBadSize)
				}
				n, err := strconv.ParseInt(val, 10, 64)
				if err != nil || n == math.MaxInt64 {
					return p, replyErr(replySizeTooBig)
				}
				p.Size, p.HasSize = n, true
			case up == "SMTPUTF8" && !hasVal:
				p.SMTPUTF8 = true
			case up == "AUTH" && hasVal:
				p.Auth = val
			case up == "RET" && hasVal:
				v := strings.ToUpper(val)
				if p.Ret != "" || (v != "FULL" && v != "HDRS") {
					return p, replyErr(replyBadRet)
				}
				p.Ret = v
			case up == "ENVID" && hasVal:
				if envid || !validXtext(val) {
					return p, replyErr(replyBadEnvID)
				}
				envid, p.EnvID = true, val
			default:
				return p, unsupported
			}
			continue
		}
		switch {
		case up == "NOTIFY" && hasVal:
			if p.Notify != nil || !validNotify(val) {
				return p, replyErr(replyBadNotify)
			}
			p.Notify = strings.Split(strings.ToUpper(val), ",")
		case up == "ORCPT" && hasVal:
			typ, x, ok := strings.Cut(val, ";")
			if orcpt || !ok || typ == "" || !validXtext(x) {
				return p, replyErr(replyBadORcpt)
			}
			orcpt, p.ORcpt = true, val
		default:
			return p, unsupported
		}
	}
	p.Raw = strings.Join(raw, " ")
	return p, nil
}

// validXtext checks RFC 3461 §4 xtext whose decoded form is printable
// ASCII (Postfix xtext_unquote + allprint).
func validXtext(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '+':
			if i+2 >= len(s) {
				return false
			}
			v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
			if err != nil || v < 0x20 || v > 0x7e {
				return false
			}
			i += 2
		case c < 33 || c > 126 || c == '=':
			return false
		}
	}
	return true
}

func validNotify(v string) bool {
	seen := map[string]bool{}
	for _, k := range strings.Split(strings.ToUpper(v), ",") {
		switch k {
		case "NEVER", "SUCCESS", "FAILURE", "DELAY":
		default:
			return false
		}
		if seen[k] {
			return false
		}
		seen[k] = true
	}
	return !seen["NEVER"] || len(seen) == 1
}
