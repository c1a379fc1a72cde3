package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/mxkit/mxkit/internal/postfixconf"
)

// selfSignedFile is the name, in the spool folder, of the certificate
// that the built-in configuration makes for STARTTLS: the private key
// then the certificate, in one PEM file, as smtpd_tls_chain_files reads
// it. One file is replaced in one rename, so key and certificate always
// match.
const selfSignedFile = "smtpd-selfsigned.pem"

// selfSignedLifetime is how long a made certificate is valid;
// selfSignedRenew is how long before its end it is replaced at start.
const (
	selfSignedLifetime = 365 * 24 * time.Hour
	selfSignedRenew    = 30 * 24 * time.Hour
)

// autoTLS gives the built-in configuration a STARTTLS certificate: when
// cfg asks for STARTTLS (smtpd_tls_security_level = may or encrypt) but
// names no certificate (smtpd_tls_chain_files, smtpd_tls_cert_file,
// smtpd_tls_eccert_file), it uses the self-signed one in the spool
// folder, making it at first start (or when it no longer fits: another
// host name, expired, unreadable), and returns the override that points
// smtpd_tls_chain_files at it, for postfix.Options.Overrides (nil when
// none is needed). It logs one line saying which certificate STARTTLS
// offers. cfg is only read: it is the example's own built-in text, parsed
// to look at it (a program of yours knows its configuration and sets the
// override directly).
//
// A user's main.cf never comes here: without a certificate in its
// smtpd_tls_* parameters STARTTLS is off, as in Postfix.
func autoTLS(cfg *postfixconf.Config, spool string, now time.Time, logger *slog.Logger) (map[string]string, error) {
	if level, err := cfg.Get("smtpd_tls_security_level"); err != nil {
		return nil, fmt.Errorf("smtpd_tls_security_level: %w", err)
	} else if level != "may" && level != "encrypt" {
		return nil, nil
	}
	for _, p := range []string{"smtpd_tls_chain_files", "smtpd_tls_cert_file", "smtpd_tls_eccert_file"} {
		if v, err := cfg.Get(p); err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		} else if v != "" {
			return nil, nil
		}
	}
	host, err := cfg.Get("myhostname")
	if err != nil {
		return nil, fmt.Errorf("myhostname: %w", err)
	}
	if host == "" {
		host = "localhost"
	}
	path, err := filepath.Abs(filepath.Join(spool, selfSignedFile))
	if err != nil {
		return nil, fmt.Errorf("self-signed certificate: %w", err)
	}
	cert, made, why, err := loadOrMakeCert(path, host, now)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(cert.Raw)
	msg := "mx: STARTTLS offers the self-signed certificate in the spool folder (no certificate configured)"
	if made {
		msg = "mx: STARTTLS offers a new self-signed certificate, kept in the spool folder (no certificate configured)"
	}
	attrs := []any{"hostname", host, "file", path, "sha256", hex.EncodeToString(sum[:]), "not_after", cert.NotAfter.UTC().Format(time.DateOnly)}
	if why != "" {
		attrs = append(attrs, "replaced", why)
	}
	logger.Info(msg, attrs...)
	return map[string]string{"smtpd_tls_chain_files": path}, nil
}

// loadOrMakeCert returns the certificate in path when it is usable for
// host at now (and beyond the renewal margin); else it makes a new one
// and writes it there. made says whether it did; why, when it replaced a
// file, says what was wrong with it.
func loadOrMakeCert(path, host string, now time.Time) (cert *x509.Certificate, made bool, why string, err error) {
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		cert, err = usableCert(data, host, now)
		if err == nil {
			return cert, false, "", nil
		}
		why = err.Error()
	case !errors.Is(err, os.ErrNotExist):
		return nil, false, "", fmt.Errorf("self-signed certificate: %w", err)
	}
	data, cert, err = makeCert(host, now)
	if err != nil {
		return nil, false, "", err
	}
	if err := writeFileAtomic(path, data, 0o600); err != nil {
		return nil, false, "", fmt.Errorf("self-signed certificate: %w", err)
	}
	return cert, true, why, nil
}

// usableCert parses a key-and-certificate PEM file and checks that it
// names host and stays valid for longer than selfSignedRenew.
func usableCert(data []byte, host string, now time.Time) (*x509.Certificate, error) {
	pair, err := tls.X509KeyPair(data, data)
	if err != nil {
		return nil, fmt.Errorf("unreadable: %w", err)
	}
	c := pair.Leaf
	if c == nil {
		if c, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			return nil, fmt.Errorf("unreadable: %w", err)
		}
	}
	if err := c.VerifyHostname(host); err != nil {
		return nil, fmt.Errorf("not for %s", host)
	}
	if now.Before(c.NotBefore) || now.Add(selfSignedRenew).After(c.NotAfter) {
		return nil, fmt.Errorf("valid %s to %s only", c.NotBefore.UTC().Format(time.DateOnly), c.NotAfter.UTC().Format(time.DateOnly))
	}
	return c, nil
}

// makeCert makes a self-signed ECDSA P-256 certificate for host,
// localhost, 127.0.0.1 and ::1, and returns it as a PEM file (PKCS #8
// key, then the certificate).
func makeCert(host string, now time.Time) ([]byte, *x509.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("self-signed certificate: generate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, fmt.Errorf("self-signed certificate: serial: %w", err)
	}
	names := []string{host}
	if host != "localhost" {
		names = append(names, "localhost")
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: host, Organization: []string{"mxkit self-signed"}},
		DNSNames:              names,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(selfSignedLifetime),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, fmt.Errorf("self-signed certificate: create: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("self-signed certificate: parse: %w", err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("self-signed certificate: marshal key: %w", err)
	}
	var buf bytes.Buffer
	pem.Encode(&buf, &pem.Block{Type: "PRIVATE KEY", Bytes: kder})
	pem.Encode(&buf, &pem.Block{Type: "CERTIFICATE", Bytes: der})
	return buf.Bytes(), cert, nil
}

// writeFileAtomic writes data to path through a temporary file in the
// same folder (made with perm), synced and renamed over path.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after a successful rename, a no-op
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
