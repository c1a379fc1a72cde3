package dsncode

import (
	"strings"
	"testing"
)

func TestValidParse(t *testing.T) {
	for _, tc := range []struct {
		in   string
		ok   bool
		code [3]int
	}{
		{"5.7.1", true, [3]int{5, 7, 1}},
		{"2.0.0", true, [3]int{2, 0, 0}},
		{"4.123.999", true, [3]int{4, 123, 999}},
		{"5.01.001", true, [3]int{5, 1, 1}},
		{"", false, [3]int{}},
		{"5.7", false, [3]int{}},
		{"5.7.", false, [3]int{}},
		{"5..1", false, [3]int{}},
		{"3.7.1", false, [3]int{}},
		{"1.0.0", false, [3]int{}},
		{"55.7.1", false, [3]int{}},
		{"5.1234.1", false, [3]int{}},
		{"5.1.1234", false, [3]int{}},
		{"5.7.1.2", false, [3]int{}},
		{"5.7.1 ", false, [3]int{}},
		{" 5.7.1", false, [3]int{}},
		{"5.+7.1", false, [3]int{}},
		{"5.7.-1", false, [3]int{}},
		{"5.x.1", false, [3]int{}},
		{"5,7,1", false, [3]int{}},
	} {
		if got := Valid(tc.in); got != tc.ok {
			t.Errorf("Valid(%q) = %v, want %v", tc.in, got, tc.ok)
		}
		code, ok := Parse(tc.in)
		if ok != tc.ok || code != tc.code {
			t.Errorf("Parse(%q) = %v, %v, want %v, %v", tc.in, code, ok, tc.code, tc.ok)
		}
	}
}

func TestPrefixSplit(t *testing.T) {
	for _, tc := range []struct {
		in, prefix, code, rest string
	}{
		{"5.7.1 Relay access denied", "5.7.1", "5.7.1", "Relay access denied"},
		{"5.7.1", "5.7.1", "5.7.1", ""},
		{"4.3.2\tbusy", "4.3.2", "4.3.2", "busy"},
		{"4.3.2    busy ", "4.3.2", "4.3.2", "busy "},
		{"  5.1.1 user unknown", "", "5.1.1", "user unknown"},
		{"5.1.1: user unknown", "", "", "5.1.1: user unknown"},
		{"5.1.10x text", "", "", "5.1.10x text"},
		{"5.1.1.1 text", "", "", "5.1.1.1 text"},
		{"6.1.1 text", "", "", "6.1.1 text"},
		{" \tno code", "", "", "no code"},
		{"", "", "", ""},
	} {
		if got := Prefix(tc.in); got != tc.prefix {
			t.Errorf("Prefix(%q) = %q, want %q", tc.in, got, tc.prefix)
		}
		code, rest := Split(tc.in)
		if code != tc.code || rest != tc.rest {
			t.Errorf("Split(%q) = %q, %q, want %q, %q", tc.in, code, rest, tc.code, tc.rest)
		}
	}
}

func TestClassOfReply(t *testing.T) {
	for _, tc := range []struct {
		code int
		text string
		want string
	}{
		{550, "5.1.1 User unknown", "5.1.1"},
		{550, " 5.1.1 User unknown", "5.1.1"},
		{550, "4.1.1 wrong class", "5.0.0"},
		{450, "4.2.0 try later", "4.2.0"},
		{421, "", "4.0.0"},
		{250, "2.0.0 Ok", "2.0.0"},
		{250, "Ok", "2.0.0"},
		{354, "go ahead", "4.0.0"},
		{554, "5.7.1", "5.7.1"},
		{554, "5.7.1x", "5.0.0"},
	} {
		if got := OfReply(Class(tc.code), tc.text); got != tc.want {
			t.Errorf("OfReply(Class(%d), %q) = %q, want %q", tc.code, tc.text, got, tc.want)
		}
	}
}

// FuzzSplit checks the functions against each other: what Split finds is
// Valid, parses, and is what Prefix finds once the leading white space is
// gone; Parse's numbers print back to an equivalent code.
func FuzzSplit(f *testing.F) {
	for _, s := range []string{"5.7.1 Relay access denied", "4.3.2\tbusy", " 2.0.0", "5.1.10x", "5.001.999 x", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		code, rest := Split(s)
		trimmed := strings.TrimLeft(s, spaces)
		if code != Prefix(trimmed) {
			t.Fatalf("Split(%q) code %q, Prefix %q", s, code, Prefix(trimmed))
		}
		if code == "" {
			if rest != trimmed {
				t.Fatalf("Split(%q) without a code changed the text to %q", s, rest)
			}
			return
		}
		if !Valid(code) {
			t.Fatalf("Split(%q) gave invalid code %q", s, code)
		}
		if !strings.HasSuffix(s, rest) || strings.TrimLeft(rest, spaces) != rest {
			t.Fatalf("Split(%q) rest %q", s, rest)
		}
		c, ok := Parse(code)
		if !ok || c[0] != int(code[0]-'0') || c[1] > 999 || c[2] > 999 {
			t.Fatalf("Parse(%q) = %v, %v", code, c, ok)
		}
		if got := OfReply(code[0], s); got != code {
			t.Fatalf("OfReply(%c, %q) = %q, want %q", code[0], s, got, code)
		}
	})
}

func TestOneLine(t *testing.T) {
	for _, tc := range []struct {
		code int
		msg  string
		want string
	}{
		{550, "5.1.1 User unknown", "550 5.1.1 User unknown"},
		{550, "5.7.1 first\n5.7.1 second", "550 5.7.1 first second"},
		{421, "busy\nlater", "421 busy later"},
		{250, "", "250"},
	} {
		if got := OneLine(tc.code, tc.msg); got != tc.want {
			t.Errorf("OneLine(%d, %q) = %q, want %q", tc.code, tc.msg, got, tc.want)
		}
	}
}
