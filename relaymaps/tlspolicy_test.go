package relaymaps_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/mxkit/mxkit/relaymaps"
)

func fmtPolicy(p relaymaps.TLSPolicy) string {
	s := fmt.Sprintf("level=%s match=%q protocols=%q ciphers=%q exclude=%q tafile=%q sni=%q", p.Level, p.Match, p.Protocols, p.Ciphers, p.Exclude, p.TAFiles, p.ServerName)
	if p.ConnectionReuse != nil {
		s += fmt.Sprintf(" reuse=%v", *p.ConnectionReuse)
	}
	if p.EnableRPK != nil {
		s += fmt.Sprintf(" rpk=%v", *p.EnableRPK)
	}
	if p.PolicyType != "" {
		s += fmt.Sprintf(" type=%s domain=%s strings=%q mx=%q failure=%s", p.PolicyType, p.PolicyDomain, p.PolicyStrings, p.MXHostPatterns, p.PolicyFailure)
	}
	if p.PolicyTTL != nil {
		s += fmt.Sprintf(" ttl=%d", *p.PolicyTTL)
	}
	if p.Ignored != nil {
		s += fmt.Sprintf(" ignored=%q", p.Ignored)
	}
	return s
}

func TestParseTLSPolicy(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"may", `level=may match=[] protocols="" ciphers="" exclude="" tafile=[] sni=""`},
		{"Encrypt, ciphers=high", `level=encrypt match=[] protocols="" ciphers="high" exclude="" tafile=[] sni=""`},
		{"secure match=nexthop:dot-nexthop protocols=>=TLSv1.2", `level=secure match=["nexthop" "dot-nexthop"] protocols=">=TLSv1.2" ciphers="" exclude="" tafile=[] sni=""`},
		{"verify match=hostname match=.example.com tafile=/etc/ta.pem servername=hostname", `level=verify match=["hostname" ".example.com"] protocols="" ciphers="" exclude="" tafile=["/etc/ta.pem"] sni="hostname"`},
		{"fingerprint match=3D:95:34|C1:A2 match=EE:FF { exclude = MD5,\n   RC4 }", `level=fingerprint match=["3D:95:34" "C1:A2" "EE:FF"] protocols="" ciphers="" exclude="MD5, RC4" tafile=[] sni=""`},
		{"dane-only connection_reuse=YES enable_rpk=no", `level=dane-only match=[] protocols="" ciphers="" exclude="" tafile=[] sni="" reuse=true rpk=false`},
		{"dane { protocols = !SSLv3:!TLSv1 }", `level=dane match=[] protocols="!SSLv3:!TLSv1" ciphers="" exclude="" tafile=[] sni=""`},
		{"none match=whatever bogus", `level=none match=[] protocols="" ciphers="" exclude="" tafile=[] sni="" ignored=["match=whatever" "bogus"]`},
		{"secure policy_type=sts policy_domain=example.com mx_host_pattern=*.example.com mx_host_pattern=mx.example.net { policy_string = version: STSv1 } { policy_string = mode: enforce } policy_ttl=86400",
			`level=secure match=[] protocols="" ciphers="" exclude="" tafile=[] sni="" type=sts domain=example.com strings=["version: STSv1" "mode: enforce"] mx=["*.example.com" "mx.example.net"] failure= ttl=86400`},
		{"may policy_type=no-policy-found policy_failure=sts-policy-fetch-error", `level=may match=[] protocols="" ciphers="" exclude="" tafile=[] sni="" type=no-policy-found domain= strings=[] mx=[] failure=sts-policy-fetch-error`},
	} {
		p, err := relaymaps.ParseTLSPolicy(tc.in)
		if err != nil {
			t.Errorf("ParseTLSPolicy(%q): %v", tc.in, err)
			continue
		}
		if got := fmtPolicy(p); got != tc.want {
			t.Errorf("ParseTLSPolicy(%q):\n got %s\nwant %s", tc.in, got, tc.want)
		}
	}
}

func TestParseTLSPolicyErrors(t *testing.T) {
	for _, tc := range []struct{ in, msg string }{
		{"", `empty policy`},
		{" , ", `empty policy`},
		{"verfy", `invalid security level "verfy"`},
		{"secure match", `malformed attribute/value pair "match": missing "=" after key "match"`},
		{"secure =x", `malformed attribute/value pair "=x": missing key in "=x"`},
		{"secure { match = x", `missing "}" in "{ match = x"`},
		{"secure frobnicate=1", `invalid attribute name "frobnicate"`},
		{"may ciphers=", `attribute "ciphers" has empty value`},
		{"may ciphers=high ciphers=medium", `attribute "ciphers" is specified multiple times`},
		{"may protocols=x Protocols=y", `attribute "Protocols" is specified multiple times`},
		{"may exclude=a exclude=b", `attribute "exclude" is specified multiple times`},
		{"may servername=a servername=b", `attribute "servername" is specified multiple times`},
		{"may servername=bad..name", `servername=bad..name specifies an invalid hostname`},
		{"encrypt match=nexthop", `attribute "match" invalid at security level "encrypt"`},
		{"secure match=", `attribute "match" has empty value`},
		{"fingerprint tafile=/x", `attribute "tafile" invalid at security level "fingerprint"`},
		{"secure tafile=", `attribute "tafile" has empty value`},
		{"may connection_reuse=maybe", `attribute "connection_reuse" has bad value: "maybe"`},
		{"may enable_rpk=1", `attribute "enable_rpk" has bad value: "1"`},
		{"secure policy_type=dane", `attribute "policy_type" has an unexpected value: "dane"`},
		{"secure policy_type=sts policy_type=sts", `attribute "policy_type" is specified multiple times`},
		{"secure policy_type=sts policy_ttl=-1", `attribute "policy_ttl" has a malformed value: "-1"`},
		{"secure policy_type=sts policy_ttl=99999999999", `attribute "policy_ttl" has a malformed value: "99999999999"`},
		{"secure policy_type=sts policy_domain=-x.example", `attribute "policy_domain" has a malformed value: "-x.example"`},
		{"secure policy_type=sts policy_failure=oops", `attribute "policy_failure" has an unexpected value: "oops"`},
		{"secure mx_host_pattern=*.example.com", `policy_ttl, policy_domain, policy_string, mx_host_pattern or policy_failure without policy_type`},
	} {
		_, err := relaymaps.ParseTLSPolicy(tc.in)
		want := fmt.Sprintf("relaymaps: TLS policy %q: %s", tc.in, tc.msg)
		if err == nil || err.Error() != want || !errors.Is(err, relaymaps.ErrConfig) {
			t.Errorf("ParseTLSPolicy(%q) error:\n got %v\nwant %s", tc.in, err, want)
		}
	}
}
