package smtpcmd

import (
	"math"
	"net/netip"
	"strconv"
	"strings"
	utf8pkg "unicode/utf8"

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

// extractAddr is Postfix's extract_addr (src/smtpd/smtpd.c): the angle
// brackets and a source route are removed, the rest is parsed by the RFC
// 822 parser (parse822), and the address is refused when there is more
// than one, when strict and there is anything but the address or the
// argument did not start with '<', when it is empty and not allowed to
// be, when strict and it starts with '@', or when its domain is not a
// valid host name or address literal (smtpd_check_addr, by
// trivial-rewrite's rules). Everything else, unqualified local parts and
// sender-specified routing ('%', '!', a second '@') included, is left to
// the restrictions, as Postfix does.
func extractAddr(tok string, kind PathKind, strict, utf8 bool) (Path, bool) {
	for i := 0; i < len(tok); i++ {
		if c := tok[i]; c < 0x20 || c == 0x7f {
			return Path{}, false
		}
	}
	text := tok
	if len(tok) >= 2 && tok[0] == '<' && tok[len(tok)-1] == '>' {
		text = tok[1 : len(tok)-1]
	}
	var p Path
	// RFC 5321 §4.1.2 / App. C: the deprecated source route is dropped.
	if len(text) > 0 && text[0] == '@' {
		if colon := strings.IndexByte(text, ':'); colon >= 0 {
			p.Route, text = text[:colon], text[colon+1:]
		}
	}
	var addr *tok822
	naddr, nonAddr := 0, 0
	for t := parse822(text); t != nil; t = t.next {
		switch t.typ {
		case tokAddr:
			addr = t
			naddr++
		case '<', '>':
		default:
			nonAddr++
		}
	}
	if naddr > 1 || strict && (nonAddr > 0 || tok == "" || tok[0] != '<') {
		return Path{}, false
	}
	var b strings.Builder
	if addr != nil {
		internalize822(&b, addr.head)
	}
	internal := b.String()
	switch {
	case internal == "":
		if kind == MailPath {
			return p, true
		}
		return Path{}, false
	case strict && internal[0] == '@':
		return Path{}, false
	case !validResolvedDomain(internal, utf8):
		return Path{}, false
	}
	p.Addr = internal
	local, domain, hasAt := internal, "", false
	if i := strings.LastIndexByte(internal, '@'); i >= 0 {
		local, domain, hasAt = internal[:i], internal[i+1:], true
	}
	p.Raw = quoteLocal(local)
	if hasAt {
		p.Raw += "@" + domain
	}
	return p, true
}

// quoteLocal returns a local part as an RFC 5321 Dot-string when it is
// one, or as a Quoted-string.
func quoteLocal(l string) string {
	plain := l != ""
	for i := 0; i < len(l) && plain; i++ {
		switch c := l[i]; {
		case c >= 0x80, c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-/=?^_`{|}~.", c) >= 0:
		default:
			plain = false
		}
	}
	if plain && l[0] != '.' && l[len(l)-1] != '.' && !strings.Contains(l, "..") {
		return l
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(l); i++ {
		if c := l[i]; c == '"' || c == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(l[i])
	}
	b.WriteByte('"')
	return b.String()
}

// validResolvedDomain is the syntax part of Postfix's smtpd_check_addr:
// the domain the address resolves to (after the last '@', one trailing
// dot removed; an unqualified address gets $myhostname, which is valid)
// must be a valid host name (Postfix valid_hostname: letters, digits, '-'
// and '_', not all numeric, so a bare IP address is refused as
// resolve_numeric_domain = no does) or an address literal [a.b.c.d] or
// [IPv6:...]. Without SMTPUTF8 the domain must be ASCII; with it, a
// valid IDNA name.
func validResolvedDomain(addr string, utf8 bool) bool {
	i := strings.LastIndexByte(addr, '@')
	if i < 0 {
		return true
	}
	domain := addr[i+1:]
	if n := len(domain); n >= 2 && domain[n-1] == '.' && domain[n-2] != '.' {
		domain = domain[:n-1]
	}
	if strings.HasPrefix(domain, "[") {
		return validMailhostLiteral(domain)
	}
	ascii := true
	for j := 0; j < len(domain); j++ {
		if domain[j] >= 0x80 {
			ascii = false
			break
		}
	}
	if !ascii {
		// Postfix converts the name with IDNA (UTS #46); we check only
		// that it is UTF-8 and that its ASCII part is host name syntax.
		if !utf8 || !utf8pkg.ValidString(addr) {
			return false
		}
		return smtppolicy.ValidHostname(strings.Map(func(r rune) rune {
			if r >= 0x80 {
				return 'x'
			}
			return r
		}, domain))
	}
	return smtppolicy.ValidHostname(domain)
}

// validMailhostLiteral is Postfix's valid_mailhost_literal: "[a.b.c.d]"
// or "[IPv6:...]" and nothing after the ']'.
func validMailhostLiteral(d string) bool {
	end := strings.IndexByte(d, ']')
	if end < 0 || end != len(d)-1 {
		return false
	}
	lit := d[1:end]
	if len(lit) > 5 && strings.EqualFold(lit[:5], "IPv6:") {
		a, err := netip.ParseAddr(lit[5:])
		return err == nil && a.Is6() && a.Zone() == ""
	}
	a, err := netip.ParseAddr(lit)
	return err == nil && a.Is4()
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
