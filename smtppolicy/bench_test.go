package smtppolicy

import (
	"context"
	"log/slog"
	"net/netip"
	"testing"

	"github.com/mxkit/mxkit/relaymaps"
)

type prefixes []netip.Prefix

func (p prefixes) Match(_ context.Context, _ string, addr netip.Addr) (bool, error) {
	for _, n := range p {
		if n.Contains(addr) {
			return true, nil
		}
	}
	return false, nil
}

// seedBenchPolicy is the seed main.cf's restriction lists without the DNS
// checks (those belong to the DNS issue), with in-memory tables.
func seedBenchPolicy() *Policy {
	site := &Site{
		MyHostname:         "maeve.example.net",
		MyNetworks:         prefixes{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("10.195.171.0/24")},
		InetInterfaces:     []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("198.51.100.7")},
		RelayDomains:       domains{"example.org", "example.com"},
		VirtualAliasMaps:   []relaymaps.Map{relaymaps.Dict{"info@example.org": "alice@example.org"}},
		RelayRecipientMaps: []relaymaps.Map{relaymaps.Dict{"alice@example.org": "OK", "bob@example.org": "OK"}, relaymaps.Dict{"sales@example.com": "OK"}},
		LocalTransport:     "error:local mail delivery is disabled",
		RecipientDelimiter: "+-",
	}
	withoutPTR := relaymaps.Dict{"192.0.2.77": "OK"}
	return &Policy{
		Client:       Chain{PermitMyNetworks, CheckClientAccess(withoutPTR, nil)},
		Helo:         Chain{PermitMyNetworks, RejectInvalidHeloHostname, RejectNonFQDNHeloHostname},
		Sender:       Chain{PermitMyNetworks, RejectUnlistedSender},
		Relay:        Chain{PermitMyNetworks, RejectUnauthDestination},
		Recipient:    Chain{RejectNonFQDNRecipient},
		Data:         Chain{RejectUnauthPipelining},
		HeloRequired: true,
		Site:         site,
		Logger:       slog.New(slog.DiscardHandler),
	}
}

// BenchmarkRcptSeed measures one full RCPT evaluation of the seed's lists
// (client, HELO, sender, relay, recipient, implicit recipient validation)
// for a client outside mynetworks and a valid relay recipient.
func BenchmarkRcptSeed(b *testing.B) {
	ctx := context.Background()
	p := seedBenchPolicy()
	s := p.NewSession(&State{ClientAddr: netip.MustParseAddr("203.0.113.9"), ClientPort: 41000})
	s.Helo(ctx, "mail.example.com", true)
	s.Mail(ctx, "carol@example.net", 0)
	b.ReportAllocs()
	for b.Loop() {
		if r := s.Rcpt(ctx, "alice+news@example.org"); r != nil {
			b.Fatal(r)
		}
		s.st.Recipients = s.st.Recipients[:0]
	}
}

// BenchmarkRcptSeedRelayDenied measures the same lists for a relay attempt.
func BenchmarkRcptSeedRelayDenied(b *testing.B) {
	ctx := context.Background()
	p := seedBenchPolicy()
	s := p.NewSession(&State{ClientAddr: netip.MustParseAddr("203.0.113.9"), ClientPort: 41000})
	s.Helo(ctx, "mail.example.com", true)
	s.Mail(ctx, "carol@example.net", 0)
	b.ReportAllocs()
	for b.Loop() {
		if r := s.Rcpt(ctx, "victim@elsewhere.example"); r == nil {
			b.Fatal("relayed")
		}
	}
}
