package testdnssec

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/miekg/dns"
)

// DefaultParent is the parent zone used when Config.Parent is "".
const DefaultParent = "dane.test."

// Security says how a child zone is published.
type Security int

const (
	// Secure: the child is signed and the parent holds its DS, so a
	// validating resolver sets AD=1 on its answers.
	Secure Security = iota
	// Insecure: the child is unsigned and delegated without DS (the
	// parent's NSEC proves the DS absent), so answers come with AD=0.
	Insecure
	// Bogus: the child is signed but the parent's DS has a wrong digest,
	// so a validating resolver answers SERVFAIL.
	Bogus
)

func (s Security) String() string {
	switch s {
	case Secure:
		return "secure"
	case Insecure:
		return "insecure"
	case Bogus:
		return "bogus"
	}
	return fmt.Sprintf("Security(%d)", int(s))
}

// Zone is one child zone of the parent.
type Zone struct {
	// Name is the child zone's name, a child of Config.Parent, e.g.
	// "secure.dane.test." (the final dot is optional).
	Name     string
	Security Security
	// Records are zone-file lines (RFC 1035 presentation format), e.g.
	// "mx A 127.0.0.1" or "_25._tcp.mx.secure.dane.test. TLSA 3 1 1 ab12…".
	// Relative names are relative to Name; the TTL defaults to 300. SOA,
	// NS and DNSSEC records are the harness's.
	Records []string
}

// Config describes the zones Start publishes.
type Config struct {
	// Parent is the signed parent zone and the resolver's only trust
	// anchor; DefaultParent when "".
	Parent string
	// ParentRecords are extra records for the parent zone, as Zone.Records.
	ParentRecords []string
	// Zones are the child zones, each delegated from Parent.
	Zones []Zone
	// ResolverListen is where unbound listens (UDP and TCP), a loopback
	// IPv4 "IP:PORT", e.g. "127.0.25.53:53" for a libc resolver (which
	// asks port 53 only) in a test's own mount namespace; "" means
	// 127.0.0.1 at a free port. Start fails with a clear message when
	// the address is taken (port 53 also needs root).
	ResolverListen string
}

// nsHost is the name server name every zone uses (its A record, in the
// parent, is 127.0.0.1; the resolver reaches the server through its stub
// zones, at the server's port).
func nsHost(parent string) string { return "ns." + parent }

// soaAndNS returns the SOA and NS lines of zone.
func soaAndNS(parent string) string {
	return fmt.Sprintf("@ SOA %s hostmaster.%s 1 3600 600 86400 300\n@ NS %s\n", nsHost(parent), parent, nsHost(parent))
}

// normalize checks cfg and returns it with fully qualified, lower-case
// names.
func normalize(cfg Config) (Config, error) {
	out := Config{Parent: cfg.Parent, ParentRecords: cfg.ParentRecords, ResolverListen: cfg.ResolverListen}
	if l := cfg.ResolverListen; l != "" {
		ap, err := netip.ParseAddrPort(l)
		if err != nil || !ap.Addr().Is4() || !ap.Addr().IsLoopback() || ap.Port() == 0 {
			return Config{}, fmt.Errorf("testdnssec: ResolverListen %q: want a loopback IPv4 address and a port, e.g. 127.0.25.53:53", l)
		}
	}
	if out.Parent == "" {
		out.Parent = DefaultParent
	}
	out.Parent = strings.ToLower(dns.Fqdn(out.Parent))
	if _, ok := dns.IsDomainName(out.Parent); !ok || out.Parent == "." {
		return Config{}, fmt.Errorf("testdnssec: Parent %q: not a domain name", cfg.Parent)
	}
	if _, err := parseRecords(out.Parent, out.ParentRecords); err != nil {
		return Config{}, err
	}
	seen := map[string]bool{}
	for _, z := range cfg.Zones {
		name := strings.ToLower(dns.Fqdn(z.Name))
		if _, ok := dns.IsDomainName(name); !ok || !dns.IsSubDomain(out.Parent, name) || name == out.Parent {
			return Config{}, fmt.Errorf("testdnssec: zone %q: not a child of %s", z.Name, out.Parent)
		}
		if z.Security < Secure || z.Security > Bogus {
			return Config{}, fmt.Errorf("testdnssec: zone %s: unknown %v", name, z.Security)
		}
		if seen[name] {
			return Config{}, fmt.Errorf("testdnssec: zone %s: listed twice", name)
		}
		seen[name] = true
		if _, err := parseRecords(name, z.Records); err != nil {
			return Config{}, err
		}
		out.Zones = append(out.Zones, Zone{Name: name, Security: z.Security, Records: z.Records})
	}
	return out, nil
}

// parseRecords parses zone-file lines for zone, rejecting records the
// harness owns and names outside the zone. Errors name the zone and the
// line ("zone secure.dane.test.: record 2: ...").
func parseRecords(zone string, lines []string) ([]dns.RR, error) {
	var rrs []dns.RR
	for i, line := range lines {
		zp := dns.NewZoneParser(strings.NewReader(line), zone, "")
		zp.SetDefaultTTL(300)
		n := 0
		for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
			n++
			h := rr.Header()
			switch h.Rrtype {
			case dns.TypeSOA, dns.TypeRRSIG, dns.TypeNSEC, dns.TypeNSEC3, dns.TypeNSEC3PARAM, dns.TypeDNSKEY:
				return nil, fmt.Errorf("testdnssec: zone %s: record %d: %s records are the harness's", zone, i+1, dns.TypeToString[h.Rrtype])
			case dns.TypeNS, dns.TypeDS:
				if strings.EqualFold(h.Name, zone) {
					return nil, fmt.Errorf("testdnssec: zone %s: record %d: apex %s records are the harness's", zone, i+1, dns.TypeToString[h.Rrtype])
				}
			}
			if !dns.IsSubDomain(zone, h.Name) {
				return nil, fmt.Errorf("testdnssec: zone %s: record %d: %s is outside the zone", zone, i+1, h.Name)
			}
			// The zone file holds rr.String(); miekg/dns accepts records it
			// cannot print back as they were: empty RDATA ("x A"), some
			// escapes in names.
			if back, err := dns.NewRR(rr.String()); err != nil || back == nil || !dns.IsDuplicate(back, rr) {
				return nil, fmt.Errorf("testdnssec: zone %s: record %d: %q does not survive printing as %q", zone, i+1, line, rr.String())
			}
			rrs = append(rrs, rr)
		}
		if err := zp.Err(); err != nil {
			return nil, fmt.Errorf("testdnssec: zone %s: record %d: %w", zone, i+1, err)
		}
		if n != 1 {
			return nil, fmt.Errorf("testdnssec: zone %s: record %d: want one record, got %d", zone, i+1, n)
		}
	}
	return rrs, nil
}

// renderZone returns the zone file of zone: SOA, NS, then records (each
// already checked by parseRecords) in canonical presentation form.
func renderZone(zone, parent string, records []dns.RR) string {
	var b strings.Builder
	fmt.Fprintf(&b, "$ORIGIN %s\n$TTL 300\n", zone)
	b.WriteString(soaAndNS(parent))
	for _, rr := range records {
		b.WriteString(rr.String())
		b.WriteByte('\n')
	}
	return b.String()
}
