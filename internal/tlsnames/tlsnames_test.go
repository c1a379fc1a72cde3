package tlsnames

import (
	"crypto/tls"
	"testing"
)

func TestNames(t *testing.T) {
	cs := &tls.ConnectionState{Version: tls.VersionTLS13, CipherSuite: tls.TLS_AES_256_GCM_SHA384, CurveID: tls.X25519}
	if got, want := Summary(cs), "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519"; got != want {
		t.Errorf("Summary = %q, want %q", got, want)
	}
	for v, want := range map[uint16]string{tls.VersionTLS10: "TLSv1", tls.VersionTLS11: "TLSv1.1", tls.VersionTLS12: "TLSv1.2", 0x0305: "0x0305"} {
		if got := Protocol(v); got != want {
			t.Errorf("Protocol(%x) = %q, want %q", v, got, want)
		}
	}
	if CipherBits("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA") != 128 || CipherBits("TLS_CHACHA20_POLY1305_SHA256") != 256 || CipherBits("x") != 0 {
		t.Error("CipherBits")
	}
}
