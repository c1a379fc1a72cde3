package dane_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/mxkit/mxkit/dane"
	"github.com/mxkit/mxkit/dnsres"
	"github.com/mxkit/mxkit/internal/testdnssec"
)

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestRealChain runs discovery and verification against a real DNSSEC
// chain: Knot signs the zones, Unbound validates them with the parent's DS
// as trust anchor. For each host our verdict must agree with openssl
// s_client's DANE verification given the same TLSA records.
func TestRealChain(t *testing.T) {
	testdnssec.Require(t)
	ca := must(testdnssec.NewCA("mxkit test CA"))
	taLeaf := must(testdnssec.NewLeaf(ca, "mx-ta.secure.dane.test"))
	eeLeaf := must(testdnssec.NewExpiredLeaf(nil, "unrelated.example")) // DANE-EE: no name or date checks
	badLeaf := must(testdnssec.NewLeaf(nil, "mx-bad.secure.dane.test"))
	published := must(testdnssec.NewLeaf(nil, "mx-bad.secure.dane.test"))
	otherCA := must(testdnssec.NewCA("other CA"))
	wrongName := must(testdnssec.NewLeaf(otherCA, "elsewhere.example"))

	ee := testdnssec.StartSMTP(t, "mx-ee.secure.dane.test", testdnssec.TLSCertificate(eeLeaf))
	ta := testdnssec.StartSMTP(t, "mx-ta.secure.dane.test", testdnssec.TLSCertificate(taLeaf, ca))
	bad := testdnssec.StartSMTP(t, "mx-bad.secure.dane.test", testdnssec.TLSCertificate(badLeaf))
	name := testdnssec.StartSMTP(t, "mx-name.secure.dane.test", testdnssec.TLSCertificate(wrongName, otherCA))

	rr := map[string]string{
		"mx-ee":   strings.ToUpper(testdnssec.TLSA(3, 1, 1, eeLeaf.Cert)), // upper-case hex
		"mx-ta":   testdnssec.TLSA(2, 0, 1, ca.Cert),
		"mx-bad":  testdnssec.TLSA(3, 1, 1, published.Cert),
		"mx-name": testdnssec.TLSA(2, 0, 1, otherCA.Cert),
	}
	secure := []string{"@ MX 10 mx-ee", "@ MX 20 mx-ta", "@ MX 30 mx-bad", "@ MX 40 mx-name", "@ MX 50 mx-unusable"}
	for h, r := range rr {
		secure = append(secure, h+" A 127.0.0.1", "_25._tcp."+h+" TLSA "+r)
	}
	secure = append(secure, "mx-unusable A 127.0.0.1", "_25._tcp.mx-unusable TLSA 1 1 1 "+strings.Repeat("ab", 32),
		"mx-notlsa A 127.0.0.1", "notlsa MX 10 mx-notlsa")
	c := testdnssec.Start(t, testdnssec.Config{Zones: []testdnssec.Zone{
		{Name: "secure.dane.test.", Security: testdnssec.Secure, Records: secure},
		{Name: "insecure.dane.test.", Security: testdnssec.Insecure, Records: []string{"@ MX 10 mx", "mx A 127.0.0.1", "_25._tcp.mx TLSA " + rr["mx-ee"]}},
		{Name: "bogus.dane.test.", Security: testdnssec.Bogus, Records: []string{"@ MX 10 mx", "mx A 127.0.0.1", "_25._tcp.mx TLSA " + rr["mx-ee"]}},
	}})
	r, err := dnsres.New(dnsres.Options{Servers: []string{c.ResolverAddr}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	mx, err := r.LookupMX(ctx, "secure.dane.test")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		host, addr string
		outcome    dane.Outcome
		verified   bool
		result     string // TLS-RPT result type of a failure
	}{
		{"mx-ee.secure.dane.test", ee.Addr, dane.Required, true, ""},
		{"mx-ta.secure.dane.test", ta.Addr, dane.Required, true, ""},
		{"mx-bad.secure.dane.test", bad.Addr, dane.Required, false, "certificate-not-trusted"},
		{"mx-name.secure.dane.test", name.Addr, dane.Required, false, "certificate-host-mismatch"},
	} {
		d, err := dane.Discover(ctx, r, mx, tt.host, 25, dane.InsecureMXDane)
		if err != nil || d.Outcome != tt.outcome {
			t.Fatalf("%s: outcome %v (%s), err %v; want %v", tt.host, d.Outcome, d.Reason, err, tt.outcome)
		}
		conn, verr := testdnssec.DialSTARTTLS(tt.addr, d.Config())
		if conn != nil {
			conn.Close()
		}
		if got := verr == nil; got != tt.verified {
			t.Errorf("%s: verified=%v (%v), want %v", tt.host, got, verr, tt.verified)
		}
		if verr != nil && dane.ResultType(verr) != tt.result {
			t.Errorf("%s: result type %q (%v), want %q", tt.host, dane.ResultType(verr), verr, tt.result)
		}
		var rdata []string
		for _, rec := range d.Records {
			rdata = append(rdata, rec.String())
		}
		o, err := testdnssec.OpenSSLDANE(ctx, tt.addr, tt.host, rdata...)
		if err != nil {
			t.Fatal(err)
		}
		if o.OK != tt.verified {
			t.Errorf("%s: openssl says OK=%v (%s), we say %v", tt.host, o.OK, o.Verification, tt.verified)
		}
	}

	// Secure TLSA present but none usable: TLS required without authentication.
	if d, err := dane.Discover(ctx, r, mx, "mx-unusable.secure.dane.test", 25, dane.InsecureMXDane); err != nil || d.Outcome != dane.EncryptOnly {
		t.Errorf("unusable records: %v (%s) %v", d.Outcome, d.Reason, err)
	}
	// Authenticated denial of TLSA: DANE does not apply.
	if nmx, err := r.LookupMX(ctx, "notlsa.secure.dane.test"); err != nil {
		t.Fatal(err)
	} else if d, err := dane.Discover(ctx, r, nmx, "mx-notlsa.secure.dane.test", 25, dane.InsecureMXDane); err != nil || d.Outcome != dane.NotApplicable {
		t.Errorf("no TLSA: %v (%s) %v", d.Outcome, d.Reason, err)
	}
	// Insecure zone: the A record is insecure, so no TLSA lookup.
	if imx, err := r.LookupMX(ctx, "insecure.dane.test"); err != nil {
		t.Fatal(err)
	} else if d, err := dane.Discover(ctx, r, imx, "mx.insecure.dane.test", 25, dane.InsecureMXDane); err != nil || d.Outcome != dane.NotApplicable {
		t.Errorf("insecure: %v (%s) %v", d.Outcome, d.Reason, err)
	}
	// Bogus zone: the MX lookup itself fails as bogus (SERVFAIL with an
	// Extended DNS Error from Unbound); never "no DANE".
	var de *dnsres.Error
	if _, err := r.LookupMX(ctx, "bogus.dane.test"); !errors.As(err, &de) || de.Security != dane.Bogus || len(de.EDE) == 0 {
		t.Errorf("bogus MX lookup: %v", err)
	}
}
