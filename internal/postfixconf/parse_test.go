package postfixconf

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestParseSeed(t *testing.T) {
	c, err := ParseFile("testdata/seed-main.cf")
	if err != nil {
		t.Fatal(err)
	}
	if w := c.Warnings(); len(w) != 0 {
		t.Errorf("warnings: %q", w)
	}
	names := c.Names()
	if len(names) != 72 {
		t.Errorf("len(Names()) = %d, want 72", len(names))
	}
	if !slices.Equal(names[:5], []string{"compatibility_level", "mydomain", "myhostname", "recipient_delimiter", "strict_rfc821_envelopes"}) {
		t.Errorf("Names()[:5] = %q", names[:5])
	}
	if names[len(names)-1] != "milter_default_action" {
		t.Errorf("last name = %q", names[len(names)-1])
	}

	// inet_interfaces spans lines 100-111 with blank and comment lines
	// in between; Postfix joins the text lines and skips the others.
	p, ok := c.Param("inet_interfaces")
	want := Param{
		Name: "inet_interfaces",
		Raw:  "127.0.0.1, [::1],    198.51.100.7,    2001:db8:48d1::1,    10.195.171.142,    fdc1:d89e:b128:6a04::7de4",
		File: "testdata/seed-main.cf",
		Line: 100,
	}
	if !ok || p != want {
		t.Errorf("Param(inet_interfaces) = %+v, %v\nwant %+v", p, ok, want)
	}
	list, err := c.List("inet_interfaces")
	if err != nil {
		t.Fatal(err)
	}
	wantList := []string{"127.0.0.1", "[::1]", "198.51.100.7", "2001:db8:48d1::1", "10.195.171.142", "fdc1:d89e:b128:6a04::7de4"}
	if !slices.Equal(list, wantList) {
		t.Errorf("List(inet_interfaces) = %q", list)
	}

	// A commented-out first element of a multi-line value.
	if p, _ := c.Param("smtpd_milters"); p.Raw != "unix:/rspamd/rspamd_proxy.sock" || p.Line != 339 {
		t.Errorf("smtpd_milters = %+v", p)
	}

	abs, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}
	gets := map[string]string{
		"myhostname":                          "maeve.example.net",
		"mynetworks":                          "cidr:" + abs + "/mynetworks.cidr",
		"alias_maps":                          "hash:/etc/aliases",
		"smtp_tls_mandatory_protocols":        "!SSLv2, !SSLv3, !TLSv1, !TLSv1.1",
		"smtpd_tls_mandatory_exclude_ciphers": "aNULL, eNULL, EXPORT, RC4, DES, SSLv2, MD5, SHA1",
		"smtpd_tls_chain_files":               "/etc/letsencrypt/live/maeve.example.net-ecdsa/keycertchain.pem     /etc/letsencrypt/live/maeve.example.net-rsa/keycertchain.pem",
		"smtpd_relay_restrictions":            "permit_mynetworks    reject_unauth_destination",
		"smtpd_client_restrictions":           "", // the seed misspells it smtp_client_restrictions
		"local_transport":                     "error:local mail delivery is disabled",
		"mydestination":                       "",
		// compatibility_level = 2 in the seed.
		"smtpd_relay_before_recipient_restrictions": "no",
		"mynetworks_style":                          "host",
		"smtp_tls_session_cache_database":           "btree:/var/lib/postfix/smtp_scache",
	}
	for name, want := range gets {
		if got, err := c.Get(name); err != nil || got != want {
			t.Errorf("Get(%s) = %q, %v; want %q", name, got, err, want)
		}
	}
	policy, err := c.List("smtp_tls_policy_maps")
	if err != nil {
		t.Fatal(err)
	}
	if len(policy) != 2 || policy[1] != "socketmap:inet:127.0.0.1:8461:postfix" {
		t.Errorf("smtp_tls_policy_maps = %q", policy)
	}
	typ, name, err := ParseTableSpec(policy[1])
	if err != nil || typ != "socketmap" || name != "inet:127.0.0.1:8461:postfix" {
		t.Errorf("ParseTableSpec(%q) = %q, %q, %v", policy[1], typ, name, err)
	}

	unused := c.Unused()
	var got []string
	for _, p := range unused {
		got = append(got, p.Name+"@"+itoa(p.Line))
	}
	if !slices.Equal(got, []string{"smtp_client_restrictions@304", "smtp_sender_restrictions@320"}) {
		t.Errorf("Unused() = %q", got)
	}
}

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}

func TestParseLogicalLines(t *testing.T) {
	type def struct {
		name, raw string
		line      int
	}
	tests := []struct {
		name     string
		in       string
		want     []def
		warnings []string
	}{
		{
			name: "basic",
			in:   "a = b\nc=d\n  \ne =\n",
			want: []def{{"a", "b", 1}, {"c", "d", 2}, {"e", "", 4}},
		},
		{
			name: "continuation across blank and comment lines",
			in:   "list = one,\n\n# column-0 comment\n    # indented comment\n\ttwo\n  three\nnext = x\n",
			want: []def{{"list", "one,\ttwo  three", 1}, {"next", "x", 7}},
		},
		{
			name: "hash after text is not a comment",
			in:   "banner = $myhostname # ESMTP\n",
			want: []def{{"banner", "$myhostname # ESMTP", 1}},
		},
		{
			name: "whitespace trimmed around name, = and value",
			in:   "name\t =\t  value with  inner   spaces \t \n",
			want: []def{{"name", "value with  inner   spaces", 1}},
		},
		{
			name: "value may hold = and :",
			in:   "x = a=b:c\n",
			want: []def{{"x", "a=b:c", 1}},
		},
		{
			name: "CRLF line ends",
			in:   "a = b\r\n  c\r\n\r\nd = e\r\n",
			want: []def{{"a", "b  c", 1}, {"d", "e", 4}},
		},
		{
			name: "no final newline",
			in:   "a = b\n  c",
			want: []def{{"a", "b  c", 1}},
		},
		{
			name:     "continuation without a start is ignored",
			in:       "  orphan = 1\n   more\n# c\na = b\n",
			want:     []def{{"a", "b", 4}},
			warnings: []string{`main.cf:1: logical line must not start with whitespace: "  orphan = 1" (ignored)`},
		},
		{
			name:     "later definition overrides",
			in:       "a = 1\nb = 2\na = 3\na = 3\n",
			want:     []def{{"a", "3", 4}, {"b", "2", 2}},
			warnings: []string{"main.cf:3: a overrides earlier definition at main.cf:1"},
		},
		{
			name:     "odd names are accepted with a warning",
			in:       "my-param = 1\n",
			want:     []def{{"my-param", "1", 1}},
			warnings: []string{`main.cf:1: parameter name "my-param" has characters outside [A-Za-z0-9_] and cannot be referenced with $name`},
		},
		{
			name: "empty input",
			in:   "",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse(strings.NewReader(tc.in), "main.cf")
			if err != nil {
				t.Fatal(err)
			}
			if len(c.Names()) != len(tc.want) {
				t.Errorf("Names() = %q, want %d names", c.Names(), len(tc.want))
			}
			for _, d := range tc.want {
				p, ok := c.Param(d.name)
				want := Param{Name: d.name, Raw: d.raw, File: "main.cf", Line: d.line}
				if !ok || p != want {
					t.Errorf("Param(%q) = %+v, %v; want %+v", d.name, p, ok, want)
				}
			}
			if w := c.Warnings(); !slices.Equal(w, tc.warnings) {
				t.Errorf("Warnings() = %q, want %q", w, tc.warnings)
			}
		})
	}
}

func TestDefinitions(t *testing.T) {
	c, err := Parse(strings.NewReader("a = 1\n\na = 2\n"), "main.cf")
	if err != nil {
		t.Fatal(err)
	}
	c.Set("a", " 3 ")
	want := []Param{
		{Name: "a", Raw: "1", File: "main.cf", Line: 1},
		{Name: "a", Raw: "2", File: "main.cf", Line: 3},
		{Name: "a", Raw: "3"},
	}
	if got := c.Definitions("a"); !slices.Equal(got, want) {
		t.Errorf("Definitions(a) = %+v", got)
	}
	if p, _ := c.Param("a"); p != want[2] {
		t.Errorf("Param(a) = %+v", p)
	}
	if got := c.Definitions("none"); len(got) != 0 {
		t.Errorf("Definitions(none) = %+v", got)
	}
	c.Set("new", "x")
	if got := c.Names(); !slices.Equal(got, []string{"a", "new"}) {
		t.Errorf("Names() = %q", got)
	}
}

func TestParseErrors(t *testing.T) {
	in := "# header\nmydomain example.com\nok = 1\n= value\n  continued\nmissing\n"
	c, err := Parse(strings.NewReader(in), "main.cf")
	if c != nil {
		t.Error("Parse returned a Config with an error")
	}
	want := `main.cf:2: missing '=' after parameter name: "mydomain example.com"` + "\n" +
		`main.cf:4: missing parameter name: "= value  continued"` + "\n" +
		`main.cf:6: missing '=' after parameter name: "missing"`
	if err == nil || err.Error() != want {
		t.Fatalf("error =\n%v\nwant\n%s", err, want)
	}
	var se *SyntaxError
	if !errors.As(err, &se) || se.Line != 2 || se.File != "main.cf" || se.Msg != "missing '=' after parameter name" {
		t.Errorf("errors.As: %+v", se)
	}

	long := "x" + strings.Repeat("y", 100) + "\n"
	_, err = Parse(strings.NewReader(long), "main.cf")
	if err == nil || err.Error() != `main.cf:1: missing '=' after parameter name: "x`+strings.Repeat("y", 59)+`..."` {
		t.Errorf("long line error = %v", err)
	}

	_, err = Parse(strings.NewReader(strings.Repeat("bad\n", 50)), "main.cf")
	if n := strings.Count(err.Error(), "\n") + 1; n != maxSyntaxErrors {
		t.Errorf("reported %d errors, want %d", n, maxSyntaxErrors)
	}
}

func TestParseFileErrors(t *testing.T) {
	_, err := ParseFile(filepath.Join(t.TempDir(), "nope.cf"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ParseFile of a missing file: %v", err)
	}
	path := filepath.Join(t.TempDir(), "main.cf")
	if err := os.WriteFile(path, []byte("a = 1\nbroken\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = ParseFile(path)
	if err == nil || err.Error() != path+`:2: missing '=' after parameter name: "broken"` {
		t.Errorf("error = %v", err)
	}
}

func TestZeroConfig(t *testing.T) {
	var c Config
	if v, err := c.Get("myorigin"); err != nil || v != "" {
		t.Errorf("Get(myorigin) = %q, %v", v, err)
	}
	c.Set("myhostname", "mx.example.com")
	c.Set("mydomain", "example.com")
	if v, _ := c.Get("myorigin"); v != "mx.example.com" {
		t.Errorf("Get(myorigin) = %q", v)
	}
	if v, _ := c.Get("mydestination"); v != "mx.example.com, localhost.example.com, localhost" {
		t.Errorf("Get(mydestination) = %q", v)
	}
	if v, _ := c.Get("smtpd_banner"); v != "mx.example.com ESMTP Postfix" {
		t.Errorf("Get(smtpd_banner) = %q", v)
	}
	if len(c.Names()) != 2 || len(c.Warnings()) != 0 || len(c.Unused()) != 0 {
		t.Errorf("Names %q Warnings %q Unused %v", c.Names(), c.Warnings(), c.Unused())
	}
}

func TestConcurrentUse(t *testing.T) {
	c, err := ParseFile("testdata/seed-main.cf")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	for i := range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for range 50 {
				if _, err := c.Get("smtpd_tls_mandatory_exclude_ciphers"); err != nil {
					t.Error(err)
				}
				c.Expand("$nosuch" + itoa(i))
				c.Set("x"+itoa(i), "1")
				_ = c.Warnings()
				_ = c.Names()
			}
		}()
	}
	for range 4 {
		<-done
	}
	if len(c.Warnings()) != 4 {
		t.Errorf("warnings = %q", c.Warnings())
	}
}
