package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/mxkit/mxkit/internal/testdnssec"
	"github.com/mxkit/mxkit/internal/testnginx"
	"github.com/mxkit/mxkit/internal/testpostfix"
)

// TestRealPeers is the end-to-end check: DNS from a real
// validating resolver (Knot signs, Unbound validates), policies served by a
// real nginx under a test CA, and real Postfix asking our daemon with
// postmap -q. The answers are postfix-mta-sts-resolver's reference answers,
// and DANE-first is checked on the same chain.
func TestRealPeers(t *testing.T) {
	testpostfix.Require(t)
	testdnssec.Require(t)
	testnginx.Require(t)

	const enforce = "version: STSv1\r\nmode: enforce\r\nmx: mail.good.sts.dane.test\r\nmx: *.mx.good.sts.dane.test\r\nmax_age: 86400\r\n"
	const testingPolicy = "version: STSv1\r\nmode: testing\r\nmx: mail.testing.sts.dane.test\r\nmax_age: 86400\r\n"
	const none = "version: STSv1\r\nmode: none\r\nmax_age: 86400\r\n"
	site := func(host, body string) testnginx.Site {
		return testnginx.Site{Host: host, Files: map[string]testnginx.File{"/.well-known/mta-sts.txt": {Body: body, ContentType: "text/plain"}}}
	}
	ng := testnginx.Start(t, testnginx.Config{Sites: []testnginx.Site{
		site("mta-sts.good.sts.dane.test", enforce),
		site("mta-sts.testing.sts.dane.test", testingPolicy),
		site("mta-sts.none.sts.dane.test", none),
		// A DANE domain also publishes MTA-STS: DANE must win.
		site("mta-sts.dane.sts.dane.test", enforce),
	}})

	leaf, err := testdnssec.NewLeaf(nil, "mx.dane.sts.dane.test")
	if err != nil {
		t.Fatal(err)
	}
	var zone []string
	for _, d := range []string{"good", "testing", "none", "dane"} {
		zone = append(zone,
			"_mta-sts."+d+` TXT "v=STSv1; id=20261122;"`,
			"mta-sts."+d+" A 127.0.0.1",
			d+" MX 10 mx."+d,
			"mx."+d+" A 127.0.0.1")
	}
	zone = append(zone, "nopolicy MX 10 mx.nopolicy", "mx.nopolicy A 127.0.0.1",
		"_25._tcp.mx.dane TLSA "+testdnssec.TLSA(3, 1, 1, leaf.Cert))
	chain := testdnssec.Start(t, testdnssec.Config{Zones: []testdnssec.Zone{
		{Name: "sts.dane.test.", Security: testdnssec.Secure, Records: zone},
	}})

	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, ng.CAPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "mta-sts-daemon.yml")
	yml := "host: 127.0.0.1\nport: 0\nresolver: " + chain.ResolverAddr + "\nca_file: " + caFile +
		"\nzones:\n  strict:\n    strict_testing: true\n"
	if err := os.WriteFile(cfg, []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	// Policies are fetched from the address DNS gave (127.0.0.1), at
	// nginx's port instead of 443.
	dial := func(ctx context.Context, network, address string) (net.Conn, error) {
		host, _, _ := net.SplitHostPort(address)
		var d net.Dialer
		return d.DialContext(ctx, network, net.JoinHostPort(host, strconv.Itoa(ng.Port)))
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready, done := make(chan string, 1), make(chan error, 1)
	var stderr syncBuffer
	go func() {
		done <- run(ctx, []string{"-config", cfg, "-v", "warn"}, &stderr, hooks{ready: ready, dial: dial})
	}()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("run: %v\n%s", err, stderr.String())
	}
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}()

	for _, tc := range []struct {
		name, key string
		status    int
		stdout    string
	}{
		{"postfix", "good.sts.dane.test", 0, "secure match=mail.good.sts.dane.test:.mx.good.sts.dane.test servername=hostname\n"},
		{"postfix", "[good.sts.dane.test]:25", 0, "secure match=mail.good.sts.dane.test:.mx.good.sts.dane.test servername=hostname\n"},
		{"postfix", ".good.sts.dane.test", 1, ""},
		{"postfix", "testing.sts.dane.test", 1, ""},
		{"strict", "testing.sts.dane.test", 0, "secure match=mail.testing.sts.dane.test servername=hostname\n"},
		{"postfix", "none.sts.dane.test", 1, ""},
		{"postfix", "nopolicy.sts.dane.test", 1, ""},
		{"postfix", "[127.0.0.1]", 1, ""},
		{"postfix", "dane.sts.dane.test", 0, "dane-only\n"},
	} {
		status, stdout, errOut := testpostfix.Postmap(t, tc.key, "socketmap:inet:"+addr+":"+tc.name)
		if status != tc.status || stdout != tc.stdout {
			t.Errorf("postmap -q %q (%s): status %d, %q; want %d, %q (stderr %q)", tc.key, tc.name, status, stdout, tc.status, tc.stdout, errOut)
		}
	}
	if t.Failed() {
		t.Logf("daemon log:\n%s\nnginx access log:\n%s", stderr.String(), ng.AccessLog())
	}
}
