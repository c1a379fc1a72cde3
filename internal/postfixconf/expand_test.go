package postfixconf

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// exprDefs are the definitions every case in exprCases sees.
const exprDefs = `a = $b
b =
n = 5
lvl = 3.6
foo = FOO
self = x$self
p1 = $p2
p2 = $p1
`

// exprCases are expressions with their expansion, or the error text they
// must produce. The expected values were taken from postconf -x of
// Postfix 3.7.11; TestExprCasesMatchPostconf checks them again where
// Postfix is installed.
var exprCases = []struct {
	expr, want, err string
}{
	{expr: "plain text", want: "plain text"},
	{expr: "$foo", want: "FOO"},
	{expr: "$(foo) ${foo}x $foo.y $$foo $$$foo", want: "FOO FOOx FOO.y $foo $FOO"},
	{expr: "$foo$$", want: "FOO$"},
	{expr: "x ${ a } y ${ foo } z", want: "x  y FOO z"},
	// ${a?...} looks at a's value as written ("$b"), not at its expansion.
	{expr: "${a?yes}${a:no}", want: "yes"},
	{expr: "${foo?{x}:{y}} ${b?{x}:{y}} ${b?x:y} ${foo?x:y}", want: "x y  x:y"},
	{expr: "${foo?{x} : y}", want: "x"},
	{expr: "${foo? {nested {braces}} }", want: "nested {braces}"},
	{expr: "${b:$foo${foo}}", want: "FOOFOO"},
	{expr: "${foo?${b:q}}", want: "q"},
	{expr: "${undefined_thing?x}${undefined_thing:y}", want: "y"},
	{expr: "$undefined_thing.", want: "."},
	{expr: "${?x}", want: ""},
	{expr: "${:x}[${ ?x}]", want: "x[]"},
	{expr: "${{$compatibility_level} <level {2} ? {old} : {new}}", want: "old"},
	{expr: "${{$lvl} <=level {3.6} ? {le} : {gt}} ${{3.10} >level {3.9}?{gt}}", want: "le gt"},
	{expr: "${{3.6.1} >level {3.6}?{gt}} ${{2} ==level {2.0.0}?{eq}}", want: "gt eq"},
	{expr: "${{10} < {9} ? {lt} : {ge}} ${{abc}<{abd}?{lt}:{ge}}", want: "ge lt"},
	{expr: "${ {a} == {a} } [${ {a} == {b} }]", want: "true []"},
	{expr: "${{1} == {1}}", want: "true"},
	{expr: "${{} == {}?{eq}}", want: "eq"},
	{expr: "${{01} == {1}?{eq}:{ne}}", want: "eq"},
	{expr: "${{-1} < {1}?{lt}:{ge}}", want: "lt"},
	{expr: "${{$n} != {5} ? {ne} : {eq}} ${{$n} >= {10}:{small}}", want: "eq small"},
	{expr: "abc$", err: `empty macro name: "abc$"`},
	{expr: "$", err: `empty macro name: "$"`},
	{expr: "${}", err: `empty macro name: "${}"`},
	{expr: "${foo", err: `truncated macro reference: "${foo"`},
	{expr: "$(foo", err: `truncated macro reference: "$(foo"`},
	{expr: "${foo?{x}junk}", err: `":" expected at: "...x}>>>junk"`},
	{expr: "${foo:{a}{b}}", err: `unexpected input at: "...a}>>>{b}"`},
	{expr: "${fo-o}", err: `attribute name syntax error at: "...fo>>>-o"`},
	{expr: "${{x} <level {3.6} ? {le} : {gt}}", err: `malformed compatibility level syntax: "x"`},
	{expr: "${{1} <foo {2}}", err: `bad operator suffix at: "...<>>>foo"`},
	{expr: "${{1} <> {2}}", err: `"==" or "!=" or "<" or "<=" or ">=" or ">" expected at: "...1}>>><> {2}"`},
	{expr: "${{1} == {2} x}", err: `"?" or ":" expected at: "...}>>>x"`},
	{expr: "${{1} == 2}", err: `"{expression}" expected at: "...{1} ==>>> 2"`},
	{expr: "${foo?{x}", err: `truncated macro reference: "${foo?{x}"`},
	{expr: "${foo?{x}:{y}", err: `truncated macro reference: "${foo?{x}:{y}"`},
	{expr: "$(foo?{x)", err: `unbalanced {} in attribute expression: "{x"`},
	{expr: "$self", err: "parameter expansion loop: self -> self"},
	{expr: "$p1", err: "parameter expansion loop: p1 -> p2 -> p1"},
}

func exprConfig(t *testing.T) *Config {
	t.Helper()
	c, err := Parse(strings.NewReader(exprDefs), "main.cf")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestExpand(t *testing.T) {
	for _, tc := range exprCases {
		c := exprConfig(t)
		got, err := c.Expand(tc.expr)
		switch {
		case tc.err != "":
			if err == nil || err.Error() != tc.err {
				t.Errorf("Expand(%q) = %q, %v; want error %q", tc.expr, got, err, tc.err)
			}
		case err != nil:
			t.Errorf("Expand(%q): %v", tc.expr, err)
		case got != tc.want:
			t.Errorf("Expand(%q) = %q, want %q", tc.expr, got, tc.want)
		}
	}
}

// TestExprCasesMatchPostconf runs exprCases through postconf -x as the
// value of smtpd_banner: a case with a value must print it, a case with
// an error must make postconf fail. postconf sleeps a second before it
// exits with a fatal error, so the runs go in parallel.
func TestExprCasesMatchPostconf(t *testing.T) {
	type result struct {
		out []byte
		err error
	}
	results := make([]result, len(exprCases))
	var wg sync.WaitGroup
	for i, tc := range exprCases {
		dir := postconfDir(t, exprDefs+"smtpd_banner = "+tc.expr+"\n")
		wg.Go(func() {
			out, err := exec.Command("postconf", "-c", dir, "-x", "-h", "smtpd_banner").Output()
			results[i] = result{out, err}
		})
	}
	wg.Wait()
	for i, tc := range exprCases {
		out, err := results[i].out, results[i].err
		if tc.err != "" {
			if err == nil {
				t.Errorf("postconf accepted %q (printed %q); the case expects error %q", tc.expr, out, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("postconf rejected %q: %v", tc.expr, err)
			continue
		}
		// postconf prints whitespace runs as one space.
		want := strings.TrimSpace(spaces.ReplaceAllString(tc.want, " "))
		if got := strings.TrimSpace(string(out)); got != want {
			t.Errorf("postconf -x of %q = %q, case says %q", tc.expr, got, want)
		}
	}
}

func TestExpandWarnings(t *testing.T) {
	c, err := Parse(strings.NewReader("x = $nosuch and $nosuch\ny = ${nosuch?a}\n"), "main.cf")
	if err != nil {
		t.Fatal(err)
	}
	if v, err := c.Get("x"); err != nil || v != " and " {
		t.Fatalf("Get(x) = %q, %v", v, err)
	}
	if _, err := c.Get("y"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Expand("$other"); err != nil {
		t.Fatal(err)
	}
	if v, err := c.Get("nosuch_either"); err != nil || v != "" {
		t.Fatalf("Get(nosuch_either) = %q, %v", v, err)
	}
	want := []string{
		`main.cf:1: x: undefined parameter $nosuch expands to empty`,
		`main.cf:2: y: undefined parameter $nosuch expands to empty`,
		`undefined parameter $other expands to empty`,
		`undefined parameter "nosuch_either"`,
	}
	if got := c.Warnings(); !slices.Equal(got, want) {
		t.Errorf("Warnings() =\n%q\nwant\n%q", got, want)
	}
}

func TestGetErrorsNamePosition(t *testing.T) {
	c, err := Parse(strings.NewReader("# c\nsmtpd_banner = ${oops\nloop1 = $loop2\nloop2 = $loop1\ncond1 = $cond2\ncond2 = ${cond1?x}\n"), "main.cf")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, err string }{
		{"smtpd_banner", `main.cf:2: smtpd_banner: truncated macro reference: "${oops"`},
		{"loop1", `main.cf:3: loop1: parameter expansion loop: loop1 -> loop2 -> loop1`},
	}
	for _, tc := range tests {
		if _, err := c.Get(tc.name); err == nil || err.Error() != tc.err {
			t.Errorf("Get(%s) error = %v, want %q", tc.name, err, tc.err)
		}
	}
	// ${cond1?x} inside cond2 tests cond1's raw value: no recursion.
	if v, err := c.Get("cond1"); err != nil || v != "x" {
		t.Errorf("Get(cond1) = %q, %v; want x", v, err)
	}
	c.Set("compatibility_level", "three")
	if _, err := c.Get("relay_domains"); err == nil ||
		err.Error() != `relay_domains (default): malformed compatibility level syntax: "three"` {
		t.Errorf("Get(relay_domains) with a bad compatibility_level: %v", err)
	}
}

func TestConditionalTestsDefaultsExpanded(t *testing.T) {
	// For a parameter main.cf does not set, ${name?...} looks at the
	// expanded default, as Postfix's daemons do: relay_domains is empty at
	// compatibility level 3.6 although its default expression is not.
	c := &Config{}
	c.Set("compatibility_level", "3.6")
	if v, err := c.Expand("${relay_domains?set}${relay_domains:empty}"); err != nil || v != "empty" {
		t.Errorf("got %q, %v; want empty", v, err)
	}
	c.Set("compatibility_level", "0")
	c.Set("myhostname", "mx.example.com")
	if v, err := c.Expand("${relay_domains?set}${relay_domains:empty}"); err != nil || v != "set" {
		t.Errorf("got %q, %v; want set", v, err)
	}
}

func TestRawParamsNotExpanded(t *testing.T) {
	c, err := Parse(strings.NewReader("smtpd_reject_footer = see http://$myhostname/$client_address\n"), "main.cf")
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := c.Get("smtpd_reject_footer"); v != "see http://$myhostname/$client_address" {
		t.Errorf("smtpd_reject_footer = %q", v)
	}
	want := "$rbl_code Service unavailable; $rbl_class [$rbl_what] blocked using $rbl_domain${rbl_reason?; $rbl_reason}"
	if v, _ := c.Get("default_rbl_reply"); v != want {
		t.Errorf("default_rbl_reply = %q", v)
	}
	if w := c.Warnings(); len(w) != 0 {
		t.Errorf("warnings: %q", w)
	}
}

func TestExpandLimits(t *testing.T) {
	// Each level doubles the value; 25 levels would be 32 GiB.
	var b strings.Builder
	b.WriteString("v0 = " + strings.Repeat("x", 1024) + "\n")
	for i := 1; i <= 25; i++ {
		b.WriteString("v" + strconv.Itoa(i) + " = $v" + strconv.Itoa(i-1) + "$v" + strconv.Itoa(i-1) + "\n")
	}
	c, err := Parse(strings.NewReader(b.String()), "main.cf")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get("v25"); err == nil || !strings.Contains(err.Error(), "expansion longer than 1048576 bytes") {
		t.Errorf("Get(v25) error = %v", err)
	}
	if v, err := c.Get("v4"); err != nil || len(v) != 1024*16 {
		t.Errorf("Get(v4) = %d bytes, %v", len(v), err)
	}
	// Relational tests produce no output, so only the step count stops them.
	b.Reset()
	b.WriteString("w0 = x\n")
	for i := 1; i <= 30; i++ {
		b.WriteString("w" + strconv.Itoa(i) + " = ${{$w" + strconv.Itoa(i-1) + "} == {$w" + strconv.Itoa(i-1) + "}}\n")
	}
	c, err = Parse(strings.NewReader(b.String()), "main.cf")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get("w30"); err == nil || !strings.Contains(err.Error(), "more than 100000 macro evaluations") {
		t.Errorf("Get(w30) error = %v", err)
	}
	// Deep nesting in one string.
	deep := strings.Repeat("${foo?", 150) + "x" + strings.Repeat("}", 150)
	c = exprConfig(t)
	if _, err := c.Expand(deep); err == nil || !strings.Contains(err.Error(), "unreasonable macro nesting") {
		t.Errorf("deep nesting error = %v", err)
	}
}

func TestParseFileSetsConfigDirectory(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "main.cf")
	if err := os.WriteFile(path, []byte("mynetworks = cidr:$config_directory/mynetworks.cidr\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := ParseFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := c.Get("mynetworks"); v != "cidr:"+dir+"/mynetworks.cidr" {
		t.Errorf("mynetworks = %q", v)
	}
	// main.cf may still set config_directory itself.
	if err := os.WriteFile(path, []byte("config_directory = /srv/pf\nx = $config_directory\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if c, err = ParseFile(path); err != nil {
		t.Fatal(err)
	}
	if v, _ := c.Get("x"); v != "/srv/pf" {
		t.Errorf("x = %q", v)
	}
	// Parse from a reader keeps the built-in default.
	c = &Config{}
	if v, _ := c.Get("config_directory"); v != "/etc/postfix" {
		t.Errorf("config_directory = %q", v)
	}
}
