package postfixconf

import (
	"slices"
	"testing"
)

func TestSplitList(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{" ,\t\r\n, ", nil},
		{"a", []string{"a"}},
		{"a,b c\td\re\nf", []string{"a", "b", "c", "d", "e", "f"}},
		{",, a ,, b ,,", []string{"a", "b"}},
		{"check_policy_service { inet:host:port, timeout=10s }", []string{"check_policy_service", "{ inet:host:port, timeout=10s }"}},
		{"inline:{ a=1, b=2 }", []string{"inline:{ a=1, b=2 }"}},
		{"inline:{ a=1, b=2 },next", []string{"inline:{ a=1, b=2 }", "next"}},
		{"cidr:{ {10.0.0.0/8 OK}, {0.0.0.0/0 REJECT} } x", []string{"cidr:{ {10.0.0.0/8 OK}, {0.0.0.0/0 REJECT} }", "x"}},
		{"a{b c}d e", []string{"a{b c}d", "e"}},
		{"unbalanced { a, b", []string{"unbalanced", "{ a, b"}},
		{"stray } brace", []string{"stray", "}", "brace"}},
		{"permit_mynetworks    reject_unauth_destination", []string{"permit_mynetworks", "reject_unauth_destination"}},
		{"[::1]/128 [fe80::]/64", []string{"[::1]/128", "[fe80::]/64"}},
	}
	for _, tc := range tests {
		if got := SplitList(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("SplitList(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestParseTableSpec(t *testing.T) {
	tests := []struct {
		in, typ, name, err string
	}{
		{in: "hash:/etc/postfix/access", typ: "hash", name: "/etc/postfix/access"},
		{in: "cidr:/etc/x", typ: "cidr", name: "/etc/x"},
		{in: "inline:{ a=1, b=2 }", typ: "inline", name: "{ a=1, b=2 }"},
		{in: "socketmap:inet:127.0.0.1:8461:postfix", typ: "socketmap", name: "inet:127.0.0.1:8461:postfix"},
		{in: "proxy:unix:passwd.byname", typ: "proxy", name: "unix:passwd.byname"},
		{in: "static:all", typ: "static", name: "all"},
		{in: "lmdb_2:x", typ: "lmdb_2", name: "x"},
		{in: "permit_mynetworks", err: `table "permit_mynetworks": want type:name`},
		{in: ":x", err: `table ":x": bad table type "" (want [a-z0-9_]+)`},
		{in: "Hash:x", err: `table "Hash:x": bad table type "Hash" (want [a-z0-9_]+)`},
		{in: "[::1]:25", err: `table "[::1]:25": bad table type "[" (want [a-z0-9_]+)`},
		{in: "hash:", err: `table "hash:": empty table name`},
	}
	for _, tc := range tests {
		typ, name, err := ParseTableSpec(tc.in)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("ParseTableSpec(%q) = %q, %q, %v; want error %q", tc.in, typ, name, err, tc.err)
			}
			continue
		}
		if err != nil || typ != tc.typ || name != tc.name {
			t.Errorf("ParseTableSpec(%q) = %q, %q, %v", tc.in, typ, name, err)
		}
	}
}

func TestIsTableSpec(t *testing.T) {
	yes := []string{"hash:/x", "cidr:/etc/x", "inline:{a=1}", "socketmap:inet:h:1:n", "2001:db8::1", "x:"}
	no := []string{"", "permit_mynetworks", "/file/name", "[::1]/128", "!cidr:/x", ":x", "Hash:x", "check_client_access hash:/x", "127.0.0.1"}
	for _, s := range yes {
		if !IsTableSpec(s) {
			t.Errorf("IsTableSpec(%q) = false", s)
		}
	}
	for _, s := range no {
		if IsTableSpec(s) {
			t.Errorf("IsTableSpec(%q) = true", s)
		}
	}
}
