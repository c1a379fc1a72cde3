package tlspolicy

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/mxkit/mxkit/dane"
	"github.com/mxkit/mxkit/mtasts"
	"github.com/mxkit/mxkit/relaymaps"
)

func TestTableKeys(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"sub.example.com", []string{"sub.example.com", ".example.com", ".com"}},
		{"Example.COM", []string{"example.com", ".com"}},
		{"com", []string{"com"}},
		{"[relay.example]:587", []string{"[relay.example]:587"}},
		{"[Relay.Example]", []string{"[relay.example]"}},
		{"relay.example:587", []string{"relay.example:587"}},
		{"192.0.2.1", []string{"192.0.2.1"}},
		{"", nil},
	} {
		if got := TableKeys(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("TableKeys(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestNameMatches(t *testing.T) {
	for _, tc := range []struct {
		pattern, ref string
		want         bool
	}{
		{"mx.example.com", "mx.example.com", true},
		{"MX.Example.com.", "mx.example.com", true},
		{"mx.example.com", "example.com", false},
		{"*.example.com", "mx.example.com", true},
		{"*.example.com", "a.mx.example.com", false},
		{"*.example.com", "example.com", false},
		{"*.com", "example.com", false}, // a wildcard needs two labels after it
		{"mx*.example.com", "mx1.example.com", false},
		{"*mx.example.com", "amx.example.com", false},
		{"m*.example.com", "mx.example.com", false},
		{"mx.example.com", ".example.com", true},
		{"a.b.example.com", ".example.com", true},
		{"example.com", ".example.com", false},
		{"badexample.com", ".example.com", false},
		{"*.example.com", ".example.com", true},
		{"*.sub.example.com", ".example.com", true},
		{"*.com.example", ".example.com", false},
		{"", "x", false},
	} {
		if got := nameMatches(tc.pattern, tc.ref); got != tc.want {
			t.Errorf("nameMatches(%q, %q) = %v, want %v", tc.pattern, tc.ref, got, tc.want)
		}
	}
}

func TestRefNames(t *testing.T) {
	got := refNames([]string{"hostname", "nexthop", "dot-nexthop", "Example.NET", ".example.org", "nexthop"}, "mx.example.net.", "example.com")
	want := []string{"mx.example.net", "example.com", ".example.com", "example.net", ".example.org"}
	if !slices.Equal(got, want) {
		t.Errorf("refNames = %q, want %q", got, want)
	}
}

func TestParseFingerprint(t *testing.T) {
	const h = "3d9534b8c2b2a0b9d4c3c5f5b0d3b8f0e1a2b3c4d5e6f708192a3b4c5d6e7f80"
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{h, true},
		{"3D:95:34:B8:C2:B2:A0:B9:D4:C3:C5:F5:B0:D3:B8:F0:E1:A2:B3:C4:D5:E6:F7:08:19:2A:3B:4C:5D:6E:7F:80", true},
		{h[:40], true}, // sha1
		{h[:32], true}, // md5
		{h[:30], false},
		{"zz", false},
		{"", false},
		{":", false},
	} {
		_, err := ParseFingerprint(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("ParseFingerprint(%q) error %v, want ok=%v", tc.in, err, tc.ok)
		}
	}
}

func TestFromTable(t *testing.T) {
	for _, tc := range []struct {
		value, want, err string
	}{
		{"may", "may", ""},
		{"secure", "secure", ""},
		{"secure match=nexthop:dot-nexthop servername=hostname", "secure match=nexthop:dot-nexthop servername=hostname", ""},
		{"verify match=hostname:.example.com", "verify match=hostname:.example.com", ""},
		{"fingerprint match=3D:95:34:B8:C2:B2:A0:B9:D4:C3:C5:F5:B0:D3:B8:F0|aabbccddeeff00112233445566778899aabbccdd", "fingerprint match=3D:95:34:B8:C2:B2:A0:B9:D4:C3:C5:F5:B0:D3:B8:F0|aabbccddeeff00112233445566778899aabbccdd", ""},
		{"fingerprint match=xyz", "", `tlspolicy: fingerprint "xyz": not a hexadecimal digest`},
		{"dane servername=mx.example", "dane", ""},
		{"none match=x", "none", ""},
		{"verify tafile=/etc/ta.pem", "", "tlspolicy: tafile=/etc/ta.pem: trust-anchor files are not supported"},
		{"encrypt protocols=>=TLSv1.2 ciphers=high", "encrypt", ""},
	} {
		tp, err := relaymaps.ParseTLSPolicy(tc.value)
		if err != nil {
			t.Fatalf("%q: %v", tc.value, err)
		}
		p, err := FromTable(tp)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("FromTable(%q) error %v, want %q", tc.value, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("FromTable(%q): %v", tc.value, err)
			continue
		}
		if got := p.String(); got != tc.want {
			t.Errorf("FromTable(%q).String() = %q, want %q", tc.value, got, tc.want)
		}
	}
}

func TestLevels(t *testing.T) {
	for i, n := range levelNames {
		l, err := ParseLevel(n)
		if err != nil || l != Level(i) || l.String() != n {
			t.Errorf("ParseLevel(%q) = %v, %v", n, l, err)
		}
	}
	if _, err := ParseLevel("half-dane"); err == nil {
		t.Error("ParseLevel(half-dane) succeeded")
	}
	if !Default.UsesTLS() || Default.RequiresTLS() || None.UsesTLS() || !Dane.RequiresTLS() || !Fingerprint.RequiresTLS() {
		t.Error("UsesTLS/RequiresTLS")
	}
	if got := (&Policy{Level: Verify}).match(); !slices.Equal(got, []string{"hostname"}) {
		t.Errorf("verify default match %q", got)
	}
	if got := (&Policy{Level: Secure}).match(); !slices.Equal(got, []string{"nexthop", "dot-nexthop"}) {
		t.Errorf("secure default match %q", got)
	}
}

// errText is an *Error's DSN and text, or "" for nil.
func errText(e *Error) string {
	if e == nil {
		return ""
	}
	return e.DSN + " " + e.Text
}

func TestDaneStep(t *testing.T) {
	rec, _ := dane.ParseTLSA("3 1 1 b5827610c706fe318066ad6694d6df7c93afe200d69eda6a330dcc832a833643")
	bad, _ := dane.ParseTLSA("1 1 1 b5827610c706fe318066ad6694d6df7c93afe200d69eda6a330dcc832a833643")
	required := dane.Decision{Outcome: dane.Required, BaseDomain: "mx.example.com", Records: []dane.TLSA{rec}, MXSecure: true}
	unusable := dane.Decision{Outcome: dane.EncryptOnly, Reason: "TLSA records unusable", BaseDomain: "mx.example.com", Records: []dane.TLSA{bad}, MXSecure: true}
	insecureMX := dane.Decision{Outcome: dane.NotApplicable, Reason: "insecure MX RRset"}
	noTLSA := dane.Decision{Outcome: dane.NotApplicable, Reason: "no TLSA records", MXSecure: true}
	insecureA := dane.Decision{Outcome: dane.NotApplicable, Reason: "insecure A/AAAA records", MXSecure: true}
	tlsaErr := &dane.Error{Result: dane.ResultDNSSECInvalid, Host: "mx.example.com", Reason: "TLSA lookup error"}
	tempTLSA := dane.Decision{Outcome: dane.TempFail, Reason: "TLSA lookup error: SERVFAIL", MXSecure: true}
	tempAddr := dane.Decision{Outcome: dane.TempFail, Reason: "address lookup failed: SERVFAIL", MXSecure: true}
	halfDane := required
	halfDane.MXSecure = false

	for _, tc := range []struct {
		name     string
		level    Level
		dec      dane.Decision
		err      error
		ran      bool
		want     string // policy level, "fallback:<level>" or the error text
		wantType ResultType
	}{
		{"no DNSSEC resolver, dane", Dane, dane.Decision{}, nil, false, "fallback:may", ""},
		{"no DNSSEC resolver, dane-only", DaneOnly, dane.Decision{}, nil, false, "4.7.5 client TLS configuration problem", ""},
		{"usable, dane", Dane, required, nil, true, "dane", ""},
		{"usable, dane-only", DaneOnly, required, nil, true, "dane-only", ""},
		{"half-dane", Dane, halfDane, nil, true, "dane", ""},
		{"half-dane, dane-only", DaneOnly, halfDane, nil, true, "4.7.5 non DNSSEC destination", ResultDANERequired},
		{"unusable, dane", Dane, unusable, nil, true, "encrypt", ResultTLSAInvalid},
		{"unusable, dane-only", DaneOnly, unusable, nil, true, "4.7.5 TLSA records unusable", ResultTLSAInvalid},
		{"insecure MX, dane", Dane, insecureMX, nil, true, "fallback:may", ""},
		{"insecure MX, dane-only", DaneOnly, insecureMX, nil, true, "4.7.5 non DNSSEC destination", ResultDANERequired},
		{"no TLSA, dane", Dane, noTLSA, nil, true, "fallback:may", ""},
		{"no TLSA, dane-only", DaneOnly, noTLSA, nil, true, "4.7.5 no TLSA records found", ResultDANERequired},
		{"insecure A, dane-only", DaneOnly, insecureA, nil, true, "4.7.5 no TLSA records found", ResultDANERequired},
		{"TLSA tempfail, dane", Dane, tempTLSA, tlsaErr, true, "4.7.5 TLSA lookup error for mx.example.com:25", ResultDNSSECInvalid},
		{"TLSA tempfail, dane-only", DaneOnly, tempTLSA, tlsaErr, true, "4.7.5 TLSA lookup error for mx.example.com:25", ResultDNSSECInvalid},
		{"address tempfail", Dane, tempAddr, tlsaErr, true, "4.4.3 Host or domain name not found. Name service error for name=mx.example.com type=A: Host not found, try again", ResultDNSSECInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, fb, e := daneStep(tc.level, tc.dec, tc.err, tc.ran, "mx.example.com", 25)
			var got string
			var rt ResultType
			switch {
			case e != nil:
				got, rt = errText(e), e.Result
			case p != nil:
				got, rt = p.Level.String(), p.Report.Failure
				if p.Report.Type != PolicyTLSA || p.Report.Domain != "mx.example.com" || len(p.Report.Strings) != 1 {
					t.Errorf("report %+v", p.Report)
				}
			default:
				got = "fallback:" + fb.String()
			}
			if got != tc.want || rt != tc.wantType {
				t.Errorf("got %q (%q), want %q (%q)", got, rt, tc.want, tc.wantType)
			}
		})
	}
}

func TestSTSStep(t *testing.T) {
	enforce := &mtasts.Policy{Mode: mtasts.ModeEnforce, MaxAge: 86400 * time.Second, MX: []string{"*.example.net"}}
	testing_ := &mtasts.Policy{Mode: mtasts.ModeTesting, MaxAge: 86400 * time.Second, MX: []string{"*.example.net"}}
	none := &mtasts.Policy{Mode: mtasts.ModeNone, MaxAge: 86400 * time.Second}
	fetchErr := fmt.Errorf("lookup: %w", &mtasts.FetchError{Domain: "example.com", URL: "https://mta-sts.example.com/.well-known/mta-sts.txt", Kind: mtasts.FetchFailed, Err: errors.New("connection refused")})
	for _, tc := range []struct {
		name    string
		sp      *mtasts.Policy
		err     error
		host    string
		want    string // "level source report-type failure" or error text
		only    bool
		strings int
	}{
		{"no policy", nil, nil, "mx.example.net", "may default no-policy-found ", false, 0},
		{"explicit no policy", nil, ErrNoSTSPolicy, "mx.example.net", "may default no-policy-found ", false, 0},
		{"no record", nil, fmt.Errorf("x: %w", mtasts.ErrNoRecord), "mx.example.net", "may default no-policy-found ", false, 0},
		{"mode none", none, nil, "mx.example.net", "may default no-policy-found ", false, 0},
		{"enforce, matching MX", enforce, nil, "mx.example.net", "secure sts sts ", false, 4},
		{"enforce, two labels below", enforce, nil, "a.b.example.net", "4.7.5 MX name 'a.b.example.net' does not match STS MX pattern for 'example.com'", false, 0},
		{"enforce, the bare domain", enforce, nil, "example.net", "4.7.5 MX name 'example.net' does not match STS MX pattern for 'example.com'", false, 0},
		{"testing, matching", testing_, nil, "mx.example.net", "may default sts ", true, 4},
		{"testing, mismatch: reported only", testing_, nil, "mx.other.org", "may default sts validation-failure", true, 4},
		{"fetch failed, nothing cached", nil, fetchErr, "mx.example.net", "may default sts sts-policy-fetch-error", false, 0},
		{"temporary failure", nil, fmt.Errorf("x: %w", mtasts.ErrTemporary), "mx.example.net", "4.7.5 TLS policy lookup for example.com/mx.example.net: MTA-STS policy temporarily unavailable", false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, e := stsStep(tc.sp, tc.err, "example.com", tc.host, May)
			var got string
			if e != nil {
				got = errText(e)
			} else {
				got = fmt.Sprintf("%s %s %s %s", p.Level, p.Source, p.Report.Type, p.Report.Failure)
				if p.ReportOnly != tc.only || len(p.Report.Strings) != tc.strings || p.Report.Domain != "example.com" {
					t.Errorf("ReportOnly=%v report=%+v", p.ReportOnly, p.Report)
				}
				if p.Source == "sts" && (p.ServerName != "hostname" || !slices.Equal(p.Match, []string{"hostname"})) {
					t.Errorf("sts policy %s", p)
				}
			}
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
