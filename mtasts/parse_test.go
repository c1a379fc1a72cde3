package mtasts

import (
	"errors"
	"reflect"
	"testing"
	"time"
)

func TestParseRecord(t *testing.T) {
	for _, tc := range []struct{ in, id, err string }{
		{"v=STSv1; id=20160831085700Z;", "20160831085700Z", ""},
		{"v=STSv1;id=abc", "abc", ""},
		{"v=STSv1 \t;\t id=abc \t; ", "abc", ""},
		{"v=STSv1; ext=x.y; id=1; id=2", "1", ""},
		{"v=STSv1; id=" + "12345678901234567890123456789012", "12345678901234567890123456789012", ""},
		{"v=STSv1; id=" + "123456789012345678901234567890123", "", `invalid record: id "123456789012345678901234567890123": want 1 to 32 letters and digits`},
		{"v=STSv1; id=", "", `invalid record: field "id=": bad value`},
		{"v=STSv1; id=a-b", "", `invalid record: id "a-b": want 1 to 32 letters and digits`},
		{"v=STSv1; id=a b", "", `invalid record: field "id=a b": bad value`},
		{"v=STSv1", "", `invalid record: no fields after "v=STSv1"`},
		{"v=STSv1;", "", `invalid record: field "": want name=value`},
		{"v=STSv1; ext=1", "", "invalid record: no id field"},
		{"v=STSv1; id=1;; ext=2", "", `invalid record: field "": want name=value`},
		{"v=STSv1; =1; id=1", "", `invalid record: field "=1": want name=value`},
		{"v=STSv1; -x=1; id=1", "", `invalid record: field "-x=1": want name=value`},
		{"v=STSv1; x; id=1", "", `invalid record: field "x": want name=value`},
		{"v=STSv1 x; id=1", "", `invalid record: junk after "v=STSv1"`},
		{"v=stsv1; id=1", "", `invalid record: does not start with "v=STSv1"`},
		{" v=STSv1; id=1", "", `invalid record: does not start with "v=STSv1"`},
		{"id=1; v=STSv1", "", `invalid record: does not start with "v=STSv1"`},
		{"v=STSv10; id=1", "", `invalid record: does not start with "v=STSv1"`},
	} {
		r, err := ParseRecord(tc.in)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err || !errors.Is(err, ErrInvalidRecord) {
				t.Errorf("ParseRecord(%q) = %v, %v; want error %q", tc.in, r, err, tc.err)
			}
			continue
		}
		if err != nil || r.ID != tc.id {
			t.Errorf("ParseRecord(%q) = %v, %v; want id %q", tc.in, r, err, tc.id)
		}
	}
}

func TestParsePolicy(t *testing.T) {
	day := 86400 * time.Second
	for _, tc := range []struct {
		in   string
		want *Policy
		err  string
	}{
		{goodPolicy, &Policy{ModeEnforce, day, []string{"mail.example.com", "*.mx.example.net"}}, ""},
		{"version: STSv1\nmode: none\nmax_age: 0", &Policy{ModeNone, 0, nil}, ""},
		{"version:STSv1\nmode:\ttesting  \nmax_age: 31557600\r\nmx: A.B\n\n\nunknown-key: whatever: x\n", &Policy{ModeTesting, MaxMaxAge, []string{"a.b"}}, ""},
		{"version: STSv1\nversion: STSv2\nmode: enforce\nmode: none\nmax_age: 5\nmax_age: x\nmx: a.b\n", &Policy{ModeEnforce, 5 * time.Second, []string{"a.b"}}, ""},
		{"version: STSv1\nmode: enforce\nmax_age: 0000000001\nmx: a.b\n", &Policy{ModeEnforce, time.Second, []string{"a.b"}}, ""},
		{"", nil, "no version field"},
		{"mode: enforce\nmax_age: 1\nmx: a.b", nil, "no version field"},
		{"version: STSv1\nmax_age: 1\nmx: a.b", nil, "no mode field"},
		{"version: STSv1\nmode: enforce\nmx: a.b", nil, "no max_age field"},
		{"version: STSv1\nmode: testing\nmax_age: 1", nil, "no mx field (required unless mode is none)"},
		{"version: STSv2\n", nil, `line 1: version "STSv2": want STSv1`},
		{"version: stsv1\n", nil, `line 1: version "stsv1": want STSv1`},
		{"version: STSv1\nmode: Enforce\n", nil, `line 2: mode "Enforce": want enforce, testing or none`},
		{"version: STSv1\nmode: enforce\nmax_age: -1\n", nil, `line 3: max_age "-1": want 1 to 10 digits`},
		{"version: STSv1\nmode: enforce\nmax_age: 12345678901\n", nil, `line 3: max_age "12345678901": want 1 to 10 digits`},
		{"version: STSv1\nmode: enforce\nmax_age: 9999999999\n", nil, `line 3: max_age 9999999999: more than 31557600`},
		{"version: STSv1\nmode: enforce\nmax_age: 1d\n", nil, `line 3: max_age "1d": want 1 to 10 digits`},
		{"version: STSv1\nmode: enforce\nmax_age:\n", nil, `line 3: max_age "": want 1 to 10 digits`},
		{"version: STSv1\r\nmx: *.*.example.com\r\n", nil, `line 2: mx "*.*.example.com": want a host name or *.domain`},
		{"version: STSv1\r\nmx: mail.exämple.com\r\n", nil, `line 2: mx "mail.exämple.com": want a host name or *.domain`},
		{"version: STSv1\r\nmx: *\r\n", nil, `line 2: mx "*": want a host name or *.domain`},
		{"version: STSv1\r\nmx: a..b\r\n", nil, `line 2: mx "a..b": want a host name or *.domain`},
		{"version: STSv1\nmode enforce\n", nil, `line 2: "mode enforce": want key: value`},
		{"version: STSv1\n mode: enforce\n", nil, `line 2: " mode: enforce": want key: value`},
		{"version: STSv1\rmode: enforce\n", nil, `line 1: "version: STSv1\rmode: enforce": want key: value`},
	} {
		p, err := ParsePolicy(tc.in)
		if tc.err != "" {
			var se *SyntaxError
			if err == nil || err.Error() != tc.err || !errors.As(err, &se) {
				t.Errorf("ParsePolicy(%q) = %+v, %v; want error %q", tc.in, p, err, tc.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(p, tc.want) {
			t.Errorf("ParsePolicy(%q) = %+v, %v; want %+v", tc.in, p, err, tc.want)
		}
		// The canonical form parses back to the same policy.
		if q, err := ParsePolicy(p.String()); err != nil || !reflect.DeepEqual(p, q) {
			t.Errorf("ParsePolicy(String()) = %+v, %v; want %+v", q, err, p)
		}
	}
}

func TestMatch(t *testing.T) {
	p := &Policy{Mode: ModeEnforce, MX: []string{"mail.example.com", "*.mx.example.net"}}
	for mx, want := range map[string]bool{
		"mail.example.com":      true,
		"MAIL.Example.COM.":     true,
		"mail.example.com..":    false,
		"example.com":           false,
		"x.mail.example.com":    false,
		"a.mx.example.net":      true,
		"A.MX.EXAMPLE.NET.":     true,
		"mx.example.net":        false,
		".mx.example.net":       false,
		"a.b.mx.example.net":    false,
		"amx.example.net":       false,
		"a.mx.example.net.evil": false,
		"":                      false,
	} {
		if got := p.Match(mx); got != want {
			t.Errorf("Match(%q) = %v, want %v", mx, got, want)
		}
	}
	if (&Policy{Mode: ModeNone}).Match("a.b") {
		t.Error("a policy without patterns matched")
	}
}

func TestPolicyID(t *testing.T) {
	p, _ := ParsePolicy(goodPolicy)
	q, _ := ParsePolicy("version: STSv1\nmode: enforce\nmx: MAIL.example.com.\nmx: *.mx.example.net\nmax_age: 86400\nx: y\n")
	id := PolicyID(p)
	if len(id) != 20 || !isAlnum(id) {
		t.Fatalf("PolicyID = %q, want 20 hexadecimal digits", id)
	}
	if PolicyID(q) != id {
		t.Errorf("equal policies got ids %q and %q", id, PolicyID(q))
	}
	if _, err := ParseRecord("v=STSv1; id=" + id); err != nil {
		t.Errorf("id does not fit a record: %v", err)
	}
	r := *p
	r.MaxAge += time.Second
	if PolicyID(&r) == id {
		t.Error("changing max_age kept the id")
	}
}

func TestParseTLSRPT(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
		err  string
	}{
		{"v=TLSRPTv1; rua=mailto:tlsrpt@example.com", []string{"mailto:tlsrpt@example.com"}, ""},
		{"v=TLSRPTv1;rua=mailto:a@example.com , https://r.example.com/v1;", []string{"mailto:a@example.com", "https://r.example.com/v1"}, ""},
		{"v=TLSRPTv1; ext=1; rua=https://r.example.com/x%2Cy; rua=mailto:b@example.com", []string{"https://r.example.com/x%2Cy"}, ""},
		{"v=TLSRPTv1; rua=ftp://x.example/,mailto:a@example.com", []string{"mailto:a@example.com"}, ""},
		{"v=TLSRPTv1; rua=mailto:a@example.com?subject=tls", []string{"mailto:a@example.com?subject=tls"}, ""},
		{"v=TLSRPTv1; rua=ftp://x.example/", nil, `invalid record: rua "ftp://x.example/": no mailto: or https: URI`},
		{"v=TLSRPTv1", nil, `invalid record: no fields after "v=TLSRPTv1"`},
		{"v=TLSRPTv1; ext=1", nil, "invalid record: no rua field"},
		{"v=TLSRPTv1; rua=", nil, `invalid record: rua URI "": empty`},
		{"v=TLSRPTv1; rua=mailto:a@example.com,", nil, `invalid record: rua URI "": empty`},
		{"v=TLSRPTv1; rua=mailto:", nil, `invalid record: rua URI "mailto:": no address`},
		{"v=TLSRPTv1; rua=mailto:not an address", nil, `invalid record: rua URI "mailto:not an address": invalid character (RFC 8460 requires "!" and "," to be percent-encoded)`},
		{"v=TLSRPTv1; rua=mailto:a!b@example.com", nil, `invalid record: rua URI "mailto:a!b@example.com": invalid character (RFC 8460 requires "!" and "," to be percent-encoded)`},
		{"v=TLSRPTv1; rua=mailto:nobody", nil, `invalid record: rua URI "mailto:nobody": not one e-mail address`},
		{"v=TLSRPTv1; rua=https:///path", nil, `invalid record: rua URI "https:///path": want https://host/path`},
		{"v=TLSRPTv1; rua=https://user@h.example/", nil, `invalid record: rua URI "https://user@h.example/": want https://host/path`},
		{"v=TLSRPTv1; rua=tlsrpt@example.com", nil, `invalid record: rua URI "tlsrpt@example.com": no scheme`},
		{"v=TLSRPTv1; rua=https://%zz/", nil, `invalid record: rua URI "https://%zz/": does not parse`},
		{"v=STSv1; rua=mailto:a@example.com", nil, `invalid record: does not start with "v=TLSRPTv1"`},
	} {
		r, err := ParseTLSRPT(tc.in)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err || !errors.Is(err, ErrInvalidRecord) {
				t.Errorf("ParseTLSRPT(%q) = %v, %v; want error %q", tc.in, r, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseTLSRPT(%q): %v", tc.in, err)
			continue
		}
		var got []string
		for _, u := range r.RUA {
			got = append(got, u.String())
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseTLSRPT(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
