package relaymaps_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mxkit/mxkit/relaymaps"
	"github.com/mxkit/mxkit/relaymaps/relaymapstest"
)

func writeFile(t testing.TB, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func mustOpen(t *testing.T, spec string, opts *relaymaps.OpenOptions) relaymaps.Map {
	t.Helper()
	m, err := relaymaps.Open(spec, opts)
	if err != nil {
		t.Fatalf("Open(%q): %v", spec, err)
	}
	return m
}

// wantErr checks that err is a configuration error with exactly msg.
func wantErr(t *testing.T, err error, msg string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %q", msg)
	}
	if err.Error() != msg {
		t.Fatalf("error:\n got %q\nwant %q", err.Error(), msg)
	}
	if !errors.Is(err, relaymaps.ErrConfig) {
		t.Fatalf("error %q does not wrap ErrConfig", err)
	}
}

func TestStatic(t *testing.T) {
	m := mustOpen(t, "static:OK", nil)
	relaymapstest.TestMap(t, m, map[string]string{"anything": "OK", "": "OK", "192.0.2.1": "OK"}, nil)
	if got := relaymaps.NameOf(m); got != "static:OK" {
		t.Errorf("Name = %q", got)
	}
	if !relaymaps.IsFixed(m) {
		t.Error("static is fixed in Postfix (dict_static.c)")
	}
	m = mustOpen(t, "static:{ text with spaces }", nil)
	relaymapstest.TestMap(t, m, map[string]string{"x": "text with spaces"}, nil)
	if got := relaymaps.NameOf(m); got != "static:{ text with spaces }" {
		t.Errorf("Name = %q", got)
	}
	_, err := relaymaps.Open("static:{ unclosed", nil)
	wantErr(t, err, `relaymaps: static:{ unclosed: missing "}" in "{ unclosed"`)
}

func TestInline(t *testing.T) {
	m := mustOpen(t, "inline:{ Key1=one, key2=two ,{ key3 = text with spaces, and a comma }, dup=first, dup=last, empty= }", nil)
	relaymapstest.TestMap(t, m, map[string]string{
		"key1": "one", "KEY1": "one", "key2": "two", "key3": "text with spaces, and a comma",
		"dup": "last", "empty": "",
	}, []string{"key", "one", ""})
	if !relaymaps.IsFixed(m) {
		t.Error("inline must be fixed")
	}
	for spec, msg := range map[string]string{
		"inline:{}":        `relaymaps: inline:{}: empty table; need "inline:{key=value, ...}"`,
		"inline:a=b":       `relaymaps: inline:a=b: no "{" at start of "a=b"; need "inline:{key=value, ...}"`,
		"inline:{a}":       `relaymaps: inline:{a}: missing "=" after key "a"`,
		"inline:{a = b}":   `relaymaps: inline:{a = b}: missing "=" after key "a"`,
		"inline:{=b}":      `relaymaps: inline:{=b}: missing key in "=b"`,
		"inline:{a=b} x":   `relaymaps: inline:{a=b} x: text after "}" in "{a=b} x"; need "inline:{key=value, ...}"`,
		"inline:{{a=b}x}":  `relaymaps: inline:{{a=b}x}: text after "}" in "{a=b}x"`,
		"inline:{ {a=b }":  `relaymaps: inline:{ {a=b }: missing "}" in "{ {a=b }"; need "inline:{key=value, ...}"`,
		"inline:{a=b, {c}": `relaymaps: inline:{a=b, {c}: missing "}" in "{a=b, {c}"; need "inline:{key=value, ...}"`,
	} {
		_, err := relaymaps.Open(spec, nil)
		wantErr(t, err, msg)
	}
}

const clientCIDR = `# Rule order matters.
192.168.1.1             OK
192.168.0.0/16          REJECT
[2001:db8::1]           v6host
2001:db8::/32           v6net
!10.0.0.0/8             not ten
`

func TestCIDRFirstMatchAndNegation(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "client.cidr", clientCIDR)
	m := mustOpen(t, "cidr:client.cidr", &relaymaps.OpenOptions{BaseDir: dir})
	if relaymaps.IsFixed(m) {
		t.Error("cidr must be a pattern table")
	}
	if got := relaymaps.NameOf(m); got != "cidr:client.cidr" {
		t.Errorf("Name = %q", got)
	}
	relaymapstest.TestMap(t, m, map[string]string{
		"192.168.1.1":       "OK",
		"192.168.1.2":       "REJECT",
		"192.168.255.255":   "REJECT",
		"2001:db8::1":       "v6host",
		"2001:0db8:0::0001": "v6host",
		"2001:DB8::2":       "v6net",
		"172.16.0.1":        "not ten",
		"0.0.0.0":           "not ten",
		"11.0.0.0":          "not ten",
	}, []string{
		"10.1.2.3", "10.0.0.0",
		"::ffff:192.168.1.1", // IPv6 key: IPv4 rules, negated or not, do not apply
		"2001:db9::1",
		"example.com", "", "[192.168.1.1]", "192.168.1.1/32", "010.1.2.3", "fe80::1%eth0", "192.168.1",
	})

	// The same rules in the other order: the first match wins, not the
	// longest prefix.
	writeFile(t, dir, "reversed.cidr", "192.168.0.0/16 REJECT\n192.168.1.1 OK\n")
	m = mustOpen(t, "cidr:"+filepath.Join(dir, "reversed.cidr"), nil)
	relaymapstest.TestMap(t, m, map[string]string{"192.168.1.1": "REJECT"}, nil)
}

const nestedCIDR = `if 10.0.0.0/8
# comment inside a block
if !10.1.0.0/16
10.2.0.0/16 inner-a
endif
10.1.2.0/24 inner-b
!10.1.0.0/16
 continued
endif
IF [2001:db8::]/32
2001:db8::/48 v6-inner
ENDIF
10.0.0.0/8 outer
::/0 any-v6
`

func TestCIDRIfEndif(t *testing.T) {
	m, err := relaymaps.ParseCIDRTable("nested.cidr", nestedCIDR)
	if err != nil {
		t.Fatal(err)
	}
	relaymapstest.TestMap(t, m, map[string]string{
		"10.2.3.4":      "inner-a",
		"10.1.2.3":      "inner-b",
		"10.3.0.1":      "continued", // "!10.1.0.0/16" inside the block, value on a continuation line
		"10.1.3.3":      "outer",
		"2001:db8::1":   "v6-inner",
		"2001:db8:1::1": "any-v6",
		"::1":           "any-v6",
	}, []string{"11.0.0.1", "192.0.2.1"})
	if n := m.Len(); n != 6 {
		t.Errorf("Len = %d, want 6", n)
	}
}

func TestCIDRInline(t *testing.T) {
	m := mustOpen(t, "cidr:{ {192.168.1.1 OK}, { 192.168.0.0/16   REJECT text }, {if !10.0.0.0/8}, {0.0.0.0/0 other}, {endif} }", nil)
	relaymapstest.TestMap(t, m, map[string]string{
		"192.168.1.1": "OK", "192.168.7.7": "REJECT text", "172.16.1.1": "other",
	}, []string{"10.0.0.1", "::1"})
	if got := relaymaps.NameOf(m); !strings.HasPrefix(got, "cidr:{ {192.168.1.1 OK}") {
		t.Errorf("Name = %q", got)
	}
	_, err := relaymaps.Open("cidr:{ {192.168.1.1 OK}, {10.0.0.1/8 x} }", nil)
	wantErr(t, err, `relaymaps: cidr:{...}: rule 2: host bits set in "10.0.0.1/8"`)
	_, err = relaymaps.Open("cidr:{ {192.168.1.1 OK}, 10.0.0.0/8 x }", nil)
	wantErr(t, err, `relaymaps: cidr:{...}: rule 2: each rule must be enclosed in {}: no "{" at start of "10.0.0.0/8"`)
}

func TestCIDRErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ text, msg string }{
		{"192.168.0.0/16 OK\n\n10.0.0.1/8 REJECT\n", `:3: host bits set in "10.0.0.1/8"`},
		{"[2001:db8::1]/32 x\n", `:1: host bits set in "[2001:db8::1]/32"`},
		{"10.0.0.0/8\n", `:1: no result for pattern "10.0.0.0/8"`},
		{"10.0.0.0/33 x\n", `:1: bad prefix length in "10.0.0.0/33"`},
		{"10.0.0.0/ x\n", `:1: bad prefix length in "10.0.0.0/"`},
		{"10.0.0.0/+8 x\n", `:1: bad prefix length in "10.0.0.0/+8"`},
		{"010.0.0.0/8 x\n", `:1: bad address pattern "010.0.0.0/8": leading zero in IPv4 octet (octal and decimal are ambiguous)`},
		{"example.com x\n", `:1: bad address pattern "example.com"`},
		{"fe80::1%eth0 x\n", `:1: bad address pattern "fe80::1%eth0"`},
		{"[10.0.0.0 x\n", `:1: missing "]" in "[10.0.0.0"`},
		{"[10.0.0.0]x x\n", `:1: text after "]" in "[10.0.0.0]x"`},
		{"! x\n", `:1: no address pattern after "!"`},
		{"1.2.3.4 ok\nendif\n", `:2: "endif" without matching "if"`},
		{"if 10.0.0.0/8\nif 10.1.0.0/16\n10.1.1.1 x\nendif\n", `:1: "if" without matching "endif"`},
		{"if 10.0.0.0/8 OK\nendif\n", `:1: text after "if 10.0.0.0/8": "OK"`},
		{"if\nendif\n", `:1: no address pattern after "if"`},
		{"if 10.0.0.0/8\nendif now\n", `:2: text after "endif": "now"`},
		{"  10.0.0.0/8 x\n", `:1: continuation line (starts with whitespace) has no preceding line to continue`},
	} {
		p := writeFile(t, dir, "bad.cidr", tc.text)
		_, err := relaymaps.Open("cidr:"+p, nil)
		wantErr(t, err, "relaymaps: "+p+tc.msg)
	}
	_, err := relaymaps.Open("cidr:"+filepath.Join(dir, "missing.cidr"), nil)
	if !errors.Is(err, relaymaps.ErrConfig) || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	_, err = relaymaps.Open("cidr:", nil)
	wantErr(t, err, `relaymaps: bad table spec "cidr:": missing file name`)
}

func TestTextTable(t *testing.T) {
	dir := t.TempDir()
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{ReplaceAttr: dropTime}))
	writeFile(t, dir, "access", `# access(5) source
User@Example.COM     OK
example.com          REJECT no
   thanks
# a comment between continuation lines does not end the entry
	 really
 
192.0.2              DUNNO
example.com          second entry is ignored
alias:               x
value-with-tabs	a	b  
`)
	for _, typ := range []string{"texthash", "hash", "btree", "lmdb", "cdb", "dbm"} {
		m := mustOpen(t, typ+":access", &relaymaps.OpenOptions{BaseDir: dir, Logger: log})
		if got := relaymaps.NameOf(m); got != typ+":access" {
			t.Errorf("Name = %q", got)
		}
		if !relaymaps.IsFixed(m) {
			t.Errorf("%s must be fixed", typ)
		}
		relaymapstest.TestMap(t, m, map[string]string{
			"user@example.com": "OK",
			"USER@EXAMPLE.com": "OK",
			"example.com":      "REJECT no   thanks	 really",
			"192.0.2":          "DUNNO",
			"alias:":           "x",
			"value-with-tabs":  "a	b",
		}, []string{"user", "example", "com", "# access(5) source", ""})
		if n := m.(*relaymaps.TextTable).Len(); n != 5 {
			t.Errorf("Len = %d", n)
		}
		if err := m.(relaymaps.Closer).Close(); err != nil {
			t.Error(err)
		}
	}
	p := filepath.Join(dir, "access")
	for _, w := range []string{
		`level=WARN msg="relaymaps: ` + p + `:9: duplicate entry \"example.com\" ignored; keeping the one from line 3"`,
		`level=WARN msg="relaymaps: ` + p + `:10: record is in \"key: value\" format; is this an alias file?"`,
	} {
		if !strings.Contains(logs.String(), w) {
			t.Errorf("log lacks %s\nlog:\n%s", w, logs.String())
		}
	}
}

func dropTime(_ []string, a slog.Attr) slog.Attr {
	if a.Key == slog.TimeKey {
		return slog.Attr{}
	}
	return a
}

func TestTextTableErrors(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "bad", "a b\n\n# x\nlonely\n")
	_, err := relaymaps.Open("hash:"+p, nil)
	wantErr(t, err, "relaymaps: "+p+`:4: key "lonely" has no value (expected "key whitespace value")`)
	_, err = relaymaps.Open("texthash:"+filepath.Join(dir, "nope"), nil)
	if !errors.Is(err, relaymaps.ErrConfig) || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	_, err = relaymaps.Open("texthash:", nil)
	wantErr(t, err, `relaymaps: bad table spec "texthash:": missing file name`)
}

// setVersion gives the file a distinct modification time so that a change
// is seen even within the file system's timestamp granularity.
func setVersion(t *testing.T, p string, n int) {
	t.Helper()
	ts := time.Date(2030, 1, 1, 0, 0, n, 0, time.UTC)
	if err := os.Chtimes(p, ts, ts); err != nil {
		t.Fatal(err)
	}
}

func TestTextTableReload(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "relay_recipients", "user@example.com OK\n")
	setVersion(t, p, 1)
	var mu sync.Mutex
	var reloads []string
	opts := &relaymaps.OpenOptions{
		CheckInterval: time.Nanosecond, // check on every lookup
		Logger:        slog.New(slog.DiscardHandler),
		OnReload: func(table string, err error) {
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				reloads = append(reloads, table+": "+err.Error())
			} else {
				reloads = append(reloads, table+": ok")
			}
		},
	}
	m := mustOpen(t, "texthash:"+p, opts)
	tt := m.(*relaymaps.TextTable)
	ctx := context.Background()
	lookup := func(key string) string {
		t.Helper()
		v, ok, err := m.Lookup(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return "<not found>"
		}
		return v
	}
	if got := lookup("user@example.com"); got != "OK" {
		t.Fatalf("got %q", got)
	}

	// A new version is picked up by the next lookup.
	writeFile(t, dir, "relay_recipients", "user@example.com NEW\nother@example.com OK\n")
	setVersion(t, p, 2)
	if got := lookup("user@example.com"); got != "NEW" {
		t.Fatalf("after change: got %q", got)
	}
	if got := lookup("other@example.com"); got != "OK" {
		t.Fatalf("after change: got %q", got)
	}

	// A broken version keeps the old contents and is reported once.
	writeFile(t, dir, "relay_recipients", "user@example.com BROKEN\nbroken\n")
	setVersion(t, p, 3)
	for range 3 {
		if got := lookup("user@example.com"); got != "NEW" {
			t.Fatalf("after broken change: got %q", got)
		}
	}
	wantMsg := "relaymaps: " + p + `:2: key "broken" has no value (expected "key whitespace value")`
	err := tt.Reload()
	wantErr(t, err, wantMsg)
	if got := lookup("user@example.com"); got != "NEW" {
		t.Fatalf("after failed Reload: got %q", got)
	}

	// Fixed again: Reload swaps it in.
	writeFile(t, dir, "relay_recipients", "user@example.com FIXED\n")
	setVersion(t, p, 4)
	if err := tt.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := lookup("other@example.com"); got != "<not found>" {
		t.Fatalf("after Reload: got %q", got)
	}
	if got := lookup("user@example.com"); got != "FIXED" {
		t.Fatalf("after Reload: got %q", got)
	}

	// Deleting the file keeps the contents.
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	if got := lookup("user@example.com"); got != "FIXED" {
		t.Fatalf("after delete: got %q", got)
	}

	mu.Lock()
	defer mu.Unlock()
	want := []string{
		"texthash:" + p + ": ok",
		"texthash:" + p + ": " + wantMsg,
		"texthash:" + p + ": relaymaps: texthash:" + p + ": stat " + p + ": no such file or directory",
	}
	if strings.Join(reloads, "\n") != strings.Join(want, "\n") {
		t.Errorf("reload reports:\n%s\nwant:\n%s", strings.Join(reloads, "\n"), strings.Join(want, "\n"))
	}
}

func TestTextTableNoAutoReload(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "t", "a 1\n")
	setVersion(t, p, 1)
	m := mustOpen(t, "texthash:"+p, &relaymaps.OpenOptions{CheckInterval: -1})
	writeFile(t, dir, "t", "a 2\n")
	setVersion(t, p, 2)
	relaymapstest.TestMap(t, m, map[string]string{"a": "1"}, nil)
	if err := m.(*relaymaps.TextTable).Reload(); err != nil {
		t.Fatal(err)
	}
	relaymapstest.TestMap(t, m, map[string]string{"a": "2"}, nil)
}
