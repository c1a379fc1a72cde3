package dnsres_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/mxkit/mxkit/dnsres"
	"github.com/mxkit/mxkit/internal/testdns"
)

// MX lookups with their DNSSEC state, from a validating resolver on
// loopback (here a test server that sets AD for example.com).
func Example() {
	srv, _ := testdns.New(testdns.Zone{
		Records: []string{
			"example.com. 300 IN MX 10 mx.example.com.",
			"example.net. 300 IN MX 0 .",
		},
		Secure: []string{"example.com"},
	})
	defer srv.Close()
	r, _ := dnsres.New(dnsres.Options{Servers: []string{srv.Addr}, Logger: slog.New(slog.DiscardHandler)})

	ctx := context.Background()
	mx, err := r.LookupMX(ctx, "example.com")
	fmt.Println(mx.Hosts, mx.Security, err)
	_, err = r.LookupMX(ctx, "example.net")
	fmt.Println(errors.Is(err, dnsres.ErrNullMX))
	_, err = r.LookupMX(ctx, "nowhere.example.org")
	fmt.Println(errors.Is(err, dnsres.ErrNotFound), dnsres.StatusOf(err) == dnsres.StatusNotFound)
	// Output:
	// [{mx.example.com 10}] secure <nil>
	// true
	// true true
}
