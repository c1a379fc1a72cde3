package dane_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"

	"github.com/mxkit/mxkit/dane"
	"github.com/mxkit/mxkit/dnsres"
	"github.com/mxkit/mxkit/internal/testdns"
)

const serverPEM = `-----BEGIN CERTIFICATE-----
MIIBiTCCAS+gAwIBAgIUEsz5J6t73HxGPVTS/7QT/8IWFCYwCgYIKoZIzj0EAwIw
GTEXMBUGA1UEAwwObXguZXhhbXBsZS5jb20wIBcNMjYxMTIyMDY1NzU1WhgPMjEy
NjEwMjkwNjU3NTVaMBkxFzAVBgNVBAMMDm14LmV4YW1wbGUuY29tMFkwEwYHKoZI
zj0CAQYIKoZIzj0DAQcDQgAE23nAvhPX0g3XxQMolLK0qqll/yk3pN+LCg7UMQeR
4rMqrY9+xkrMxejmVCGMjGj5FGABaQ4Mq++u6mqQHctIAaNTMFEwHQYDVR0OBBYE
FOarBe5j+sxgYsNo/tmIOmE1hnKzMB8GA1UdIwQYMBaAFOarBe5j+sxgYsNo/tmI
OmE1hnKzMA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDSAAwRQIhAIuOhLsy
yZbLOS7PCE2Tz8ptlibXnfZjbvVy3gznpS1BAiAoa76Yf7c1vh+SAUm1VzSMCSLL
oHhWKiBW5vtWFg+9mQ==
-----END CERTIFICATE-----
`

// Make the "3 1 1" TLSA record an operator publishes at
// _25._tcp.mx.example.com for the server's certificate.
func ExampleRecordFor() {
	block, _ := pem.Decode([]byte(serverPEM))
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		panic(err)
	}
	r, err := dane.RecordFor(cert, dane.UsageDANEEE, dane.SelectorSPKI, dane.MatchSHA256)
	if err != nil {
		panic(err)
	}
	fmt.Println("_25._tcp.mx.example.com. IN TLSA", r)
	// Output:
	// _25._tcp.mx.example.com. IN TLSA 3 1 1 b5827610c706fe318066ad6694d6df7c93afe200d69eda6a330dcc832a833643
}

func ExampleParseTLSA() {
	r, err := dane.ParseTLSA("3 1 1 B5827610C706FE318066AD6694D6DF7C93AFE200D69EDA6A330DCC832A833643")
	if err != nil {
		panic(err)
	}
	fmt.Println(r, r.Usable())
	u, _ := dane.ParseTLSA("1 1 1 B5827610C706FE318066AD6694D6DF7C93AFE200D69EDA6A330DCC832A833643")
	fmt.Println("PKIX-EE usable for SMTP:", u.Usable())
	// Output:
	// 3 1 1 b5827610c706fe318066ad6694d6df7c93afe200d69eda6a330dcc832a833643 true
	// PKIX-EE usable for SMTP: false
}

// Wire DANE into an SMTP client's STARTTLS: discover per MX host, then hand
// the decision's tls.Config to the TLS handshake. The DNS here is an
// in-process validating server on loopback (a real client asks a local
// validating resolver, such as Unbound on 127.0.0.1): mx1 publishes a
// TLSA record in a signed zone, mx2 is in an unsigned one.
func ExampleDiscover() {
	srv, err := testdns.New(testdns.Zone{Records: []string{
		"example.com. 300 IN MX 10 mx1.example.com.",
		"example.com. 300 IN MX 20 mx2.hosting.example.",
		"mx1.example.com. 300 IN A 192.0.2.25",
		"_25._tcp.mx1.example.com. 300 IN TLSA 3 1 1 b5827610c706fe318066ad6694d6df7c93afe200d69eda6a330dcc832a833643",
		"mx2.hosting.example. 300 IN A 192.0.2.26",
	}, Secure: []string{"example.com"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	ctx := context.Background()
	r, _ := dnsres.New(dnsres.Options{Servers: []string{srv.Addr}}) // loopback: its AD bit is trusted
	mx, err := r.LookupMX(ctx, "example.com")
	if err != nil {
		fmt.Println("defer:", err) // never fall back to cleartext
		return
	}
	for _, h := range mx.Hosts {
		d, err := dane.Discover(ctx, r, mx, h.Host, 25, dane.InsecureMXDane)
		switch d.Outcome {
		case dane.TempFail:
			fmt.Println(h.Host, "skip host, try the next MX:", err, dane.ResultType(err))
			continue
		case dane.Required, dane.EncryptOnly:
			cfg := d.Config() // SNI = d.BaseDomain; VerifyConnection checks the TLSA records
			fmt.Println(h.Host, d.Outcome, "SNI", cfg.ServerName, len(d.Records), "record")
			// conn := tls.Client(plain, cfg) after STARTTLS; no STARTTLS → next MX
		case dane.NotApplicable:
			fmt.Printf("%s %s: opportunistic TLS (or MTA-STS): %s\n", h.Host, d.Outcome, d.Reason)
		}
	}
	// Output:
	// mx1.example.com dane required SNI mx1.example.com 1 record
	// mx2.hosting.example not applicable: opportunistic TLS (or MTA-STS): insecure A/AAAA records
}

// Config composes with crypto/tls: SNI is the TLSA base domain, Go's own
// verification is off, and VerifyConnection does DANE.
func ExampleConfig() {
	block, _ := pem.Decode([]byte(serverPEM))
	cert, _ := x509.ParseCertificate(block.Bytes)
	rec, _ := dane.ParseTLSA("3 1 1 b5827610c706fe318066ad6694d6df7c93afe200d69eda6a330dcc832a833643")
	cfg := dane.Config([]dane.TLSA{rec}, "mx.example.com.", []string{"example.com"})
	fmt.Println(cfg.ServerName, cfg.InsecureSkipVerify)

	// crypto/tls calls this during the handshake (tls.Client(conn, cfg)).
	err := cfg.VerifyConnection(tls.ConnectionState{ServerName: "mx.example.com", PeerCertificates: []*x509.Certificate{cert}})
	fmt.Println("matching key:", err)
	other, _ := dane.ParseTLSA("3 1 1 0000000000000000000000000000000000000000000000000000000000000000")
	err = dane.Verify([]dane.TLSA{other}, "mx.example.com", nil)(tls.ConnectionState{ServerName: "mx.example.com", PeerCertificates: []*x509.Certificate{cert}})
	fmt.Println(err, "→", dane.ResultType(err))
	// Output:
	// mx.example.com true
	// matching key: <nil>
	// dane: mx.example.com: no TLSA record matches the server certificate chain → certificate-not-trusted
}
