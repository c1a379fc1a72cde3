package smtppolicytest_test

import (
	"context"
	"log/slog"
	"net/netip"
	"testing"

	"github.com/mxkit/mxkit/dnsres"
	"github.com/mxkit/mxkit/smtppolicy"
	"github.com/mxkit/mxkit/smtppolicy/smtppolicytest"
)

func TestFakeResolverWithDNSChecks(t *testing.T) {
	r := &smtppolicytest.Resolver{
		A:    map[string][]netip.Addr{"mail.example.org": {netip.MustParseAddr("192.0.2.7")}},
		MX:   map[string][]dnsres.MX{"example.org": {{Host: "mail.example.org", Pref: 10}}, "nullmx.example": {{Host: "."}}},
		Fail: []string{"broken.example"},
	}
	p := &smtppolicy.Policy{
		Sender:    smtppolicy.Chain{smtppolicy.RejectUnknownSenderDomain},
		Relay:     smtppolicy.Chain{smtppolicy.Permit},
		Resolver:  r,
		Logger:    slog.New(slog.DiscardHandler),
		Recipient: smtppolicy.Chain{smtppolicy.Reject}, // keeps the policy relay-safe
	}
	p.Recipient = smtppolicy.Chain{smtppolicy.RejectUnknownRecipientDomain, smtppolicy.Permit, smtppolicy.Reject}
	tests := []struct{ from, want string }{
		{"a@example.org", ""},
		{"a@nxdomain.example", "450 4.1.8 <a@nxdomain.example>: Sender address rejected: Domain not found"},
		{"a@nullmx.example", "550 5.7.27 <a@nullmx.example>: Sender address rejected: Domain nullmx.example does not accept mail (nullMX)"},
		{"a@broken.example", "450 4.1.8 <a@broken.example>: Sender address rejected: Domain not found"},
	}
	for _, tt := range tests {
		got := smtppolicytest.Play(t, p, smtppolicytest.NewState("192.0.2.1"), "EHLO h.example\nMAIL FROM:<"+tt.from+">\nRCPT TO:<b@example.org>")
		last := got[len(got)-1]
		if tt.want == "" {
			if last != "250 2.1.5 Ok" {
				t.Errorf("%s: %q", tt.from, last)
			}
		} else if last != tt.want {
			t.Errorf("%s:\n got  %q\n want %q", tt.from, last, tt.want)
		}
	}
	if r.Calls() == 0 {
		t.Error("resolver not used")
	}
	if _, err := r.LookupMX(context.Background(), "broken.example"); !smtppolicyIsTemporary(err) {
		t.Errorf("broken.example: %v", err)
	}
}

func smtppolicyIsTemporary(err error) bool {
	e, ok := err.(*dnsres.Error)
	return ok && e.Temporary()
}
