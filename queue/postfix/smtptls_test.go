package postfix

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mxkit/mxkit/dane"
	"github.com/mxkit/mxkit/internal/testcert"
	"github.com/mxkit/mxkit/tlspolicy"
)

// The seed's smtp_tls_* block, as it is.
func TestSMTPTLSSeed(t *testing.T) {
	ca, err := testcert.Issue("test CA", nil, nil, true, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, ca.PEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	srv, err := tryBuild(t, smtpBase+"smtp_tls_CAfile = "+caFile+`
smtp_dns_support_level = dnssec
smtp_tls_security_level = dane
smtp_tls_dane_insecure_mx_policy = dane
smtp_tls_policy_maps = inline:{ example.com=secure }
smtp_tls_protocols = !SSLv2, !SSLv3
smtp_tls_ciphers = medium
smtp_tls_exclude_ciphers = aNULL, eNULL, EXPORT, RC4, DES, SSLv2, MD5
smtp_tls_mandatory_protocols = $smtp_tls_protocols, !TLSv1, !TLSv1.1
smtp_tls_mandatory_ciphers = medium
smtp_tls_mandatory_exclude_ciphers = ${smtp_tls_exclude_ciphers}, SHA1
smtp_tls_chain_files =
smtp_tls_session_cache_database = btree:${data_directory}/smtp_scache
smtp_tls_note_starttls_offer = yes
smtp_tls_loglevel = 1
`)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	c := srv.Queue.SMTP.TLS
	if c.Level != tlspolicy.Dane || c.InsecureMXPolicy != dane.InsecureMXDane || len(c.PolicyMaps) != 1 || c.FingerprintDigest != "sha256" {
		t.Errorf("settings = %+v", c)
	}
	if c.Config.MinVersion != tls.VersionTLS10 || c.Config.CipherSuites != nil || c.Config.RootCAs == nil || c.Config.ClientSessionCache == nil {
		t.Errorf("may config: min %x suites %v roots %v", c.Config.MinVersion, c.Config.CipherSuites, c.Config.RootCAs)
	}
	if c.Mandatory.MinVersion != tls.VersionTLS12 || len(c.Mandatory.CipherSuites) == 0 {
		t.Errorf("mandatory config: min %x suites %v", c.Mandatory.MinVersion, c.Mandatory.CipherSuites)
	}
	if !strings.Contains(strings.Join(srv.Ignored, "\n"), "smtp_tls_loglevel (logging") {
		t.Errorf("ignored: %q", srv.Ignored)
	}
	d := srv.SMTPDeliverer(nil, nil, nil)
	if d.TLSPolicies == nil || d.TLSPolicies.Level != tlspolicy.Dane || d.MandatoryTLS != c.Mandatory {
		t.Errorf("deliverer: %+v", d)
	}
}

func TestSMTPTLSRefusals(t *testing.T) {
	wantRefused(t, smtpBase, []refusal{
		{"smtp_tls_security_level = paranoid\n", "main.cf:5: parameter smtp_tls_security_level: "},
		{"smtp_tls_protocols = !TLSv1.2\n", "main.cf:5: parameter smtp_tls_protocols: protocols TLSv1, TLSv1.1, TLSv1.3 leave a gap"},
		{"smtp_tls_mandatory_exclude_ciphers = kEECDH\n", `main.cf:5: parameter smtp_tls_mandatory_exclude_ciphers: excluding cipher class "kEECDH" is not supported`},
		{"smtp_tls_CAfile = /nonexistent/ca.pem\n", "main.cf:5: parameter smtp_tls_CAfile: "},
		{"smtp_tls_dane_insecure_mx_policy = always\n", "main.cf:5: parameter smtp_tls_dane_insecure_mx_policy: "},
		{"smtp_tls_wrappermode = yes\n", "main.cf:5: parameter smtp_tls_wrappermode: SMTP client parameter not supported by mxkit"},
		{"smtp_bind_address = 192.0.2.1\n", "main.cf:5: parameter smtp_bind_address: SMTP client parameter not supported by mxkit"},
	})
}
