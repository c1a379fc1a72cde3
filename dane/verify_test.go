package dane

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"strings"
	"testing"
)

func TestVerify(t *testing.T) {
	p := testPKI(t)
	base := "mx.example.com"
	ids := []string{"mx.example.com", "example.com"}
	up := func(r TLSA) TLSA {
		u, err := ParseTLSA(strings.ToUpper(r.String()))
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	bad := TLSA{3, 1, 1, make([]byte, 32)}
	tests := []struct {
		name    string
		records []TLSA
		base    string
		sni     string
		ids     []string
		chain   []*x509.Certificate
		result  string // "" = verified
	}{
		{"EE 3 1 1", []TLSA{rec(t, p.leaf, 3, 1, 1)}, base, base, ids, chainOf(p.leaf, p.inter), ""},
		{"EE 3 0 0", []TLSA{rec(t, p.leaf, 3, 0, 0)}, base, base, ids, chainOf(p.leaf), ""},
		{"EE 3 0 2", []TLSA{rec(t, p.leaf, 3, 0, 2)}, base, base, ids, chainOf(p.leaf), ""},
		{"EE upper-case hex", []TLSA{up(rec(t, p.leaf, 3, 1, 1))}, base, base, ids, chainOf(p.leaf), ""},
		{"EE no name or expiry check", []TLSA{rec(t, p.selfSigned, 3, 1, 1)}, base, base, ids, chainOf(p.selfSigned), ""},
		{"EE second record matches", []TLSA{bad, rec(t, p.leaf, 3, 1, 2)}, base, base, ids, chainOf(p.leaf), ""},
		{"EE mismatch", []TLSA{bad}, base, base, ids, chainOf(p.leaf, p.inter), ResultCertificateNotTrusted},
		{"EE matches intermediate only", []TLSA{rec(t, p.inter, 3, 1, 1)}, base, base, ids, chainOf(p.leaf, p.inter), ResultCertificateNotTrusted},
		{"usage 1 ignored", []TLSA{rec(t, p.leaf, 1, 1, 1)}, base, base, ids, chainOf(p.leaf), ResultTLSAInvalid},
		{"usage 0 ignored", []TLSA{rec(t, p.ta, 0, 1, 1)}, base, base, ids, chainOf(p.leaf, p.inter, p.ta), ResultTLSAInvalid},
		{"usage 0 and 1 ignored beside a mismatching 3", []TLSA{rec(t, p.leaf, 1, 1, 1), rec(t, p.ta, 0, 0, 1), bad}, base, base, ids, chainOf(p.leaf, p.inter, p.ta), ResultCertificateNotTrusted},
		{"TA root in chain", []TLSA{rec(t, p.ta, 2, 1, 1)}, base, base, ids, chainOf(p.leaf, p.inter, p.ta), ""},
		{"TA intermediate", []TLSA{rec(t, p.inter, 2, 0, 1)}, base, base, ids, chainOf(p.leaf, p.inter), ""},
		{"TA upper-case hex", []TLSA{up(rec(t, p.ta, 2, 0, 2))}, base, base, ids, chainOf(p.leaf, p.inter, p.ta), ""},
		{"TA 2 0 0 from record", []TLSA{rec(t, p.ta, 2, 0, 0)}, base, base, ids, chainOf(p.leaf, p.inter), ""},
		{"TA not in chain (2 1 1)", []TLSA{rec(t, p.ta, 2, 1, 1)}, base, base, ids, chainOf(p.leaf, p.inter), ResultCertificateNotTrusted},
		{"TA chain to other root", []TLSA{rec(t, p.ta, 2, 1, 1)}, base, base, ids, chainOf(p.otherLeaf, p.otherRoot), ResultCertificateNotTrusted},
		{"TA matched but leaf chains to other root", []TLSA{rec(t, p.ta, 2, 1, 1)}, base, base, ids, chainOf(p.otherLeaf, p.ta), ResultCertificateNotTrusted},
		{"TA host mismatch", []TLSA{rec(t, p.ta, 2, 1, 1)}, "mx2.example.com", "mx2.example.com", []string{"example.com"}, chainOf(p.leaf, p.inter, p.ta), ResultCertificateHostMismatch},
		{"TA name from ref IDs", []TLSA{rec(t, p.ta, 2, 1, 1)}, "mx.hosting.example", "mx.hosting.example", ids, chainOf(p.leaf, p.inter, p.ta), ""},
		{"TA wildcard leftmost label", []TLSA{rec(t, p.ta, 2, 1, 1)}, "a.wild.example.com", "a.wild.example.com", nil, chainOf(p.leaf, p.inter, p.ta), ""},
		{"TA wildcard one label only", []TLSA{rec(t, p.ta, 2, 1, 1)}, "a.b.wild.example.com", "a.b.wild.example.com", nil, chainOf(p.leaf, p.inter, p.ta), ResultCertificateHostMismatch},
		{"TA wildcard not the parent", []TLSA{rec(t, p.ta, 2, 1, 1)}, "wild.example.com", "wild.example.com", nil, chainOf(p.leaf, p.inter, p.ta), ResultCertificateHostMismatch},
		{"TA CN without SANs", []TLSA{rec(t, p.ta, 2, 1, 1)}, base, base, nil, chainOf(p.cnLeaf, p.ta), ""},
		{"TA expired leaf", []TLSA{rec(t, p.ta, 2, 1, 1)}, base, base, ids, chainOf(p.expiredLeaf, p.inter, p.ta), ResultCertificateExpired},
		{"EE ignores the TA's expiry failure", []TLSA{rec(t, p.ta, 2, 1, 1), rec(t, p.expiredLeaf, 3, 1, 1)}, base, base, ids, chainOf(p.expiredLeaf, p.inter, p.ta), ""},
		{"wrong SNI", []TLSA{rec(t, p.leaf, 3, 1, 1)}, base, "example.com", ids, chainOf(p.leaf), ResultValidationFailure},
		{"no SNI", []TLSA{rec(t, p.leaf, 3, 1, 1)}, base, "", ids, chainOf(p.leaf), ResultValidationFailure},
		{"SNI case and dot", []TLSA{rec(t, p.leaf, 3, 1, 1)}, "MX.example.com.", "mx.EXAMPLE.com", ids, chainOf(p.leaf), ""},
		{"no certificate", []TLSA{rec(t, p.leaf, 3, 1, 1)}, base, base, ids, nil, ResultCertificateNotTrusted},
		{"no records", nil, base, base, ids, chainOf(p.leaf), ResultTLSAInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := Verify(tc.records, tc.base, tc.ids)(tls.ConnectionState{ServerName: tc.sni, PeerCertificates: tc.chain})
			if tc.result == "" {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Verify succeeded, want %s", tc.result)
			}
			var de *Error
			if !errors.As(err, &de) || de.ResultType() != tc.result || ResultType(err) != tc.result {
				t.Fatalf("Verify: %v (result %s), want %s", err, ResultType(err), tc.result)
			}
		})
	}
}

func TestVerifyErrorText(t *testing.T) {
	p := testPKI(t)
	err := Verify([]TLSA{rec(t, p.ta, 2, 1, 1)}, "mx2.example.com", []string{"Example.com."})(
		tls.ConnectionState{ServerName: "mx2.example.com", PeerCertificates: chainOf(p.leaf, p.inter, p.ta)})
	if want := "dane: mx2.example.com: server certificate matches none of mx2.example.com, example.com"; err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %s", err, want)
	}
	err = Verify([]TLSA{rec(t, p.leaf, 3, 1, 1)}, "mx.example.com", nil)(tls.ConnectionState{ServerName: "other.example"})
	if want := `dane: mx.example.com: SNI "other.example" is not the TLSA base domain`; err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %s", err, want)
	}
}

// TestHandshake runs real TLS handshakes through Config.
func TestHandshake(t *testing.T) {
	p := testPKI(t)
	serverCert := tls.Certificate{Certificate: [][]byte{p.leaf.cert.Raw, p.inter.cert.Raw, p.ta.cert.Raw}, PrivateKey: p.leaf.key}
	run := func(cfg *tls.Config) (string, error) {
		c1, c2 := net.Pipe()
		defer c1.Close()
		defer c2.Close()
		sni := make(chan string, 1)
		go func() {
			srv := tls.Server(c2, &tls.Config{GetCertificate: func(h *tls.ClientHelloInfo) (*tls.Certificate, error) {
				sni <- h.ServerName
				return &serverCert, nil
			}})
			_ = srv.Handshake()
			c2.Close()
		}()
		err := tls.Client(c1, cfg).Handshake()
		return <-sni, err
	}
	for _, tc := range []struct {
		name    string
		records []TLSA
		result  string
	}{
		{"EE", []TLSA{rec(t, p.leaf, 3, 1, 1)}, ""},
		{"TA", []TLSA{rec(t, p.ta, 2, 0, 1)}, ""},
		{"mismatch", []TLSA{rec(t, p.otherLeaf, 3, 1, 1)}, ResultCertificateNotTrusted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sni, err := run(Config(tc.records, "mx.example.com.", []string{"example.com"}))
			if sni != "mx.example.com" {
				t.Errorf("SNI = %q", sni)
			}
			if tc.result == "" && err != nil {
				t.Fatalf("handshake: %v", err)
			}
			if tc.result != "" && ResultType(err) != tc.result {
				t.Fatalf("handshake: %v, want %s", err, tc.result)
			}
		})
	}
}

func BenchmarkVerify(b *testing.B) {
	p := testPKI(b)
	for _, bc := range []struct {
		name    string
		records []TLSA
	}{
		{"DANE-EE", []TLSA{rec(b, p.leaf, 3, 1, 1)}},
		{"DANE-TA", []TLSA{rec(b, p.ta, 2, 1, 1)}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			v := Verify(bc.records, "mx.example.com", []string{"example.com"})
			cs := tls.ConnectionState{ServerName: "mx.example.com", PeerCertificates: chainOf(p.leaf, p.inter, p.ta)}
			for b.Loop() {
				if err := v(cs); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
