package gosmtp

import (
	"crypto/tls"
	"fmt"
	"strings"
)

// cipherBits returns the symmetric key size of a cipher suite, Postfix's
// "(256/256 bits)".
func cipherBits(id uint16) int {
	name := tls.CipherSuiteName(id)
	switch {
	case strings.Contains(name, "AES_128"):
		return 128
	case strings.Contains(name, "AES_256"), strings.Contains(name, "CHACHA20"):
		return 256
	case strings.Contains(name, "3DES"):
		return 168
	}
	return 0
}

// TLSSummary describes a TLS session as Postfix's logs and Received
// headers do: "TLSv1.3 with cipher TLS_AES_128_GCM_SHA256 (128/128 bits)
// key-exchange X25519". Postfix also names the server's signature and
// digest; crypto/tls does not report them.
func TLSSummary(cs *tls.ConnectionState) string {
	bits := cipherBits(cs.CipherSuite)
	s := fmt.Sprintf("%s with cipher %s (%d/%d bits)", tlsVersion(cs.Version), tls.CipherSuiteName(cs.CipherSuite), bits, bits)
	if cs.CurveID != 0 {
		s += " key-exchange " + cs.CurveID.String()
	}
	return s
}

// tlsVersion is OpenSSL's protocol name: TLSv1, TLSv1.1, TLSv1.2, TLSv1.3.
func tlsVersion(v uint16) string {
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
	return tls.VersionName(v)
}

// ReceivedTLS returns the TLS comment Postfix's smtpd puts in its Received
// header with smtpd_tls_received_header = yes, folded as Postfix folds
// it, to go after the "from" clause:
//
//	(using TLSv1.3 with cipher TLS_AES_128_GCM_SHA256 (128/128 bits)
//	 key-exchange X25519)
//	(No client certificate requested)
//
// askedCert says whether a client certificate was requested
// (smtpd_tls_ask_ccert). The result starts with "\r\n\t" and has no
// trailing line break; it is "" for a session without TLS.
func ReceivedTLS(cs *tls.ConnectionState, askedCert bool) string {
	if cs == nil || !cs.HandshakeComplete {
		return ""
	}
	bits := cipherBits(cs.CipherSuite)
	var b strings.Builder
	fmt.Fprintf(&b, "\r\n\t(using %s with cipher %s (%d/%d bits)", tlsVersion(cs.Version), tls.CipherSuiteName(cs.CipherSuite), bits, bits)
	if cs.CurveID != 0 {
		fmt.Fprintf(&b, "\r\n\t key-exchange %s", cs.CurveID)
	}
	b.WriteString(")")
	switch {
	case !askedCert:
		b.WriteString("\r\n\t(No client certificate requested)")
	case len(cs.PeerCertificates) == 0:
		b.WriteString("\r\n\t(Client did not present a certificate)")
	default:
		c := cs.PeerCertificates[0]
		fmt.Fprintf(&b, "\r\n\t(Client CN %q, Issuer %q (not verified))", c.Subject.CommonName, c.Issuer.CommonName)
	}
	return b.String()
}
