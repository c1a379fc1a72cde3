package pfbuild

import (
	"crypto/tls"
	"errors"
	"slices"
	"strings"
	"testing"
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
		mn, mx, err := TLSProtocols(tc.spec)
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
	if _, _, err := TLSProtocols("!TLSv1.2"); !errors.Is(err, ErrUnsupported) {
		t.Error("a gap is not ErrUnsupported")
	}
}

func TestTLSCiphers(t *testing.T) {
	// The seed's exclusions at level may: nothing Go offers.
	if cs, err := TLSCiphers("medium", []string{"aNULL", "eNULL", "EXPORT", "RC4", "DES", "SSLv2", "MD5"}); err != nil || cs != nil {
		t.Errorf("seed exclusions: %v, %v", cs, err)
	}
	// Mandatory adds SHA1: the CBC-SHA suites go.
	cs, err := TLSCiphers("medium", []string{"aNULL", "SHA1"})
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
		_, err := TLSCiphers(bad.grade, strings.Fields(bad.excl))
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s / %s: %v, want %q", bad.grade, bad.excl, err, bad.want)
		}
	}
}

func FuzzTLSProtocols(f *testing.F) {
	for _, s := range []string{"!SSLv2, !SSLv3", ">=TLSv1.2", "TLSv1.2:TLSv1.3", "<=TLSv1.1 !TLSv1", "!TLSv1.2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		mn, mx, err := TLSProtocols(s)
		if err == nil && (mn < tls.VersionTLS10 || mx > tls.VersionTLS13 || mn > mx) {
			t.Fatalf("%q: range %x..%x", s, mn, mx)
		}
	})
}
