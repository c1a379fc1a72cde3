package postfix

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"strings"

	"github.com/mxkit/mxkit/dane"
	"github.com/mxkit/mxkit/internal/pfbuild"
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

func (b *builder) smtpTLS() error {
	c := &b.qs.SMTP.TLS
	level, err := b.Get("smtp_tls_security_level")
	if err != nil {
		return err
	}
	if level == "" {
		level = "none"
		if use, _ := b.Cfg.Bool("smtp_use_tls"); use {
			level = "may"
		}
		if enforce, _ := b.Cfg.Bool("smtp_enforce_tls"); enforce {
			level = "encrypt"
		}
	}
	if c.Level, err = tlspolicy.ParseLevel(level); err != nil {
		return b.Fail("smtp_tls_security_level", err)
	}
	if c.PolicyMaps, err = b.OpenMaps("smtp_tls_policy_maps"); err != nil {
		return err
	}
	v, err := b.Get("smtp_tls_dane_insecure_mx_policy")
	if err != nil {
		return err
	}
	if c.InsecureMXPolicy, err = dane.ParseInsecureMXPolicy(v); err != nil {
		return b.Fail("smtp_tls_dane_insecure_mx_policy", err)
	}
	if c.ServerName, err = b.Get("smtp_tls_servername"); err != nil {
		return err
	}
	if c.FingerprintDigest, err = b.Get("smtp_tls_fingerprint_digest"); err != nil {
		return err
	}
	switch strings.ToLower(c.FingerprintDigest) {
	case "md5", "sha1", "sha224", "sha256", "sha384", "sha512":
	default:
		return b.Fail("smtp_tls_fingerprint_digest", fmt.Errorf("unknown digest %q", c.FingerprintDigest))
	}

	base := &tls.Config{}
	caFile, err := b.Get("smtp_tls_CAfile")
	if err != nil {
		return err
	}
	caPath, err := b.Get("smtp_tls_CApath")
	if err != nil {
		return err
	}
	if caFile != "" || caPath != "" {
		base.RootCAs = x509.NewCertPool()
		if err := pfbuild.AddRootsFile(base.RootCAs, b.Tables.ResolvePath(caFile)); err != nil {
			return b.Fail("smtp_tls_CAfile", err)
		}
		if err := pfbuild.AddRootsDir(base.RootCAs, b.Tables.ResolvePath(caPath)); err != nil {
			return b.Fail("smtp_tls_CApath", err)
		}
	}
	if base.Certificates, err = b.Certificates("smtp_tls_chain_files", [][2]string{{"smtp_tls_cert_file", "smtp_tls_key_file"}, {"smtp_tls_eccert_file", "smtp_tls_eckey_file"}}); err != nil {
		return err
	}
	if db, err := b.Get("smtp_tls_session_cache_database"); err != nil {
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
	v, err := b.Get(protos)
	if err != nil {
		return nil, err
	}
	if cfg.MinVersion, cfg.MaxVersion, err = pfbuild.TLSProtocols(v); err != nil {
		return nil, b.Fail(protos, err)
	}
	grade, err := b.Get(ciphers)
	if err != nil {
		return nil, err
	}
	var excl []string
	for _, name := range []string{exclude, exclude2} {
		if name == "" {
			continue
		}
		x, err := b.Get(name)
		if err != nil {
			return nil, err
		}
		excl = append(excl, pflist.Split(strings.ReplaceAll(x, ":", " "))...)
	}
	if cfg.CipherSuites, err = pfbuild.TLSCiphers(grade, excl); err != nil {
		name := ciphers
		if !strings.Contains(err.Error(), "grade") {
			name = exclude
			if exclude2 != "" {
				name = exclude2
			}
		}
		return nil, b.Fail(name, err)
	}
	return cfg, nil
}

// TLSPolicies returns the per-destination TLS policy main.cf describes:
// smtp_tls_policy_maps, then DANE through dns (nil: no DANE; a dane level
// then falls back to may), then MTA-STS through sts (nil: none; the seed
// asks its MTA-STS resolver through a socketmap in smtp_tls_policy_maps),
// then smtp_tls_security_level.
func (q *Settings) TLSPolicies(dns dane.Resolver, sts tlspolicy.STSSource) *tlspolicy.Resolver {
	c := q.SMTP.TLS
	return &tlspolicy.Resolver{Level: c.Level, Maps: c.PolicyMaps, DNS: dns, STS: sts,
		InsecureMXPolicy: c.InsecureMXPolicy, ServerName: c.ServerName}
}
