package mtasts

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mxkit/mxkit/internal/testdns"
)

// TestFetch runs every fetch rule against a real TLS server, with the
// policy host's address from an in-process DNS server.
func TestFetch(t *testing.T) {
	ca := newCA(t, "test CA")
	other := newCA(t, "other CA")
	text := func(body string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			fmt.Fprint(w, body)
		}
	}
	big := strings.Repeat("x: y\n", MaxPolicySize/5+1)
	tests := []struct {
		name    string
		cert    func(domain string) tlsCert
		handler http.HandlerFunc
		want    *Policy
		kind    string
		err     string // the error text after "mtasts: https://mta-sts.<domain>/.well-known/mta-sts.txt"
	}{
		{name: "good", handler: text(goodPolicy),
			want: &Policy{Mode: ModeEnforce, MaxAge: 86400 * time.Second, MX: []string{"mail.example.com", "*.mx.example.net"}}},
		{name: "lf", handler: text("version: STSv1\nmode: testing\nmx: MX.Example.COM.\nmax_age:0\nfoo: bar\n"),
			want: &Policy{Mode: ModeTesting, MaxAge: 0, MX: []string{"mx.example.com"}}},
		{name: "redirect", handler: func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "https://elsewhere.example/.well-known/mta-sts.txt", http.StatusMovedPermanently)
		}, kind: FetchFailed, err: ": HTTP status 301: redirects are not followed"},
		{name: "notfound", handler: http.NotFound, kind: FetchFailed, err: ": HTTP status 404: want 200"},
		{name: "nocontent", handler: func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) },
			kind: FetchFailed, err: ": HTTP status 204: want 200"},
		{name: "html", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, goodPolicy)
		}, kind: FetchFailed, err: `: content type "text/html": want text/plain`},
		{name: "nocontenttype", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header()["Content-Type"] = nil
			w.Write([]byte("\x00\x01"))
		}, kind: FetchFailed, err: `: content type "": want text/plain`},
		{name: "biglength", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			w.Header().Set("Content-Length", strconv.Itoa(len(big)))
			fmt.Fprint(w, big)
		}, kind: FetchFailed, err: fmt.Sprintf(": Content-Length %d: more than 65536 bytes", len(big))},
		{name: "bigstream", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			w.(http.Flusher).Flush() // chunked: no Content-Length
			fmt.Fprint(w, big)
		}, kind: FetchFailed, err: ": body: more than 65536 bytes"},
		{name: "exactly64k", handler: text(goodPolicy + "x:" + strings.Repeat("#", MaxPolicySize-len(goodPolicy)-3) + "\n"),
			want: &Policy{Mode: ModeEnforce, MaxAge: 86400 * time.Second, MX: []string{"mail.example.com", "*.mx.example.net"}}},
		{name: "badmaxage", handler: text("version: STSv1\nmode: enforce\nmax_age: 31557601\nmx: a.example\n"),
			kind: PolicyInvalid, err: ":3: max_age 31557601: more than 31557600"},
		{name: "unknownmode", handler: text("version: STSv1\r\nmode: strict\r\nmax_age: 1\r\nmx: a.example\r\n"),
			kind: PolicyInvalid, err: `:2: mode "strict": want enforce, testing or none`},
		{name: "nomx", handler: text("version: STSv1\nmode: enforce\nmax_age: 1\n"),
			kind: PolicyInvalid, err: ": no mx field (required unless mode is none)"},
		{name: "wrongname", cert: func(string) tlsCert { return tlsCert{ca, []string{"mta-sts.other.example"}} },
			handler: text(goodPolicy), kind: WebPKIInvalid,
			err: ": Get \"https://mta-sts.wrongname.test/.well-known/mta-sts.txt\": tls: failed to verify certificate: x509: certificate is valid for mta-sts.other.example, not mta-sts.wrongname.test"},
		{name: "untrusted", cert: func(d string) tlsCert { return tlsCert{other, []string{"mta-sts." + d}} },
			handler: text(goodPolicy), kind: WebPKIInvalid,
			err: ": Get \"https://mta-sts.untrusted.test/.well-known/mta-sts.txt\": tls: failed to verify certificate: x509: certificate signed by unknown authority"},
	}
	var records []string
	for _, tc := range tests {
		records = append(records, "mta-sts."+tc.name+".test. 0 IN A 127.0.0.1")
	}
	dns := testdns.Start(t, testdns.Zone{Records: records})
	res := newResolver(t, dns)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			domain := tc.name + ".test"
			c := tlsCert{ca, []string{"mta-sts." + domain}}
			if tc.cert != nil {
				c = tc.cert(domain)
			}
			srv := startServer(t, c.ca.leaf(t, c.names...), tc.handler)
			var dialled []string
			f := &Fetcher{Resolver: res, RootCAs: ca.pool, Dial: dialTo(srv.port(), &dialled)}
			p, err := f.Fetch(context.Background(), domain)
			if !reflect.DeepEqual(dialled, []string{"127.0.0.1:443"}) {
				t.Errorf("dialled %q, want the address from DNS", dialled)
			}
			if got := srv.sni; len(got) != 1 || got[0] != "mta-sts."+domain {
				t.Errorf("SNI %q, want mta-sts.%s", got, domain)
			}
			if tc.want != nil {
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(p, tc.want) {
					t.Errorf("policy %+v, want %+v", p, tc.want)
				}
				return
			}
			var fe *FetchError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v (%T), want *FetchError", err, err)
			}
			want := "mtasts: https://mta-sts." + domain + "/.well-known/mta-sts.txt" + tc.err
			if err.Error() != want || fe.Kind != tc.kind || p != nil {
				t.Errorf("got %v, %q (%s)\nwant %q (%s)", p, err, fe.Kind, want, tc.kind)
			}
		})
	}
}

type tlsCert struct {
	ca    *testCA
	names []string
}

// TestFetchDNS: the policy host's address comes from the configured
// resolver, and its failures are fetch errors.
func TestFetchDNS(t *testing.T) {
	dns := testdns.Start(t, testdns.Zone{
		Records:  []string{"mta-sts.v6.test. 0 IN AAAA ::1", "x.nodata.test. 0 IN A 192.0.2.1", "mta-sts.nodata.test. 0 IN TXT \"x\""},
		ServFail: []string{"mta-sts.servfail.test"},
		Drop:     []string{"mta-sts.drop.test"},
	})
	res := newResolver(t, dns)
	var dialled []string
	f := &Fetcher{Resolver: res, Dial: dialTo("1", &dialled), Timeout: 5 * time.Second}
	for _, tc := range []struct{ domain, err string }{
		{"servfail.test", "lookup mta-sts.servfail.test: lookup mta-sts.servfail.test A: temporary failure (SERVFAIL)"},
		{"nxdomain.test", "lookup mta-sts.nxdomain.test: lookup mta-sts.nxdomain.test AAAA: no such domain (NXDOMAIN)"},
		{"nodata.test", "lookup mta-sts.nodata.test: lookup mta-sts.nodata.test AAAA: no records of the requested type"},
		{"drop.test", "lookup mta-sts.drop.test: lookup mta-sts.drop.test A: temporary failure"},
	} {
		_, err := f.Fetch(context.Background(), tc.domain)
		var fe *FetchError
		if !errors.As(err, &fe) || fe.Kind != FetchFailed || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: got %v, want a fetch error containing %q", tc.domain, err, tc.err)
		}
	}
	if len(dialled) != 0 {
		t.Errorf("dialled %q after failed lookups", dialled)
	}
	// An AAAA-only host is dialled at its IPv6 address.
	_, _ = f.Fetch(context.Background(), "v6.test")
	if !reflect.DeepEqual(dialled, []string{"[::1]:443"}) {
		t.Errorf("dialled %q, want [::1]:443", dialled)
	}
	if n := dns.Queries("mta-sts.v6.test", "AAAA"); n != 1 {
		t.Errorf("%d AAAA queries, want 1", n)
	}
}

// TestFetchTimeout: a server that does not answer in time gives a fetch
// error.
func TestFetchTimeout(t *testing.T) {
	ca := newCA(t, "test CA")
	release := make(chan struct{})
	srv := startServer(t, ca.leaf(t, "mta-sts.slow.test"), func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	defer close(release)
	dns := testdns.Start(t, testdns.Zone{Records: []string{"mta-sts.slow.test. 0 IN A 127.0.0.1"}})
	var dialled []string
	f := &Fetcher{Resolver: newResolver(t, dns), RootCAs: ca.pool, Dial: dialTo(srv.port(), &dialled), Timeout: 200 * time.Millisecond}
	_, err := f.Fetch(context.Background(), "slow.test")
	var fe *FetchError
	want := `mtasts: https://mta-sts.slow.test/.well-known/mta-sts.txt: Get "https://mta-sts.slow.test/.well-known/mta-sts.txt": context deadline exceeded`
	if !errors.As(err, &fe) || fe.Kind != FetchFailed || err.Error() != want || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("got %v\nwant %s", err, want)
	}
}
