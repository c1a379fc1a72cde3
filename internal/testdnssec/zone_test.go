package testdnssec

import (
	"strings"
	"testing"
)

func TestNormalizeErrors(t *testing.T) {
	tests := []struct {
		cfg  Config
		want string
	}{
		{Config{Parent: "a..b"}, `testdnssec: Parent "a..b": not a domain name`},
		{Config{Zones: []Zone{{Name: "other.test"}}}, `testdnssec: zone "other.test": not a child of dane.test.`},
		{Config{Zones: []Zone{{Name: "dane.test"}}}, `testdnssec: zone "dane.test": not a child of dane.test.`},
		{Config{Zones: []Zone{{Name: "a.dane.test", Security: 7}}}, `testdnssec: zone a.dane.test.: unknown Security(7)`},
		{Config{Zones: []Zone{{Name: "a.dane.test"}, {Name: "A.dane.test."}}}, `testdnssec: zone a.dane.test.: listed twice`},
		{Config{Zones: []Zone{{Name: "a.dane.test", Records: []string{"mx A 127.0.0.1", "mx A 1.2.3"}}}},
			`testdnssec: zone a.dane.test.: record 2: dns: bad A A: "1.2.3" at line: 1:10`},
		{Config{Zones: []Zone{{Name: "a.dane.test", Records: []string{"@ SOA a. b. 1 2 3 4 5"}}}},
			`testdnssec: zone a.dane.test.: record 1: SOA records are the harness's`},
		{Config{Zones: []Zone{{Name: "a.dane.test", Records: []string{"@ NS ns.x."}}}},
			`testdnssec: zone a.dane.test.: record 1: apex NS records are the harness's`},
		{Config{Zones: []Zone{{Name: "a.dane.test", Records: []string{"mx.b.dane.test. A 127.0.0.1"}}}},
			`testdnssec: zone a.dane.test.: record 1: mx.b.dane.test. is outside the zone`},
		{Config{ParentRecords: []string{"x A 127.0.0.1\ny A 127.0.0.1"}},
			`testdnssec: zone dane.test.: record 1: want one record, got 2`},
		{Config{ParentRecords: []string{"x A "}},
			`testdnssec: zone dane.test.: record 1: "x A " does not survive printing as "x.dane.test.\t300\tIN\tA\t"`},
		{Config{ParentRecords: []string{""}},
			`testdnssec: zone dane.test.: record 1: want one record, got 0`},
	}
	for _, tt := range tests {
		_, err := normalize(tt.cfg)
		if err == nil || err.Error() != tt.want {
			t.Errorf("normalize(%+v) = %v, want %q", tt.cfg, err, tt.want)
		}
	}
}

func TestRenderZone(t *testing.T) {
	rrs, err := parseRecords("s.dane.test.", []string{"mx 60 A 127.0.0.1", "_25._tcp.mx TLSA 3 1 1 ABCD"})
	if err != nil {
		t.Fatal(err)
	}
	got := renderZone("s.dane.test.", "dane.test.", rrs)
	want := "$ORIGIN s.dane.test.\n$TTL 300\n" +
		"@ SOA ns.dane.test. hostmaster.dane.test. 1 3600 600 86400 300\n@ NS ns.dane.test.\n" +
		"mx.s.dane.test.\t60\tIN\tA\t127.0.0.1\n" +
		"_25._tcp.mx.s.dane.test.\t300\tIN\tTLSA\t3 1 1 ABCD\n"
	if got != want {
		t.Errorf("renderZone:\n%s\nwant:\n%s", got, want)
	}
}

func TestRenderConfs(t *testing.T) {
	cfg, err := normalize(Config{Zones: []Zone{{Name: "s.dane.test"}, {Name: "i.dane.test", Security: Insecure}}})
	if err != nil {
		t.Fatal(err)
	}
	knot := renderKnotConf("/d", 5300, cfg)
	for _, w := range []string{"listen: 127.0.0.1@5300\n", "  - domain: dane.test.\n  - domain: s.dane.test.\n  - domain: i.dane.test.\n    dnssec-signing: off\n"} {
		if !strings.Contains(knot, w) {
			t.Errorf("knot.conf lacks %q:\n%s", w, knot)
		}
	}
	ub := renderUnboundConf("/d", "127.0.0.1", 5301, 5300, "dane.test. 3600 DS 1 13 2 AB", []string{"dane.test.", "s.dane.test."})
	for _, w := range []string{"port: 5301\n", `trust-anchor: "dane.test. 3600 DS 1 13 2 AB"`, "local-zone: \"test.\" nodefault\n",
		"control-enable: no\n", "stub-zone:\n  name: \"s.dane.test.\"\n  stub-addr: 127.0.0.1@5300\n"} {
		if !strings.Contains(ub, w) {
			t.Errorf("unbound.conf lacks %q:\n%s", w, ub)
		}
	}
}
