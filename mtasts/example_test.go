package mtasts_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"time"

	"github.com/mxkit/mxkit/mtasts"
)

func ExampleParsePolicy() {
	p, err := mtasts.ParsePolicy("version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmax_age: 604800\r\n")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(p.Mode, p.MaxAge)
	fmt.Println(p.Match("mail.example.com."), p.Match("mx1.example.net"), p.Match("a.mx1.example.net"))

	_, err = mtasts.ParsePolicy("version: STSv1\nmode: enforce\nmax_age: 99999999\nmx: mail.example.com\n")
	fmt.Println(err)
	// Output:
	// enforce 168h0m0s
	// true true false
	// line 3: max_age 99999999: more than 31557600
}

func ExampleParseRecord() {
	r, err := mtasts.ParseRecord("v=STSv1; id=20160831085700Z;")
	fmt.Println(r.ID, err)
	_, err = mtasts.ParseRecord("v=STSv1; id=2016-08-31")
	fmt.Println(err)
	// Output:
	// 20160831085700Z <nil>
	// invalid record: id "2016-08-31": want 1 to 32 letters and digits
}

func ExampleParseTLSRPT() {
	r, err := mtasts.ParseTLSRPT("v=TLSRPTv1; rua=mailto:tlsrpt@example.com,https://reports.example.com/v1")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, u := range r.RUA {
		fmt.Println(u.Scheme, u)
	}
	// Output:
	// mailto mailto:tlsrpt@example.com
	// https https://reports.example.com/v1
}

// An operator serves its own policy and publishes its id.
func ExampleHandler() {
	p, _ := mtasts.ParsePolicy("version: STSv1\nmode: testing\nmx: mx.example.com\nmax_age: 86400\n")
	fmt.Printf("_mta-sts.example.com. TXT \"v=STSv1; id=%s\"\n", mtasts.PolicyID(p))

	w := httptest.NewRecorder()
	mtasts.Handler(p).ServeHTTP(w, httptest.NewRequest("GET", "https://mta-sts.example.com"+mtasts.WellKnownPath, nil))
	fmt.Println(w.Code, w.Header().Get("Content-Type"))
	fmt.Printf("%q\n", w.Body.String())
	// Output:
	// _mta-sts.example.com. TXT "v=STSv1; id=3fc87e4d8bdc5c648937"
	// 200 text/plain
	// "version: STSv1\r\nmode: testing\r\nmx: mx.example.com\r\nmax_age: 86400\r\n"
}

func ExampleClient() {
	res := fakeDNS{"_mta-sts.example.com": {"v=STSv1; id=1"}}
	c := &mtasts.Client{
		Resolver: res,
		// In production: &mtasts.Fetcher{Resolver: res} (and RootCAs
		// for private roots); here a fixed policy.
		Fetcher: fixedPolicy("version: STSv1\nmode: enforce\nmx: *.example.com\nmax_age: 604800\n"),
		Grace:   time.Minute,
	}
	p, err := c.Lookup(context.Background(), "example.com")
	fmt.Println(p.Mode, p.Match("mx1.example.com"), err)
	p, err = c.Lookup(context.Background(), "example.org")
	fmt.Println(p, err)
	// Output:
	// enforce true <nil>
	// <nil> <nil>
}
