package postfix

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"strings"

	"github.com/mxkit/mxkit/internal/pfbuild"
	"github.com/mxkit/mxkit/internal/pflist"
)

// smtpdTLSSupported are the smtpd_tls_* parameters smtpdTLSTuning reads.
var smtpdTLSSupported = []string{
	"smtpd_tls_protocols", "smtpd_tls_mandatory_protocols", "smtpd_tls_ciphers", "smtpd_tls_mandatory_ciphers",
	"smtpd_tls_exclude_ciphers", "smtpd_tls_mandatory_exclude_ciphers", "smtpd_tls_eecdh_grade",
	"smtpd_tls_CAfile", "smtpd_tls_CApath", "smtpd_tls_session_cache_database", "smtpd_tls_session_cache_timeout",
	"smtpd_tls_received_header",
}

func init() {
	for _, n := range smtpdTLSSupported {
		supported[n] = true
	}
}

// smtpdTLSTuning applies the server's protocol, cipher, curve, client-CA
// and session parameters to cfg: the mandatory set when TLS is required
// (smtpd_tls_security_level = encrypt), the opportunistic one otherwise,
// as Postfix's smtpd does.
func (b *builder) smtpdTLSTuning(cfg *tls.Config) error {
	protos, ciphers, excl := "smtpd_tls_protocols", "smtpd_tls_ciphers", []string{"smtpd_tls_exclude_ciphers"}
	if b.srv.RequireTLS {
		protos, ciphers = "smtpd_tls_mandatory_protocols", "smtpd_tls_mandatory_ciphers"
		excl = append(excl, "smtpd_tls_mandatory_exclude_ciphers")
	}
	v, err := b.Get(protos)
	if err != nil {
		return err
	}
	if cfg.MinVersion, cfg.MaxVersion, err = pfbuild.TLSProtocols(v); err != nil {
		return b.Fail(protos, err)
	}
	grade, err := b.Get(ciphers)
	if err != nil {
		return err
	}
	var x []string
	for _, name := range excl {
		s, err := b.Get(name)
		if err != nil {
			return err
		}
		x = append(x, pflist.Split(strings.ReplaceAll(s, ":", " "))...)
	}
	if cfg.CipherSuites, err = pfbuild.TLSCiphers(grade, x); err != nil {
		name := ciphers
		if !strings.Contains(err.Error(), "grade") {
			name = excl[len(excl)-1]
		}
		return b.Fail(name, err)
	}
	// smtpd_tls_eecdh_grade: Postfix's "strong" is P-256, "ultra" P-384;
	// "auto" (the default since 3.6) leaves the choice to the library.
	grade, err = b.Get("smtpd_tls_eecdh_grade")
	if err != nil {
		return err
	}
	switch strings.ToLower(grade) {
	case "", "auto":
	case "strong":
		cfg.CurvePreferences = []tls.CurveID{tls.CurveP256}
	case "ultra":
		cfg.CurvePreferences = []tls.CurveID{tls.CurveP384}
	case "none":
		return b.Fail("smtpd_tls_eecdh_grade", fmt.Errorf("no ECDHE is %w: crypto/tls has no other forward-secret key exchange", ErrUnsupported))
	default:
		return b.Fail("smtpd_tls_eecdh_grade", fmt.Errorf("unknown grade %q", grade))
	}
	// Client certificates (smtpd_tls_ask_ccert): the CAs named in the
	// certificate request. permit_tls_clientcerts matches fingerprints
	// (relay_clientcerts), as in Postfix.
	caFile, err := b.Get("smtpd_tls_CAfile")
	if err != nil {
		return err
	}
	caPath, err := b.Get("smtpd_tls_CApath")
	if err != nil {
		return err
	}
	if caFile != "" || caPath != "" {
		cfg.ClientCAs = x509.NewCertPool()
		if err := pfbuild.AddRootsFile(cfg.ClientCAs, b.Tables.ResolvePath(caFile)); err != nil {
			return b.Fail("smtpd_tls_CAfile", err)
		}
		if err := pfbuild.AddRootsDir(cfg.ClientCAs, b.Tables.ResolvePath(caPath)); err != nil {
			return b.Fail("smtpd_tls_CApath", err)
		}
	}
	// Resumption: crypto/tls's session tickets, on unless
	// smtpd_tls_session_cache_timeout = 0 (Postfix: no caching). The
	// ticket lifetime is crypto/tls's (7 days at most), not the timeout.
	if t, err := b.Cfg.Duration("smtpd_tls_session_cache_timeout"); err != nil {
		return b.Fail("smtpd_tls_session_cache_timeout", err)
	} else if t == 0 {
		cfg.SessionTicketsDisabled = true
	}
	if b.srv.TLSReceivedHeader, err = b.Bool("smtpd_tls_received_header"); err != nil {
		return err
	}
	return nil
}
