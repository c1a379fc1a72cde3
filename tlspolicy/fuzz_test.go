package tlspolicy

import (
	"strings"
	"testing"
)

// FuzzExtensions: the EHLO reply comes from the remote server.
func FuzzExtensions(f *testing.F) {
	f.Add("mx.example.com\nPIPELINING\nstarttls\nSIZE 1000")
	f.Add("")
	f.Add("\n\n \n")
	f.Fuzz(func(t *testing.T, msg string) {
		for kw := range Extensions(msg) {
			if kw == "" || kw != strings.ToUpper(kw) || strings.ContainsAny(kw, " \n") {
				t.Fatalf("keyword %q", kw)
			}
		}
	})
}

// FuzzParseFingerprint: match= values come from policy tables.
func FuzzParseFingerprint(f *testing.F) {
	f.Add("3D:95:34:B8:C2:B2:A0:B9:D4:C3:C5:F5:B0:D3:B8:F0")
	f.Add("zz")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		b, err := ParseFingerprint(s)
		if err != nil {
			return
		}
		if got, err := ParseFingerprint(colonHex(b)); err != nil || string(got) != string(b) {
			t.Fatalf("%q: round trip %x %v", s, got, err)
		}
	})
}

// FuzzNameMatches: certificate names come from the remote server; a
// pattern with "*" anywhere but a whole leftmost label never matches, and
// an exact name matches itself.
func FuzzNameMatches(f *testing.F) {
	f.Add("*.example.com", "mx.example.com")
	f.Add("mx*.example.com", ".example.com")
	f.Add("a.b", "a.b")
	f.Fuzz(func(t *testing.T, pattern, ref string) {
		ok := nameMatches(pattern, ref)
		p := normName(pattern)
		if ok && strings.Contains(strings.TrimPrefix(p, "*."), "*") {
			t.Fatalf("%q matched %q", pattern, ref)
		}
		if p != "" && !strings.Contains(p, "*") && !nameMatches(pattern, pattern) {
			t.Fatalf("%q does not match itself", pattern)
		}
	})
}

// FuzzTableKeys: next hops come from routes and transport tables.
func FuzzTableKeys(f *testing.F) {
	f.Add("sub.example.com")
	f.Add("[relay.example]:587")
	f.Add("..a..")
	f.Fuzz(func(t *testing.T, nexthop string) {
		keys := TableKeys(nexthop)
		for i, k := range keys {
			if k != strings.ToLower(k) || k == "" {
				t.Fatalf("key %q", k)
			}
			if i > 0 && (k[0] != '.' || !strings.HasSuffix(keys[0], k)) {
				t.Fatalf("key %d %q of %q", i, k, keys)
			}
		}
	})
}
