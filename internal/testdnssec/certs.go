package testdnssec

import (
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/miekg/dns"
	"github.com/mxkit/mxkit/internal/testcert"
)

// Cert is a certificate with its private key.
type Cert = testcert.Cert

// NewCA makes a self-signed CA certificate (an ECDSA P-256 key), valid
// from an hour ago for a day, for DANE-TA(2) tests.
func NewCA(name string) (*Cert, error) {
	return newCert(name, nil, nil, true, time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour))
}

// NewLeaf makes a server certificate for dnsNames (the first is also the
// subject's CN) signed by ca, or self-signed when ca is nil (for
// DANE-EE(3), where names and dates are not checked).
func NewLeaf(ca *Cert, dnsNames ...string) (*Cert, error) {
	cn := "leaf"
	if len(dnsNames) > 0 {
		cn = dnsNames[0]
	}
	return newCert(cn, dnsNames, ca, false, time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour))
}

// NewExpiredLeaf is NewLeaf with a certificate that expired yesterday
// (DANE-EE must accept it; DANE-TA must not).
func NewExpiredLeaf(ca *Cert, dnsNames ...string) (*Cert, error) {
	cn := "leaf"
	if len(dnsNames) > 0 {
		cn = dnsNames[0]
	}
	return newCert(cn, dnsNames, ca, false, time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour))
}

func newCert(cn string, dnsNames []string, ca *Cert, isCA bool, notBefore, notAfter time.Time) (*Cert, error) {
	return testcert.Issue(cn, dnsNames, ca, isCA, notBefore, notAfter)
}

// TLSCertificate returns a tls.Certificate presenting leaf then chain
// (e.g. the CA for DANE-TA, which the server must send).
func TLSCertificate(leaf *Cert, chain ...*Cert) tls.Certificate {
	tc := tls.Certificate{Certificate: [][]byte{leaf.Cert.Raw}, PrivateKey: leaf.Key, Leaf: leaf.Cert}
	for _, c := range chain {
		tc.Certificate = append(tc.Certificate, c.Cert.Raw)
	}
	return tc
}

// TLSA returns the RDATA of a TLSA record for cert in presentation form,
// "USAGE SELECTOR MTYPE hex" with lower-case hex, e.g. TLSA(3, 1, 1, c)
// for DANE-EE SPKI SHA-256 ("3 1 1 …") or TLSA(2, 0, 1, ca) for DANE-TA
// full certificate SHA-256. Selector 0 is the certificate, 1 the
// SubjectPublicKeyInfo; matching type 0 is the data itself, 1 SHA-256,
// 2 SHA-512. It panics on other selectors or matching types.
func TLSA(usage, selector, mtype uint8, cert *x509.Certificate) string {
	return fmt.Sprintf("%d %d %d %s", usage, selector, mtype, hex.EncodeToString(TLSAData(selector, mtype, cert)))
}

// TLSAData returns the certificate association data of a TLSA record.
func TLSAData(selector, mtype uint8, cert *x509.Certificate) []byte {
	var data []byte
	switch selector {
	case 0:
		data = cert.Raw
	case 1:
		data = cert.RawSubjectPublicKeyInfo
	default:
		panic(fmt.Sprintf("testdnssec: TLSA selector %d", selector))
	}
	switch mtype {
	case 0:
		return data
	case 1:
		h := sha256.Sum256(data)
		return h[:]
	case 2:
		h := sha512.Sum512(data)
		return h[:]
	}
	panic(fmt.Sprintf("testdnssec: TLSA matching type %d", mtype))
}

// TLSARData returns rr's RDATA as TLSA does ("3 1 1 hex", lower-case
// hex), the form openssl's -dane_tlsa_rrdata takes.
func TLSARData(rr *dns.TLSA) string {
	return fmt.Sprintf("%d %d %d %s", rr.Usage, rr.Selector, rr.MatchingType, strings.ToLower(rr.Certificate))
}
