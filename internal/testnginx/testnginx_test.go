package testnginx_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mxkit/mxkit/internal/testnginx"
)

const policy = "version: STSv1\r\nmode: enforce\r\nmx: mx.good.loc\r\nmax_age: 86400\r\n"

// sites covers every kind of answer the harness can give.
func sites() []testnginx.Site {
	const wk = "/.well-known/mta-sts.txt"
	return []testnginx.Site{
		{Host: "mta-sts.good.loc", Files: map[string]testnginx.File{
			wk: {Body: policy, ContentType: "text/plain"},
		}},
		{Host: "mta-sts.charset.loc", Files: map[string]testnginx.File{
			wk: {Body: policy, ContentType: "text/plain; charset=utf-8"},
		}},
		{Host: "mta-sts.html.loc", Files: map[string]testnginx.File{
			wk: {Body: policy, ContentType: "text/html"},
		}},
		{Host: "mta-sts.notype.loc", Files: map[string]testnginx.File{
			wk: {Body: policy},
		}},
		{Host: "mta-sts.missing.loc", Files: map[string]testnginx.File{
			wk: {Body: "gone: $uri \"quoted\" \\ back\n", ContentType: "text/plain", Status: 404},
		}},
		{Host: "mta-sts.error.loc", Files: map[string]testnginx.File{
			wk: {Body: policy, ContentType: "text/plain", Status: 500},
		}},
		{Host: "mta-sts.created.loc", Files: map[string]testnginx.File{
			wk: {Body: policy, ContentType: "text/plain", Status: 201},
		}},
		{Host: "mta-sts.moved.loc", Files: map[string]testnginx.File{
			wk: {Status: 301, RedirectTo: "https://mta-sts.good.loc/.well-known/mta-sts.txt"},
		}},
		{Host: "mta-sts.found.loc", Files: map[string]testnginx.File{
			wk: {RedirectTo: "https://mta-sts.good.loc/.well-known/mta-sts.txt"},
		}},
		{Host: "mta-sts.big.loc", Files: map[string]testnginx.File{
			wk: {Body: testnginx.Pad(policy, 64*1024+1), ContentType: "text/plain"},
		}},
		{Host: "mta-sts.wrongname.loc", Cert: testnginx.CertWrongName, Files: map[string]testnginx.File{
			wk: {Body: policy, ContentType: "text/plain"},
		}},
		{Host: "mta-sts.expired.loc", Cert: testnginx.CertExpired, Files: map[string]testnginx.File{
			wk: {Body: policy, ContentType: "text/plain"},
		}},
		{Host: "mta-sts.selfsigned.loc", Cert: testnginx.CertSelfSigned, Files: map[string]testnginx.File{
			wk: {Body: policy, ContentType: "text/plain"},
		}},
	}
}

func TestSites(t *testing.T) {
	t0 := time.Now()
	srv := testnginx.Start(t, testnginx.Config{Sites: sites()})
	t.Logf("nginx with %d sites up in %v on %s", len(sites()), time.Since(t0).Round(time.Millisecond), srv.Addr)
	cl := srv.Client()
	for _, tc := range []struct {
		host, ctype, location, body string
		status, length              int
	}{
		{host: "mta-sts.good.loc", status: 200, ctype: "text/plain", body: policy},
		{host: "mta-sts.charset.loc", status: 200, ctype: "text/plain; charset=utf-8", body: policy},
		{host: "MTA-STS.Good.LOC", status: 200, ctype: "text/plain", body: policy},
		{host: "mta-sts.html.loc", status: 200, ctype: "text/html", body: policy},
		{host: "mta-sts.notype.loc", status: 200, ctype: "-", body: policy},
		{host: "mta-sts.missing.loc", status: 404, ctype: "text/plain", body: "gone: $uri \"quoted\" \\ back\n"},
		{host: "mta-sts.error.loc", status: 500, ctype: "text/plain", body: policy},
		{host: "mta-sts.created.loc", status: 201, ctype: "text/plain", body: policy},
		{host: "mta-sts.moved.loc", status: 301, location: "https://mta-sts.good.loc/.well-known/mta-sts.txt"},
		{host: "mta-sts.found.loc", status: 302, location: "https://mta-sts.good.loc/.well-known/mta-sts.txt"},
		{host: "mta-sts.big.loc", status: 200, ctype: "text/plain", length: 64*1024 + 1},
	} {
		t.Run(tc.host, func(t *testing.T) {
			resp, err := cl.Get("https://" + tc.host + "/.well-known/mta-sts.txt")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if got, ok := resp.Header["Content-Type"]; tc.ctype == "-" && ok {
				t.Errorf("Content-Type %q, want none", got)
			} else if tc.ctype != "" && tc.ctype != "-" && resp.Header.Get("Content-Type") != tc.ctype {
				t.Errorf("Content-Type %q, want %q", resp.Header.Get("Content-Type"), tc.ctype)
			}
			if got := resp.Header.Get("Location"); got != tc.location {
				t.Errorf("Location %q, want %q", got, tc.location)
			}
			if tc.body != "" && string(b) != tc.body {
				t.Errorf("body %q, want %q", b, tc.body)
			}
			if tc.length != 0 {
				if len(b) != tc.length || resp.ContentLength != int64(tc.length) {
					t.Errorf("body length %d (Content-Length %d), want %d", len(b), resp.ContentLength, tc.length)
				}
				if !strings.HasPrefix(string(b), policy) {
					t.Errorf("padded body does not start with the policy: %.100q", b)
				}
			}
		})
	}
}

func TestUnlistedPath(t *testing.T) {
	srv := testnginx.Start(t, testnginx.Config{Sites: sites()[:1]})
	resp, err := srv.Client().Get("https://mta-sts.good.loc/other.txt")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 || resp.Header.Get("Content-Type") != "text/html" {
		t.Errorf("got %d %q, want 404 text/html", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

func TestBadCertificates(t *testing.T) {
	srv := testnginx.Start(t, testnginx.Config{Sites: sites()})
	cl := srv.Client()
	for _, tc := range []struct {
		host   string
		target any
		detail string
	}{
		{"mta-sts.wrongname.loc", &x509.HostnameError{}, "certificate is valid for wrong.mta-sts.wrongname.loc, not mta-sts.wrongname.loc"},
		{"mta-sts.expired.loc", &x509.CertificateInvalidError{}, "certificate has expired"},
		{"mta-sts.selfsigned.loc", &x509.UnknownAuthorityError{}, "certificate signed by unknown authority"},
	} {
		t.Run(tc.host, func(t *testing.T) {
			resp, err := cl.Get("https://" + tc.host + "/.well-known/mta-sts.txt")
			if err == nil {
				resp.Body.Close()
				t.Fatalf("fetch succeeded with status %d", resp.StatusCode)
			}
			var verr *tls.CertificateVerificationError
			if !errors.As(err, &verr) {
				t.Fatalf("error %v is no certificate verification error", err)
			}
			if !errors.As(err, tc.target) {
				t.Errorf("error %v is no %T", err, tc.target)
			}
			if !strings.Contains(err.Error(), tc.detail) {
				t.Errorf("error %q lacks %q", err, tc.detail)
			}
		})
	}
}

// An unknown server name, or none, fails the handshake.
func TestUnknownSNI(t *testing.T) {
	srv := testnginx.Start(t, testnginx.Config{Sites: sites()[:1]})
	for _, name := range []string{"mta-sts.other.loc", ""} {
		c, err := tls.Dial("tcp", srv.Addr, &tls.Config{ServerName: name, InsecureSkipVerify: true})
		if err == nil {
			c.Close()
			t.Errorf("handshake with SNI %q succeeded", name)
		} else if !strings.Contains(err.Error(), "unrecognized name") {
			t.Errorf("SNI %q: error %v, want an unrecognized_name alert", name, err)
		}
	}
}

// Delay holds the whole answer back; RateLimit slows the body only. The
// client's own timeouts show both, without timing the test itself.
func TestSlow(t *testing.T) {
	if err := testnginx.EchoAvailable(); err != nil {
		t.Log(err)
	}
	srv := testnginx.Start(t, testnginx.Config{Sites: []testnginx.Site{
		{Host: "mta-sts.slow.loc", Files: map[string]testnginx.File{
			"/delayed": {Body: policy, ContentType: "text/plain", Delay: 3 * time.Second},
			"/trickle": {Body: testnginx.Pad(policy, 4096), ContentType: "text/plain", RateLimit: 1024},
			"/fast":    {Body: policy, ContentType: "text/plain", Delay: time.Millisecond},
			"/gone":    {Body: "no\n", ContentType: "text/plain", Status: 410, Delay: time.Millisecond},
		}},
	}})
	cl := srv.Client()
	cl.Timeout = 500 * time.Millisecond
	for _, p := range []string{"/delayed", "/trickle"} {
		resp, err := cl.Get("https://mta-sts.slow.loc" + p)
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		if err == nil || !strings.Contains(err.Error(), "Client.Timeout") {
			t.Errorf("%s: error %v, want a client timeout", p, err)
		}
	}
	cl.Timeout = 10 * time.Second
	for _, tc := range []struct {
		path   string
		status int
		body   string
	}{{"/fast", 200, policy}, {"/gone", 410, "no\n"}} {
		resp, err := cl.Get("https://mta-sts.slow.loc" + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || string(b) != tc.body || resp.Header.Get("Content-Type") != "text/plain" {
			t.Errorf("%s: %d %q %q, want %d %q text/plain", tc.path, resp.StatusCode, resp.Header.Get("Content-Type"), b, tc.status, tc.body)
		}
	}
}

// A relative Location becomes absolute, with nginx's port.
func TestRelativeRedirect(t *testing.T) {
	srv := testnginx.Start(t, testnginx.Config{Sites: []testnginx.Site{
		{Host: "mta-sts.rel.loc", Files: map[string]testnginx.File{
			"/.well-known/mta-sts.txt": {Status: 307, RedirectTo: "/elsewhere.txt"},
		}},
	}})
	resp, err := srv.Client().Get(srv.URL("mta-sts.rel.loc", "/.well-known/mta-sts.txt"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	want := fmt.Sprintf("https://mta-sts.rel.loc:%d/elsewhere.txt", srv.Port)
	if resp.StatusCode != 307 || resp.Header.Get("Location") != want {
		t.Errorf("got %d %q, want 307 %q", resp.StatusCode, resp.Header.Get("Location"), want)
	}
}

func TestStopRemovesDir(t *testing.T) {
	srv := testnginx.Start(t, testnginx.Config{Sites: sites()[:1]})
	c, err := net.Dial("tcp", srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	srv.Stop()
	if c, err := net.Dial("tcp", srv.Addr); err == nil {
		c.Close()
		t.Error("port still open after Stop")
	}
	if _, err := os.Stat(srv.Dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Dir %s after Stop: %v", srv.Dir, err)
	}
	srv.Stop() // twice is fine
}

func TestBadConfig(t *testing.T) {
	for _, tc := range []struct {
		cfg  testnginx.Config
		want string
	}{
		{testnginx.Config{}, "testnginx: no sites"},
		{testnginx.Config{Sites: []testnginx.Site{{Host: "a.loc"}, {Host: "A.loc"}}}, `testnginx: site 1: host "A.loc" twice`},
		{testnginx.Config{Sites: []testnginx.Site{{Host: "a.loc;"}}}, `testnginx: site 0: bad host "a.loc;"`},
		{testnginx.Config{Sites: []testnginx.Site{{Host: "a.loc", Files: map[string]testnginx.File{"/x": {Status: 301}}}}},
			`testnginx: site a.loc: path "/x": status 301 with RedirectTo "": a redirect needs both`},
		{testnginx.Config{Sites: []testnginx.Site{{Host: "a.loc", Files: map[string]testnginx.File{"/x": {Status: 200, RedirectTo: "/y"}}}}},
			`testnginx: site a.loc: path "/x": status 200 with RedirectTo "/y": a redirect needs both`},
		{testnginx.Config{Sites: []testnginx.Site{{Host: "a.loc", Files: map[string]testnginx.File{"/a/../x": {}}}}},
			`testnginx: site a.loc: path "/a/../x": path must be a clean absolute path naming a file, without spaces, quotes, '$', '%', '?' or '#'`},
		{testnginx.Config{Sites: []testnginx.Site{{Host: "a.loc", Files: map[string]testnginx.File{"/x": {Status: 99}}}}},
			`testnginx: site a.loc: path "/x": status 99 out of range`},
	} {
		ft := &fakeT{TB: t}
		func() {
			defer func() { _ = recover() }()
			testnginx.Start(ft, tc.cfg)
		}()
		if ft.fatal != tc.want {
			t.Errorf("Start: %q, want %q", ft.fatal, tc.want)
		}
	}
}

// fakeT records Fatal instead of ending the test.
type fakeT struct {
	testing.TB
	fatal string
}

func (f *fakeT) Helper()                   {}
func (f *fakeT) Cleanup(fn func())         { f.TB.Cleanup(fn) }
func (f *fakeT) Fatal(args ...any)         { f.fatal = fmt.Sprint(args...); panic(f) }
func (f *fakeT) Fatalf(s string, a ...any) { f.fatal = fmt.Sprintf(s, a...); panic(f) }
