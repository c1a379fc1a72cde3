package smtppolicy

import (
	"context"
	"strings"
	"testing"

	"github.com/mxkit/mxkit/relaymaps"
)

type dnsCase struct {
	name       string
	p          *Policy
	st         State
	helo, from string
	to         string
	want       string
}

func runDNSCases(t *testing.T, cases []dnsCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			helo, from, to := tc.helo, tc.from, tc.to
			if helo == "" {
				helo = "mx.example.org"
			}
			if from == "" {
				from = "a@example.org"
			}
			if to == "" {
				to = "u@example.org"
			}
			if got := dnsRcpt(t, tc.p, tc.st, helo, from, to); got != tc.want {
				t.Errorf("reply = %q\n        want %q", got, tc.want)
			}
		})
	}
}

func TestRejectUnknownClientHostname(t *testing.T) {
	e := newDNSEnv(t)
	p := e.policy(Chain{RejectUnknownClientHostname}, nil, nil, nil)
	p550 := e.policy(Chain{RejectUnknownClientHostname}, nil, nil, nil)
	p550.Codes.UnknownClient = 550
	looked := func(addr string) State {
		st := dnsClient(addr, "", "")
		st.ClientName, st.ReverseName, st.ClientNameTemporary, st.ReverseNameTemporary = LookupClient(context.Background(), e.r, st.ClientAddr)
		return st
	}
	runDNSCases(t, []dnsCase{
		{name: "found", p: p550, st: looked("192.0.2.10"), want: ""},
		{name: "nxdomain", p: p, st: looked("192.0.2.30"), want: "450 4.7.25 Client host rejected: cannot find your hostname, [192.0.2.30]"},
		{name: "nxdomain 550", p: p550, st: looked("192.0.2.30"), want: "550 5.7.25 Client host rejected: cannot find your hostname, [192.0.2.30]"},
		{name: "forged 550", p: p550, st: looked("192.0.2.20"), want: "550 5.7.25 Client host rejected: cannot find your hostname, [192.0.2.20]"},
		{name: "servfail is 450", p: p550, st: looked("192.0.2.40"), want: "450 4.7.25 Client host rejected: cannot find your hostname, [192.0.2.40]"},
		{name: "timeout is 450", p: p550, st: looked("192.0.2.50"), want: "450 4.7.25 Client host rejected: cannot find your hostname, [192.0.2.50]"},
		// A temporary failure is never a defer_if_permit: a later permit
		// does not hide it.
		{name: "servfail before permit", p: e.policy(Chain{RejectUnknownClientHostname, Permit}, nil, nil, nil), st: looked("192.0.2.40"),
			want: "450 4.7.25 Client host rejected: cannot find your hostname, [192.0.2.40]"},
	})
}

func TestRejectUnknownReverseClientHostname(t *testing.T) {
	e := newDNSEnv(t)
	p := e.policy(Chain{RejectUnknownReverseClientHostname}, nil, nil, nil)
	p550 := e.policy(Chain{RejectUnknownReverseClientHostname}, nil, nil, nil)
	p550.Codes.UnknownClient = 550
	looked := func(addr string) State {
		st := dnsClient(addr, "", "")
		st.ClientName, st.ReverseName, st.ClientNameTemporary, st.ReverseNameTemporary = LookupClient(context.Background(), e.r, st.ClientAddr)
		return st
	}
	runDNSCases(t, []dnsCase{
		{name: "found", p: p550, st: looked("192.0.2.10"), want: ""},
		{name: "forged has a reverse name", p: p550, st: looked("192.0.2.20"), want: ""},
		{name: "forward timeout has a reverse name", p: p550, st: looked("192.0.2.50"), want: ""},
		{name: "nxdomain", p: p, st: looked("192.0.2.30"), want: "450 4.7.1 Client host rejected: cannot find your reverse hostname, [192.0.2.30]"},
		{name: "nxdomain 550", p: p550, st: looked("192.0.2.30"), want: "550 5.7.1 Client host rejected: cannot find your reverse hostname, [192.0.2.30]"},
		{name: "servfail is 450", p: p550, st: looked("192.0.2.40"), want: "450 4.7.1 Client host rejected: cannot find your reverse hostname, [192.0.2.40]"},
	})
}

func TestRejectUnknownHeloHostname(t *testing.T) {
	e := newDNSEnv(t)
	p := e.policy(nil, Chain{RejectUnknownHeloHostname}, nil, nil)
	p550 := e.policy(nil, Chain{RejectUnknownHeloHostname}, nil, nil)
	p550.Codes.UnknownHostname = 550
	st := dnsClient("192.0.2.1", "", "")
	runDNSCases(t, []dnsCase{
		{name: "found A", p: p550, st: st, helo: "mx.example.org", want: ""},
		{name: "found AAAA", p: p550, st: st, helo: "v6-only.example.org", want: ""},
		{name: "found MX", p: p550, st: st, helo: "example.org", want: ""},
		{name: "null MX passes", p: p550, st: st, helo: "nullonly.example.org", want: ""},
		{name: "trailing dot", p: p550, st: st, helo: "mx.example.org.", want: ""},
		{name: "address literal", p: p550, st: st, helo: "[192.0.2.1]", want: ""},
		{name: "nxdomain", p: p, st: st, helo: "nx.example.org", want: "450 4.7.1 <nx.example.org>: Helo command rejected: Host not found"},
		{name: "nxdomain 550", p: p550, st: st, helo: "nx.example.org", want: "550 5.7.1 <nx.example.org>: Helo command rejected: Host not found"},
		{name: "nodata", p: p550, st: st, helo: "txtonly.example.org", want: "550 5.7.1 <txtonly.example.org>: Helo command rejected: Host not found"},
		{name: "malformed MX", p: p550, st: st, helo: "badmx.example.org", want: "550 5.7.1 <badmx.example.org>: Helo command rejected: Malformed DNS server reply"},
		{name: "servfail defers a permit", p: p550, st: st, helo: "servfail.example.org", want: "450 4.7.1 <servfail.example.org>: Helo command rejected: Host not found"},
		{name: "timeout defers a permit", p: p550, st: st, helo: "timeout.example.org", want: "450 4.7.1 <timeout.example.org>: Helo command rejected: Host not found"},
		// defer_if_permit: a later hard reject wins.
		{name: "servfail then reject", p: e.policy(nil, Chain{RejectUnknownHeloHostname, Reject}, nil, nil), st: st, helo: "servfail.example.org",
			want: "554 5.7.1 <servfail.example.org>: Helo command rejected: Access denied"},
	})
}

func TestRejectUnknownSenderDomain(t *testing.T) {
	e := newDNSEnv(t)
	p := e.policy(nil, nil, Chain{RejectUnknownSenderDomain}, nil)
	p550 := e.policy(nil, nil, Chain{RejectUnknownSenderDomain}, nil)
	p550.Codes.UnknownAddress = 550
	st := dnsClient("192.0.2.1", "", "")
	runDNSCases(t, []dnsCase{
		{name: "found MX", p: p550, st: st, from: "a@example.org", want: ""},
		{name: "found A", p: p550, st: st, from: "a@a-only.example.org", want: ""},
		{name: "null sender", p: p550, st: st, from: "", want: ""},
		{name: "virtual domain skipped", p: p550, st: st, from: "a@virt.test", want: ""},
		{name: "address literal skipped", p: p550, st: st, from: "a@[192.0.2.1]", want: ""},
		{name: "nxdomain", p: p, st: st, from: "a@nx.example.org", want: "450 4.1.8 <a@nx.example.org>: Sender address rejected: Domain not found"},
		{name: "nxdomain 550", p: p550, st: st, from: "a@nx.example.org", want: "550 5.1.8 <a@nx.example.org>: Sender address rejected: Domain not found"},
		{name: "nodata", p: p550, st: st, from: "a@txtonly.example.org", want: "550 5.1.8 <a@txtonly.example.org>: Sender address rejected: Domain not found"},
		{name: "null MX", p: p, st: st, from: "a@NullOnly.example.org",
			want: "550 5.7.27 <a@NullOnly.example.org>: Sender address rejected: Domain nullonly.example.org does not accept mail (nullMX)"},
		{name: "malformed MX", p: p550, st: st, from: "a@badmx.example.org", want: "550 5.1.8 <a@badmx.example.org>: Sender address rejected: Malformed DNS server reply"},
		{name: "servfail", p: p550, st: st, from: "a@servfail.example.org", want: "450 4.1.8 <a@servfail.example.org>: Sender address rejected: Domain not found"},
		{name: "timeout", p: p550, st: st, from: "a@timeout.example.org", want: "450 4.1.8 <a@timeout.example.org>: Sender address rejected: Domain not found"},
	})
}

func TestRejectUnknownRecipientDomain(t *testing.T) {
	e := newDNSEnv(t)
	p := e.policy(nil, nil, nil, Chain{RejectUnknownRecipientDomain})
	p550 := e.policy(nil, nil, nil, Chain{RejectUnknownRecipientDomain})
	p550.Codes.UnknownAddress = 550
	st := dnsClient("192.0.2.1", "", "")
	runDNSCases(t, []dnsCase{
		{name: "found", p: p550, st: st, to: "u@example.org", want: ""},
		{name: "virtual domain skipped", p: p550, st: st, to: "u@virt.test", want: ""},
		{name: "nxdomain", p: p, st: st, to: "u@nx.example.org", want: "450 4.1.2 <u@nx.example.org>: Recipient address rejected: Domain not found"},
		{name: "nxdomain 550", p: p550, st: st, to: "u@nx.example.org", want: "550 5.1.2 <u@nx.example.org>: Recipient address rejected: Domain not found"},
		{name: "null MX", p: p, st: st, to: "u@nullonly.example.org",
			want: "556 5.1.10 <u@nullonly.example.org>: Recipient address rejected: Domain nullonly.example.org does not accept mail (nullMX)"},
		{name: "servfail", p: p550, st: st, to: "u@servfail.example.org", want: "450 4.1.2 <u@servfail.example.org>: Recipient address rejected: Domain not found"},
		{name: "timeout", p: p550, st: st, to: "u@timeout.example.org", want: "450 4.1.2 <u@timeout.example.org>: Recipient address rejected: Domain not found"},
	})
}

func TestServerAccessChecks(t *testing.T) {
	e := newDNSEnv(t)
	reg := &Registry{}
	table := relaymaps.Dict{
		"mx.example.org":  "REJECT bad mail server",
		"nx.example.org":  "REJECT no such domain",
		"ns1.example.org": "554 5.7.1 bad name server",
		"192.0.2.11":      "REJECT bad address",
	}
	okTable := relaymaps.Dict{"mx.example.org": "OK", "192.0.2.11": "DUNNO"}
	mk := func(what, typ string, m relaymaps.Map) Check {
		c, err := CheckServerAccess(what, typ, m, reg)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	st := dnsClient("192.0.2.1", "", "")
	named := dnsClient("192.0.2.10", "mx.example.org", "mx.example.org")
	runDNSCases(t, []dnsCase{
		{name: "sender mx found", p: e.policy(nil, nil, Chain{mk("sender", "mx", table)}, nil), st: st, from: "a@example.org",
			want: "554 5.7.1 <a@example.org>: Sender address rejected: bad mail server"},
		{name: "sender mx nxdomain is its own MX", p: e.policy(nil, nil, Chain{mk("sender", "mx", table)}, nil), st: st, from: "a@nx.example.org",
			want: "554 5.7.1 <a@nx.example.org>: Sender address rejected: no such domain"},
		{name: "sender mx servfail", p: e.policy(nil, nil, Chain{mk("sender", "mx", table)}, nil), st: st, from: "a@servfail.example.org", want: ""},
		{name: "sender mx timeout", p: e.policy(nil, nil, Chain{mk("sender", "mx", table)}, nil), st: st, from: "a@timeout.example.org", want: ""},
		{name: "sender mx null MX", p: e.policy(nil, nil, Chain{mk("sender", "mx", table)}, nil), st: st, from: "a@nullonly.example.org", want: ""},
		{name: "sender mx OK forbidden", p: e.policy(nil, nil, Chain{mk("sender", "mx", okTable)}, nil), st: st, from: "a@example.org",
			want: "451 4.3.5 Server configuration error"},
		{name: "helo a found", p: e.policy(nil, Chain{mk("helo", "a", table)}, nil, nil), st: st, helo: "a-only.example.org",
			want: "554 5.7.1 <a-only.example.org>: Helo command rejected: bad address"},
		{name: "helo a nxdomain", p: e.policy(nil, Chain{mk("helo", "a", table)}, nil, nil), st: st, helo: "nx.example.org", want: ""},
		{name: "helo a servfail", p: e.policy(nil, Chain{mk("helo", "a", table)}, nil, nil), st: st, helo: "servfail.example.org", want: ""},
		{name: "helo a timeout", p: e.policy(nil, Chain{mk("helo", "a", table)}, nil, nil), st: st, helo: "timeout.example.org", want: ""},
		{name: "helo a DUNNO", p: e.policy(nil, Chain{mk("helo", "a", okTable)}, nil, nil), st: st, helo: "a-only.example.org", want: ""},
		{name: "recipient ns walks to the parent", p: e.policy(nil, nil, nil, Chain{mk("recipient", "ns", table)}), st: st, to: "u@nx.example.org",
			want: "554 5.7.1 <u@nx.example.org>: Recipient address rejected: bad name server"},
		{name: "recipient ns servfail", p: e.policy(nil, nil, nil, Chain{mk("recipient", "ns", table)}), st: st, to: "u@servfail.example.org", want: ""},
		{name: "recipient mx with failing MX host", p: e.policy(nil, nil, nil, Chain{mk("recipient", "mx", table)}), st: st, to: "u@mxfail.example.org", want: ""},
		{name: "client mx", p: e.policy(Chain{mk("client", "mx", table)}, nil, nil, nil), st: named,
			want: "554 5.7.1 <mx.example.org[192.0.2.10]>: Client host rejected: bad mail server"},
		{name: "client unknown skipped", p: e.policy(Chain{mk("client", "mx", table)}, nil, nil, nil), st: st, want: ""},
		{name: "reverse client a", p: e.policy(Chain{mk("reverse_client", "a", relaymaps.Dict{"192.0.2.10": "REJECT"})}, nil, nil, nil), st: named,
			want: "554 5.7.1 <mx.example.org>: Unverified Client host rejected: Access denied"},
	})
	if !strings.Contains(e.log.String(), "unable to look up MX host") {
		t.Errorf("no warning for the failed MX lookup in:\n%s", e.log)
	}
}

func TestDNSChecksNilResolver(t *testing.T) {
	e := newDNSEnv(t)
	st := dnsClient("192.0.2.66", "mx.example.org", "mx.example.org")
	for _, c := range []Check{RejectUnknownHeloHostname, RejectUnknownSenderDomain, RejectUnknownRecipientDomain,
		mustDNSList(t, "reject_rbl_client", "bl.test"), mustDNSList(t, "reject_rhsbl_sender", "dbl.test")} {
		p := e.policy(nil, nil, nil, Chain{c})
		p.Resolver = nil
		if got := dnsRcpt(t, p, st, "mx.example.org", "a@example.org", "u@example.org"); got != "451 4.3.5 Server configuration error" {
			t.Errorf("%v: %q", c, got)
		}
	}
	if !strings.Contains(e.log.String(), "Policy.Resolver is nil") {
		t.Errorf("no error logged:\n%s", e.log)
	}
	// The client-name checks need no resolver.
	p := e.policy(Chain{RejectUnknownClientHostname, RejectUnknownReverseClientHostname}, nil, nil, nil)
	p.Resolver = nil
	if got := dnsRcpt(t, p, st, "mx.example.org", "a@example.org", "u@example.org"); got != "" {
		t.Errorf("client name checks: %q", got)
	}
}

func TestDNSChecksParse(t *testing.T) {
	var reg Registry
	list := "reject_unknown_client_hostname, reject_unknown_reverse_client_hostname, reject_unknown_helo_hostname," +
		" reject_unknown_sender_domain, reject_unknown_recipient_domain, check_sender_mx_access inline:{ mx.example.org=REJECT }," +
		" check_client_a_access inline:{ 1.2.3.4=REJECT }, check_reverse_client_ns_access inline:{ x=REJECT }," +
		" reject_rbl_client zen.example=127.0.0.[2..11], reject_rhsbl_sender dbl.example, permit_dnswl_client wl.example," +
		" reject_dnsbl_score 3 {zen.example*2, bl.example=127.0.0.2;127.0.0.3, wl.example*-5}, reject"
	c, err := reg.ParseList(list, "check_client_access")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, chk := range c {
		names = append(names, checkName(chk))
	}
	want := "reject_unknown_client_hostname|reject_unknown_reverse_client_hostname|reject_unknown_helo_hostname|" +
		"reject_unknown_sender_domain|reject_unknown_recipient_domain|check_sender_mx_access inline:{ mx.example.org=REJECT }|" +
		"check_client_a_access inline:{ 1.2.3.4=REJECT }|check_reverse_client_ns_access inline:{ x=REJECT }|" +
		"reject_rbl_client zen.example=127.0.0.[2..11]|reject_rhsbl_sender dbl.example|permit_dnswl_client wl.example|" +
		"reject_dnsbl_score 3 {zen.example*2, bl.example=127.0.0.2;127.0.0.3*1, wl.example*-5}|reject"
	if got := strings.Join(names, "|"); got != want {
		t.Errorf("parsed\n%s\nwant\n%s", got, want)
	}
	for _, bad := range []string{"reject_rbl_client", "reject_rbl_client -bad-", "reject_rbl_client bl.example=127.0.0",
		"reject_rbl_client bl.example=127.0.0.2..3", "check_helo_mx_access", "check_helo_mx_access notatable",
		"reject_dnsbl_score x {a.example}", "reject_dnsbl_score 1 a.example", "reject_dnsbl_score 1 {a.example*x}"} {
		if _, err := reg.ParseList(bad, "check_client_access"); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	if !reg.Known("reject_rbl_client") || !reg.Known("check_recipient_ns_access") || !reg.Known("reject_unknown_sender_domain") {
		t.Error("Known does not know the DNS restrictions")
	}
}
