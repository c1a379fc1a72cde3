// Package testcert makes throw-away certificates for tests: a CA and
// leaves it signs (or self-signed leaves), ECDSA P-256, with the validity
// the test asks for. It is shared by the internal/test* harnesses.
package testcert

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"time"
)

// Cert is a certificate with its private key.
type Cert struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// PEM returns the certificate in PEM form.
func (c *Cert) PEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Cert.Raw})
}

// KeyPEM returns the private key in PKCS #8 PEM form.
func (c *Cert) KeyPEM() ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(c.Key)
	if err != nil {
		return nil, fmt.Errorf("testcert: marshal key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// Issue makes a certificate with subject CN cn for dnsNames, signed by
// ca, or self-signed when ca is nil. A CA certificate may sign
// certificates; a leaf is for TLS servers.
func Issue(cn string, dnsNames []string, ca *Cert, isCA bool, notBefore, notAfter time.Time) (*Cert, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("testcert: generate key: %w", err)
	}
	return IssueKey(key, cn, dnsNames, ca, isCA, notBefore, notAfter)
}

// IssueRSA is Issue with a 2048-bit RSA key, for servers that offer an
// ECDSA and an RSA certificate.
func IssueRSA(cn string, dnsNames []string, ca *Cert, isCA bool, notBefore, notAfter time.Time) (*Cert, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("testcert: generate key: %w", err)
	}
	return IssueKey(key, cn, dnsNames, ca, isCA, notBefore, notAfter)
}

// IssueKey is Issue for a given key.
func IssueKey(key crypto.Signer, cn string, dnsNames []string, ca *Cert, isCA bool, notBefore, notAfter time.Time) (*Cert, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, fmt.Errorf("testcert: serial: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn},
		DNSNames:              dnsNames,
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		BasicConstraintsValid: true,
	}
	if isCA {
		tmpl.IsCA = true
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature
	} else {
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		if _, ok := key.(*rsa.PrivateKey); ok {
			tmpl.KeyUsage |= x509.KeyUsageKeyEncipherment
		}
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	}
	parent, signer := tmpl, key
	if ca != nil {
		parent, signer = ca.Cert, ca.Key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), signer)
	if err != nil {
		return nil, fmt.Errorf("testcert: create certificate for %s: %w", cn, err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("testcert: parse certificate for %s: %w", cn, err)
	}
	return &Cert{Cert: c, Key: key}, nil
}
