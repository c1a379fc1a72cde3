package mtasts

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/mxkit/mxkit/dnsres"
	"github.com/mxkit/mxkit/internal/testdns"
)

// testCA is a private certificate authority.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newCA(t testing.TB, cn string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert, key, pool}
}

// leaf issues a server certificate for names.
func (ca *testCA) leaf(t testing.TB, names ...string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: names[0]},
		DNSNames:     names,
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// policyServer is an HTTPS server that records the SNI names and
// requests it sees.
type policyServer struct {
	*httptest.Server
	mu       sync.Mutex
	sni      []string
	requests int
}

func startServer(t testing.TB, cert tls.Certificate, h http.HandlerFunc) *policyServer {
	t.Helper()
	ps := &policyServer{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ps.mu.Lock()
		ps.requests++
		ps.mu.Unlock()
		h(w, r)
	}))
	srv.TLS = &tls.Config{GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
		ps.mu.Lock()
		ps.sni = append(ps.sni, hello.ServerName)
		ps.mu.Unlock()
		return &cert, nil
	}}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	ps.Server = srv
	return ps
}

func (ps *policyServer) count() int {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return ps.requests
}

// port returns the server's port.
func (ps *policyServer) port() string {
	_, port, _ := net.SplitHostPort(ps.Listener.Addr().String())
	return port
}

// dialTo returns a Fetcher.Dial that keeps the address found in DNS but
// connects to port instead of 443, and records the addresses dialled.
func dialTo(port string, dialled *[]string) func(ctx context.Context, network, address string) (net.Conn, error) {
	var mu sync.Mutex
	return func(ctx context.Context, network, address string) (net.Conn, error) {
		host, _, err := net.SplitHostPort(address)
		if err != nil {
			return nil, err
		}
		mu.Lock()
		*dialled = append(*dialled, address)
		mu.Unlock()
		var d net.Dialer
		return d.DialContext(ctx, network, net.JoinHostPort(host, port))
	}
}

// newResolver returns a resolver without a cache that asks srv.
func newResolver(t testing.TB, srv *testdns.Server) *dnsres.Resolver {
	t.Helper()
	r, err := dnsres.New(dnsres.Options{Servers: []string{srv.Addr}, Timeout: 300 * time.Millisecond, CacheSize: -1})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

const goodPolicy = "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.mx.example.net\r\nmax_age: 86400\r\n"

// fakeResolver answers TXT lookups from a map; a missing name is not
// found. It is safe for concurrent use.
type fakeResolver struct {
	mu   sync.Mutex
	txt  map[string][]string
	errs map[string]error
	n    map[string]int
}

func (r *fakeResolver) set(name string, txt ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.txt == nil {
		r.txt, r.errs = map[string][]string{}, map[string]error{}
	}
	delete(r.errs, name)
	if txt == nil {
		delete(r.txt, name)
		return
	}
	r.txt[name] = txt
}

func (r *fakeResolver) fail(name string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.errs == nil {
		r.txt, r.errs = map[string][]string{}, map[string]error{}
	}
	r.errs[name] = err
}

func (r *fakeResolver) LookupTXT(_ context.Context, name string) ([]string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.n == nil {
		r.n = map[string]int{}
	}
	r.n[name]++
	if err := r.errs[name]; err != nil {
		return nil, err
	}
	if t, ok := r.txt[name]; ok {
		return t, nil
	}
	return nil, &dnsres.Error{Name: name, Type: "TXT", Kind: dnsres.ErrNXDomain, Rcode: 3}
}

func (r *fakeResolver) LookupIP(context.Context, string, string) ([]netip.Addr, error) {
	return nil, dnsres.ErrTemporary
}

// fakeFetcher serves policies from a map and counts fetches.
type fakeFetcher struct {
	mu       sync.Mutex
	policies map[string]string
	fetches  map[string]int
}

func (f *fakeFetcher) set(domain, policy string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.policies == nil {
		f.policies = map[string]string{}
	}
	f.policies[domain] = policy
}

func (f *fakeFetcher) count(domain string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.fetches[domain]
}

func (f *fakeFetcher) Fetch(_ context.Context, domain string) (*Policy, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fetches == nil {
		f.fetches = map[string]int{}
	}
	f.fetches[domain]++
	text, ok := f.policies[domain]
	if !ok {
		return nil, &FetchError{Domain: domain, URL: "https://mta-sts." + domain + WellKnownPath, Kind: FetchFailed, Err: errFake}
	}
	p, err := ParsePolicy(text)
	if err != nil {
		return nil, &FetchError{Domain: domain, Kind: PolicyInvalid, Err: err}
	}
	return p, nil
}

var errFake = &net.OpError{Op: "dial", Net: "tcp", Err: net.UnknownNetworkError("fake")}
