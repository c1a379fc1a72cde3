package relaymaps_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/mxkit/mxkit/relaymaps"
)

func FuzzRegexpTable(f *testing.F) {
	f.Add("/^(.*)-outgoing@(.*)$/!/^owner-.*/ 550 Use ${1}@${2} instead\n/./ x\n", "list-outgoing@example.com")
	f.Add("if !/@example\\.com$/i\n/^(a)(b)?/ $1-$2-$$\nendif\n", "ABC@other")
	f.Add("/(/ x\n", "x")
	f.Add("#c\n/a/m $(1)\n  cont\n", "a\nb")
	f.Fuzz(func(t *testing.T, text, key string) {
		m, err := relaymaps.ParseRegexpTable("f", text)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "relaymaps: f:") || !errors.Is(err, relaymaps.ErrConfig) {
				t.Fatalf("error does not name file and line: %v", err)
			}
			return
		}
		v, found, err := m.Lookup(context.Background(), key)
		if err != nil {
			t.Fatalf("Lookup: %v", err)
		}
		if !found && v != "" {
			t.Fatalf("not found with value %q", v)
		}
		v2, found2, _ := m.Lookup(context.Background(), key)
		if v2 != v || found2 != found {
			t.Fatalf("lookup not deterministic")
		}
	})
}

func FuzzTransport(f *testing.F) {
	for _, s := range []string{"smtp:[mail.example.com]:587", "lmtp:unix:/run/lmtp", "error:5.1.1 no such user",
		":[10.0.0.1]", "smtp:", "relay:[a],b:25", "lmtp:inet:[::1]:24", "retry:4.3.2 later", "smtp:[h"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, value string) {
		tr, err := relaymaps.ParseTransport(value)
		if err != nil {
			if !errors.Is(err, relaymaps.ErrConfig) || !strings.HasPrefix(err.Error(), "relaymaps: transport ") {
				t.Fatalf("bad error %v", err)
			}
			return
		}
		if len(tr.Destinations) > 0 {
			d := tr.Destinations[0]
			if d.Host != tr.Host || d.Port != tr.Port || d.Bracketed != tr.Bracketed || d.MX != tr.MX || d.Unix != tr.Unix {
				t.Fatalf("first destination %+v differs from %+v", d, tr)
			}
			for _, d := range tr.Destinations {
				if d.Host == "" || (d.MX && (d.Bracketed || d.Unix)) {
					t.Fatalf("bad destination %+v", d)
				}
			}
		}
		if (tr.Transport == "error" || tr.Transport == "retry") && tr.DSN == "" {
			t.Fatalf("no DSN: %+v", tr)
		}
		if !strings.Contains(value, tr.Nexthop) || !strings.Contains(value, tr.Transport) {
			t.Fatalf("fields not from the input: %+v", tr)
		}
	})
}

func FuzzTLSPolicy(f *testing.F) {
	for _, s := range []string{"secure match=nexthop:dot-nexthop protocols=>=TLSv1.2", "fingerprint match=AA:BB|CC { exclude = MD5 }",
		"none x y", "verify tafile=/x servername=hostname", "secure policy_type=sts { policy_string = mode: enforce } policy_ttl=1",
		"may, connection_reuse=yes", "encrypt {"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, value string) {
		p, err := relaymaps.ParseTLSPolicy(value)
		if err != nil {
			if !errors.Is(err, relaymaps.ErrConfig) || !strings.HasPrefix(err.Error(), "relaymaps: TLS policy ") {
				t.Fatalf("bad error %v", err)
			}
			return
		}
		switch p.Level {
		case "none", "may", "encrypt", "dane", "dane-only", "fingerprint", "verify", "secure":
		default:
			t.Fatalf("level %q accepted", p.Level)
		}
		if len(p.Match) > 0 && p.Level != "fingerprint" && p.Level != "verify" && p.Level != "secure" {
			t.Fatalf("match at level %q", p.Level)
		}
		if p.PolicyType == "" && (p.MXHostPatterns != nil || p.PolicyStrings != nil) {
			t.Fatal("STS attributes without policy_type")
		}
	})
}
