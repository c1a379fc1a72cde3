package smtpcmd

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/mxkit/mxkit/smtppolicy"
)

func TestParseCommand(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Command
	}{
		{"mail FROM:<a@b>", Command{"MAIL", "FROM:<a@b>"}},
		{"  ehlo   x.example  \r\n", Command{"EHLO", "x.example"}},
		{"QUIT", Command{"QUIT", ""}},
		{"", Command{"", ""}},
		{"   ", Command{"", ""}},
		{"noop\tabc", Command{"NOOP", "abc"}},
	} {
		if got := ParseCommand(tc.in); got != tc.want {
			t.Errorf("ParseCommand(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

func replyOf(err error) string {
	var re *smtppolicy.ReplyError
	if errors.As(err, &re) {
		return re.Reply.String()
	}
	if err != nil {
		return "non-reply error: " + err.Error()
	}
	return ""
}

func TestParsePath(t *testing.T) {
	type want struct {
		addr, raw, route string
		err              string
	}
	for _, tc := range []struct {
		arg    string
		kind   PathKind
		strict bool
		want   want
	}{
		{"FROM:<a@b.example>", MailPath, true, want{addr: "a@b.example", raw: "a@b.example"}},
		{"from: <a@b.example>", MailPath, true, want{addr: "a@b.example", raw: "a@b.example"}},
		{"FROM:<>", MailPath, true, want{}},
		{"TO:<>", RcptPath, false, want{err: "501 5.1.3 Bad recipient address syntax"}},
		{"FROM:<@r1.example,@r2.example:u@d.example>", MailPath, true, want{addr: "u@d.example", raw: "u@d.example", route: "@r1.example,@r2.example"}},
		{"TO:<@r1.example:u@d.example>", RcptPath, true, want{addr: "u@d.example", raw: "u@d.example", route: "@r1.example"}},
		{`TO:<"a b"@x.example>`, RcptPath, true, want{addr: "a b@x.example", raw: `"a b"@x.example`}},
		{`TO:<"a\"b"@x.example>`, RcptPath, true, want{addr: `a"b@x.example`, raw: `"a\"b"@x.example`}},
		{`TO:<"a@b"@x.example>`, RcptPath, true, want{addr: "a@b@x.example", raw: `"a@b"@x.example`}},
		{"TO:<u@[192.0.2.1]>", RcptPath, true, want{addr: "u@[192.0.2.1]", raw: "u@[192.0.2.1]"}},
		{"TO:<u@[IPv6:2001:db8::1]>", RcptPath, true, want{addr: "u@[IPv6:2001:db8::1]", raw: "u@[IPv6:2001:db8::1]"}},
		{"TO:<u@[IPv6:192.0.2.1]>", RcptPath, true, want{err: "501 5.1.3 Bad recipient address syntax"}},
		{"TO:<u@[999.0.2.1]>", RcptPath, true, want{err: "501 5.1.3 Bad recipient address syntax"}},
		{"TO:<u@example.com.>", RcptPath, true, want{addr: "u@example.com.", raw: "u@example.com."}},
		{"TO:<postmaster>", RcptPath, true, want{addr: "postmaster", raw: "postmaster"}},
		{"TO:<PostMaster>", RcptPath, true, want{addr: "PostMaster", raw: "PostMaster"}},
		// Postfix's RFC 822 parser takes these even when strict (measured
		// against Postfix 3.7): the restrictions decide.
		{"TO:<user>", RcptPath, true, want{addr: "user", raw: "user"}},
		{"TO:< a @ b.example >", RcptPath, true, want{addr: "a@b.example", raw: "a@b.example"}},
		{"TO:<u%x.example@b.example>", RcptPath, true, want{addr: "u%x.example@b.example", raw: "u%x.example@b.example"}},
		{"TO:<x.example!u@b.example>", RcptPath, true, want{addr: "x.example!u@b.example", raw: "x.example!u@b.example"}},
		{"TO:<u@x.example@b.example>", RcptPath, true, want{addr: "u@x.example@b.example", raw: `"u@x.example"@b.example`}},
		{`TO:<"u@x.example">`, RcptPath, true, want{addr: "u@x.example", raw: "u@x.example"}},
		{"FROM:<<a@b.example>>", MailPath, true, want{addr: "a@b.example", raw: "a@b.example"}},
		{"FROM:< >", MailPath, true, want{}},
		{`FROM:<a\@b@x.example>`, MailPath, true, want{addr: "a@b@x.example", raw: `"a@b"@x.example`}},
		// ... and refuses these: a bare IP address, a numeric or invalid
		// domain, a general address literal, comments and phrases when
		// strict, two addresses.
		{"TO:<u@192.0.2.1>", RcptPath, false, want{err: "501 5.1.3 Bad recipient address syntax"}},
		{"TO:<u@123>", RcptPath, false, want{err: "501 5.1.3 Bad recipient address syntax"}},
		{"TO:<u@[x-tag:abc]>", RcptPath, false, want{err: "501 5.1.3 Bad recipient address syntax"}},
		{"TO:<u@x.example..>", RcptPath, false, want{err: "501 5.1.3 Bad recipient address syntax"}},
		{"TO:<u@x.example (c)>", RcptPath, true, want{err: "501 5.1.3 Bad recipient address syntax"}},
		{"TO:<a@x.example,b@x.example>", RcptPath, false, want{err: "501 5.1.3 Bad recipient address syntax"}},
		{"FROM:<@x.example>", MailPath, true, want{err: "501 5.1.7 Bad sender address syntax"}},
		{"FROM:<@x.example>", MailPath, false, want{addr: "@x.example", raw: `""@x.example`}},
		{"TO:<user>", RcptPath, false, want{addr: "user", raw: "user"}},
		// strict_rfc821_envelopes=no accepts what Postfix accepts.
		{"FROM:a@b.example", MailPath, false, want{addr: "a@b.example", raw: "a@b.example"}},
		{"FROM:a@b.example", MailPath, true, want{err: "501 5.1.7 Bad sender address syntax"}},
		{`FROM:Name<a@b.example>`, MailPath, false, want{addr: "a@b.example", raw: "a@b.example"}},
		{`FROM:<Name <a@b.example>>`, MailPath, false, want{addr: "a@b.example", raw: "a@b.example"}},
		{`FROM:<Name <a@b.example>>`, MailPath, true, want{err: "501 5.1.7 Bad sender address syntax"}},
		{`FROM:"Joe Q"<a@b.example>`, MailPath, false, want{addr: "a@b.example", raw: "a@b.example"}},
		{`FROM:<a@b.example (comment)>`, MailPath, false, want{addr: "a@b.example", raw: "a@b.example"}},
		{"TO:<a..b@x.example>", RcptPath, false, want{addr: "a..b@x.example", raw: `"a..b"@x.example`}},
		{"TO:<a..b@x.example>", RcptPath, true, want{addr: "a..b@x.example", raw: `"a..b"@x.example`}},
		{"TO:<u@x_y.example>", RcptPath, false, want{addr: "u@x_y.example", raw: "u@x_y.example"}},
		{"TO:<u@x_y.example>", RcptPath, true, want{addr: "u@x_y.example", raw: "u@x_y.example"}},
		{"TO:<u@x..example>", RcptPath, false, want{err: "501 5.1.3 Bad recipient address syntax"}},
		{"TO:<u@>", RcptPath, false, want{err: "501 5.1.3 Bad recipient address syntax"}},
		{"TO:<a@b><c@d>", RcptPath, false, want{err: "501 5.1.3 Bad recipient address syntax"}},
		{"TO:<a@b", RcptPath, false, want{err: "501 5.1.3 Bad recipient address syntax"}},
		{"FROM:<a@b", MailPath, false, want{err: "501 5.1.7 Bad sender address syntax"}},
		{"TO:<ü@x.example>", RcptPath, false, want{addr: "ü@x.example", raw: "ü@x.example"}},
		{"TO:<u@bücher.example>", RcptPath, false, want{err: "501 5.1.3 Bad recipient address syntax"}},
		{"TO:<a\x01b@x.example>", RcptPath, false, want{err: "501 5.1.3 Bad recipient address syntax"}},
		// Missing FROM:/TO:.
		{"<a@b>", MailPath, false, want{err: "501 5.5.4 Syntax: MAIL FROM:<address>"}},
		{"FROM:", MailPath, false, want{err: "501 5.5.4 Syntax: MAIL FROM:<address>"}},
		{"", RcptPath, false, want{err: "501 5.5.4 Syntax: RCPT TO:<address>"}},
		{"TO <a@b>", RcptPath, false, want{err: "501 5.5.4 Syntax: RCPT TO:<address>"}},
		{"FROM:<a@b>", RcptPath, false, want{err: "501 5.5.4 Syntax: RCPT TO:<address>"}},
		// Parameters.
		{"FROM:<a@b> SIZE=abc", MailPath, false, want{err: "501 5.5.4 Bad message size syntax"}},
		{"FROM:<a@b> SIZE=", MailPath, false, want{err: "501 5.5.4 Bad message size syntax"}},
		{"FROM:<a@b> SIZE=99999999999999999999", MailPath, false, want{err: "552 5.3.4 Message size exceeds file system imposed limit"}},
		{"FROM:<a@b> BODY=BINARYMIME", MailPath, false, want{err: "555 5.5.4 Unsupported option: BODY=BINARYMIME"}},
		{"FROM:<a@b> XFOO=1", MailPath, false, want{err: "555 5.5.4 Unsupported option: XFOO=1"}},
		{"FROM:<a@b> NOTIFY=NEVER", MailPath, false, want{err: "555 5.5.4 Unsupported option: NOTIFY=NEVER"}},
		{"TO:<a@b> SIZE=1", RcptPath, false, want{err: "555 5.5.4 Unsupported option: SIZE=1"}},
		{"FROM:<a@b> RET=FULL RET=HDRS", MailPath, false, want{err: "501 5.5.4 Bad RET parameter syntax"}},
		{"FROM:<a@b> RET=ALL", MailPath, false, want{err: "501 5.5.4 Bad RET parameter syntax"}},
		{"FROM:<a@b> ENVID=a+2", MailPath, false, want{err: "501 5.5.4 Bad ENVID parameter syntax"}},
		{"FROM:<a@b> ENVID=a+0A", MailPath, false, want{err: "501 5.5.4 Bad ENVID parameter syntax"}},
		{"TO:<a@b> NOTIFY=NEVER,DELAY", RcptPath, false, want{err: "501 5.5.4 Error: Bad NOTIFY parameter syntax"}},
		{"TO:<a@b> NOTIFY=SOMETIMES", RcptPath, false, want{err: "501 5.5.4 Error: Bad NOTIFY parameter syntax"}},
		{"TO:<a@b> ORCPT=x@y", RcptPath, false, want{err: "501 5.5.4 Error: Bad ORCPT parameter syntax"}},
		{"TO:<a@b> ORCPT=;x@y", RcptPath, false, want{err: "501 5.5.4 Error: Bad ORCPT parameter syntax"}},
		{"FROM:<a@b> SMTPUTF8", MailPath, false, want{err: "555 5.5.4 Unsupported option: SMTPUTF8"}},
		// The address is checked before the parameters.
		{"FROM:<a@192.0.2.1> XFOO", MailPath, false, want{err: "501 5.1.7 Bad sender address syntax"}},
	} {
		p, err := ParsePath(tc.arg, tc.kind, tc.strict)
		if got := replyOf(err); got != tc.want.err {
			t.Errorf("ParsePath(%q, %d, %v) error = %q, want %q", tc.arg, tc.kind, tc.strict, got, tc.want.err)
			continue
		}
		if err != nil {
			continue
		}
		if p.Addr != tc.want.addr || p.Raw != tc.want.raw || p.Route != tc.want.route {
			t.Errorf("ParsePath(%q) = addr %q raw %q route %q, want %q %q %q", tc.arg, p.Addr, p.Raw, p.Route, tc.want.addr, tc.want.raw, tc.want.route)
		}
	}
}

func TestParsePathParams(t *testing.T) {
	p, err := ParsePath("FROM:<a@b.example> size=1000 BODY=8bitmime RET=hdrs ENVID=QQ+2B1 AUTH=<>", MailPath, false)
	if err != nil {
		t.Fatal(err)
	}
	want := Params{Size: 1000, HasSize: true, Body: "8BITMIME", Ret: "HDRS", EnvID: "QQ+2B1", Auth: "<>",
		Raw: "size=1000 BODY=8bitmime RET=hdrs ENVID=QQ+2B1 AUTH=<>"}
	if !reflect.DeepEqual(p.Params, want) {
		t.Errorf("params = %+v, want %+v", p.Params, want)
	}
	p, err = ParsePath("TO:<c@d.example> NOTIFY=success,failure ORCPT=rfc822;c+40d.example", RcptPath, true)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(p.Params.Notify, []string{"SUCCESS", "FAILURE"}) || p.Params.ORcpt != "rfc822;c+40d.example" {
		t.Errorf("params = %+v", p.Params)
	}
}

func TestParsePathUTF8(t *testing.T) {
	o := Options{UTF8: true}
	// Postfix takes an 8-bit local part without SMTPUTF8, not an 8-bit
	// domain.
	if _, err := ParsePathOptions("FROM:<ü@x.example>", MailPath, o); err != nil {
		t.Errorf("8-bit sender local part without SMTPUTF8 parameter: err = %v", err)
	}
	if _, err := ParsePathOptions("FROM:<u@bücher.example>", MailPath, o); replyOf(err) != "501 5.1.7 Bad sender address syntax" {
		t.Errorf("8-bit sender domain without SMTPUTF8 parameter: err = %v", err)
	}
	p, err := ParsePathOptions("FROM:<ü@bücher.example> SMTPUTF8", MailPath, o)
	if err != nil || p.Addr != "ü@bücher.example" || !p.Params.SMTPUTF8 {
		t.Errorf("SMTPUTF8 sender = %+v, %v", p, err)
	}
	if p, err := ParsePathOptions("TO:<ü@x.example>", RcptPath, o); err != nil || p.Addr != "ü@x.example" {
		t.Errorf("8-bit recipient = %+v, %v", p, err)
	}
}

// FuzzParsePath checks that ParsePath never panics, that its errors are
// Postfix replies, and that what it accepts is consistent.
func FuzzParsePath(f *testing.F) {
	for _, s := range []string{
		"FROM:<a@b.example>", "FROM:<>", "TO:<postmaster>", `TO:<"a b"@x>`,
		"FROM:<@a,@b:u@d> SIZE=10 BODY=8BITMIME", "TO:<u@[IPv6:::1]> NOTIFY=NEVER ORCPT=rfc822;u+40d",
		"FROM:Name <a@b>", "FROM:<a@b", `TO:<"\`, "TO:<u@[1.2.3.4]>",
		"TO:< a @ b.example >", "TO:<u%x@b>", "TO:<x!u@b>", "TO:<u@x@b>", `TO:<"u@x">`,
		"FROM:<<a@b>>", "TO:<a@b (c)>", "TO:<a@b,c@d>", "TO:<u@1.2.3.4>", "TO:<g: a@b, c@d;>",
	} {
		f.Add(s, false, false)
		f.Add(s, true, true)
	}
	f.Fuzz(func(t *testing.T, arg string, rcpt, strict bool) {
		kind := MailPath
		if rcpt {
			kind = RcptPath
		}
		p, err := ParsePath(arg, kind, strict)
		if err != nil {
			var re *smtppolicy.ReplyError
			if !errors.As(err, &re) || re.Reply.Code < 500 || re.Reply.Code > 555 {
				t.Fatalf("error %v is not a 5xx reply", err)
			}
			return
		}
		if p.Addr == "" && (kind == RcptPath || p.Raw != "") {
			t.Fatalf("empty address accepted for %q: %+v", arg, p)
		}
		for i := 0; i < len(p.Raw); i++ {
			if c := p.Raw[i]; c < 0x20 || c == 0x7f {
				t.Fatalf("accepted control byte in %q", p.Raw)
			}
		}
		// Postfix takes 8-bit local parts, never an 8-bit domain without
		// SMTPUTF8.
		if at := strings.LastIndexByte(p.Addr, '@'); at >= 0 {
			for _, c := range []byte(p.Addr[at:]) {
				if c >= 0x80 {
					t.Fatalf("accepted 8-bit domain in %q", p.Addr)
				}
			}
		}
		if strict && p.Addr != "" && p.Addr[0] == '@' {
			t.Fatalf("strict accepted %q", p.Addr)
		}
		// The canonical form must parse to the same address.
		canon := "FROM:<" + p.Raw + ">"
		if kind == RcptPath {
			canon = "TO:<" + p.Raw + ">"
		}
		if p.Route != "" {
			canon = strings.Replace(canon, "<", "<"+p.Route+":", 1)
		}
		q, err := ParsePath(canon+spaced(p.Params.Raw), kind, strict)
		if err != nil || q.Addr != p.Addr || q.Route != p.Route {
			t.Fatalf("canonical %q of %q: %+v, %v; first %+v", canon, arg, q, err, p)
		}
	})
}

func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{"MAIL FROM:<a@b>", "ehlo x", "", " \t", "DATA\r\n", "x\ty z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		c := ParseCommand(line)
		if c.Verb != upperASCII(c.Verb) {
			t.Fatalf("verb %q not upper case", c.Verb)
		}
		if strings.ContainsAny(c.Verb, " \t") {
			t.Fatalf("verb %q has blanks", c.Verb)
		}
		if c.Arg != strings.Trim(c.Arg, " \t") {
			t.Fatalf("arg %q not trimmed", c.Arg)
		}
		if c.Verb == "" && c.Arg != "" {
			t.Fatalf("argument %q without verb", c.Arg)
		}
		// Parsing the rebuilt line gives the same command.
		if c.Verb != "" {
			re := ParseCommand(c.Verb + spaced(c.Arg))
			if re != c && !strings.ContainsAny(line, "\r\n") {
				t.Fatalf("reparse of %q: %+v != %+v", line, re, c)
			}
		}
	})
}
