package testnginx

import (
	"fmt"
	"time"

	"github.com/mxkit/mxkit/internal/testcert"
)

// CertKind says which certificate a Site presents.
type CertKind int

const (
	// CertValid is a certificate for the site's Host from the test CA.
	CertValid CertKind = iota
	// CertWrongName is a certificate from the test CA for "wrong." +
	// Host only, so PKIX name checks fail.
	CertWrongName
	// CertExpired is a certificate for Host from the test CA that
	// expired a day ago.
	CertExpired
	// CertSelfSigned is a self-signed certificate for Host, not issued
	// by the test CA.
	CertSelfSigned
)

// String names the kind, as in "wrong-name".
func (k CertKind) String() string {
	switch k {
	case CertValid:
		return "valid"
	case CertWrongName:
		return "wrong-name"
	case CertExpired:
		return "expired"
	case CertSelfSigned:
		return "self-signed"
	}
	return fmt.Sprintf("CertKind(%d)", int(k))
}

// keyPair is a certificate with its key.
type keyPair = testcert.Cert

// newCA makes a self-signed ECDSA P-256 CA certificate.
func newCA(cn string) (*keyPair, error) {
	now := time.Now()
	return issue(cn, nil, nil, true, now.Add(-time.Hour), now.Add(24*time.Hour))
}

// siteCert makes the certificate a site of kind k presents for host.
func siteCert(ca *keyPair, host string, k CertKind) (*keyPair, error) {
	now := time.Now()
	nb, na := now.Add(-time.Hour), now.Add(24*time.Hour)
	switch k {
	case CertValid:
		return issue(host, []string{host}, ca, false, nb, na)
	case CertWrongName:
		return issue("wrong."+host, []string{"wrong." + host}, ca, false, nb, na)
	case CertExpired:
		return issue(host, []string{host}, ca, false, now.Add(-48*time.Hour), now.Add(-24*time.Hour))
	case CertSelfSigned:
		return issue(host, []string{host}, nil, false, nb, na)
	}
	return nil, fmt.Errorf("testnginx: unknown certificate kind %v", k)
}

// issue makes a certificate signed by ca, or self-signed when ca is nil.
func issue(cn string, dnsNames []string, ca *keyPair, isCA bool, notBefore, notAfter time.Time) (*keyPair, error) {
	return testcert.Issue(cn, dnsNames, ca, isCA, notBefore, notAfter)
}
