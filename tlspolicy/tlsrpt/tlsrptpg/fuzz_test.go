package tlsrptpg

import (
	"encoding/json"
	"testing"

	"github.com/mxkit/mxkit/tlspolicy/tlsrpt"
	"github.com/mxkit/mxkit/tlspolicy/tlsrpt/tlsrpttest"
)

// FuzzRows: what Claim reads back from the tables (the state column and
// the policy and failure JSON of count rows). What is accepted checks,
// and writes back to rows that read to the same aggregate.
func FuzzRows(f *testing.F) {
	f.Add(`{}`, `{"policy-type":"sts","policy-string":["version: STSv1"],"policy-domain":"example.com","mx-host":["*.example.com"]}`,
		`{"result-type":"starttls-not-supported","sending-mta-ip":"192.0.2.10","receiving-ip":"192.0.2.1"}`, int64(1))
	f.Add(`{"attempts":2,"first":"2026-03-02T00:05:00Z","next":"2026-03-02T00:35:00Z","done":["mailto:a@example.com"]}`,
		`{"policy-type":"no-policy-found","policy-domain":"example.org"}`, ``, int64(7))
	f.Add(`{"attempts":-1}`, `{"policy-type":"tlsa","policy-domain":"MX.example.org"}`, `{"result-type":""}`, int64(0))
	f.Add(`null`, `{"policy-type":"sts","policy-domain":"a..b"}`, `{"receiving-ip":"300.1.1.1"}`, int64(-3))
	f.Fuzz(func(t *testing.T, state, policy, failure string, sessions int64) {
		st, err := DecodeState(state)
		if err != nil {
			return
		}
		if st.Attempts < 0 || !st.Sent.IsZero() {
			t.Fatalf("state %+v", st)
		}
		a := &tlsrpt.Aggregate{Key: tlsrpt.Key{Domain: "example.com", Day: tlsrpttest.Day}, State: st}
		if err := AddRow(a, policy, failure, sessions); err != nil {
			return
		}
		if err := a.Check(); err != nil {
			return // Claim rejects it
		}
		rs, err := rows(a)
		if err != nil {
			t.Fatal(err)
		}
		b := &tlsrpt.Aggregate{Key: a.Key}
		for _, r := range rs {
			if err := AddRow(b, r.policy, r.failure, r.sessions); err != nil {
				t.Fatalf("row %+v does not read back: %v", r, err)
			}
		}
		ja, _ := json.Marshal(a.Policies)
		jb, _ := json.Marshal(b.Policies)
		if string(ja) != string(jb) {
			t.Fatalf("round trip:\n%s\n%s", ja, jb)
		}
	})
}
