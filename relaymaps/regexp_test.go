package relaymaps_test

import (
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"testing"

	"github.com/mxkit/mxkit/relaymaps"
	"github.com/mxkit/mxkit/relaymaps/relaymapstest"
)

const regexpSample = `# sender-specified routing
/[%!@].*[%!@]/            550 Sender-specified routing rejected
/^postmaster@/            OK
/^(.*)-outgoing@(.*)$/!/^owner-.*/      550 Use ${1}@${2} instead
/^Case@Sensitive\.example$/i  exact-case
/^(x)(y)?z$/              [$1][$2]
/^cost$/                  $$5 and $ alone
  continued
!/\.example$/             not-example
`

func TestRegexpTable(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "t.regexp", regexpSample)
	m := mustOpen(t, "regexp:"+p, nil)
	if relaymaps.IsFixed(m) {
		t.Error("regexp table is fixed")
	}
	if got := relaymaps.NameOf(m); got != "regexp:"+p {
		t.Errorf("Name = %q", got)
	}
	relaymapstest.TestMap(t, m, map[string]string{
		"a@b@c.example":               "550 Sender-specified routing rejected",
		"postmaster@x.example":        "OK",
		"POSTMASTER@x.example":        "OK",
		"list-outgoing@lists.example": "550 Use list@lists.example instead",
		"Case@Sensitive.example":      "exact-case",
		"xz":                          "[x][]",
		"xyz":                         "[x][y]",
		"cost":                        "$5 and $ alone  continued",
		"someone@other.test":          "not-example",
	}, []string{"owner-list-outgoing@lists.example", "case@sensitive.example", "user@x.example"})
}

func TestRegexpIfEndif(t *testing.T) {
	m := mustOpen(t, `regexp:{ {if /@example\.com$/}, {if !/^admin/}, {/^(.+)@/ user $1}, {endif}, {/./ admin}, {endif}, {/^/ other} }`, nil)
	ctx := context.Background()
	for key, want := range map[string]string{
		"joe@example.com":   "user joe",
		"admin@example.com": "admin",
		"joe@example.net":   "other",
	} {
		v, ok, err := m.Lookup(ctx, key)
		if err != nil || !ok || v != want {
			t.Errorf("Lookup(%q) = %q, %v, %v; want %q", key, v, ok, err, want)
		}
	}
}

func TestRegexpMultiline(t *testing.T) {
	m, err := relaymaps.ParseRegexpTable("f", "/^b$/ dotall\n/^b$/m multi\n")
	if err != nil {
		t.Fatal(err)
	}
	v, _, _ := m.Lookup(context.Background(), "a\nb")
	if v != "multi" {
		t.Errorf("got %q, want multi", v)
	}
	m, _ = relaymaps.ParseRegexpTable("f", "/a.b/ dot-matches-newline\n")
	if v, ok, _ := m.Lookup(context.Background(), "a\nb"); !ok || v != "dot-matches-newline" {
		t.Errorf("got %q, %v", v, ok)
	}
}

func TestRegexpErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ text, msg string }{
		{"/a/ ok\n\n/(a/ x\n", `:3: bad regular expression "/(a/": missing closing ): ` + "`(?s)(?i)(a`"},
		{"/a/q x\n", `:1: unknown flag 'q' in "/a/q"`},
		{"/a/x x\n", `:1: flag "x" (POSIX basic regular expressions) is not supported in "/a/x"`},
		{"/abc x\n", `:1: no closing delimiter '/' in "/abc x"`},
		{"/abc/\n", `:1: no result for pattern "/abc/"`},
		{"/(a)/ $2\n", `:1: result uses $2 but the pattern has 1 parenthesized subexpression(s)`},
		{"/(a)/ $1x\n", `:1: non-numeric replacement "$1x" in result "$1x" (write ${1} when text follows)`},
		{"/(a)/ ${0}\n", `:1: replacement index "$0" out of range in result "${0}"`},
		{"/(a)/ ${1\n", `:1: missing '}' in result "${1"`},
		{"!/(a)/ $1\n", `:1: $1 in the result of a negated pattern`},
		{"/a/ x\nendif\n", `:2: "endif" without matching "if"`},
		{"/a/ x\nif /b/\nif /c/\n/d/ e\nendif\n", `:2: "if" without matching "endif"`},
		{"if /a/ x\nendif\n", `:1: text after "if" pattern: "x"`},
		{"if\nendif\n", `:1: no pattern after "if"`},
		{"if /a/\nendif x\n", `:2: text after "endif": "x"`},
		{"key value\n", `:1: unrecognized rule "key value": a rule starts with a pattern delimiter, "if" or "endif"`},
		{"/(?<n>a)\\1/ x\n", `:1: bad regular expression "/(?<n>a)\\1/": invalid escape sequence: ` + "`\\1`"},
		{"  /a/ x\n", `:1: continuation line (starts with whitespace) has no preceding line to continue`},
	} {
		p := writeFile(t, dir, "bad.regexp", tc.text)
		_, err := relaymaps.Open("regexp:"+p, nil)
		wantErr(t, err, "relaymaps: "+p+tc.msg)
	}
	_, err := relaymaps.Open("regexp:"+filepath.Join(dir, "missing"), nil)
	if !errors.Is(err, relaymaps.ErrConfig) || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	_, err = relaymaps.Open("regexp:", nil)
	wantErr(t, err, `relaymaps: bad table spec "regexp:": missing file name`)
	_, err = relaymaps.Open("regexp:{ {/a/ b}, /c/ d }", nil)
	wantErr(t, err, `relaymaps: regexp:{...}: rule 2: each rule must be enclosed in {}: no "{" at start of "/c/"`)
	_, err = relaymaps.Open("regexp:{ {/a/ b}, {/(/ d} }", nil)
	wantErr(t, err, "relaymaps: regexp:{...}: rule 2: bad regular expression \"/(/\": missing closing ): `(?s)(?i)(`")
}
