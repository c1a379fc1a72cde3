package relaymaps_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"

	"github.com/mxkit/mxkit/relaymaps"
)

// cidrText100k is a 100,000-rule cidr table: /32, /24 and /16 IPv4 rules,
// some IPv6 rules, a few negations and an if-block.
func cidrText100k() string {
	r := rand.New(rand.NewPCG(7, 7))
	var b strings.Builder
	b.WriteString("if 172.16.0.0/12\n172.16.0.0/16 private\n!172.16.1.0/24 not-one\nendif\n")
	for i := range 100_000 {
		switch i % 10 {
		case 0:
			fmt.Fprintf(&b, "10.%d.0.0/16 r%d\n", r.IntN(256), i)
		case 1, 2, 3:
			fmt.Fprintf(&b, "10.%d.%d.0/24 r%d\n", r.IntN(256), r.IntN(256), i)
		case 4:
			fmt.Fprintf(&b, "[2001:db8:%x::]/48 r%d\n", r.IntN(65536), i)
		default:
			fmt.Fprintf(&b, "10.%d.%d.%d r%d\n", r.IntN(256), r.IntN(256), r.IntN(256), i)
		}
	}
	b.WriteString("!10.0.0.0/8 elsewhere\n")
	return b.String()
}

func randomKeys(n int) []string {
	r := rand.New(rand.NewPCG(1, 1))
	keys := make([]string, n)
	for i := range keys {
		if i%5 == 0 {
			keys[i] = fmt.Sprintf("2001:db8:%x::%x", r.IntN(65536), r.IntN(65536))
		} else {
			keys[i] = netip.AddrFrom4([4]byte{10, byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256))}).String()
		}
	}
	return keys
}

func BenchmarkCIDRLookup100k(b *testing.B) {
	m, err := relaymaps.ParseCIDRTable("bench.cidr", cidrText100k())
	if err != nil {
		b.Fatal(err)
	}
	keys := randomKeys(1024)
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		_, _, _ = m.Lookup(ctx, keys[i%len(keys)])
		i++
	}
}

func BenchmarkCIDRParse100k(b *testing.B) {
	text := cidrText100k()
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		if _, err := relaymaps.ParseCIDRTable("bench.cidr", text); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAccessAddressKeys(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		for range relaymaps.AccessAddressKeys("user+tag@mail.example.com", "+-") {
		}
	}
}

func BenchmarkRecipientKeys(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		for range relaymaps.RecipientKeys("user@example.com", "+-", false) {
		}
	}
}

func BenchmarkHostAndAddrKeys(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		for range relaymaps.HostKeys("mail.sub.example.com") {
		}
		for range relaymaps.AddrKeys("192.0.2.1") {
		}
	}
}

// BenchmarkFindRelayRecipient is the per-RCPT relay_recipient_maps search
// over two tables that do not have the address.
func BenchmarkFindRelayRecipient(b *testing.B) {
	maps := []relaymaps.Map{
		relaymaps.Dict{"someone@example.com": "OK"},
		relaymaps.Dict{"@other.example": "OK"},
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		_, _, _, _, _ = relaymaps.Find(ctx, maps, relaymaps.RecipientKeys("user+tag@example.com", "+", false))
	}
}

func BenchmarkDomainListMatch(b *testing.B) {
	var spec strings.Builder
	for i := range 10_000 {
		fmt.Fprintf(&spec, "d%d.example, ", i)
	}
	l, err := relaymaps.ParseDomainList(spec.String(), nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		_, _ = l.Match(ctx, "mx.d9999.example")
	}
}

func BenchmarkHostListMatch(b *testing.B) {
	l, err := relaymaps.ParseHostList("127.0.0.0/8 [::1]/128 192.168.0.0/16 10.0.0.0/8 !172.16.1.1 172.16.0.0/12", nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	a := netip.MustParseAddr("198.51.100.7")
	b.ReportAllocs()
	for b.Loop() {
		_, _ = l.Match(ctx, "client.example", a)
	}
}

func BenchmarkTextTableLookup(b *testing.B) {
	dir := b.TempDir()
	p := writeFile(b, dir, "t", "user@example.com OK\n")
	m, err := relaymaps.Open("texthash:"+p, nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		_, _, _ = m.Lookup(ctx, "user@example.com")
	}
}
