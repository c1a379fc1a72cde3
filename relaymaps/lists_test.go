package relaymaps_test

import (
	"context"
	"errors"
	"net/netip"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/mxkit/mxkit/relaymaps"
	"github.com/mxkit/mxkit/relaymaps/relaymapstest"
)

// recorder is a table that records the keys it is asked.
type recorder struct {
	mu    sync.Mutex
	keys  []string
	data  map[string]string
	fixed bool
	err   error
}

func (r *recorder) Lookup(_ context.Context, key string) (string, bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.keys = append(r.keys, key)
	if r.err != nil {
		return "", false, r.err
	}
	v, ok := r.data[key]
	return v, ok, nil
}

func (r *recorder) FixedKeys() bool { return r.fixed }
func (r *recorder) Name() string    { return "rec:test" }

func (r *recorder) asked() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := r.keys
	r.keys = nil
	return k
}

func init() {
	// A table type for list tests; "rec:fixed" and "rec:pattern".
	relaymaps.Register("rec", func(name string, _ *relaymaps.OpenOptions) (relaymaps.Map, error) {
		r := recorders[name]
		if r == nil {
			return nil, errors.New("no such recorder")
		}
		return r, nil
	})
}

var recorders = map[string]*recorder{}

func TestUnion(t *testing.T) {
	a := relaymaps.Dict{"k": "a", "only-a": "1"}
	b := relaymaps.Dict{"k": "b"}
	u := relaymaps.NewUnion(a, relaymaps.Dict{}, b)
	relaymapstest.TestMap(t, u, map[string]string{"k": "a,b", "K": "a,b", "only-a": "1"}, []string{"x"})
	if got := u.Name(); got != "unionmap:{relaymaps.Dict, relaymaps.Dict, relaymaps.Dict}" {
		t.Errorf("Name = %q", got)
	}

	boom := errors.New("boom")
	u = relaymaps.NewUnion(a, relaymaps.MapFunc(func(context.Context, string) (string, bool, error) { return "", false, boom }))
	if _, _, err := u.Lookup(context.Background(), "k"); !errors.Is(err, boom) {
		t.Errorf("error from a member: got %v", err)
	}

	m := mustOpen(t, "unionmap:{inline:{k=1}, static:{x y}, cidr:{{10.0.0.0/8 ten}}}", nil)
	relaymapstest.TestMap(t, m, map[string]string{"k": "1,x y", "10.1.1.1": "x y,ten"}, nil)
	if !relaymaps.IsFixed(m) {
		t.Error("union of a fixed first table must be fixed")
	}
	if relaymaps.IsFixed(mustOpen(t, "unionmap:{cidr:{{10.0.0.0/8 ten}}, inline:{k=1}}", nil)) {
		t.Error("union of a pattern first table must not be fixed")
	}
	if got := relaymaps.NameOf(m); got != "unionmap:{inline:{k=1}, static:{x y}, cidr:{{10.0.0.0/8 ten}}}" {
		t.Errorf("Name = %q", got)
	}
	_, err := relaymaps.Open("unionmap:{}", nil)
	wantErr(t, err, `relaymaps: unionmap:{}: no tables; need "unionmap:{type:name, ...}"`)
	_, err = relaymaps.Open("unionmap:{static:a, ldap:/x}", nil)
	wantErr(t, err, `relaymaps: unsupported table type "ldap" in "ldap:/x"`)
}

func TestOpen(t *testing.T) {
	_, err := relaymaps.Open("ldap:/x", nil)
	wantErr(t, err, `relaymaps: unsupported table type "ldap" in "ldap:/x"`)
	_, err = relaymaps.Open("example.com", nil)
	wantErr(t, err, `relaymaps: bad table spec "example.com": need "type:name"`)
	_, err = relaymaps.Open(":x", nil)
	wantErr(t, err, `relaymaps: bad table spec ":x": need "type:name"`)
	if m := mustOpen(t, "STATIC:x", nil); relaymaps.NameOf(m) != "static:x" {
		t.Errorf("type names are case-insensitive; got %q", relaymaps.NameOf(m))
	}
	types := relaymaps.Types()
	for _, want := range []string{"cidr", "hash", "inline", "static", "texthash", "unionmap"} {
		if !slices.Contains(types, want) {
			t.Errorf("Types() = %v lacks %q", types, want)
		}
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("registering cidr twice did not panic")
			}
		}()
		relaymaps.Register("cidr", func(string, *relaymaps.OpenOptions) (relaymaps.Map, error) { return nil, nil })
	}()
	var o *relaymaps.OpenOptions
	if got := o.ResolvePath("x"); got != "x" {
		t.Errorf("nil ResolvePath = %q", got)
	}
	o = &relaymaps.OpenOptions{BaseDir: "/etc/postfix"}
	if got := o.ResolvePath("x/y"); got != "/etc/postfix/x/y" {
		t.Errorf("ResolvePath = %q", got)
	}
	if got := o.ResolvePath("/abs"); got != "/abs" {
		t.Errorf("ResolvePath = %q", got)
	}
}

func TestDomainList(t *testing.T) {
	dir := t.TempDir()
	listFile := writeFile(t, dir, "relay_domains", "# relay domains\nfile.example  # trailing comment ignored\n!blocked.file.example, .file.example\n")
	tab := writeFile(t, dir, "domains", "Table.Example OK\n")
	spec := "Example.COM, .sub.example.net !bad.example.org example.org\n" +
		"  " + listFile + " texthash:" + filepath.Base(tab) + " cidr:{{10.0.0.0/8 x}}"
	l, err := relaymaps.ParseDomainList(spec, &relaymaps.OpenOptions{BaseDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if !l.ParentMatchesSubdomains {
		t.Fatal("ParseDomainList must default to parent style")
	}
	cases := []struct {
		domain        string
		parent, exact bool // result with ParentMatchesSubdomains true / false
	}{
		{"example.com", true, true},
		{"EXAMPLE.com.", true, true},
		{"a.b.example.com", true, false},
		{"xexample.com", false, false},
		{"example.com..", false, false},
		{"sub.example.net", false, false},
		{"a.sub.example.net", true, true},
		{"bad.example.org", false, false},
		{"x.bad.example.org", false, false},
		{"good.example.org", true, false},
		{"example.org", true, true},
		{"file.example", true, true},
		{"blocked.file.example", true, false}, // "file.example" comes first
		{"ok.file.example", true, true},
		{"table.example", true, true},
		{"www.table.example", true, false},
		{"10.1.2.3", true, true}, // found by the cidr table
		{"", false, false},
		{".", false, false},
		{"other.test", false, false},
	}
	ctx := context.Background()
	for _, parent := range []bool{true, false} {
		l.ParentMatchesSubdomains = parent
		for _, c := range cases {
			want := c.exact
			if parent {
				want = c.parent
			}
			got, err := l.Match(ctx, c.domain)
			if err != nil || got != want {
				t.Errorf("parent=%v Match(%q) = %v, %v; want %v", parent, c.domain, got, err, want)
			}
		}
	}

	var nilList *relaymaps.DomainList
	if ok, err := nilList.Match(ctx, "example.com"); ok || err != nil {
		t.Errorf("nil list matched: %v %v", ok, err)
	}
	if ok, err := (&relaymaps.DomainList{}).Match(ctx, "example.com"); ok || err != nil {
		t.Errorf("zero list matched: %v %v", ok, err)
	}
}

func TestDomainListTables(t *testing.T) {
	fixed := &recorder{fixed: true, data: map[string]string{"example.com": "x", ".example.net": "y"}}
	pattern := &recorder{data: map[string]string{"a.b.example.org": "z"}}
	recorders["fixed"], recorders["pattern"] = fixed, pattern
	l, err := relaymaps.ParseDomainList("rec:fixed rec:pattern", nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	check := func(domain string, want bool, fixedKeys, patternKeys []string) {
		t.Helper()
		got, err := l.Match(ctx, domain)
		if err != nil || got != want {
			t.Errorf("Match(%q) = %v, %v; want %v", domain, got, err, want)
		}
		if k := fixed.asked(); !slices.Equal(k, fixedKeys) {
			t.Errorf("Match(%q): fixed table asked %q, want %q", domain, k, fixedKeys)
		}
		if k := pattern.asked(); !slices.Equal(k, patternKeys) {
			t.Errorf("Match(%q): pattern table asked %q, want %q", domain, k, patternKeys)
		}
	}
	check("A.B.Example.COM", true, []string{"a.b.example.com", "b.example.com", "example.com"}, nil)
	check("a.b.example.org", true, []string{"a.b.example.org", "b.example.org", "example.org", "org"}, []string{"a.b.example.org"})
	check("x.example.net", false, []string{"x.example.net", "example.net", "net"}, []string{"x.example.net"})
	l.ParentMatchesSubdomains = false
	check("x.example.net", true, []string{"x.example.net", ".example.net"}, nil)
	check("x.example.com", false, []string{"x.example.com", ".example.com", ".com"}, []string{"x.example.com"})

	// A table error is returned, never a silent false.
	fixed.err = relaymaps.ErrTemporary
	ok, err := l.Match(ctx, "example.com")
	var le *relaymaps.LookupError
	if ok || !errors.As(err, &le) || le.Table != "rec:test" || le.Key != "example.com" || !errors.Is(err, relaymaps.ErrTemporary) {
		t.Errorf("table error: got %v, %v", ok, err)
	}
	if got := err.Error(); got != `rec:test: lookup "example.com": temporary lookup failure: temporary lookup failure` {
		t.Errorf("error text %q", got)
	}
	fixed.err = nil
}

func TestDomainListErrors(t *testing.T) {
	dir := t.TempDir()
	bad := writeFile(t, dir, "list", "ok.example\n\n !\n")
	for spec, msg := range map[string]string{
		"example.com ! x":         `relaymaps: no pattern after "!"`,
		"example.com " + bad:      "relaymaps: " + bad + `:3: no pattern after "!"`,
		"ldap:/etc/x":             `relaymaps: unsupported table type "ldap" in "ldap:/etc/x"`,
		"inline:{a=b":             `relaymaps: missing "}" in "inline:{a=b"`,
		"cidr:{{10.0.0.1/8 bad}}": `relaymaps: cidr:{...}: rule 1: host bits set in "10.0.0.1/8"`,
	} {
		_, err := relaymaps.ParseDomainList(spec, nil)
		wantErr(t, err, msg)
	}
	_, err := relaymaps.ParseDomainList("/nonexistent/file", nil)
	if !errors.Is(err, relaymaps.ErrConfig) || err.Error() != "relaymaps: match list: open /nonexistent/file: no such file or directory" {
		t.Errorf("missing file: %v", err)
	}
	loop := filepath.Join(dir, "loop")
	writeFile(t, dir, "loop", loop+"\n")
	_, err = relaymaps.ParseDomainList(loop, nil)
	wantErr(t, err, "relaymaps: "+loop+`:1: list files nested more than 8 deep at "`+loop+`"`)
}

func TestHostList(t *testing.T) {
	dir := t.TempDir()
	nets := writeFile(t, dir, "nets", "# trusted\n198.51.100.0/24\n!203.0.113.7 203.0.113.0/24\n")
	spec := "127.0.0.0/8 [::1]/128 [2001:db8::]/32 2001:db8:1::/48 192.0.2.1 !192.168.1.1 192.168.0.0/16 " +
		".trusted.example relay.example " + nets + " cidr:{{172.16.0.0/12 any}}, !/dev/null"
	l, err := relaymaps.ParseHostList(spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, c := range []struct {
		host, addr string
		want       bool
	}{
		{"", "127.0.0.1", true},
		{"", "::1", true},
		{"", "::2", false},
		{"", "2001:db8:ffff::1", true},
		{"", "2001:db9::1", false},
		{"", "192.0.2.1", true},
		{"", "::ffff:192.0.2.1", true}, // IPv4-mapped is matched as IPv4
		{"", "192.0.2.2", false},
		{"", "192.168.1.1", false},
		{"", "192.168.1.2", true},
		{"", "198.51.100.9", true},
		{"", "203.0.113.7", false},
		{"", "203.0.113.8", true},
		{"", "172.20.0.1", true},
		{"a.trusted.example", "10.0.0.1", true},
		{"trusted.example", "10.0.0.1", false},
		{"RELAY.example.", "10.0.0.1", true},
		{"mx.relay.example", "10.0.0.1", true},
		{"unknown", "10.0.0.1", false},
		{"", "", false},
	} {
		var a netip.Addr
		if c.addr != "" {
			a = netip.MustParseAddr(c.addr)
		}
		got, err := l.Match(ctx, c.host, a)
		if err != nil || got != c.want {
			t.Errorf("Match(%q, %q) = %v, %v; want %v", c.host, c.addr, got, err, c.want)
		}
	}
	l.ParentMatchesSubdomains = false
	if ok, _ := l.Match(ctx, "mx.relay.example", netip.MustParseAddr("10.0.0.1")); ok {
		t.Error("parent style off: relay.example matched mx.relay.example")
	}
	var empty relaymaps.HostList
	if ok, err := empty.Match(ctx, "x", netip.MustParseAddr("127.0.0.1")); ok || err != nil {
		t.Errorf("zero HostList matched: %v %v", ok, err)
	}
}

func TestHostListTables(t *testing.T) {
	fixed := &recorder{fixed: true, data: map[string]string{"192.0.2.1": "x", "example.com": "y"}}
	pattern := &recorder{data: map[string]string{"2001:db8::1": "z"}}
	recorders["hfixed"], recorders["hpattern"] = fixed, pattern
	l, err := relaymaps.ParseHostList("rec:hfixed, rec:hpattern", nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	check := func(host, addr string, want bool, fixedKeys, patternKeys []string) {
		t.Helper()
		got, err := l.Match(ctx, host, netip.MustParseAddr(addr))
		if err != nil || got != want {
			t.Errorf("Match(%q, %q) = %v, %v; want %v", host, addr, got, err, want)
		}
		if k := fixed.asked(); !slices.Equal(k, fixedKeys) {
			t.Errorf("fixed table asked %q, want %q", k, fixedKeys)
		}
		if k := pattern.asked(); !slices.Equal(k, patternKeys) {
			t.Errorf("pattern table asked %q, want %q", k, patternKeys)
		}
	}
	check("mail.example.com", "198.51.100.1", true, []string{"mail.example.com", "example.com"}, nil)
	check("mail.example.org", "192.0.2.1", true, []string{"mail.example.org", "example.org", "org", "192.0.2.1"}, nil)
	check("", "2001:DB8::1", true, []string{"2001:db8::1"}, []string{"2001:db8::1"})
	check("h.test", "10.0.0.1", false, []string{"h.test", "test", "10.0.0.1"}, []string{"h.test", "10.0.0.1"})

	pattern.err = errors.Join(relaymaps.ErrConfig, errors.New("bad query"))
	ok, err := l.Match(ctx, "", netip.MustParseAddr("10.0.0.1"))
	if ok || !relaymaps.IsConfig(err) || err.Error() != `rec:test: lookup "10.0.0.1": table configuration error: table configuration error`+"\nbad query" {
		t.Errorf("table error: %v, %q", ok, err)
	}
	pattern.err = nil
	fixed.asked()
}

func TestHostListErrors(t *testing.T) {
	dir := t.TempDir()
	f := writeFile(t, dir, "nets", "10.0.0.0/8\n# x\n192.168.1.0/16\n")
	for spec, msg := range map[string]string{
		"127.0.0.1/8":        `relaymaps: host bits set in "127.0.0.1/8"`,
		"[2001:db8::1]/32":   `relaymaps: host bits set in "[2001:db8::1]/32"`,
		"10.0.0.0/8 " + f:    "relaymaps: " + f + `:3: host bits set in "192.168.1.0/16"`,
		"[::1":               `relaymaps: missing "]" in "[::1"`,
		"10.0.0.0/40":        `relaymaps: bad prefix length in "10.0.0.0/40"`,
		"foo/bar":            `relaymaps: bad address pattern "foo/bar"`,
		"hash:/nonexistent/": "",
	} {
		_, err := relaymaps.ParseHostList(spec, nil)
		if msg == "" {
			if !errors.Is(err, relaymaps.ErrConfig) {
				t.Errorf("%q: %v", spec, err)
			}
			continue
		}
		wantErr(t, err, msg)
	}
	// Not an address (leading zero) and not a table: a hostname pattern,
	// as in Postfix.
	l, err := relaymaps.ParseHostList("010.0.0.1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := l.Match(context.Background(), "", netip.MustParseAddr("10.0.0.1")); ok {
		t.Error("010.0.0.1 matched 10.0.0.1")
	}
}
