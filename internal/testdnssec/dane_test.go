package testdnssec

import (
	"context"
	"crypto/tls"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// TestDANEChain publishes TLSA records for three TLS servers in the
// secure zone, reads them back through unbound (AD=1), and checks that
// openssl's DANE verification with those records succeeds for the
// DANE-EE and DANE-TA hosts and fails for the host whose key does not
// match.
func TestDANEChain(t *testing.T) {
	Require(t)
	ca := must(NewCA("testdnssec CA"))
	taLeaf := must(NewLeaf(ca, "mx-ta.secure.dane.test"))
	eeLeaf := must(NewExpiredLeaf(nil, "unrelated.example")) // DANE-EE ignores names and dates
	badLeaf := must(NewLeaf(nil, "mx-bad.secure.dane.test"))
	published := must(NewLeaf(nil, "mx-bad.secure.dane.test")) // the key the TLSA names instead

	ee := StartSMTP(t, "mx-ee.secure.dane.test", TLSCertificate(eeLeaf))
	ta := StartSMTP(t, "mx-ta.secure.dane.test", TLSCertificate(taLeaf, ca))
	bad := StartSMTP(t, "mx-bad.secure.dane.test", TLSCertificate(badLeaf))

	c := Start(t, Config{Zones: []Zone{{Name: "secure.dane.test.", Security: Secure, Records: []string{
		"@ MX 10 mx-ee",
		"@ MX 20 mx-ta",
		"@ MX 30 mx-bad",
		"mx-ee A 127.0.0.1",
		"mx-ta A 127.0.0.1",
		"mx-bad A 127.0.0.1",
		// Upper-case hex, as some operators publish it.
		"_25._tcp.mx-ee TLSA " + strings.ToUpper(TLSA(3, 1, 1, eeLeaf.Cert)),
		"_25._tcp.mx-ta TLSA " + TLSA(2, 0, 1, ca.Cert),
		"_25._tcp.mx-bad TLSA " + TLSA(3, 1, 1, published.Cert),
	}}}})

	tests := []struct {
		host, addr   string
		ok           bool
		verification string
		peername     string
		dane         string // suffix of the "DANE TLSA" line
	}{
		{"mx-ee.secure.dane.test", ee.Addr, true, "OK", "", "matched EE certificate at depth 0"},
		{"mx-ta.secure.dane.test", ta.Addr, true, "OK", "mx-ta.secure.dane.test", "matched TA certificate at depth 1"},
		{"mx-bad.secure.dane.test", bad.Addr, false, "no matching DANE TLSA records", "", ""},
	}
	ctx := context.Background()
	for _, tt := range tests {
		m, err := c.Query(ctx, "_25._tcp."+tt.host, dns.TypeTLSA)
		if err != nil {
			t.Fatal(err)
		}
		if m.Rcode != dns.RcodeSuccess || !m.AuthenticatedData {
			t.Fatalf("%s TLSA: rcode %s AD=%v, want NOERROR AD=1", tt.host, dns.RcodeToString[m.Rcode], m.AuthenticatedData)
		}
		var rrdata []string
		for _, rr := range m.Answer {
			if r, ok := rr.(*dns.TLSA); ok {
				rrdata = append(rrdata, TLSARData(r))
			}
		}
		if len(rrdata) != 1 {
			t.Fatalf("%s: %d TLSA records, want 1", tt.host, len(rrdata))
		}
		res, err := OpenSSLDANE(ctx, tt.addr, tt.host, rrdata...)
		if err != nil {
			t.Fatal(err)
		}
		if res.OK != tt.ok || res.Verification != tt.verification || res.Peername != tt.peername || !strings.HasSuffix(res.DANE, tt.dane) {
			t.Errorf("openssl %s: OK=%v verification %q peername %q DANE %q; want %v %q %q %q\n%s",
				strings.Join(res.Args, " "), res.OK, res.Verification, res.Peername, res.DANE,
				tt.ok, tt.verification, tt.peername, tt.dane, res.Output)
		}
	}
	// openssl sent the MX name as SNI to every server.
	for _, s := range []*SMTPServer{ee, ta, bad} {
		if got := s.SNI(); !slices.Equal(got, []string{s.Hostname}) {
			t.Errorf("%s: SNI %q, want [%q]", s.Hostname, got, s.Hostname)
		}
	}
}

// TestOpenSSLDANETANameCheck checks that openssl applies name checks to
// DANE-TA: a chain that ends at the TA but names another host fails.
func TestOpenSSLDANETANameCheck(t *testing.T) {
	Require(t)
	ca := must(NewCA("testdnssec CA"))
	leaf := must(NewLeaf(ca, "mx.secure.dane.test"))
	s := StartSMTP(t, "mx.secure.dane.test", TLSCertificate(leaf, ca))
	res, err := OpenSSLDANE(context.Background(), s.Addr, "other.secure.dane.test", TLSA(2, 1, 1, ca.Cert))
	if err != nil {
		t.Fatal(err)
	}
	if res.OK || res.Verification != "hostname mismatch" {
		t.Errorf("OK=%v verification %q, want false %q\n%s", res.OK, res.Verification, "hostname mismatch", res.Output)
	}
}

func TestDialSTARTTLS(t *testing.T) {
	leaf := must(NewLeaf(nil, "mx.example.test"))
	s := StartSMTP(t, "mx.example.test", TLSCertificate(leaf))
	var seen []byte
	tc, err := DialSTARTTLS(s.Addr, &tls.Config{
		ServerName:         "mx.example.test",
		InsecureSkipVerify: true, // the test checks the key itself
		VerifyConnection: func(cs tls.ConnectionState) error {
			seen = cs.PeerCertificates[0].Raw
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	if string(seen) != string(leaf.Cert.Raw) {
		t.Error("server presented another certificate")
	}
	if _, err := tc.Write([]byte("MAIL FROM:<>\r\n")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, err := tc.Read(buf)
	if err != nil || string(buf[:n]) != "250 2.0.0 OK\r\n" {
		t.Errorf("reply %q, %v; want %q", buf[:n], err, "250 2.0.0 OK\r\n")
	}
	if got := s.SNI(); !slices.Equal(got, []string{"mx.example.test"}) {
		t.Errorf("SNI %q", got)
	}
}

func TestTLSA(t *testing.T) {
	ca := must(NewCA("x"))
	for _, tt := range []struct {
		sel, mt uint8
		hexLen  int
	}{{0, 0, 2 * len(ca.Cert.Raw)}, {1, 0, 2 * len(ca.Cert.RawSubjectPublicKeyInfo)}, {0, 1, 64}, {1, 2, 128}} {
		got := TLSA(2, tt.sel, tt.mt, ca.Cert)
		f := strings.Fields(got)
		if len(f) != 4 || f[0] != "2" || f[1] != string('0'+tt.sel) || f[2] != string('0'+tt.mt) || len(f[3]) != tt.hexLen || strings.ToLower(f[3]) != f[3] {
			t.Errorf("TLSA(2, %d, %d) = %q", tt.sel, tt.mt, got)
		}
		rr := must(dns.NewRR("x. TLSA " + got)).(*dns.TLSA)
		if TLSARData(rr) != got {
			t.Errorf("TLSARData = %q, want %q", TLSARData(rr), got)
		}
	}
	if ee := TLSA(3, 1, 1, ca.Cert); ee[:6] != "3 1 1 " {
		t.Errorf("TLSA(3,1,1) = %q", ee)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
