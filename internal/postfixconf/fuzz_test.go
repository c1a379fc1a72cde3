package postfixconf

import (
	"errors"
	"os"
	"strings"
	"testing"
)

func FuzzParse(f *testing.F) {
	seed, err := os.ReadFile("testdata/seed-main.cf")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(seed))
	f.Add("a = b\n  c\n# x\n\n  d\n")
	f.Add("  orphan\nx=1\nx=2\n")
	f.Add("bad line\n= x\n")
	f.Add("a = $b\nb = ${a?x}\nc = $c\n")
	f.Add("a = b\r\nc = ${{$compatibility_level} <level {2} ? {$a} : {}}")
	f.Fuzz(func(t *testing.T, in string) {
		lines := strings.Count(in, "\n")
		if in != "" && !strings.HasSuffix(in, "\n") {
			lines++
		}
		c, err := Parse(strings.NewReader(in), "main.cf")
		if err != nil {
			if c != nil {
				t.Fatal("Config returned with an error")
			}
			for _, e := range unjoin(err) {
				var se *SyntaxError
				if !errors.As(e, &se) {
					t.Fatalf("error %v is not a *SyntaxError", e)
				}
				if se.Line < 1 || se.Line > lines {
					t.Fatalf("error line %d outside 1..%d", se.Line, lines)
				}
			}
			return
		}
		var again strings.Builder
		for _, n := range c.Names() {
			defs := c.Definitions(n)
			if len(defs) == 0 {
				t.Fatalf("name %q without definitions", n)
			}
			for _, p := range defs {
				if p.Name != n || p.File != "main.cf" || p.Line < 1 || p.Line > lines {
					t.Fatalf("bad definition %+v (file has %d lines)", p, lines)
				}
				if strings.ContainsAny(p.Raw, "\n") || strings.Trim(p.Raw, spaceChars) != p.Raw {
					t.Fatalf("raw value %q not trimmed to one line", p.Raw)
				}
			}
			p, _ := c.Param(n)
			if p != defs[len(defs)-1] {
				t.Fatalf("Param(%q) = %+v is not the last definition", n, p)
			}
			_, _ = c.Get(n) // must not panic
			again.WriteString(n + " = " + p.Raw + "\n")
		}
		// Writing the definitions in force back out and parsing them
		// again gives the same values.
		c2, err := Parse(strings.NewReader(again.String()), "again.cf")
		if err != nil {
			t.Fatalf("re-parse of %q: %v", again.String(), err)
		}
		for _, n := range c.Names() {
			p, _ := c.Param(n)
			p2, ok := c2.Param(n)
			if !ok || p2.Raw != p.Raw {
				t.Fatalf("round trip of %q: %q became %q", n, p.Raw, p2.Raw)
			}
		}
		if len(c2.Names()) != len(c.Names()) {
			t.Fatalf("round trip changed the names: %q vs %q", c.Names(), c2.Names())
		}
	})
}

// unjoin undoes errors.Join.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func FuzzExpand(f *testing.F) {
	for _, tc := range exprCases {
		f.Add(tc.expr)
	}
	f.Add("${{$compatibility_level} <level {3.6} ? {$relay_domains} : {$mydestination}}")
	f.Add("$smtpd_banner $$ ${mail_name:x} $(myorigin)")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := Parse(strings.NewReader(exprDefs+"myhostname = mx.example.com\n"), "main.cf")
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.Expand(s)
		got2, err2 := c.Expand(s)
		if got != got2 || (err == nil) != (err2 == nil) {
			t.Fatalf("Expand(%q) not deterministic: %q, %v then %q, %v", s, got, err, got2, err2)
		}
		if err != nil {
			return
		}
		if len(got) > maxExpandSize+len(s) {
			t.Fatalf("Expand(%q) returned %d bytes", s, len(got))
		}
		if !strings.Contains(s, "$") && got != s {
			t.Fatalf("Expand(%q) = %q: text without $ must not change", s, got)
		}
	})
}

func FuzzSplitList(f *testing.F) {
	f.Add("permit_mynetworks, reject_unauth_destination")
	f.Add("check_policy_service { inet:host:port, timeout=10s }, reject")
	f.Add("inline:{ a=1, b=2 } cidr:{ {10.0.0.0/8 OK} }")
	f.Add("{ unbalanced, x")
	f.Add("a}b{c,d}e , ,\t\r\n")
	f.Fuzz(func(t *testing.T, s string) {
		elems := SplitList(s)
		pos := 0
		for _, e := range elems {
			if e == "" {
				t.Fatalf("SplitList(%q) has an empty element", s)
			}
			if strings.IndexByte(listSeparators, e[0]) >= 0 {
				t.Fatalf("SplitList(%q): element %q starts with a separator", s, e)
			}
			i := strings.Index(s[pos:], e)
			if i < 0 {
				t.Fatalf("SplitList(%q): element %q not found in order", s, e)
			}
			// Only separators lie between two elements.
			if gap := s[pos : pos+i]; strings.Trim(gap, listSeparators) != "" {
				t.Fatalf("SplitList(%q): text %q dropped before %q", s, gap, e)
			}
			pos += i + len(e)
			if !strings.Contains(e, "{") && strings.ContainsAny(e, listSeparators) {
				t.Fatalf("SplitList(%q): element %q holds a separator outside braces", s, e)
			}
		}
		if rest := s[pos:]; strings.Trim(rest, listSeparators) != "" {
			t.Fatalf("SplitList(%q): trailing text %q dropped", s, rest)
		}
	})
}
