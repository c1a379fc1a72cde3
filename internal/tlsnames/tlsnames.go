// Package tlsnames names TLS sessions as Postfix (and OpenSSL) do in logs,
// Received headers and policy requests: "TLSv1.3", "(256/256 bits)". It is
// a leaf shared by the server front, the policy protocol and the TLS
// dialer.
package tlsnames

import (
	"crypto/tls"
	"fmt"
	"strings"
)

// Protocol returns OpenSSL's protocol name: TLSv1, TLSv1.1, TLSv1.2,
// TLSv1.3 ("0x0305" for another value).
func Protocol(v uint16) string {
	switch v {
	case tls.VersionTLS10:
		return "TLSv1"
	case tls.VersionTLS11:
		return "TLSv1.1"
	case tls.VersionTLS12:
		return "TLSv1.2"
	case tls.VersionTLS13:
		return "TLSv1.3"
	}
	return fmt.Sprintf("0x%04x", v)
}

// CipherBits returns the symmetric key size of a cipher suite, by its
// crypto/tls name: 256 for AES-256 and ChaCha20, 128 for AES-128, 168
// for 3DES, 0 when unknown.
func CipherBits(name string) int {
	switch {
	case strings.Contains(name, "AES_256"), strings.Contains(name, "CHACHA20"):
		return 256
	case strings.Contains(name, "AES_128"):
		return 128
	case strings.Contains(name, "3DES"):
		return 168
	}
	return 0
}

// Summary describes a session as Postfix's TLS log lines do: "TLSv1.3
// with cipher TLS_AES_128_GCM_SHA256 (128/128 bits) key-exchange
// X25519". (Postfix also names the server's signature and digest, which
// crypto/tls does not report.)
func Summary(cs *tls.ConnectionState) string {
	name := tls.CipherSuiteName(cs.CipherSuite)
	bits := CipherBits(name)
	s := fmt.Sprintf("%s with cipher %s (%d/%d bits)", Protocol(cs.Version), name, bits, bits)
	if cs.CurveID != 0 {
		s += " key-exchange " + cs.CurveID.String()
	}
	return s
}
