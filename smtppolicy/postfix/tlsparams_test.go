package postfix

import (
	"crypto/tls"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mxkit/mxkit/dane"
	"github.com/mxkit/mxkit/internal/testcert"
	"github.com/mxkit/mxkit/tlspolicy"
)

func TestTLSProtocols(t *testing.T) {
	for _, tc := range []struct {
		spec     string
		min, max uint16
		err      string
	}{
		{"", tls.VersionTLS10, tls.VersionTLS13, ""},
		{"!SSLv2, !SSLv3", tls.VersionTLS10, tls.VersionTLS13, ""},
		{"!SSLv2, !SSLv3, !TLSv1, !TLSv1.1", tls.VersionTLS12, tls.VersionTLS13, ""},
		{"!SSLv2:!SSLv3:!TLSv1", tls.VersionTLS11, tls.VersionTLS13, ""},
		{">=TLSv1.2", tls.VersionTLS12, tls.VersionTLS13, ""},
		{"<=TLSv1.2", tls.VersionTLS10, tls.VersionTLS12, ""},
		{">=TLSv1 <=TLSv1.2", tls.VersionTLS10, tls.VersionTLS12, ""},
		{"TLSv1.2 TLSv1.3", tls.VersionTLS12, tls.VersionTLS13, ""},
		{"tlsv1.3", tls.VersionTLS13, tls.VersionTLS13, ""},
		{"!TLSv1.2", 0, 0, "leave a gap"},
		{"TLSv1 TLSv1.3", 0, 0, "leave a gap"},
		{"!TLSv1.4", 0, 0, `unknown protocol "TLSv1.4"`},
		{"SSLv3", 0, 0, "no TLS protocol left"},
		{">=TLSv1.3 <=TLSv1.2", 0, 0, "no TLS protocol left"},
	} {
		mn, mx, err := tlsProtocols(tc.spec)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: err %v, want %q", tc.spec, err, tc.err)
			}
			continue
		}
		if err != nil || mn != tc.min || mx != tc.max {
			t.Errorf("%q: %x %x %v, want %x %x", tc.spec, mn, mx, err, tc.min, tc.max)
		}
	}
	if _, _, err := tlsProtocols("!TLSv1.2"); !errors.Is(err, ErrUnsupported) {
		t.Error("a gap is not ErrUnsupported")
	}
}

func TestTLSCiphers(t *testing.T) {
	// The seed's exclusions at level may: nothing Go offers.
	if cs, err := tlsCiphers("medium", []string{"aNULL", "eNULL", "EXPORT", "RC4", "DES", "SSLv2", "MD5"}); err != nil || cs != nil {
		t.Errorf("seed exclusions: %v, %v", cs, err)
	}
	// Mandatory adds SHA1: the CBC-SHA suites go.
	cs, err := tlsCiphers("medium", []string{"aNULL", "SHA1"})
	if err != nil || len(cs) == 0 {
		t.Fatal(cs, err)
	}
	for _, id := range cs {
		if strings.HasSuffix(tls.CipherSuiteName(id), "_SHA") {
			t.Errorf("SHA1 suite %s kept", tls.CipherSuiteName(id))
		}
	}
	if !slices.Contains(cs, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256) {
		t.Error("AES-GCM dropped")
	}
	for _, bad := range []struct{ grade, excl, want string }{
		{"null", "", "cipher grade null"},
		{"strong", "", `unknown cipher grade "strong"`},
		{"high", "kEECDH", `excluding cipher class "kEECDH"`},
		{"high", "AESGCM CHACHA20 CBC", "no TLS 1.2 cipher suite"},
	} {
		_, err := tlsCiphers(bad.grade, strings.Fields(bad.excl))
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s / %s: %v, want %q", bad.grade, bad.excl, err, bad.want)
		}
	}
}

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
	for _, tc := range []struct{ extra, want string }{
		{"smtp_tls_security_level = paranoid\n", "main.cf:5: parameter smtp_tls_security_level: "},
		{"smtp_tls_protocols = !TLSv1.2\n", "main.cf:5: parameter smtp_tls_protocols: protocols TLSv1, TLSv1.1, TLSv1.3 leave a gap"},
		{"smtp_tls_mandatory_exclude_ciphers = kEECDH\n", `main.cf:5: parameter smtp_tls_mandatory_exclude_ciphers: excluding cipher class "kEECDH" is not supported`},
		{"smtp_tls_CAfile = /nonexistent/ca.pem\n", "main.cf:5: parameter smtp_tls_CAfile: "},
		{"smtp_tls_dane_insecure_mx_policy = always\n", "main.cf:5: parameter smtp_tls_dane_insecure_mx_policy: "},
		{"smtp_tls_wrappermode = yes\n", "main.cf:5: parameter smtp_tls_wrappermode: SMTP client parameter not supported by mxkit"},
		{"smtp_bind_address = 192.0.2.1\n", "main.cf:5: parameter smtp_bind_address: SMTP client parameter not supported by mxkit"},
	} {
		srv, err := tryBuild(t, smtpBase+tc.extra)
		if err == nil {
			srv.Close()
			t.Errorf("%q: no error", tc.extra)
			continue
		}
		if !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%q:\n got  %v\n want %s...", tc.extra, err, tc.want)
		}
	}
}

func FuzzTLSProtocols(f *testing.F) {
	for _, s := range []string{"!SSLv2, !SSLv3", ">=TLSv1.2", "TLSv1.2:TLSv1.3", "<=TLSv1.1 !TLSv1", "!TLSv1.2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		mn, mx, err := tlsProtocols(s)
		if err == nil && (mn < tls.VersionTLS10 || mx > tls.VersionTLS13 || mn > mx) {
			t.Fatalf("%q: range %x..%x", s, mn, mx)
		}
	})
}

func TestSMTPDTLSRefusals(t *testing.T) {
	ca, err := testcert.Issue("mx.example.test", []string{"mx.example.test"}, nil, false, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ca.KeyPEM()
	chain := filepath.Join(t.TempDir(), "chain.pem")
	if err := os.WriteFile(chain, append(key, ca.PEM()...), 0o600); err != nil {
		t.Fatal(err)
	}
	base := smtpBase + "smtpd_tls_security_level = may\nsmtpd_tls_chain_files = " + chain + "\n"
	srv, err := tryBuild(t, base+"smtpd_tls_protocols = >=TLSv1.2\nsmtpd_tls_eecdh_grade = strong\nsmtpd_tls_received_header = yes\nsmtpd_tls_session_cache_timeout = 0\n")
	if err != nil {
		t.Fatal(err)
	}
	if c := srv.TLS; c.MinVersion != tls.VersionTLS12 || len(c.CurvePreferences) != 1 || c.CurvePreferences[0] != tls.CurveP256 ||
		!c.SessionTicketsDisabled || !srv.TLSReceivedHeader {
		t.Errorf("server TLS: %+v", c)
	}
	srv.Close()
	for _, tc := range []struct{ extra, want string }{
		{"smtpd_tls_eecdh_grade = none\n", "main.cf:7: parameter smtpd_tls_eecdh_grade: no ECDHE is not supported by mxkit"},
		{"smtpd_tls_protocols = TLSv1 TLSv1.3\n", "main.cf:7: parameter smtpd_tls_protocols: protocols TLSv1, TLSv1.3 leave a gap"},
		{"smtpd_tls_exclude_ciphers = kEECDH\n", `main.cf:7: parameter smtpd_tls_exclude_ciphers: excluding cipher class "kEECDH"`},
		{"smtpd_tls_CAfile = /nonexistent\n", "main.cf:7: parameter smtpd_tls_CAfile: "},
	} {
		srv, err := tryBuild(t, base+tc.extra)
		if err == nil {
			srv.Close()
			t.Errorf("%q: no error", tc.extra)
			continue
		}
		if !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%q:\n got  %v\n want %s...", tc.extra, err, tc.want)
		}
	}
}
