package deliver

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/mxkit/mxkit/dnsres"
)

// Host is one server to try for a route: where to connect and how to name
// it in results and logs.
type Host struct {
	// Name is the host name or IP address (without brackets or "ipv6:"),
	// or the socket path of a UNIX-domain destination. It is the TLS
	// server name (SNI) when it is not an address.
	Name string
	// Network is "tcp" or "unix".
	Network string
	// Addr is what Dial gets: "host:port", "[2001:db8::1]:25" or a path.
	Addr string

	// The fields below are set by MXResolver, for the TLS policy
	// (DANE needs the DNSSEC state of the MX and address lookups) and
	// the logs.

	// IP is the address Addr names, when it was looked up.
	IP netip.Addr
	// Nexthop is the next-hop destination the host serves, as the route
	// (or smtp_fallback_relay) wrote it: "example.com", "example.com:2525",
	// "[relay.example]:587". It is the TLS policy table's key.
	Nexthop string
	// MXPref is the MX preference (0 for an implicit MX or a bracketed
	// next hop).
	MXPref uint16
	// MXSecurity is the DNSSEC state of the MX RRset (Secure for a
	// bracketed next hop, which Postfix counts as statically secure);
	// AddrSecurity that of the address's RRset.
	MXSecurity, AddrSecurity dnsres.Security
	// Bracketed says the next hop was [host]: no MX lookup.
	Bracketed bool
}

// String returns the host as our own reasons name it:
// "[mail.example.com]:25", "[2001:db8::1]:25", or the socket path.
func (h Host) String() string {
	if h.Network == "unix" {
		return h.Addr
	}
	if h.IP.IsValid() && h.Name != h.IP.String() {
		_, port, _ := net.SplitHostPort(h.Addr)
		return h.Name + "[" + h.IP.String() + "]:" + port // Postfix's "mx.example.com[192.0.2.1]:25"
	}
	host, port, err := net.SplitHostPort(h.Addr)
	if err != nil {
		return h.Addr
	}
	return "[" + host + "]:" + port
}

// Remote returns the host for Result.Remote: the name, "[address]" for
// an IP address, or the socket path.
func (h Host) Remote() string {
	if h.Network == "unix" {
		return h.Name
	}
	if _, err := netip.ParseAddr(h.Name); err == nil {
		return "[" + h.Name + "]"
	}
	return h.Name
}

// isIP reports whether Name is an IP address.
func (h Host) isIP() bool {
	_, err := netip.ParseAddr(h.Name)
	return err == nil
}

// errMX is returned by ParseNexthop for a destination that needs an MX
// lookup.
var errMX = errors.New("MX lookup needed")

// ParseNexthop parses the nexthop of an smtp or lmtp route into the hosts
// to try, in order (Postfix 3.5 and later accept a comma-separated list):
//
//	smtp:  [host]:port  [host] (port 25)  [ipv6:2001:db8::1]:port
//	lmtp:  [host]:port  host:port  host (port 24)  inet:host:port  unix:/path
//
// An smtp destination without brackets means an MX lookup, which this
// package does not do: the error then says so. Errors name the nexthop.
func ParseNexthop(nexthop string, lmtp bool) ([]Host, error) {
	if strings.TrimSpace(nexthop) == "" {
		if lmtp {
			return nil, errors.New("empty lmtp nexthop")
		}
		return nil, fmt.Errorf("empty nexthop: %w", errMX)
	}
	var hosts []Host
	for part := range strings.SplitSeq(nexthop, ",") {
		part = strings.TrimSpace(part)
		h, err := parseDest(part, lmtp)
		if err != nil {
			if errors.Is(err, errMX) {
				return nil, fmt.Errorf("nexthop %q: %w", part, err)
			}
			return nil, fmt.Errorf("bad nexthop %q: %w", nexthop, err)
		}
		hosts = append(hosts, h)
	}
	return hosts, nil
}

func parseDest(s string, lmtp bool) (Host, error) {
	if s == "" {
		return Host{}, errors.New("empty destination")
	}
	if hasPrefixFold(s, "unix:") {
		if !lmtp {
			return Host{}, errors.New("unix: destinations are for lmtp")
		}
		path := s[len("unix:"):]
		if path == "" || strings.ContainsAny(path, "\x00\r\n") {
			return Host{}, errors.New("bad socket path")
		}
		return Host{Name: path, Network: "unix", Addr: path}, nil
	}
	if hasPrefixFold(s, "inet:") {
		if !lmtp {
			return Host{}, errors.New("inet: destinations are for lmtp")
		}
		s = s[len("inet:"):]
		if s == "" {
			return Host{}, errors.New(`empty host after "inet:"`)
		}
	}
	port := "25"
	if lmtp {
		port = "24"
	}
	var host, rest string
	bracketed := s[0] == '['
	if bracketed {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return Host{}, errors.New(`missing closing bracket`)
		}
		host, rest = s[1:end], s[end+1:]
		if rest != "" && rest[0] != ':' {
			return Host{}, errors.New(`text after "]"`)
		}
		if hasPrefixFold(host, "ipv6:") {
			host = host[len("ipv6:"):]
			if a, err := netip.ParseAddr(host); err != nil || !a.Is6() {
				return Host{}, fmt.Errorf("bad IPv6 address %q", host)
			}
		}
	} else {
		i := strings.LastIndexByte(s, ':')
		if i >= 0 && strings.IndexByte(s[:i], ':') >= 0 {
			return Host{}, errors.New("an IPv6 address must be in brackets")
		}
		host = s
		if i >= 0 {
			host, rest = s[:i], s[i:]
		}
	}
	if rest != "" {
		port = rest[1:]
		if err := checkPort(port); err != nil {
			return Host{}, err
		}
	}
	if host == "" {
		return Host{}, errors.New("empty host")
	}
	for i := 0; i < len(host); i++ {
		if c := host[i]; c <= ' ' || c == 0x7f || c == '[' || c == ']' || c == '/' || c == '@' {
			return Host{}, fmt.Errorf("bad host %q", host)
		}
	}
	if a, err := netip.ParseAddr(host); err == nil && a.Zone() != "" {
		return Host{}, fmt.Errorf("bad host %q", host)
	} else if err != nil && strings.IndexByte(host, ':') >= 0 {
		return Host{}, fmt.Errorf("bad host %q", host)
	}
	if !bracketed && !lmtp {
		return Host{}, errMX
	}
	return Host{Name: host, Network: "tcp", Addr: net.JoinHostPort(host, port)}, nil
}

// checkPort accepts a port number from 1 to 65535 or a service name.
func checkPort(p string) error {
	if p == "" {
		return errors.New("empty port")
	}
	if p[0] >= '0' && p[0] <= '9' {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("bad port %q", p)
		}
		return nil
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return fmt.Errorf("bad port %q", p)
		}
	}
	return nil
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}
