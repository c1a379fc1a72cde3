// Package testdns is an in-process authoritative DNS server for tests. It
// listens on 127.0.0.1 (UDP and TCP on the same port) and answers from a
// Zone given as data: records in presentation format, plus names that
// answer NXDOMAIN, SERVFAIL, never answer (a timeout), or only answer over
// TCP (truncated over UDP).
//
// A name with no records of any type answers NXDOMAIN; a name with records
// of other types answers NODATA (NOERROR, empty answer). Negative answers
// carry an SOA record whose TTL and MINIMUM are Zone.NegativeTTL (RFC 2308).
// CNAME records are followed inside the zone.
//
// Zone.Secure, Zone.Insecure and Zone.Bogus make the server act as a
// trusted validating resolver: AD=1 on answers from secure subtrees,
// SERVFAIL with an Extended DNS Error for bogus ones, AD=0 elsewhere.
package testdns

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// Zone is the data a Server answers from.
type Zone struct {
	// Records in presentation format, one record a string:
	// "example.com. 300 IN MX 10 mx.example.com.". The owner name must be
	// absolute (a trailing dot) or it is taken as absolute.
	Records []string
	// NXDomain, ServFail and Drop list names ("example.com") or a name and
	// a type ("example.com/MX") that answer NXDOMAIN, SERVFAIL, or nothing
	// at all. Matching is case-insensitive.
	NXDomain, ServFail, Drop []string
	// TCPOnly lists names (or name/TYPE) whose UDP answers come back
	// truncated and empty, so that a client must retry over TCP.
	TCPOnly []string
	// NegativeTTL is the TTL and MINIMUM of the SOA record in negative
	// answers; 0 means 300. A negative value leaves the SOA out.
	NegativeTTL int

	// Secure, Insecure and Bogus simulate a validating resolver. Each entry
	// is a subtree ("example.com" covers example.com and every name below
	// it) or one name and type ("mx.example.com/A"); the most specific
	// entry wins (longest name; name/TYPE over a subtree of the same name).
	// Names under no entry are insecure. An answer gets AD=1 when the query
	// asked for DNSSEC (DO or AD set) and every name it touches, the query
	// name and each CNAME target, is Secure. A Bogus name answers SERVFAIL
	// with Extended DNS Error BogusEDE (RFC 8914).
	Secure, Insecure, Bogus []string
	// BogusEDE is the INFO-CODE for Bogus answers; 0 means 6 (DNSSEC
	// Bogus). A negative value sends SERVFAIL without EDE.
	BogusEDE int
}

// Server is a running test DNS server.
type Server struct {
	// Addr is "127.0.0.1:port", the same port for UDP and TCP.
	Addr string

	udp, tcp *dns.Server

	mu      sync.Mutex
	zone    compiled
	queries map[string]int // "name/TYPE" → count
	total   int
	hold    chan struct{}
}

type compiled struct {
	rrs                               map[string][]dns.RR // lower-case FQDN → records
	nxdomain, servfail, drop, tcpOnly map[string]bool
	negTTL                            int
	sec                               map[string]security // lower-case FQDN[/TYPE] → state
	bogusEDE                          int
}

type security int

const (
	secInsecure security = iota
	secSecure
	secBogus
)

func compile(z Zone) (compiled, error) {
	c := compiled{rrs: map[string][]dns.RR{}, nxdomain: set(z.NXDomain), servfail: set(z.ServFail),
		drop: set(z.Drop), tcpOnly: set(z.TCPOnly), negTTL: z.NegativeTTL, sec: map[string]security{},
		bogusEDE: z.BogusEDE}
	if c.negTTL == 0 {
		c.negTTL = 300
	}
	if c.bogusEDE == 0 {
		c.bogusEDE = int(dns.ExtendedErrorCodeDNSBogus)
	}
	for st, names := range [][]string{secInsecure: z.Insecure, secSecure: z.Secure, secBogus: z.Bogus} {
		for k := range set(names) {
			c.sec[k] = security(st)
		}
	}
	for _, s := range z.Records {
		rr, err := dns.NewRR(s)
		if err != nil {
			return c, fmt.Errorf("testdns: record %q: %w", s, err)
		}
		if rr == nil {
			continue
		}
		name := strings.ToLower(dns.Fqdn(rr.Header().Name))
		rr.Header().Name = name
		c.rrs[name] = append(c.rrs[name], rr)
	}
	return c, nil
}

func set(names []string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		name, typ, _ := strings.Cut(n, "/")
		k := strings.ToLower(dns.Fqdn(name))
		if typ != "" {
			k += "/" + strings.ToUpper(typ)
		}
		m[k] = true
	}
	return m
}

// Start starts a server for zone and stops it when the test ends. A zone
// that does not parse fails the test.
func Start(t testing.TB, zone Zone) *Server {
	t.Helper()
	s, err := New(zone)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// New starts a server for zone. Close stops it.
func New(zone Zone) (*Server, error) {
	c, err := compile(zone)
	if err != nil {
		return nil, err
	}
	s := &Server{zone: c, queries: map[string]int{}}
	// Find a port free for both UDP and TCP.
	var pc net.PacketConn
	var l net.Listener
	for try := 0; ; try++ {
		pc, err = net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		l, err = net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			break
		}
		pc.Close()
		if try == 20 {
			return nil, err
		}
	}
	s.Addr = pc.LocalAddr().String()
	udpStarted, tcpStarted := make(chan struct{}), make(chan struct{})
	h := dns.HandlerFunc(s.serve)
	s.udp = &dns.Server{PacketConn: pc, Handler: h, NotifyStartedFunc: func() { close(udpStarted) }}
	s.tcp = &dns.Server{Listener: l, Net: "tcp", Handler: h, NotifyStartedFunc: func() { close(tcpStarted) }}
	go func() { _ = s.udp.ActivateAndServe() }()
	go func() { _ = s.tcp.ActivateAndServe() }()
	<-udpStarted
	<-tcpStarted
	return s, nil
}

// Close stops the server.
func (s *Server) Close() {
	s.Release()
	_ = s.udp.Shutdown()
	_ = s.tcp.Shutdown()
}

// SetZone replaces the zone data.
func (s *Server) SetZone(zone Zone) error {
	c, err := compile(zone)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.zone = c
	s.mu.Unlock()
	return nil
}

// Hold makes the server wait before answering until Release is called.
// Queries are still counted when they arrive.
func (s *Server) Hold() {
	s.mu.Lock()
	if s.hold == nil {
		s.hold = make(chan struct{})
	}
	s.mu.Unlock()
}

// Release lets held queries be answered.
func (s *Server) Release() {
	s.mu.Lock()
	if s.hold != nil {
		close(s.hold)
		s.hold = nil
	}
	s.mu.Unlock()
}

// Queries returns how many queries for name and type ("example.com", "MX")
// arrived, over UDP and TCP.
func (s *Server) Queries(name, qtype string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queries[strings.ToLower(dns.Fqdn(name))+"/"+strings.ToUpper(qtype)]
}

// Total returns how many queries arrived.
func (s *Server) Total() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.total
}

func (s *Server) serve(w dns.ResponseWriter, r *dns.Msg) {
	if len(r.Question) != 1 {
		m := new(dns.Msg)
		m.SetRcode(r, dns.RcodeFormatError)
		_ = w.WriteMsg(m)
		return
	}
	q := r.Question[0]
	name := strings.ToLower(q.Name)
	typ := dns.TypeToString[q.Qtype]
	key := name + "/" + typ
	_, udp := w.RemoteAddr().(*net.UDPAddr)

	s.mu.Lock()
	s.queries[key]++
	s.total++
	z := s.zone
	hold := s.hold
	s.mu.Unlock()
	if hold != nil {
		select {
		case <-hold:
		case <-time.After(time.Minute):
		}
	}

	if z.drop[name] || z.drop[key] {
		return
	}
	m := new(dns.Msg)
	m.SetReply(r)
	m.Authoritative = true
	dnssecOK := r.AuthenticatedData
	if o := r.IsEdns0(); o != nil {
		dnssecOK = dnssecOK || o.Do()
		m.SetEdns0(4096, o.Do())
	}
	switch {
	case z.servfail[name] || z.servfail[key]:
		m.Rcode = dns.RcodeServerFailure
	case z.security(name, q.Qtype) == secBogus:
		m.Rcode = dns.RcodeServerFailure
		if z.bogusEDE > 0 {
			if o := m.IsEdns0(); o != nil {
				o.Option = append(o.Option, &dns.EDNS0_EDE{InfoCode: uint16(z.bogusEDE), ExtraText: "testdns: bogus " + name})
			} else {
				m.SetEdns0(4096, false)
				m.IsEdns0().Option = append(m.IsEdns0().Option, &dns.EDNS0_EDE{InfoCode: uint16(z.bogusEDE), ExtraText: "testdns: bogus " + name})
			}
		}
	case z.nxdomain[name] || z.nxdomain[key]:
		m.Rcode = dns.RcodeNameError
		m.Ns = z.soa(name)
	case udp && (z.tcpOnly[name] || z.tcpOnly[key]):
		m.Truncated = true
	default:
		z.answer(m, name, q.Qtype)
		if m.Rcode != dns.RcodeServerFailure && dnssecOK && z.allSecure(m, name, q.Qtype) {
			m.AuthenticatedData = true
		}
	}
	_ = w.WriteMsg(m)
}

// security returns the simulated DNSSEC state of name/qtype: the most
// specific Secure, Insecure or Bogus entry, insecure when none matches.
func (z compiled) security(name string, qtype uint16) security {
	if len(z.sec) == 0 {
		return secInsecure
	}
	if st, ok := z.sec[name+"/"+dns.TypeToString[qtype]]; ok {
		return st
	}
	for n := name; ; {
		if st, ok := z.sec[n]; ok {
			return st
		}
		i := strings.IndexByte(n, '.')
		if i < 0 || i == len(n)-1 {
			if st, ok := z.sec["."]; ok {
				return st
			}
			return secInsecure
		}
		n = n[i+1:]
	}
}

// allSecure reports whether the answer to name/qtype in m touches only
// secure names: the query name and every CNAME target.
func (z compiled) allSecure(m *dns.Msg, name string, qtype uint16) bool {
	if z.security(name, qtype) != secSecure {
		return false
	}
	for _, rr := range m.Answer {
		if c, ok := rr.(*dns.CNAME); ok && z.security(strings.ToLower(c.Target), qtype) != secSecure {
			return false
		}
	}
	return true
}

func (z compiled) answer(m *dns.Msg, name string, qtype uint16) {
	for hops := 0; hops < 8; hops++ {
		rrs, ok := z.rrs[name]
		if !ok {
			if hops == 0 {
				m.Rcode = dns.RcodeNameError
			}
			m.Ns = z.soa(name)
			return
		}
		var cname *dns.CNAME
		found := false
		for _, rr := range rrs {
			if rr.Header().Rrtype == qtype {
				m.Answer = append(m.Answer, dns.Copy(rr))
				found = true
			} else if c, ok := rr.(*dns.CNAME); ok {
				cname = c
			}
		}
		if found || cname == nil || qtype == dns.TypeCNAME {
			if !found {
				m.Ns = z.soa(name)
			}
			return
		}
		m.Answer = append(m.Answer, dns.Copy(cname))
		name = strings.ToLower(cname.Target)
	}
}

func (z compiled) soa(name string) []dns.RR {
	if z.negTTL < 0 {
		return nil
	}
	labels := dns.SplitDomainName(name)
	zone := "."
	if len(labels) >= 2 {
		zone = dns.Fqdn(strings.Join(labels[len(labels)-2:], "."))
	}
	ttl := uint32(z.negTTL)
	return []dns.RR{&dns.SOA{
		Hdr: dns.RR_Header{Name: zone, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: ttl},
		Ns:  "ns." + zone, Mbox: "hostmaster." + zone, Serial: 1, Refresh: 3600, Retry: 600,
		Expire: 86400, Minttl: ttl,
	}}
}
