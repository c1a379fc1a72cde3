package smtppolicy

import (
	"context"
	"testing"
)

// BenchmarkRcptDNSChecksWarm measures one RCPT through the DNS checks with
// a warm cache: reject_unknown_helo_hostname, reject_unknown_sender_domain,
// reject_unknown_recipient_domain, reject_rbl_client, reject_rhsbl_sender
// and check_sender_mx_access, all passing.
func BenchmarkRcptDNSChecksWarm(b *testing.B) {
	ctx := context.Background()
	e := newDNSEnv(b)
	var reg Registry
	client, err := reg.ParseList("reject_unknown_client_hostname, reject_rbl_client bl.test=127.0.0.[2..11]", "check_client_access")
	if err != nil {
		b.Fatal(err)
	}
	helo, _ := reg.ParseList("reject_unknown_helo_hostname", "check_helo_access")
	sender, _ := reg.ParseList("reject_unknown_sender_domain, reject_rhsbl_sender dbl.test, check_sender_mx_access inline:{ bad.example=REJECT }", "check_sender_access")
	rcpt, _ := reg.ParseList("reject_unknown_recipient_domain", "check_recipient_access")
	p := e.policy(client, helo, sender, rcpt)
	st := dnsClient("192.0.2.10", "mx.example.org", "mx.example.org")
	s := p.NewSession(&st)
	s.Helo(ctx, "mx.example.org", true)
	s.Mail(ctx, "carol@a-only.example.org", 0)
	if r := s.Rcpt(ctx, "alice@example.org"); r != nil { // warm the caches
		b.Fatal(r)
	}
	b.ReportAllocs()
	for b.Loop() {
		if r := s.Rcpt(ctx, "alice@example.org"); r != nil {
			b.Fatal(r)
		}
		s.st.Recipients = s.st.Recipients[:0]
	}
}
