package dane

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"testing"
)

func FuzzParseTLSA(f *testing.F) {
	for _, s := range []string{
		"3 1 1 8cb0fc6c527506a053f4f14c8464bebbd6dede2738d11468dd953d7d6a3021f1",
		"2 0 0 ( 3082 01AB )",
		"3 1 1 ABCDEF",
		"0 0 1 00",
		"256 1 1 ab",
		"3 1 1 abc",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseTLSA(s)
		if err != nil {
			return
		}
		if len(r.Data) == 0 {
			t.Fatalf("ParseTLSA(%q) accepted empty data", s)
		}
		again, err := ParseTLSA(r.String())
		if err != nil || again.String() != r.String() || !bytes.Equal(again.Data, r.Data) {
			t.Fatalf("round trip of %q: %v, %v", s, again, err)
		}
		w, err := ParseTLSAWire(r.AppendWire(nil))
		if err != nil || w.String() != r.String() {
			t.Fatalf("wire round trip of %q: %v, %v", s, w, err)
		}
		_ = r.Usable()
	})
}

// FuzzVerify runs Verify over chains picked from a fixed set of test
// certificates and records that are either random or made from one of
// them. It checks that Verify never panics and never accepts a connection
// that no usable record matches.
func FuzzVerify(f *testing.F) {
	p := testPKI(f)
	certs := chainOf(p.leaf, p.inter, p.ta, p.otherRoot, p.otherLeaf, p.expiredLeaf, p.selfSigned, p.cnLeaf)
	f.Add(uint8(3), uint8(1), uint8(1), []byte{}, uint8(1), []byte{0, 1, 2}, "mx.example.com", "mx.example.com")
	f.Add(uint8(2), uint8(0), uint8(1), []byte{}, uint8(3), []byte{0, 1, 2}, "mx.example.com", "mx.example.com")
	f.Add(uint8(2), uint8(0), uint8(0), []byte{}, uint8(3), []byte{0, 1}, "mx.example.com", "mx.example.com")
	f.Add(uint8(2), uint8(1), uint8(2), []byte{}, uint8(3), []byte{4, 3}, "mx.example.com", "mx.example.com")
	f.Add(uint8(3), uint8(1), uint8(1), []byte("0123456789abcdef0123456789abcdef"), uint8(0), []byte{0}, "mx.example.com", "mx.example.com")
	f.Add(uint8(3), uint8(1), uint8(1), []byte{}, uint8(1), []byte{0}, "mx.example.com", "other.example")
	f.Fuzz(func(t *testing.T, usage, sel, mt uint8, data []byte, derive uint8, pick []byte, base, sni string) {
		if derive > 0 {
			if r, err := RecordFor(certs[int(derive-1)%len(certs)], usage, sel, mt); err == nil {
				data = r.Data
			}
		}
		record := TLSA{Usage: usage, Selector: sel, MatchingType: mt, Data: data}
		var chain []*x509.Certificate
		for i, b := range pick {
			if i == 4 {
				break
			}
			chain = append(chain, certs[int(b)%len(certs)])
		}
		err := Verify([]TLSA{record}, base, []string{"example.com"})(tls.ConnectionState{ServerName: sni, PeerCertificates: chain})
		if err != nil {
			if ResultType(err) == "" {
				t.Fatalf("error without result type: %v", err)
			}
			return
		}
		if !record.Usable() || len(chain) == 0 || normName(sni) != normName(base) {
			t.Fatalf("verified with record %v, chain of %d, SNI %q, base %q", record, len(chain), sni, base)
		}
		matched := false
		switch record.Usage {
		case UsageDANEEE:
			matched = record.Matches(chain[0])
		case UsageDANETA:
			for _, c := range chain {
				matched = matched || record.Matches(c)
			}
			if record.Selector == SelectorCert && record.MatchingType == MatchFull {
				_, perr := x509.ParseCertificate(record.Data)
				matched = matched || perr == nil
			}
		}
		if !matched {
			t.Fatalf("verified a chain that record %v does not match", record)
		}
	})
}
