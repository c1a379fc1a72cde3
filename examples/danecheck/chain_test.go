package main

import (
	"bytes"
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mxkit/mxkit/internal/testdnssec"
)

// TestDanecheckRealChain runs danecheck against a real DNSSEC chain (Knot
// signs, Unbound validates) and real STARTTLS servers, and checks its last
// line and exit code: verified, failed, not applicable, temporary failure.
func TestDanecheckRealChain(t *testing.T) {
	testdnssec.Require(t)
	leaf := func(name string) *testdnssec.Cert {
		c, err := testdnssec.NewLeaf(nil, name)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	eeLeaf, badLeaf, published := leaf("mx.ee.secure.dane.test"), leaf("mx.bad.secure.dane.test"), leaf("mx.bad.secure.dane.test")
	ca, err := testdnssec.NewCA("danecheck test CA")
	if err != nil {
		t.Fatal(err)
	}
	taLeaf, err := testdnssec.NewLeaf(ca, "mx.ta.secure.dane.test")
	if err != nil {
		t.Fatal(err)
	}
	ta := testdnssec.StartSMTP(t, "mx.ta.secure.dane.test", testdnssec.TLSCertificate(taLeaf, ca))
	ee := testdnssec.StartSMTP(t, "mx.ee.secure.dane.test", testdnssec.TLSCertificate(eeLeaf))
	bad := testdnssec.StartSMTP(t, "mx.bad.secure.dane.test", testdnssec.TLSCertificate(badLeaf))
	port := func(addr string) string { _, p, _ := net.SplitHostPort(addr); return p }
	eePort, badPort, taPort := port(ee.Addr), port(bad.Addr), port(ta.Addr)

	c := testdnssec.Start(t, testdnssec.Config{Zones: []testdnssec.Zone{
		{Name: "secure.dane.test.", Security: testdnssec.Secure, Records: []string{
			"ee MX 10 mx.ee", "mx.ee A 127.0.0.1", "_" + eePort + "._tcp.mx.ee TLSA " + testdnssec.TLSA(3, 1, 1, eeLeaf.Cert),
			"bad MX 10 mx.bad", "mx.bad A 127.0.0.1", "_" + badPort + "._tcp.mx.bad TLSA " + testdnssec.TLSA(3, 1, 1, published.Cert),
			"ta MX 10 mx.ta", "mx.ta A 127.0.0.1", "_" + taPort + "._tcp.mx.ta TLSA " + testdnssec.TLSA(2, 0, 1, ca.Cert),
			"plain MX 10 mx.plain", "mx.plain A 127.0.0.1",
		}},
		{Name: "insecure.dane.test.", Security: testdnssec.Insecure, Records: []string{"@ MX 10 mx", "mx A 127.0.0.1"}},
		{Name: "bogus.dane.test.", Security: testdnssec.Bogus, Records: []string{"@ MX 10 mx", "mx A 127.0.0.1"}},
	}})

	for _, tt := range []struct {
		domain, port string
		code         int
		last         string // prefix of the last line
	}{
		{"ee.secure.dane.test", eePort, 0, "dane: verified"},
		{"ta.secure.dane.test", taPort, 0, "dane: verified"},
		{"bad.secure.dane.test", badPort, 1, "dane: failed (mx.bad.secure.dane.test[127.0.0.1]: certificate-not-trusted"},
		{"plain.secure.dane.test", eePort, 0, "dane: not applicable ("},
		{"insecure.dane.test", eePort, 0, "dane: not applicable (insecure MX RRset)"},
		{"bogus.dane.test", eePort, 2, "dane: temporary failure ("},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		var out bytes.Buffer
		code := run(ctx, []string{"-resolver", c.ResolverAddr, "-port", tt.port, "-timeout", "10s", tt.domain}, &out)
		cancel()
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		last := lines[len(lines)-1]
		if code != tt.code || !strings.HasPrefix(last, tt.last) {
			t.Errorf("%s: exit %d, last line %q; want %d, %q...\n%s", tt.domain, code, last, tt.code, tt.last, out.String())
		}
	}
}
