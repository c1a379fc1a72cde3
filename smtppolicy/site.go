package smtppolicy

import (
	"context"
	"net/netip"
	"strings"

	"github.com/mxkit/mxkit/relaymaps"
)

// DomainMatcher matches a domain against a Postfix match list
// (relay_domains, mydestination, virtual_*_domains). *relaymaps.DomainList
// implements it.
type DomainMatcher interface {
	Match(ctx context.Context, domain string) (bool, error)
}

// HostMatcher matches a client against a Postfix host match list
// (mynetworks). *relaymaps.HostList implements it.
type HostMatcher interface {
	Match(ctx context.Context, hostname string, addr netip.Addr) (bool, error)
}

// Site describes this mail system as Postfix's address resolver
// (trivial-rewrite) sees it: which domains are local, virtual or relayed, and
// which recipients are valid. Its zero value has no local, virtual or relay
// domains: every recipient is in the default class and only clients that a
// permit_* check lets through may relay.
type Site struct {
	// MyHostname is used in replies and as the domain of addresses that
	// have none.
	MyHostname string
	// MyNetworks lists trusted clients (permit_mynetworks). Nil matches
	// nothing.
	MyNetworks HostMatcher
	// MyDestination lists the local domains (mydestination).
	MyDestination DomainMatcher
	// InetInterfaces and ProxyInterfaces are this host's own addresses:
	// address literals naming them ("user@[192.0.2.1]") are local.
	InetInterfaces, ProxyInterfaces []netip.Addr
	// RelayDomains lists the domains this MX relays to (relay_domains).
	RelayDomains DomainMatcher
	// VirtualAliasDomains and VirtualMailboxDomains list the virtual
	// domains (virtual_alias_domains, virtual_mailbox_domains).
	VirtualAliasDomains, VirtualMailboxDomains DomainMatcher

	// VirtualAliasMaps (virtual_alias_maps): a recipient found there is
	// valid whatever its class.
	VirtualAliasMaps []relaymaps.Map
	// LocalRecipientMaps, VirtualMailboxMaps and RelayRecipientMaps list
	// the valid recipients of each class. Nil accepts every recipient of
	// the class, as an empty Postfix parameter does.
	LocalRecipientMaps, VirtualMailboxMaps, RelayRecipientMaps []relaymaps.Map
	// TransportMaps (transport_maps) is consulted for error: and retry:
	// transports, which refuse recipients at RCPT time.
	TransportMaps []relaymaps.Map
	// LocalTransport is the transport of the local class
	// (local_transport), e.g. "error:local mail delivery is disabled".
	LocalTransport string
	// RecipientDelimiter is the set of characters that start an address
	// extension (recipient_delimiter).
	RecipientDelimiter string
	// HideUnknownTableName removes " in relay recipient table" and the like
	// from "User unknown" replies (show_user_unknown_table_name = no).
	HideUnknownTableName bool
	// AllowUntrustedRouting lets a relay-domain recipient with
	// sender-specified routing (%, !, @ in the local part) count as an
	// authorized destination (allow_untrusted_routing). Leave it off.
	AllowUntrustedRouting bool
}

// AddressClass is a Postfix address class (ADDRESS_CLASS_README).
type AddressClass uint8

// The address classes.
const (
	ClassDefaultDomain AddressClass = iota
	ClassLocalDomain
	ClassVirtualAliasDomain
	ClassVirtualMailboxDomain
	ClassRelayDomain
)

func (c AddressClass) String() string {
	return [...]string{"default", "local", "virtual alias", "virtual mailbox", "relay"}[c]
}

// Resolution is what Site.Resolve found out about an address.
type Resolution struct {
	// Address is the resolved address: source route removed, domain in
	// lower case without a trailing dot, local-part routing undone for
	// local domains.
	Address string
	Local   string // the local part, unquoted
	Domain  string // "" when the address has none
	Class   AddressClass
	// Routed reports sender-specified routing: %, ! or @ in the local part
	// (after the local domain was stripped). Such a recipient is never an
	// authorized destination unless AllowUntrustedRouting.
	Routed bool
	// Transport and Nexthop are set for error: and retry: transports, and
	// for the local class.
	Transport, Nexthop string
}

// Final reports whether the address is delivered on this system (local or
// virtual classes).
func (r *Resolution) Final() bool {
	return r.Class == ClassLocalDomain || r.Class == ClassVirtualAliasDomain || r.Class == ClassVirtualMailboxDomain
}

// Resolve classifies addr as Postfix's trivial-rewrite resolver does for the
// SMTP server. A table failure is returned as an error (a temporary
// failure, or relaymaps.ErrConfig).
func (s *Site) Resolve(ctx context.Context, addr string) (Resolution, error) {
	var res Resolution
	a := stripSourceRoute(addr)
	local, domain := splitAddress(a)
	local = unquoteLocal(local)
	domain = normalizeDomain(domain)
	for hop := 0; ; hop++ {
		isLocal, err := s.isLocalDomain(ctx, domain)
		if err != nil {
			return res, err
		}
		if !isLocal || hop >= 10 {
			break
		}
		// A local domain: undo sender-specified routing in the local part
		// (user@remote quoted, user%remote, remote!user) and resolve again.
		var nl, nd string
		if i := strings.LastIndexByte(local, '@'); i >= 0 {
			nl, nd = local[:i], local[i+1:]
		} else if i := strings.LastIndexByte(local, '%'); i >= 0 {
			nl, nd = local[:i], local[i+1:]
		} else if i := strings.IndexByte(local, '!'); i >= 0 {
			nl, nd = local[i+1:], local[:i]
		} else {
			break
		}
		res.Routed = true
		local, domain = nl, normalizeDomain(nd)
	}
	res.Local, res.Domain = local, domain
	if domain == "" {
		res.Address = local
	} else {
		res.Address = local + "@" + domain
		if strings.ContainsAny(local, "@%!") {
			res.Routed = true
		}
	}
	class, err := s.classify(ctx, domain)
	if err != nil {
		return res, err
	}
	res.Class = class
	switch class {
	case ClassLocalDomain:
		res.Transport, res.Nexthop = splitTransport(s.LocalTransport)
		if res.Transport == "" {
			res.Transport = "local"
		}
	case ClassVirtualAliasDomain:
		res.Transport, res.Nexthop = "error", "User unknown in virtual alias table"
	}
	if len(s.TransportMaps) > 0 && domain != "" {
		v, _, _, found, err := relaymaps.Find(ctx, s.TransportMaps, transportKeys(res.Address, domain))
		if err != nil {
			return res, err
		}
		if found {
			t, nh := splitTransport(v)
			if t != "" {
				res.Transport = t
			}
			if nh != "" || t == "error" || t == "retry" {
				res.Nexthop = nh
			}
		}
	}
	return res, nil
}

func (s *Site) isLocalDomain(ctx context.Context, domain string) (bool, error) {
	if domain == "" {
		return true, nil
	}
	if domain[0] == '[' {
		return s.isOwnLiteral(domain), nil
	}
	if s.MyDestination == nil {
		return false, nil
	}
	return s.MyDestination.Match(ctx, domain)
}

func (s *Site) classify(ctx context.Context, domain string) (AddressClass, error) {
	if local, err := s.isLocalDomain(ctx, domain); err != nil || local {
		return ClassLocalDomain, err
	}
	if domain[0] == '[' {
		return ClassDefaultDomain, nil
	}
	for _, l := range []struct {
		m DomainMatcher
		c AddressClass
	}{{s.VirtualAliasDomains, ClassVirtualAliasDomain}, {s.VirtualMailboxDomains, ClassVirtualMailboxDomain}, {s.RelayDomains, ClassRelayDomain}} {
		if l.m == nil {
			continue
		}
		ok, err := l.m.Match(ctx, domain)
		if err != nil {
			return ClassDefaultDomain, err
		}
		if ok {
			return l.c, nil
		}
	}
	return ClassDefaultDomain, nil
}

// isOwnLiteral reports whether "[addr]" names one of our interfaces.
func (s *Site) isOwnLiteral(lit string) bool {
	ip, ok := parseAddressLiteral(lit)
	if !ok {
		return false
	}
	for _, a := range s.InetInterfaces {
		if a.Unmap() == ip {
			return true
		}
	}
	for _, a := range s.ProxyInterfaces {
		if a.Unmap() == ip {
			return true
		}
	}
	return false
}

// parseAddressLiteral parses "[192.0.2.1]" or "[IPv6:2001:db8::1]".
func parseAddressLiteral(lit string) (netip.Addr, bool) {
	if len(lit) < 3 || lit[0] != '[' || lit[len(lit)-1] != ']' {
		return netip.Addr{}, false
	}
	in := lit[1 : len(lit)-1]
	if len(in) > 5 && strings.EqualFold(in[:5], "ipv6:") {
		in = in[5:]
		ip, err := netip.ParseAddr(in)
		if err != nil || !ip.Is6() || ip.Zone() != "" {
			return netip.Addr{}, false
		}
		return ip.Unmap(), true
	}
	ip, err := netip.ParseAddr(in)
	if err != nil || !ip.Is4() {
		return netip.Addr{}, false
	}
	return ip, true
}

// stripSourceRoute removes an RFC 5321 source route: "@a,@b:user@d" → "user@d".
func stripSourceRoute(addr string) string {
	if len(addr) > 0 && addr[0] == '@' {
		if i := strings.IndexByte(addr, ':'); i >= 0 {
			return addr[i+1:]
		}
	}
	return addr
}

// splitAddress splits at the last '@' outside a quoted local part.
func splitAddress(addr string) (local, domain string) {
	i := strings.LastIndexByte(addr, '@')
	if i < 0 {
		return addr, ""
	}
	// An '@' inside a quoted local part with no domain after it.
	if q := strings.LastIndexByte(addr, '"'); q > i {
		return addr, ""
	}
	return addr[:i], addr[i+1:]
}

// unquoteLocal removes RFC 5321 quoting from a local part.
func unquoteLocal(local string) string {
	if len(local) < 2 || local[0] != '"' || local[len(local)-1] != '"' {
		if strings.IndexByte(local, '"') < 0 {
			return local
		}
	}
	var b strings.Builder
	esc := false
	for i := 0; i < len(local); i++ {
		c := local[i]
		switch {
		case esc:
			b.WriteByte(c)
			esc = false
		case c == '\\':
			esc = true
		case c == '"':
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// normalizeDomain lower-cases a domain and strips one trailing dot (but not
// "..", which stays and never matches anything).
func normalizeDomain(d string) string {
	if n := len(d); n > 1 && d[n-1] == '.' && d[n-2] != '.' {
		d = d[:n-1]
	}
	return relaymaps.Fold(d)
}

// splitTransport splits "error:text" into "error" and "text".
func splitTransport(v string) (transport, nexthop string) {
	v = strings.TrimSpace(v)
	i := strings.IndexByte(v, ':')
	if i < 0 {
		return v, ""
	}
	return v[:i], v[i+1:]
}

// transportKeys yields transport(5) lookup keys: the address, the domain, its
// parents as ".parent", and "*".
func transportKeys(addr, domain string) func(func(relaymaps.Key) bool) {
	return func(yield func(relaymaps.Key) bool) {
		if !yield(relaymaps.Key{Key: addr}) {
			return
		}
		if !yield(relaymaps.Key{Key: domain, Partial: true}) {
			return
		}
		for d := domain; ; {
			i := strings.IndexByte(d, '.')
			if i < 0 {
				break
			}
			d = d[i+1:]
			if d == "" || !yield(relaymaps.Key{Key: "." + d, Partial: true}) {
				return
			}
		}
		yield(relaymaps.Key{Key: "*", Partial: true})
	}
}
