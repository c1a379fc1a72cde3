package postfix

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mxkit/mxkit/internal/testcert"
)

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

func tryBuild(t *testing.T, text string) (*Server, error) {
	t.Helper()
	return Parse(strings.NewReader(text), "main.cf", quiet)
}

const smtpBase = "compatibility_level = 3.6\nmyhostname = mx.example.test\nmydestination =\nsmtpd_peername_lookup = no\n"
