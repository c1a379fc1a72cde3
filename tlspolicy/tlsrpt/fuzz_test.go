package tlsrpt

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzParseRUA: the choice of the TLS-RPT record among a name's TXT
// records (one per line of the input) and its rua URIs.
func FuzzParseRUA(f *testing.F) {
	for _, s := range []string{
		"v=TLSRPTv1; rua=mailto:tlsrpt@example.com",
		"v=spf1 -all\nv=TLSRPTv1;rua=mailto:a@example.com,https://r.example.com/v1",
		"v=TLSRPTv1; rua=mailto:a@example.com\nv=TLSRPTv1; rua=mailto:b@example.com",
		"v=TLSRPTv10; rua=mailto:a@example.com", "v=TLSRPTv1 ; rua=ftp://x,mailto:a%21b@example.com;",
		"v=TLSRPTv1", "v=TLSRPTv1;", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		rua, err := ParseRUA(strings.Split(s, "\n"))
		if err != nil {
			return
		}
		if len(rua) == 0 {
			t.Fatalf("ParseRUA(%q): no error and no rua", s)
		}
		n := 0
		for _, r := range strings.Split(s, "\n") {
			if rest, ok := strings.CutPrefix(r, tlsrptVersion); ok && (rest == "" || strings.ContainsAny(rest[:1], "; \t")) {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("ParseRUA(%q): chose among %d records", s, n)
		}
		for _, u := range rua {
			switch strings.ToLower(u.Scheme) {
			case "mailto":
				if a := mailtoAddr(u); a == "" || !headerSafe(a) {
					t.Fatalf("ParseRUA(%q): mailto address %q", s, a)
				}
			case "https":
				if u.Host == "" {
					t.Fatalf("ParseRUA(%q): https without host", s)
				}
			default:
				t.Fatalf("ParseRUA(%q): scheme %q", s, u.Scheme)
			}
		}
	})
}

// FuzzDecodeAggregate: FileStore's files. What decodes is well formed and
// encodes to a file that decodes to the same.
func FuzzDecodeAggregate(f *testing.F) {
	for _, s := range []string{
		`{"v":1,"domain":"example.com","day":"2026-03-01","policies":[{"policy":{"policy-type":"sts","policy-string":["version: STSv1"],"policy-domain":"example.com","mx-host":["*.example.com"]},"successes":2,"failures":[{"result-type":"starttls-not-supported","sending-mta-ip":"192.0.2.10","receiving-mx-hostname":"mx1.example.com","receiving-ip":"192.0.2.1","failed-session-count":1}]}],"state":{"attempts":1,"next":"2026-03-02T00:35:00Z","done":["mailto:a@example.com"]}}`,
		`{"v":1,"domain":"example.com","day":"2026-03-01","policies":[{"policy":{"policy-type":"tlsa","policy-domain":"mx.example.com"},"successes":1},{"policy":{"policy-type":"tlsa","policy-domain":"mx.example.com"},"successes":1}]}`,
		`{"v":2,"domain":"example.com","day":"2026-03-01","policies":[]}`,
		`{"v":1,"domain":"Example.com","day":"2026-03-01T01:00:00Z","policies":null}`,
		`{"v":1,"domain":"example.com","day":"2026-03-01","policies":[{"policy":{"policy-type":"sts","policy-domain":"example.com"},"failures":[{"result-type":"","failed-session-count":-1}]}]} {}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := DecodeAggregate(b)
		if err != nil {
			return
		}
		if err := a.Check(); err != nil {
			t.Fatalf("decoded but does not check: %v", err)
		}
		enc, err := EncodeAggregate(a)
		if err != nil {
			t.Fatal(err)
		}
		a2, err := DecodeAggregate(enc)
		if err != nil {
			t.Fatalf("round trip: %v\n%s", err, enc)
		}
		enc2, _ := EncodeAggregate(a2)
		if !bytes.Equal(enc, enc2) {
			t.Fatalf("round trip differs:\n%s\n%s", enc, enc2)
		}
		if _, ok := parseName((&FileStore{}).name(a.Key)); !ok {
			t.Fatalf("file name %q does not parse", (&FileStore{}).name(a.Key))
		}
		// The report of anything decoded builds, and so does its mail.
		rep := BuildReport(a, ReportOptions{Submitter: "sub"})
		gz, err := rep.Gzip()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := BuildMessage(a.Key, rep, gz, MessageOptions{ReportOptions: ReportOptions{Submitter: "sub"}, To: "a@example.com"}); err != nil {
			t.Fatal(err)
		}
	})
}
