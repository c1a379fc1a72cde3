package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mxkit/mxkit/internal/testdns"
	"github.com/mxkit/mxkit/mtasts"
	"github.com/mxkit/mxkit/relaymaps"
)

// policies served by the test HTTPS server, by host name.
var policies = map[string]string{
	"mta-sts.good.loc":    "version: STSv1\nmode: enforce\nmx: mail.loc\nmax_age: 86400\n",
	"mta-sts.multi.loc":   "version: STSv1\nmode: enforce\nmx: mx1.multi.loc\nmx: *.mx.multi.loc\nmx: mx1.multi.loc\nmx: backup.multi.loc\nmax_age: 86400\n",
	"mta-sts.testing.loc": "version: STSv1\nmode: testing\nmx: mail.loc\nmax_age: 86400\n",
	"mta-sts.none.loc":    "version: STSv1\nmode: none\nmax_age: 86400\n",
	"mta-sts.dane.loc":    "version: STSv1\nmode: enforce\nmx: mx1.dane.loc\nmx: mx2.dane.loc\nmax_age: 86400\n",
	"mta-sts.partial.loc": "version: STSv1\nmode: enforce\nmx: mx1.partial.loc\nmx: mx2.partial.loc\nmax_age: 86400\n",
}

const tlsa = "3 1 1 0000000000000000000000000000000000000000000000000000000000000001"

var zone = testdns.Zone{
	Records: []string{
		"_mta-sts.good.loc. 300 IN TXT \"v=STSv1; id=1\"",
		"_mta-sts.multi.loc. 300 IN TXT \"v=STSv1; id=1\"",
		"_mta-sts.testing.loc. 300 IN TXT \"v=STSv1; id=1\"",
		"_mta-sts.none.loc. 300 IN TXT \"v=STSv1; id=1\"",
		"_mta-sts.fetchfail.loc. 300 IN TXT \"v=STSv1; id=1\"",
		"_mta-sts.dane.loc. 300 IN TXT \"v=STSv1; id=1\"",
		"_mta-sts.partial.loc. 300 IN TXT \"v=STSv1; id=1\"",
		"nopolicy.loc. 300 IN MX 10 mail.loc.",
		"mta-sts.good.loc. 300 IN A 127.0.0.1",
		"mta-sts.multi.loc. 300 IN A 127.0.0.1",
		"mta-sts.testing.loc. 300 IN A 127.0.0.1",
		"mta-sts.none.loc. 300 IN A 127.0.0.1",
		"mta-sts.fetchfail.loc. 300 IN A 127.0.0.1",
		"mta-sts.dane.loc. 300 IN A 127.0.0.1",
		"mta-sts.partial.loc. 300 IN A 127.0.0.1",
		// dane.loc: secure MX, both hosts with usable TLSA.
		"dane.loc. 300 IN MX 10 mx1.dane.loc.",
		"dane.loc. 300 IN MX 20 mx2.dane.loc.",
		"mx1.dane.loc. 300 IN A 192.0.2.1",
		"mx2.dane.loc. 300 IN A 192.0.2.2",
		"_25._tcp.mx1.dane.loc. 300 IN TLSA " + tlsa,
		"_25._tcp.mx2.dane.loc. 300 IN TLSA " + tlsa,
		// partial.loc: secure MX, only mx1 with TLSA.
		"partial.loc. 300 IN MX 10 mx1.partial.loc.",
		"partial.loc. 300 IN MX 20 mx2.partial.loc.",
		"mx1.partial.loc. 300 IN A 192.0.2.3",
		"mx2.partial.loc. 300 IN A 192.0.2.4",
		"_25._tcp.mx1.partial.loc. 300 IN TLSA " + tlsa,
		// implicit.loc: secure, no MX records: the domain is its own MX.
		"implicit.loc. 300 IN A 192.0.2.7",
		"_25._tcp.implicit.loc. 300 IN TLSA " + tlsa,
		// unusable.loc: secure MX, TLSA with usage 1 (PKIX-EE), unusable.
		"unusable.loc. 300 IN MX 10 mx.unusable.loc.",
		"mx.unusable.loc. 300 IN A 192.0.2.8",
		"_25._tcp.mx.unusable.loc. 300 IN TLSA 1 1 1 0000000000000000000000000000000000000000000000000000000000000001",
		// nullmx.loc: secure null MX (RFC 7505).
		"nullmx.loc. 300 IN MX 0 .",
		// bogus.loc: the MX lookup is bogus.
		"bogus.loc. 300 IN MX 10 mx.bogus.loc.",
		// bogustlsa.loc: secure MX, one host's TLSA lookup is bogus.
		"bogustlsa.loc. 300 IN MX 10 mx1.bogustlsa.loc.",
		"bogustlsa.loc. 300 IN MX 20 mx2.bogustlsa.loc.",
		"mx1.bogustlsa.loc. 300 IN A 192.0.2.5",
		"mx2.bogustlsa.loc. 300 IN A 192.0.2.6",
		"_25._tcp.mx1.bogustlsa.loc. 300 IN TLSA " + tlsa,
		"_25._tcp.mx2.bogustlsa.loc. 300 IN TLSA " + tlsa,
	},
	ServFail: []string{"_mta-sts.dnsfail.loc/TXT"},
	Secure:   []string{"dane.loc", "partial.loc", "bogustlsa.loc", "implicit.loc", "unusable.loc", "nullmx.loc"},
	Bogus:    []string{"bogus.loc", "_25._tcp.mx2.bogustlsa.loc"},
}

// writeCA makes a private CA, writes its certificate to dir/ca.pem and
// returns a server certificate for names signed by it.
func writeCA(t testing.TB, dir string, names ...string) (string, tls.Certificate) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o644); err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: names[0]}, DNSNames: names,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return caFile, tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// env is a running daemon with its DNS and HTTPS servers.
type env struct {
	addr    string
	config  string // the configuration text without extra
	dial    func(ctx context.Context, network, address string) (net.Conn, error)
	stop    func() error // cancels run's context and returns its error
	dns     *testdns.Server
	mu      sync.Mutex
	fetches map[string]int // by host
}

func (e *env) fetched(host string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.fetches[host]
}

const testZones = `
zones:
  strict:
    strict_testing: true
  rpt:
    tlsrpt: true
  nosni:
    require_sni: false
  nodane:
    dane_first: false
`

// start runs the daemon with the test DNS zone and policy server; extra
// is appended to the configuration.
func start(t testing.TB, extra string) *env {
	t.Helper()
	dir := t.TempDir()
	var names []string
	for h := range policies {
		names = append(names, h)
	}
	names = append(names, "mta-sts.fetchfail.loc")
	caFile, cert := writeCA(t, dir, names...)
	e := &env{dns: testdns.Start(t, zone), fetches: map[string]int{}}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.mu.Lock()
		e.fetches[r.Host]++
		e.mu.Unlock()
		p, ok := policies[r.Host]
		if !ok || r.URL.Path != mtasts.WellKnownPath {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, p)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())

	cfg := filepath.Join(dir, "mta-sts-daemon.yml")
	e.config = fmt.Sprintf("host: 127.0.0.1\nport: 0\nresolver: %s\nca_file: %s\n", e.dns.Addr, caFile) + testZones
	if err := os.WriteFile(cfg, []byte(e.config+extra), 0o644); err != nil {
		t.Fatal(err)
	}
	dial := func(ctx context.Context, network, address string) (net.Conn, error) {
		host, _, _ := net.SplitHostPort(address)
		var d net.Dialer
		return d.DialContext(ctx, network, net.JoinHostPort(host, port))
	}
	e.dial = dial
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	var stderr syncBuffer
	go func() {
		done <- run(ctx, []string{"-config", cfg, "-v", "error"}, &stderr, hooks{ready: ready, dial: dial})
	}()
	select {
	case e.addr = <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("run: %v\n%s", err, stderr.String())
	}
	var once sync.Once
	var runErr error
	e.stop = func() error {
		once.Do(func() {
			cancel()
			runErr = <-done
		})
		return runErr
	}
	t.Cleanup(func() {
		if err := e.stop(); err != nil {
			t.Errorf("run: %v", err)
		}
		if s := stderr.String(); s != "" {
			t.Logf("daemon log:\n%s", s)
		}
	})
	return e
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// ask looks key up with relaymaps' socketmap client, as Postfix does, and
// returns the reply as "OK value", "NOTFOUND" or "TEMP: error".
func ask(t testing.TB, addr, name, key string) string {
	t.Helper()
	sm, err := relaymaps.ParseSocketmap("inet:" + addr + ":" + name)
	if err != nil {
		t.Fatal(err)
	}
	defer sm.Close()
	v, found, err := sm.Lookup(context.Background(), key)
	switch {
	case err != nil && errors.Is(err, relaymaps.ErrTemporary):
		return "TEMP: " + err.Error()
	case err != nil:
		return "ERROR: " + err.Error()
	case found:
		return "OK " + v
	}
	return "NOTFOUND"
}

func TestAnswers(t *testing.T) {
	e := start(t, "")
	for _, tc := range []struct{ name, key, want string }{
		// Reference answers of postfix-mta-sts-resolver (refdata*.tsv).
		{"postfix", "good.loc", "OK secure match=mail.loc servername=hostname"},
		{"postfix", "GOOD.loc.", "OK secure match=mail.loc servername=hostname"},
		{"postfix", "[good.loc]:25", "OK secure match=mail.loc servername=hostname"},
		{"postfix", "[good.loc]", "OK secure match=mail.loc servername=hostname"},
		{"postfix", "good.loc:123", "OK secure match=mail.loc servername=hostname"},
		{"postfix", ".good.loc", "NOTFOUND"},
		{"postfix", "[1.2.3.4]", "NOTFOUND"},
		{"postfix", "[1.2.3.4]:25", "NOTFOUND"},
		{"postfix", "1.2.3.4", "NOTFOUND"},
		{"postfix", "[2001:db8::1]", "NOTFOUND"},
		{"postfix", "", "NOTFOUND"},
		{"postfix", "testing.loc", "NOTFOUND"},
		{"strict", "testing.loc", "OK secure match=mail.loc servername=hostname"},
		{"postfix", "none.loc", "NOTFOUND"},
		{"strict", "none.loc", "NOTFOUND"},
		{"postfix", "nopolicy.loc", "NOTFOUND"},
		{"postfix", "nxdomain.loc", "NOTFOUND"},
		{"postfix", "fetchfail.loc", "NOTFOUND"},
		{"postfix", "bad..name", "NOTFOUND"},
		// Patterns: stable order, no duplicates, "*." → ".".
		{"postfix", "multi.loc", "OK secure match=mx1.multi.loc:.mx.multi.loc:backup.multi.loc servername=hostname"},
		{"nosni", "good.loc", "OK secure match=mail.loc"},
		{"rpt", "good.loc", "OK secure match=mail.loc servername=hostname policy_type=sts policy_domain=good.loc mx_host_pattern=mail.loc"},
		{"rpt", "multi.loc", "OK secure match=mx1.multi.loc:.mx.multi.loc:backup.multi.loc servername=hostname policy_type=sts policy_domain=multi.loc mx_host_pattern=mx1.multi.loc mx_host_pattern=*.mx.multi.loc mx_host_pattern=backup.multi.loc"},
		{"unknown-zone", "testing.loc", "NOTFOUND"},
		{"unknown-zone", "good.loc", "OK secure match=mail.loc servername=hostname"},
		// DANE first.
		{"postfix", "dane.loc", "OK dane-only"},
		{"postfix", "[dane.loc]:25", "OK dane-only"},
		{"rpt", "dane.loc", "OK dane-only"},
		{"nodane", "dane.loc", "OK secure match=mx1.dane.loc:mx2.dane.loc servername=hostname"},
		{"postfix", "implicit.loc", "OK dane-only"},
		{"postfix", "unusable.loc", "NOTFOUND"},
		{"postfix", "nullmx.loc", "NOTFOUND"},
		{"postfix", "partial.loc", "OK secure match=mx1.partial.loc:mx2.partial.loc servername=hostname"},
	} {
		if got := ask(t, e.addr, tc.name, tc.key); got != tc.want {
			t.Errorf("%s %q: %q, want %q", tc.name, tc.key, got, tc.want)
		}
	}
}

func TestTemp(t *testing.T) {
	e := start(t, "")
	for _, tc := range []struct{ name, key, want string }{
		{"postfix", "bogus.loc", "socketmap server temporary error: \"DNSSEC MX lookup for bogus.loc failed: lookup bogus.loc MX: DNSSEC validation failure (SERVFAIL), EDE 6 (DNSSEC Bogus): testdns: bogus bogus.loc.\""},
		{"postfix", "bogustlsa.loc", "socketmap server temporary error: \"DANE lookup for mx2.bogustlsa.loc (MX of bogustlsa.loc) failed:"},
		// Without DANE first, the DNSSEC failure still makes the TXT
		// lookup fail: TEMP, not "no policy".
		{"nodane", "bogus.loc", "socketmap server temporary error: \"mtasts: _mta-sts.bogus.loc: temporary DNS failure"},
		{"nodane", "dnsfail.loc", "socketmap server temporary error: \"mtasts: _mta-sts.dnsfail.loc"},
	} {
		got := ask(t, e.addr, tc.name, tc.key)
		if !strings.HasPrefix(got, "TEMP: ") || !strings.Contains(got, tc.want) {
			t.Errorf("%s %q: %q, want TEMP with %q", tc.name, tc.key, got, tc.want)
		}
	}
}

// TestCached checks that a cached policy is answered without DNS or HTTP
// within cache_grace.
func TestCached(t *testing.T) {
	e := start(t, "")
	const want = "OK secure match=mail.loc servername=hostname"
	for range 3 {
		if got := ask(t, e.addr, "postfix", "good.loc"); got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
	if n := e.fetched("mta-sts.good.loc"); n != 1 {
		t.Errorf("%d fetches, want 1", n)
	}
	if n := e.dns.Queries("_mta-sts.good.loc", "TXT"); n != 1 {
		t.Errorf("%d TXT queries, want 1", n)
	}
	if n := e.dns.Queries("good.loc", "MX"); n != 1 {
		t.Errorf("%d MX queries, want 1", n)
	}
}

// TestWire speaks the socketmap protocol by hand: pipelined requests are
// answered in order, with the exact netstrings; a bad netstring closes
// the connection.
func TestWire(t *testing.T) {
	e := start(t, "")
	c, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	reqs := []string{"postfix .good.loc", "postfix good.loc", "postfix [1.2.3.4]:25"}
	var b strings.Builder
	for _, r := range reqs {
		fmt.Fprintf(&b, "%d:%s,", len(r), r)
	}
	b.WriteString("x:bad,")
	if _, err := io.WriteString(c, b.String()); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	want := "9:NOTFOUND ,44:OK secure match=mail.loc servername=hostname,9:NOTFOUND ,"
	if string(got) != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestShutdown checks that the daemon stops when its context is cancelled
// with a connection open and idle.
func TestShutdown(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "c.yml")
	sock := filepath.Join(dir, "s.sock")
	os.WriteFile(cfg, []byte("path: "+sock+"\nmode: 0666\nresolver: 127.0.0.1:1\nshutdown_timeout: 5\n"), 0o644)
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"-config", cfg, "-v", "error"}, io.Discard, hooks{ready: ready}) }()
	select {
	case <-ready:
	case err := <-done:
		t.Fatal(err)
	}
	fi, err := os.Stat(sock)
	if err != nil || fi.Mode().Perm() != 0o666 {
		t.Errorf("socket mode: %v, %v; want 0666", fi, err)
	}
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "17:postfix .good.loc,")
	buf := make([]byte, 12)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "9:NOTFOUND ," {
		t.Fatalf("reply %q, %v", buf, err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n, err := c.Read(buf); err == nil {
		t.Errorf("connection still open after shutdown: read %q", buf[:n])
	}
}

// TestPersistentCache restarts the daemon on the same sqlite cache: the
// second one answers from the cache, with a TXT check and no fetch.
func TestPersistentCache(t *testing.T) {
	db := filepath.Join(t.TempDir(), "cache.db")
	extra := "cache:\n  type: sqlite\n  options:\n    filename: " + db + "\n"
	const want = "OK secure match=mail.loc servername=hostname"
	e1 := start(t, extra)
	if got := ask(t, e1.addr, "postfix", "good.loc"); got != want {
		t.Fatalf("first daemon: %q", got)
	}
	if n := e1.fetched("mta-sts.good.loc"); n != 1 {
		t.Fatalf("first daemon: %d fetches, want 1", n)
	}
	e2 := start(t, extra)
	if got := ask(t, e2.addr, "postfix", "good.loc"); got != want {
		t.Fatalf("second daemon: %q", got)
	}
	if n := e2.fetched("mta-sts.good.loc"); n != 0 {
		t.Errorf("second daemon: %d fetches, want 0 (cached)", n)
	}
	if n := e2.dns.Queries("_mta-sts.good.loc", "TXT"); n != 1 {
		t.Errorf("second daemon: %d TXT queries, want 1", n)
	}
}

// TestProactiveFetch checks proactive_policy_fetching's rule: refresh
// the unexpired policies fetched more than interval/grace_ratio ago.
func TestProactiveFetch(t *testing.T) {
	e := start(t, "")
	cfg, err := ParseConfig("p.yml", []byte(e.config+"proactive_policy_fetching:\n  enabled: true\n  interval: 3600\n  grace_ratio: 2\n"))
	if err != nil {
		t.Fatal(err)
	}
	cache := &mtasts.MemoryCache{}
	d, err := newDaemon(context.Background(), cfg, slog.New(slog.DiscardHandler), hooks{dial: e.dial, cache: cache})
	if err != nil {
		t.Fatal(err)
	}
	defer d.close()
	p, err := mtasts.ParsePolicy(policies["mta-sts.good.loc"])
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	ctx := context.Background()
	cache.Put(ctx, &mtasts.Entry{Domain: "good.loc", ID: "0", Policy: p, Fetched: now.Add(-31 * time.Minute)})  // older than 30 min: refreshed
	cache.Put(ctx, &mtasts.Entry{Domain: "multi.loc", ID: "1", Policy: p, Fetched: now.Add(-29 * time.Minute)}) // younger: kept
	cache.Put(ctx, &mtasts.Entry{Domain: "testing.loc", ID: "1", Policy: p, Fetched: now.Add(-25 * time.Hour)}) // expired: skipped
	n, err := d.refreshOnce(ctx, cfg.Proactive)
	if err != nil || n != 1 {
		t.Fatalf("refreshOnce: %d, %v; want 1", n, err)
	}
	if e.fetched("mta-sts.good.loc") != 1 || e.fetched("mta-sts.multi.loc") != 0 || e.fetched("mta-sts.testing.loc") != 0 {
		t.Errorf("fetches: %v", e.fetches)
	}
	got, _ := cache.Get(ctx, "good.loc")
	if got == nil || got.ID != "1" || now.Sub(got.Fetched) > time.Minute {
		t.Errorf("good.loc after refresh: %+v", got)
	}
}

// TestBoundedCache checks cache_size: the oldest entry goes.
func TestBoundedCache(t *testing.T) {
	c := &boundedCache{max: 2}
	ctx := context.Background()
	p := &mtasts.Policy{Mode: mtasts.ModeEnforce, MaxAge: time.Hour, MX: []string{"mx.example"}}
	now := time.Now()
	for i, d := range []string{"a.example", "b.example", "c.example"} {
		c.Put(ctx, &mtasts.Entry{Domain: d, ID: "1", Policy: p, Fetched: now.Add(time.Duration(i) * time.Second)})
	}
	c.Put(ctx, &mtasts.Entry{Domain: "c.example", ID: "2", Policy: p, Fetched: now})
	var got []string
	for _, d := range []string{"a.example", "b.example", "c.example"} {
		if e, _ := c.Get(ctx, d); e != nil {
			got = append(got, d+"/"+e.ID)
		}
	}
	if strings.Join(got, " ") != "b.example/1 c.example/2" {
		t.Errorf("cache holds %v, want b.example/1 c.example/2", got)
	}
}

// TestShutdownInFlight checks the graceful shutdown: a request in
// progress when the daemon is told to stop is still answered, while new
// connections are refused.
func TestShutdownInFlight(t *testing.T) {
	e := start(t, "")
	c, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	e.dns.Hold()
	io.WriteString(c, "16:postfix good.loc,")
	for e.dns.Total() == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	stopped := make(chan error, 1)
	go func() { stopped <- e.stop() }()
	for {
		nc, err := net.Dial("tcp", e.addr)
		if err != nil {
			break // the listener is closed: shutdown has begun
		}
		nc.Close()
		time.Sleep(5 * time.Millisecond)
	}
	e.dns.Release()
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "44:OK secure match=mail.loc servername=hostname," {
		t.Errorf("reply %q, %v", got, err)
	}
	if err := <-stopped; err != nil {
		t.Errorf("run: %v", err)
	}
}
