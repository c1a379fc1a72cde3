package testnginx

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"time"
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
type keyPair struct {
	cert *x509.Certificate
	key  crypto.Signer
}

func (k *keyPair) certPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: k.cert.Raw})
}

func (k *keyPair) keyPEM() ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k.key)
	if err != nil {
		return nil, fmt.Errorf("testnginx: marshal key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

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
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("testnginx: generate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, fmt.Errorf("testnginx: serial: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn},
		DNSNames:              dnsNames,
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		BasicConstraintsValid: true,
		IsCA:                  isCA,
	}
	if isCA {
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	} else {
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	}
	parent, signer := tmpl, crypto.Signer(key)
	if ca != nil {
		parent, signer = ca.cert, ca.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), signer)
	if err != nil {
		return nil, fmt.Errorf("testnginx: create certificate for %s: %w", cn, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("testnginx: parse certificate for %s: %w", cn, err)
	}
	return &keyPair{cert: cert, key: key}, nil
}
