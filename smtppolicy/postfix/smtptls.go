package postfix

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"strings"

	"github.com/mxkit/mxkit/dane"
	"github.com/mxkit/mxkit/internal/pflist"
	"github.com/mxkit/mxkit/relaymaps"
	"github.com/mxkit/mxkit/tlspolicy"
)

// SMTPTLS is what main.cf says about the SMTP client's TLS (smtp_tls_*).
type SMTPTLS struct {
	// Level is smtp_tls_security_level (empty: smtp_use_tls and
	// smtp_enforce_tls decide, else none, as in Postfix).
	Level tlspolicy.Level
	// PolicyMaps is smtp_tls_policy_maps.
	PolicyMaps []relaymaps.Map
	// InsecureMXPolicy is smtp_tls_dane_insecure_mx_policy.
	InsecureMXPolicy dane.InsecureMXPolicy
	// ServerName is smtp_tls_servername.
	ServerName string
	// FingerprintDigest is smtp_tls_fingerprint_digest.
	FingerprintDigest string
	// Config is the base client configuration at level may
	// (smtp_tls_protocols, smtp_tls_ciphers, smtp_tls_exclude_ciphers,
	// smtp_tls_CAfile, smtp_tls_CApath, smtp_tls_chain_files or
	// smtp_tls_cert_file/key_file, smtp_tls_session_cache_database);
	// Mandatory the one at the levels that require TLS
	// (smtp_tls_mandatory_protocols, _ciphers, _exclude_ciphers).
	Config, Mandatory *tls.Config
}

// smtpTLSSupported are the smtp_tls_* parameters read here; other smtp_tls_*
// parameters set in main.cf stop start-up (see smtpRefused).
var smtpTLSSupported = []string{
	"smtp_tls_security_level", "smtp_use_tls", "smtp_enforce_tls", "smtp_tls_policy_maps",
	"smtp_tls_dane_insecure_mx_policy", "smtp_tls_servername", "smtp_tls_fingerprint_digest",
	"smtp_tls_protocols", "smtp_tls_mandatory_protocols", "smtp_tls_ciphers", "smtp_tls_mandatory_ciphers",
	"smtp_tls_exclude_ciphers", "smtp_tls_mandatory_exclude_ciphers", "smtp_tls_CAfile", "smtp_tls_CApath",
	"smtp_tls_chain_files", "smtp_tls_cert_file", "smtp_tls_key_file", "smtp_tls_eccert_file",
	"smtp_tls_eckey_file", "smtp_tls_session_cache_database", "smtp_tls_session_cache_timeout",
}

func init() {
	for _, n := range smtpTLSSupported {
		supported[n] = true
	}
}

func (b *builder) smtpTLS() error {
	c := &b.srv.Queue.SMTP.TLS
	level, err := b.get("smtp_tls_security_level")
	if err != nil {
		return err
	}
	if level == "" {
		level = "none"
		if use, _ := b.cfg.Bool("smtp_use_tls"); use {
			level = "may"
		}
		if enforce, _ := b.cfg.Bool("smtp_enforce_tls"); enforce {
			level = "encrypt"
		}
	}
	if c.Level, err = tlspolicy.ParseLevel(level); err != nil {
		return b.fail("smtp_tls_security_level", err)
	}
	if c.PolicyMaps, err = b.openMaps("smtp_tls_policy_maps"); err != nil {
		return err
	}
	v, err := b.get("smtp_tls_dane_insecure_mx_policy")
	if err != nil {
		return err
	}
	if c.InsecureMXPolicy, err = dane.ParseInsecureMXPolicy(v); err != nil {
		return b.fail("smtp_tls_dane_insecure_mx_policy", err)
	}
	if c.ServerName, err = b.get("smtp_tls_servername"); err != nil {
		return err
	}
	if c.FingerprintDigest, err = b.get("smtp_tls_fingerprint_digest"); err != nil {
		return err
	}
	switch strings.ToLower(c.FingerprintDigest) {
	case "md5", "sha1", "sha224", "sha256", "sha384", "sha512":
	default:
		return b.fail("smtp_tls_fingerprint_digest", fmt.Errorf("unknown digest %q", c.FingerprintDigest))
	}

	base := &tls.Config{}
	caFile, err := b.get("smtp_tls_CAfile")
	if err != nil {
		return err
	}
	caPath, err := b.get("smtp_tls_CApath")
	if err != nil {
		return err
	}
	if caFile != "" || caPath != "" {
		base.RootCAs = x509.NewCertPool()
		if err := addRootsFile(base.RootCAs, b.topen.ResolvePath(caFile)); err != nil {
			return b.fail("smtp_tls_CAfile", err)
		}
		if err := addRootsDir(base.RootCAs, b.topen.ResolvePath(caPath)); err != nil {
			return b.fail("smtp_tls_CApath", err)
		}
	}
	if base.Certificates, err = b.clientCerts(); err != nil {
		return err
	}
	if db, err := b.get("smtp_tls_session_cache_database"); err != nil {
		return err
	} else if db != "" {
		// Resumption in memory: Go's client cache, not Postfix's
		// tlsmgr database (sessions are not kept across restarts).
		base.ClientSessionCache = tls.NewLRUClientSessionCache(1000)
	}
	c.Config, err = b.tlsVariant(base, "smtp_tls_protocols", "smtp_tls_ciphers", "smtp_tls_exclude_ciphers", "")
	if err != nil {
		return err
	}
	c.Mandatory, err = b.tlsVariant(base, "smtp_tls_mandatory_protocols", "smtp_tls_mandatory_ciphers", "smtp_tls_exclude_ciphers", "smtp_tls_mandatory_exclude_ciphers")
	return err
}

// tlsVariant is base with one protocols/ciphers/exclusions triple (plus
// more exclusions) applied.
func (b *builder) tlsVariant(base *tls.Config, protos, ciphers, exclude, exclude2 string) (*tls.Config, error) {
	cfg := base.Clone()
	v, err := b.get(protos)
	if err != nil {
		return nil, err
	}
	if cfg.MinVersion, cfg.MaxVersion, err = tlsProtocols(v); err != nil {
		return nil, b.fail(protos, err)
	}
	grade, err := b.get(ciphers)
	if err != nil {
		return nil, err
	}
	var excl []string
	for _, name := range []string{exclude, exclude2} {
		if name == "" {
			continue
		}
		x, err := b.get(name)
		if err != nil {
			return nil, err
		}
		excl = append(excl, pflist.Split(strings.ReplaceAll(x, ":", " "))...)
	}
	if cfg.CipherSuites, err = tlsCiphers(grade, excl); err != nil {
		name := ciphers
		if !strings.Contains(err.Error(), "grade") {
			name = exclude
			if exclude2 != "" {
				name = exclude2
			}
		}
		return nil, b.fail(name, err)
	}
	return cfg, nil
}

// clientCerts reads the SMTP client's certificates: smtp_tls_chain_files,
// or the cert_file/key_file pairs.
func (b *builder) clientCerts() ([]tls.Certificate, error) {
	var certs []tls.Certificate
	chain, err := b.cfg.List("smtp_tls_chain_files")
	if err != nil {
		return nil, b.fail("smtp_tls_chain_files", err)
	}
	for _, f := range chain {
		pem, err := os.ReadFile(b.topen.ResolvePath(f))
		if err != nil {
			return nil, b.fail("smtp_tls_chain_files", err)
		}
		c, err := tls.X509KeyPair(pem, pem)
		if err != nil {
			return nil, b.fail("smtp_tls_chain_files", fmt.Errorf("%s: %w", f, err))
		}
		certs = append(certs, c)
	}
	if len(chain) > 0 {
		return certs, nil
	}
	for _, pair := range [][2]string{{"smtp_tls_cert_file", "smtp_tls_key_file"}, {"smtp_tls_eccert_file", "smtp_tls_eckey_file"}} {
		cf, err := b.get(pair[0])
		if err != nil {
			return nil, err
		}
		if cf == "" {
			continue
		}
		kf, err := b.get(pair[1])
		if err != nil {
			return nil, err
		}
		if kf == "" {
			kf = cf
		}
		c, err := tls.LoadX509KeyPair(b.topen.ResolvePath(cf), b.topen.ResolvePath(kf))
		if err != nil {
			return nil, b.fail(pair[0], err)
		}
		certs = append(certs, c)
	}
	return certs, nil
}

// TLSPolicies returns the per-destination TLS policy main.cf describes:
// smtp_tls_policy_maps, then DANE through dns (nil: no DANE; a dane level
// then falls back to may), then MTA-STS through sts (nil: none; the seed
// asks its MTA-STS resolver through a socketmap in smtp_tls_policy_maps),
// then smtp_tls_security_level.
func (s *Server) TLSPolicies(dns dane.Resolver, sts tlspolicy.STSSource) *tlspolicy.Resolver {
	c := s.Queue.SMTP.TLS
	return &tlspolicy.Resolver{Level: c.Level, Maps: c.PolicyMaps, DNS: dns, STS: sts,
		InsecureMXPolicy: c.InsecureMXPolicy, ServerName: c.ServerName}
}

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
	v, err := b.get(protos)
	if err != nil {
		return err
	}
	if cfg.MinVersion, cfg.MaxVersion, err = tlsProtocols(v); err != nil {
		return b.fail(protos, err)
	}
	grade, err := b.get(ciphers)
	if err != nil {
		return err
	}
	var x []string
	for _, name := range excl {
		s, err := b.get(name)
		if err != nil {
			return err
		}
		x = append(x, pflist.Split(strings.ReplaceAll(s, ":", " "))...)
	}
	if cfg.CipherSuites, err = tlsCiphers(grade, x); err != nil {
		name := ciphers
		if !strings.Contains(err.Error(), "grade") {
			name = excl[len(excl)-1]
		}
		return b.fail(name, err)
	}
	// smtpd_tls_eecdh_grade: Postfix's "strong" is P-256, "ultra" P-384;
	// "auto" (the default since 3.6) leaves the choice to the library.
	grade, err = b.get("smtpd_tls_eecdh_grade")
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
		return b.fail("smtpd_tls_eecdh_grade", fmt.Errorf("no ECDHE is %w: crypto/tls has no other forward-secret key exchange", ErrUnsupported))
	default:
		return b.fail("smtpd_tls_eecdh_grade", fmt.Errorf("unknown grade %q", grade))
	}
	// Client certificates (smtpd_tls_ask_ccert): the CAs named in the
	// certificate request. permit_tls_clientcerts matches fingerprints
	// (relay_clientcerts), as in Postfix.
	caFile, err := b.get("smtpd_tls_CAfile")
	if err != nil {
		return err
	}
	caPath, err := b.get("smtpd_tls_CApath")
	if err != nil {
		return err
	}
	if caFile != "" || caPath != "" {
		cfg.ClientCAs = x509.NewCertPool()
		if err := addRootsFile(cfg.ClientCAs, b.topen.ResolvePath(caFile)); err != nil {
			return b.fail("smtpd_tls_CAfile", err)
		}
		if err := addRootsDir(cfg.ClientCAs, b.topen.ResolvePath(caPath)); err != nil {
			return b.fail("smtpd_tls_CApath", err)
		}
	}
	// Resumption: crypto/tls's session tickets, on unless
	// smtpd_tls_session_cache_timeout = 0 (Postfix: no caching). The
	// ticket lifetime is crypto/tls's (7 days at most), not the timeout.
	if t, err := b.cfg.Duration("smtpd_tls_session_cache_timeout"); err != nil {
		return b.fail("smtpd_tls_session_cache_timeout", err)
	} else if t == 0 {
		cfg.SessionTicketsDisabled = true
	}
	if b.srv.TLSReceivedHeader, err = b.boolean("smtpd_tls_received_header"); err != nil {
		return err
	}
	return nil
}
