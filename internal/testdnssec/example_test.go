package testdnssec_test

import (
	"fmt"

	"github.com/miekg/dns"

	"github.com/mxkit/mxkit/internal/testdnssec"
)

// A TLSA record read from DNS, in the form openssl's -dane_tlsa_rrdata
// takes.
func ExampleTLSARData() {
	rr, err := dns.NewRR("_25._tcp.mx.secure.dane.test. 300 IN TLSA 3 1 1 ABCDEF0123")
	if err != nil {
		panic(err)
	}
	fmt.Println(testdnssec.TLSARData(rr.(*dns.TLSA)))
	// Output: 3 1 1 abcdef0123
}

// Security names the three kinds of child zone.
func ExampleSecurity() {
	for _, s := range []testdnssec.Security{testdnssec.Secure, testdnssec.Insecure, testdnssec.Bogus} {
		fmt.Println(s)
	}
	// Output:
	// secure
	// insecure
	// bogus
}
