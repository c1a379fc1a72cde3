package dane

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"sync"
	"testing"
	"time"
)

type testCert struct {
	cert *x509.Certificate
	key  crypto.Signer
}

var serial int64 = 1000

var serialMu sync.Mutex

func nextSerial() *big.Int {
	serialMu.Lock()
	defer serialMu.Unlock()
	serial++
	return big.NewInt(serial)
}

// mkCert makes a certificate signed by parent (self-signed when nil).
func mkCert(t testing.TB, cn string, ca bool, parent *testCert, names []string, notAfter time.Time) *testCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: nextSerial(),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-48 * time.Hour),
		NotAfter:     notAfter,
		DNSNames:     names,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if ca {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature
		tmpl.ExtKeyUsage = nil
	}
	signer, parentCert := crypto.Signer(key), tmpl
	if parent != nil {
		signer, parentCert = parent.key, parent.cert
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parentCert, key.Public(), signer)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCert{cert: c, key: key}
}

type pki struct {
	ta, inter, leaf         *testCert // leaf names mx.example.com, *.wild.example.com
	otherRoot, otherLeaf    *testCert // the same names under another root
	expiredLeaf, selfSigned *testCert
	cnLeaf                  *testCert // CN mx.example.com, no SANs, signed by ta
}

var (
	pkiOnce sync.Once
	thePKI  pki
)

func testPKI(t testing.TB) pki {
	pkiOnce.Do(func() {
		year := time.Now().Add(365 * 24 * time.Hour)
		p := pki{}
		p.ta = mkCert(t, "Test TA", true, nil, nil, year)
		p.inter = mkCert(t, "Test Intermediate", true, p.ta, nil, year)
		p.leaf = mkCert(t, "mx.example.com", false, p.inter, []string{"mx.example.com", "*.wild.example.com"}, year)
		p.otherRoot = mkCert(t, "Public Root", true, nil, nil, year)
		p.otherLeaf = mkCert(t, "mx.example.com", false, p.otherRoot, []string{"mx.example.com"}, year)
		p.expiredLeaf = mkCert(t, "mx.example.com", false, p.inter, []string{"mx.example.com"}, time.Now().Add(-time.Hour))
		p.selfSigned = mkCert(t, "not-the-host.invalid", false, nil, []string{"not-the-host.invalid"}, time.Now().Add(-time.Hour))
		p.cnLeaf = mkCert(t, "mx.example.com", false, p.ta, nil, year)
		thePKI = p
	})
	return thePKI
}

func chainOf(cs ...*testCert) []*x509.Certificate {
	out := make([]*x509.Certificate, len(cs))
	for i, c := range cs {
		out[i] = c.cert
	}
	return out
}

func rec(t testing.TB, c *testCert, usage, sel, mt uint8) TLSA {
	t.Helper()
	r, err := RecordFor(c.cert, usage, sel, mt)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
