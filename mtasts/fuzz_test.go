package mtasts

import (
	"reflect"
	"strings"
	"testing"
)

func FuzzParseRecord(f *testing.F) {
	for _, s := range []string{
		"v=STSv1; id=20160831085700Z;", "v=STSv1;id=abc", "v=STSv1 ; id=1 ; ext=x", "v=STSv1", "v=STSv1;;",
		"v=STSv1; id=123456789012345678901234567890123", "v=STSv10; id=1", "v=STSv1; =;",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRecord(s)
		if err != nil {
			return
		}
		if !strings.HasPrefix(s, "v=STSv1") || len(r.ID) < 1 || len(r.ID) > 32 || !isAlnum(r.ID) {
			t.Fatalf("ParseRecord(%q) = %+v", s, r)
		}
		// The id is in the record, after "id=".
		if !strings.Contains(s, "id="+r.ID) {
			t.Fatalf("ParseRecord(%q): id %q not in the record", s, r.ID)
		}
	})
}

func FuzzParsePolicy(f *testing.F) {
	for _, s := range []string{
		goodPolicy, "version: STSv1\nmode: none\nmax_age: 0", "version: STSv1\nmode: testing\nmx: *.a.b\nmax_age: 31557600\n",
		"version: STSv1\r\nmode: enforce\r\nmax_age: 31557601\r\nmx: a\r\n", "mode: enforce\n", "version:\tSTSv1 \n\n\nx:y",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePolicy(s)
		if err != nil {
			return
		}
		if p.MaxAge < 0 || p.MaxAge > MaxMaxAge {
			t.Fatalf("max_age %v out of range", p.MaxAge)
		}
		switch p.Mode {
		case ModeEnforce, ModeTesting:
			if len(p.MX) == 0 {
				t.Fatal("no mx patterns")
			}
		case ModeNone:
		default:
			t.Fatalf("mode %q", p.Mode)
		}
		// The canonical form parses to the same policy, and matches its
		// own exact patterns.
		q, err := ParsePolicy(p.String())
		if err != nil || !reflect.DeepEqual(p, q) {
			t.Fatalf("round trip: %+v, %v; want %+v", q, err, p)
		}
		for _, m := range p.MX {
			host := strings.Replace(m, "*", "x", 1)
			if !p.Match(host) || !p.Match(strings.ToUpper(host)+".") {
				t.Fatalf("policy %v does not match %q", p.MX, host)
			}
		}
	})
}

func FuzzMatch(f *testing.F) {
	f.Add("*.example.com", "mail.example.com")
	f.Add("mail.example.com", "MAIL.EXAMPLE.COM.")
	f.Add("*.example.com", "a.b.example.com")
	f.Fuzz(func(t *testing.T, pattern, mx string) {
		p, err := ParsePolicy("version: STSv1\nmode: enforce\nmax_age: 1\nmx: " + pattern + "\n")
		if err != nil || !p.Match(mx) {
			return
		}
		// A match is an exact match or one extra label on the left.
		pat, host := p.MX[0], strings.ToLower(strings.TrimSuffix(mx, "."))
		if suffix, ok := strings.CutPrefix(pat, "*"); ok {
			label, ok := strings.CutSuffix(host, suffix)
			if !ok || label == "" || strings.Contains(label, ".") {
				t.Fatalf("%q matched %q", pat, mx)
			}
		} else if host != pat {
			t.Fatalf("%q matched %q", pat, mx)
		}
	})
}

func FuzzParseTLSRPT(f *testing.F) {
	for _, s := range []string{
		"v=TLSRPTv1; rua=mailto:tlsrpt@example.com", "v=TLSRPTv1;rua=mailto:a@example.com , https://r.example.com/v1;",
		"v=TLSRPTv1; rua=ftp://x/", "v=TLSRPTv1; rua=mailto:a%40b@example.com", "v=TLSRPTv1; rua=https://[::1]:8443/x?y",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseTLSRPT(s)
		if err != nil {
			return
		}
		if len(r.RUA) == 0 {
			t.Fatalf("ParseTLSRPT(%q): no URIs", s)
		}
		for _, u := range r.RUA {
			switch strings.ToLower(u.Scheme) {
			case "mailto":
				if u.Opaque == "" {
					t.Fatalf("ParseTLSRPT(%q): mailto without address", s)
				}
			case "https":
				if u.Host == "" {
					t.Fatalf("ParseTLSRPT(%q): https without host", s)
				}
			default:
				t.Fatalf("ParseTLSRPT(%q): scheme %q", s, u.Scheme)
			}
		}
	})
}
