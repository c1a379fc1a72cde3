package testnginx_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/mxkit/mxkit/internal/testdnssec"
	"github.com/mxkit/mxkit/internal/testnginx"
)

// TestWithDNSSEC shows the chain the mtasts daemon test needs: Knot and
// Unbound publish _mta-sts TXT and the policy host's A record in a signed
// zone, nginx serves the policy, and the client learns the policy host's
// address from the validating resolver only, dialling it at nginx's port.
func TestWithDNSSEC(t *testing.T) {
	testnginx.Require(t)
	const stsPolicy = "version: STSv1\r\nmode: enforce\r\nmx: mx.sts.dane.test\r\nmax_age: 86400\r\n"
	chain := testdnssec.Start(t, testdnssec.Config{Zones: []testdnssec.Zone{{
		Name:     "sts.dane.test",
		Security: testdnssec.Secure,
		Records: []string{
			`_mta-sts TXT "v=STSv1; id=20261122T000000;"`,
			"mta-sts A 127.0.0.1",
			"mx A 127.0.0.1",
			"@ MX 10 mx",
		},
	}}})
	srv := testnginx.Start(t, testnginx.Config{Sites: []testnginx.Site{{
		Host: "mta-sts.sts.dane.test",
		Files: map[string]testnginx.File{
			"/.well-known/mta-sts.txt": {Body: stsPolicy, ContentType: "text/plain"},
		},
	}}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	m, err := chain.Query(ctx, "_mta-sts.sts.dane.test", dns.TypeTXT)
	if err != nil {
		t.Fatal(err)
	}
	if m.Rcode != dns.RcodeSuccess || !m.AuthenticatedData {
		t.Fatalf("TXT: rcode %s, AD %v; want NOERROR and AD", dns.RcodeToString[m.Rcode], m.AuthenticatedData)
	}
	var txt []string
	for _, rr := range m.Answer {
		if r, ok := rr.(*dns.TXT); ok {
			txt = append(txt, strings.Join(r.Txt, ""))
		}
	}
	if want := "v=STSv1; id=20261122T000000;"; len(txt) != 1 || txt[0] != want {
		t.Fatalf("TXT %q, want [%q]", txt, want)
	}

	// Every host name is resolved by the validating resolver; the port
	// stays the URL's (nginx's).
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		m, err := chain.Query(ctx, host, dns.TypeA)
		if err != nil {
			return nil, err
		}
		if m.Rcode != dns.RcodeSuccess || !m.AuthenticatedData {
			return nil, fmt.Errorf("%s A: rcode %s, AD %v", host, dns.RcodeToString[m.Rcode], m.AuthenticatedData)
		}
		for _, rr := range m.Answer {
			if a, ok := rr.(*dns.A); ok {
				var d net.Dialer
				return d.DialContext(ctx, network, net.JoinHostPort(a.A.String(), port))
			}
		}
		return nil, fmt.Errorf("%s: no A record", host)
	}
	cl := &http.Client{
		Transport: &http.Transport{DialContext: dial, TLSClientConfig: srv.TLSConfig()},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL("mta-sts.sts.dane.test", "/.well-known/mta-sts.txt"), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/plain" || string(b) != stsPolicy {
		t.Errorf("got %d %q %q, want 200 text/plain %q", resp.StatusCode, resp.Header.Get("Content-Type"), b, stsPolicy)
	}

	// A name the zone lacks fails in DNS, before any connection.
	req, _ = http.NewRequestWithContext(ctx, http.MethodGet, srv.URL("mta-sts.nothere.sts.dane.test", "/.well-known/mta-sts.txt"), nil)
	if resp, err := cl.Do(req); err == nil {
		resp.Body.Close()
		t.Error("fetch from a host without an A record succeeded")
	} else if !strings.Contains(err.Error(), "rcode NXDOMAIN, AD true") {
		t.Errorf("error %v, want a validated NXDOMAIN", err)
	}
}
