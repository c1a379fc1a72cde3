package gosmtp

import (
	"crypto/tls"
	"fmt"
	"strings"

	"github.com/mxkit/mxkit/internal/tlsnames"
)

// TLSSummary describes a TLS session as Postfix's logs and Received
// headers do: "TLSv1.3 with cipher TLS_AES_128_GCM_SHA256 (128/128 bits)
// key-exchange X25519".
func TLSSummary(cs *tls.ConnectionState) string { return tlsnames.Summary(cs) }

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
	name := tls.CipherSuiteName(cs.CipherSuite)
	bits := tlsnames.CipherBits(name)
	var b strings.Builder
	fmt.Fprintf(&b, "\r\n\t(using %s with cipher %s (%d/%d bits)", tlsnames.Protocol(cs.Version), name, bits, bits)
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
