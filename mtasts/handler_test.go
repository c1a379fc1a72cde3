package mtasts

import (
	"context"
	"net/http/httptest"
	"reflect"
	"strconv"
	"testing"

	"github.com/mxkit/mxkit/internal/testdns"
)

func TestHandler(t *testing.T) {
	p, _ := ParsePolicy(goodPolicy)
	h := Handler(p)
	for _, tc := range []struct {
		method, path string
		code         int
		body         string
	}{
		{"GET", WellKnownPath, 200, goodPolicy},
		{"HEAD", WellKnownPath, 200, ""},
		{"POST", WellKnownPath, 405, "method not allowed\n"},
		{"GET", "/", 404, "404 page not found\n"},
		{"GET", WellKnownPath + "x", 404, "404 page not found\n"},
	} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(tc.method, "https://mta-sts.example.com"+tc.path, nil))
		if w.Code != tc.code || w.Body.String() != tc.body {
			t.Errorf("%s %s: %d %q, want %d %q", tc.method, tc.path, w.Code, w.Body, tc.code, tc.body)
		}
		if tc.code == 200 && (w.Header().Get("Content-Type") != "text/plain" || w.Header().Get("Content-Length") != strconv.Itoa(len(goodPolicy))) {
			t.Errorf("%s %s: headers %v", tc.method, tc.path, w.Header())
		}
	}
}

// TestHandlerRoundTrip: our Fetcher accepts what our Handler serves.
func TestHandlerRoundTrip(t *testing.T) {
	ca := newCA(t, "test CA")
	p, _ := ParsePolicy("version: STSv1\nmode: testing\nmx: *.example.org\nmax_age: 604800\n")
	h := Handler(p)
	srv := startServer(t, ca.leaf(t, "mta-sts.example.org"), h.ServeHTTP)
	dns := testdns.Start(t, testdns.Zone{Records: []string{
		`_mta-sts.example.org. 0 IN TXT "v=STSv1; id=` + PolicyID(p) + `"`,
		"mta-sts.example.org. 0 IN A 127.0.0.1",
	}})
	res := newResolver(t, dns)
	var dialled []string
	c := &Client{Resolver: res, Fetcher: &Fetcher{Resolver: res, RootCAs: ca.pool, Dial: dialTo(srv.port(), &dialled)}}
	got, err := c.Lookup(context.Background(), "example.org")
	if err != nil || !reflect.DeepEqual(got, p) {
		t.Errorf("Lookup = %+v, %v; want %+v", got, err, p)
	}
}
