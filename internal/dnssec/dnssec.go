package dnssec

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// Security is the DNSSEC state of an RRset (RFC 4035 §4.3). Its order is
// from strongest to weakest, so the weakest of two is the larger.
type Security int

const (
	Secure        Security = iota // validated: AD=1 from a trusted resolver
	Insecure                      // not signed, AD=0, or the resolver is not trusted
	Bogus                         // validation failed (SERVFAIL, EDE)
	Indeterminate                 // no answer: timeout, network error, other failure
)

func (s Security) String() string {
	switch s {
	case Secure:
		return "secure"
	case Insecure:
		return "insecure"
	case Bogus:
		return "bogus"
	case Indeterminate:
		return "indeterminate"
	}
	return "Security(" + strconv.Itoa(int(s)) + ")"
}

// Weakest returns the weaker of s and t.
func (s Security) Weakest(t Security) Security { return max(s, t) }

// EDE is an RFC 8914 Extended DNS Error.
type EDE struct {
	Code uint16
	Text string
}

func (e EDE) String() string {
	name := dns.ExtendedErrorCodeToString[e.Code]
	if name == "" {
		name = "Unknown"
	}
	s := "EDE " + strconv.Itoa(int(e.Code)) + " (" + name + ")"
	if e.Text != "" {
		s += ": " + e.Text
	}
	return s
}

// Error is a lookup that did not produce an answer: Security is Bogus or
// Indeterminate.
type Error struct {
	Name, Type string // query name (FQDN) and type ("TLSA")
	Security   Security
	Rcode      string // "SERVFAIL", "REFUSED", ...; empty for a network error
	EDE        []EDE
	Err        error // the network error, if any
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("dnssec: " + e.Name + " " + e.Type + ": " + e.Security.String())
	if e.Rcode != "" {
		b.WriteString(" (" + e.Rcode + ")")
	}
	for _, x := range e.EDE {
		b.WriteString(", " + x.String())
	}
	if e.Err != nil {
		b.WriteString(": " + e.Err.Error())
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Resolver queries one validating recursive resolver. The zero value is
// not usable: Server must be set.
type Resolver struct {
	// Server is the validating resolver, "ADDR" or "ADDR:PORT" (port 53 by
	// default); ADDR is an IP address.
	Server string
	// TrustAD trusts the AD bit from Server even when it is not a loopback
	// address. Set it only when the path to Server is secure.
	TrustAD bool
	// Timeout bounds each query (UDP and its TCP retry each); 0 means 5s.
	Timeout time.Duration
	// Logger receives a warning when AD is ignored; nil means slog.Default().
	Logger *slog.Logger

	warnOnce sync.Once
}

func (r *Resolver) addr() (string, bool, error) {
	s := r.Server
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		host, port = strings.Trim(s, "[]"), "53"
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return "", false, fmt.Errorf("dnssec: resolver %q: not an IP address", s)
	}
	return net.JoinHostPort(ip.String(), port), ip.Unmap().IsLoopback(), nil
}

func (r *Resolver) logger() *slog.Logger {
	if r.Logger != nil {
		return r.Logger
	}
	return slog.Default()
}

// Answer is one RRset answer after following CNAMEs.
type Answer struct {
	Name     string   // query name, FQDN, lower case
	CNAMEs   []string // the CNAME targets in order; the last is the expanded name
	Security Security // weakest security of the chain
	NXDomain bool     // the (expanded) name does not exist
	RRs      []dns.RR // records of the query type at the expanded name
}

// Expanded returns the fully CNAME-expanded name (Name when there is no
// CNAME).
func (a Answer) Expanded() string {
	if len(a.CNAMEs) > 0 {
		return a.CNAMEs[len(a.CNAMEs)-1]
	}
	return a.Name
}

// Query asks for name/qtype, follows CNAMEs, and classifies the answer.
// Bogus and Indeterminate answers return *Error.
func (r *Resolver) Query(ctx context.Context, name string, qtype uint16) (Answer, error) {
	name = strings.ToLower(dns.Fqdn(name))
	ans := Answer{Name: name}
	cur := name
	sec := Secure
	for hop := 0; hop < 8; hop++ {
		m, err := r.exchange(ctx, cur, qtype)
		if err != nil {
			ans.Security = Indeterminate
			return ans, err
		}
		s := r.classify(m)
		if s != Secure && s != Insecure {
			ans.Security = s
			return ans, r.failure(cur, qtype, s, m)
		}
		sec = sec.Weakest(s)
		// Walk the chain in the answer.
		owner := cur
		var rrs []dns.RR
		for {
			var next string
			for _, rr := range m.Answer {
				h := rr.Header()
				if !strings.EqualFold(h.Name, owner) {
					continue
				}
				if h.Rrtype == qtype {
					rrs = append(rrs, rr)
				} else if c, ok := rr.(*dns.CNAME); ok && qtype != dns.TypeCNAME && next == "" {
					next = strings.ToLower(c.Target)
				}
			}
			if len(rrs) > 0 || next == "" {
				break
			}
			if slices.Contains(ans.CNAMEs, next) || next == name || len(ans.CNAMEs) > 16 {
				ans.Security = Indeterminate
				return ans, &Error{Name: name, Type: dns.TypeToString[qtype], Security: Indeterminate, Err: errors.New("CNAME loop")}
			}
			ans.CNAMEs = append(ans.CNAMEs, next)
			owner = next
		}
		ans.Security = sec
		if len(rrs) > 0 || m.Rcode == dns.RcodeNameError {
			ans.RRs = rrs
			ans.NXDomain = m.Rcode == dns.RcodeNameError
			return ans, nil
		}
		if owner == cur || hasSOA(m) {
			return ans, nil // NODATA at the end of the chain
		}
		cur = owner // the resolver stopped at a CNAME: ask for its target
	}
	ans.Security = Indeterminate
	return ans, &Error{Name: name, Type: dns.TypeToString[qtype], Security: Indeterminate, Err: errors.New("CNAME chain too long")}
}

func hasSOA(m *dns.Msg) bool {
	for _, rr := range m.Ns {
		if rr.Header().Rrtype == dns.TypeSOA {
			return true
		}
	}
	return false
}

func (r *Resolver) exchange(ctx context.Context, name string, qtype uint16) (*dns.Msg, error) {
	addr, loopback, err := r.addr()
	if err != nil {
		return nil, err
	}
	if !loopback && !r.TrustAD {
		r.warnOnce.Do(func() {
			r.logger().Warn("dnssec: resolver is not loopback and not marked trusted; ignoring its AD bit, so every answer is insecure and DANE is disabled",
				"resolver", addr)
		})
	}
	q := new(dns.Msg)
	q.SetQuestion(name, qtype)
	q.SetEdns0(4096, true)
	q.AuthenticatedData = true
	q.CheckingDisabled = false
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	c := &dns.Client{Net: "udp", UDPSize: 4096, Timeout: timeout}
	m, _, err := c.ExchangeContext(ctx, q, addr)
	if err == nil && m.Truncated {
		c.Net = "tcp"
		m, _, err = c.ExchangeContext(ctx, q, addr)
	}
	if err != nil {
		return nil, &Error{Name: name, Type: dns.TypeToString[qtype], Security: Indeterminate, Err: err}
	}
	if m.Id != q.Id {
		return nil, &Error{Name: name, Type: dns.TypeToString[qtype], Security: Indeterminate, Err: errors.New("reply ID mismatch")}
	}
	return m, nil
}

func (r *Resolver) trusted() bool {
	_, loopback, err := r.addr()
	return err == nil && (loopback || r.TrustAD)
}

func (r *Resolver) classify(m *dns.Msg) Security {
	switch m.Rcode {
	case dns.RcodeSuccess, dns.RcodeNameError:
		if m.AuthenticatedData && r.trusted() {
			return Secure
		}
		return Insecure
	case dns.RcodeServerFailure:
		for _, e := range edes(m) {
			switch e.Code {
			case dns.ExtendedErrorCodeDNSSECIndeterminate, dns.ExtendedErrorCodeNoReachableAuthority,
				dns.ExtendedErrorCodeNetworkError, dns.ExtendedErrorCodeNotReady:
				return Indeterminate
			}
		}
		return Bogus
	}
	return Indeterminate
}

func edes(m *dns.Msg) []EDE {
	var out []EDE
	if o := m.IsEdns0(); o != nil {
		for _, opt := range o.Option {
			if e, ok := opt.(*dns.EDNS0_EDE); ok {
				out = append(out, EDE{Code: e.InfoCode, Text: e.ExtraText})
			}
		}
	}
	return out
}

func (r *Resolver) failure(name string, qtype uint16, s Security, m *dns.Msg) error {
	return &Error{Name: name, Type: dns.TypeToString[qtype], Security: s, Rcode: dns.RcodeToString[m.Rcode], EDE: edes(m)}
}

// MX is one MX record.
type MX struct {
	Pref uint16
	Host string // FQDN without the trailing dot, lower case
}

// MXResult is the MX RRset of a domain.
type MXResult struct {
	Domain   string   // the queried domain, without trailing dot
	CNAMEs   []string // CNAME expansion, without trailing dots
	Security Security // weakest of the chain
	NXDomain bool
	Hosts    []MX // sorted by preference (stable)
}

// LookupMX returns domain's MX hosts in preference order.
func (r *Resolver) LookupMX(ctx context.Context, domain string) (MXResult, error) {
	a, err := r.Query(ctx, domain, dns.TypeMX)
	res := MXResult{Domain: trim(a.Name), CNAMEs: trimAll(a.CNAMEs), Security: a.Security, NXDomain: a.NXDomain}
	if err != nil {
		return res, err
	}
	for _, rr := range a.RRs {
		mx := rr.(*dns.MX)
		res.Hosts = append(res.Hosts, MX{Pref: mx.Preference, Host: trim(strings.ToLower(mx.Mx))})
	}
	slices.SortStableFunc(res.Hosts, func(x, y MX) int { return int(x.Pref) - int(y.Pref) })
	return res, nil
}

// AddrResult is the A and AAAA RRsets of a host.
type AddrResult struct {
	Host     string
	CNAMEs   []string // expansion of the A lookup (or AAAA when A has none)
	Security Security // weakest of both lookups and their chains
	Addrs    []netip.Addr
}

// Expanded returns the CNAME-expanded host name.
func (a AddrResult) Expanded() string {
	if len(a.CNAMEs) > 0 {
		return a.CNAMEs[len(a.CNAMEs)-1]
	}
	return a.Host
}

// LookupAddrs returns host's IPv4 and IPv6 addresses. A failure of either
// query is an error.
func (r *Resolver) LookupAddrs(ctx context.Context, host string) (AddrResult, error) {
	res := AddrResult{Host: trim(strings.ToLower(host))}
	a4, err := r.Query(ctx, host, dns.TypeA)
	if err != nil {
		res.Security = a4.Security
		return res, err
	}
	a6, err := r.Query(ctx, host, dns.TypeAAAA)
	if err != nil {
		res.Security = a6.Security
		return res, err
	}
	res.Security = a4.Security.Weakest(a6.Security)
	res.CNAMEs = trimAll(a4.CNAMEs)
	if len(res.CNAMEs) == 0 {
		res.CNAMEs = trimAll(a6.CNAMEs)
	}
	for _, rr := range append(a4.RRs, a6.RRs...) {
		var ip net.IP
		switch v := rr.(type) {
		case *dns.A:
			ip = v.A
		case *dns.AAAA:
			ip = v.AAAA
		}
		if addr, ok := netip.AddrFromSlice(ip); ok {
			res.Addrs = append(res.Addrs, addr.Unmap())
		}
	}
	return res, nil
}

// TLSA is one TLSA record (RFC 6698 §2.1).
type TLSA struct {
	Usage, Selector, MatchingType uint8
	Data                          []byte
}

// TLSAResult is the TLSA RRset at _PORT._PROTO.HOST.
type TLSAResult struct {
	Name     string   // _25._tcp.host, without trailing dot
	CNAMEs   []string // CNAME expansion of the TLSA name
	Security Security
	NXDomain bool
	Records  []TLSA
}

// LookupTLSA returns the TLSA records at _port._proto.host.
func (r *Resolver) LookupTLSA(ctx context.Context, port int, proto, host string) (TLSAResult, error) {
	name := "_" + strconv.Itoa(port) + "._" + strings.ToLower(proto) + "." + trim(strings.ToLower(host))
	a, err := r.Query(ctx, name, dns.TypeTLSA)
	res := TLSAResult{Name: name, CNAMEs: trimAll(a.CNAMEs), Security: a.Security, NXDomain: a.NXDomain}
	if err != nil {
		return res, err
	}
	for _, rr := range a.RRs {
		t := rr.(*dns.TLSA)
		data, err := hex.DecodeString(t.Certificate)
		if err != nil {
			data = nil // malformed: kept, unusable
		}
		res.Records = append(res.Records, TLSA{Usage: t.Usage, Selector: t.Selector, MatchingType: t.MatchingType, Data: data})
	}
	return res, nil
}

func trim(s string) string { return strings.TrimSuffix(s, ".") }

func trimAll(ss []string) []string {
	if len(ss) == 0 {
		return nil
	}
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = trim(s)
	}
	return out
}
