package dnsres

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// Options configure New. The zero value uses the servers of
// /etc/resolv.conf, a 5 s timeout and a cache of 10,000 answers.
type Options struct {
	// Servers are the recursive name servers, "ADDR" or "ADDR:PORT" (port
	// 53 by default; ADDR is an IP address), tried in order. Empty means
	// the nameserver lines of ResolvConf.
	Servers []string
	// ResolvConf is the resolv.conf(5) file read when Servers is empty;
	// "" means /etc/resolv.conf. Its "options trust-ad" sets TrustAD, as
	// for glibc.
	ResolvConf string
	// TrustAD trusts the AD bit of every server. Without it only loopback
	// servers are trusted (RFC 4035 §4.9.3: the path to the validator
	// must be secure); from the others every answer is Insecure, and the
	// first DNSSEC-relevant answer logs a warning saying so.
	TrustAD bool
	// Timeout bounds one lookup: every server, the TCP retries and the
	// CNAME hops together. 0 means 5 s. The caller's context applies too.
	Timeout time.Duration
	// CacheSize is the maximum number of cached answers; 0 means 10,000,
	// a negative value turns the cache off.
	CacheSize int
	// MaxTTL caps how long a positive answer is kept; 0 means 1 hour.
	MaxTTL time.Duration
	// MaxNegativeTTL caps how long NXDOMAIN and NODATA are kept; 0 means
	// 15 minutes. They are kept for the SOA's TTL or MINIMUM, whichever
	// is lower (RFC 2308 §5).
	MaxNegativeTTL time.Duration
	// MinNegativeTTL is the floor of negative caching, and the time a
	// negative answer without SOA is kept; 0 means 5 s.
	MinNegativeTTL time.Duration
	// FailureTTL is how long a failure (SERVFAIL, a timeout, a network
	// error) is kept, so that a dead or failing server is not asked again
	// by every caller (RFC 9520 §3.2: at least 1 s, at most 5 min); 0
	// means 5 s, a negative value keeps none.
	FailureTTL time.Duration
	// Logger receives warnings; nil means slog.Default().
	Logger *slog.Logger
}

type server struct {
	addr    string // ip:port
	trusted bool   // its AD bit counts
}

// Resolver is the DNS layer of mxkit: a stub resolver on miekg/dns that
// asks recursive name servers with the DO bit, reads their AD bit, and
// keeps one cache for every kind of question. It is safe for concurrent
// use; create one and share it.
type Resolver struct {
	servers   []server
	timeout   time.Duration
	cacheSize int
	maxTTL    time.Duration
	maxNegTTL time.Duration
	minNegTTL time.Duration
	failTTL   time.Duration
	logger    *slog.Logger
	now       func() time.Time
	warnOnce  sync.Once

	mu       sync.Mutex
	cache    map[key]*entry
	inflight map[key]*flight
}

type key struct {
	name  string // lower case, no trailing dot
	qtype uint16
}

type flight struct {
	done    chan struct{}
	e       *entry
	waiters int // askers beyond the first, for tests
}

// New returns a resolver for opts. It fails when a server address does not
// parse, or when no server is configured and resolv.conf cannot be read or
// names none.
func New(opts Options) (*Resolver, error) {
	r := &Resolver{
		timeout:   opts.Timeout,
		cacheSize: opts.CacheSize,
		maxTTL:    opts.MaxTTL,
		maxNegTTL: opts.MaxNegativeTTL,
		minNegTTL: opts.MinNegativeTTL,
		failTTL:   opts.FailureTTL,
		logger:    opts.Logger,
		now:       time.Now,
		cache:     map[key]*entry{},
		inflight:  map[key]*flight{},
	}
	servers, trust := opts.Servers, opts.TrustAD
	if len(servers) == 0 {
		path := opts.ResolvConf
		if path == "" {
			path = "/etc/resolv.conf"
		}
		var err error
		servers, trust, err = readResolvConf(path)
		if err != nil {
			return nil, fmt.Errorf("dnsres: %w", err)
		}
		trust = trust || opts.TrustAD
	}
	for _, s := range servers {
		addr, loopback, err := parseServer(s)
		if err != nil {
			return nil, fmt.Errorf("dnsres: %w", err)
		}
		r.servers = append(r.servers, server{addr: addr, trusted: loopback || trust})
	}
	if r.timeout <= 0 {
		r.timeout = 5 * time.Second
	}
	if r.cacheSize == 0 {
		r.cacheSize = 10000
	}
	if r.maxTTL <= 0 {
		r.maxTTL = time.Hour
	}
	if r.maxNegTTL <= 0 {
		r.maxNegTTL = 15 * time.Minute
	}
	if r.minNegTTL <= 0 {
		r.minNegTTL = 5 * time.Second
	}
	if r.failTTL == 0 {
		r.failTTL = 5 * time.Second
	}
	if r.logger == nil {
		r.logger = slog.Default()
	}
	return r, nil
}

// parseServer turns "ADDR" or "ADDR:PORT" (or "[v6]:PORT") into ip:port.
func parseServer(s string) (addr string, loopback bool, err error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		host, port = strings.Trim(s, "[]"), "53"
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return "", false, fmt.Errorf("name server %q: not an IP address", s)
	}
	ip = ip.Unmap()
	return net.JoinHostPort(ip.String(), port), ip.IsLoopback(), nil
}

// readResolvConf returns the name servers of a resolv.conf(5) file and
// whether it sets "options trust-ad".
func readResolvConf(path string) (servers []string, trustAD bool, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, false, err
	}
	defer f.Close()
	servers, trustAD = parseResolvConf(bufio.NewScanner(f))
	if len(servers) == 0 {
		return nil, false, fmt.Errorf("%s: no nameserver", path)
	}
	return servers, trustAD, nil
}

func parseResolvConf(sc *bufio.Scanner) (servers []string, trustAD bool) {
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || strings.HasPrefix(f[0], "#") || strings.HasPrefix(f[0], ";") {
			continue
		}
		switch f[0] {
		case "nameserver":
			if len(f) > 1 {
				// A link-local address may carry a zone: "fe80::1%eth0".
				if _, err := netip.ParseAddr(f[1]); err == nil {
					servers = append(servers, f[1])
				}
			}
		case "options":
			for _, o := range f[1:] {
				if o == "trust-ad" {
					trustAD = true
				}
			}
		}
	}
	return servers, trustAD
}

// entry is one cached answer, with the typed forms its users read. The
// slices are shared by every caller.
type entry struct {
	expires time.Time
	ans     Answer
	err     error
	addrs   []netip.Addr // A, AAAA
	mx      []MX         // sorted by preference
	names   []string     // PTR, NS, CNAME targets; TXT strings joined
	tlsa    []TLSA
}

// lookup answers from the cache, joins a query in flight, or asks.
func (r *Resolver) lookup(ctx context.Context, name string, qtype uint16) *entry {
	name = normalize(name)
	k := key{name, qtype}
	if name == "" || len(name) > 253 {
		return &entry{ans: Answer{Name: name, Security: Indeterminate},
			err: &Error{Name: name, Type: typeString(qtype), Kind: ErrNXDomain, Security: Insecure, Rcode: -1}}
	}
	r.mu.Lock()
	if e, ok := r.cache[k]; ok {
		if r.now().Before(e.expires) {
			r.mu.Unlock()
			return e
		}
		delete(r.cache, k)
	}
	if f, ok := r.inflight[k]; ok {
		f.waiters++
		r.mu.Unlock()
		return r.wait(ctx, f, name, qtype)
	}
	f := &flight{done: make(chan struct{})}
	r.inflight[k] = f
	r.mu.Unlock()

	// The query outlives a caller that gives up: others may be waiting.
	go func() {
		qctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.timeout)
		defer cancel()
		e := r.resolve(qctx, name, qtype)
		r.mu.Lock()
		delete(r.inflight, k)
		if r.cacheSize > 0 && e.expires.After(r.now()) {
			r.store(k, e)
		}
		f.e = e
		close(f.done)
		r.mu.Unlock()
	}()
	return r.wait(ctx, f, name, qtype)
}

func (r *Resolver) wait(ctx context.Context, f *flight, name string, qtype uint16) *entry {
	select {
	case <-f.done:
		return f.e
	case <-ctx.Done():
		return &entry{ans: Answer{Name: name, Security: Indeterminate},
			err: &Error{Name: name, Type: typeString(qtype), Kind: ErrTemporary, Security: Indeterminate, Err: ctx.Err(), Rcode: -1}}
	}
}

// cached returns a fresh cached entry, or nil.
func (r *Resolver) cached(name string, qtype uint16) *entry {
	k := key{normalize(name), qtype}
	r.mu.Lock()
	defer r.mu.Unlock()
	if e, ok := r.cache[k]; ok && r.now().Before(e.expires) {
		return e
	}
	return nil
}

// evictSample is how many entries a full cache looks at to make room.
const evictSample = 8

// store adds e, making room first when the cache is full: of a few entries
// taken at random (Go's map iteration order), the expired ones go, or else
// the one closest to expiry. That is O(1) per insertion and approximates
// expiry order, which is what a TTL cache wants. r.mu is held.
func (r *Resolver) store(k key, e *entry) {
	if len(r.cache) >= r.cacheSize {
		now := r.now()
		var victim key
		var soonest time.Time
		n := 0
		removed := false
		for ck, ce := range r.cache {
			if !now.Before(ce.expires) {
				delete(r.cache, ck)
				removed = true
			} else if n == 0 || ce.expires.Before(soonest) {
				victim, soonest = ck, ce.expires
			}
			n++
			if n >= evictSample {
				break
			}
		}
		if !removed && n > 0 {
			delete(r.cache, victim)
		}
	}
	r.cache[k] = e
}

// Flush empties the cache.
func (r *Resolver) Flush() {
	r.mu.Lock()
	clear(r.cache)
	r.mu.Unlock()
}

func normalize(name string) string {
	return strings.ToLower(strings.TrimSuffix(name, "."))
}

func typeString(qtype uint16) string {
	if s, ok := dns.TypeToString[qtype]; ok {
		return s
	}
	return "TYPE" + fmt.Sprint(qtype)
}

// maxCNAMEHops bounds a CNAME chain followed across queries.
const maxCNAMEHops = 8

// resolve asks for name/qtype, follows CNAMEs (also across queries), and
// builds the entry with its expiry.
func (r *Resolver) resolve(ctx context.Context, name string, qtype uint16) *entry {
	ans := Answer{Name: name, Security: Secure}
	cur := dns.Fqdn(name)
	ttl := uint32(1<<31 - 1)
	for hop := 0; hop <= maxCNAMEHops; hop++ {
		m, srv, err := r.exchange(ctx, cur, qtype)
		if err != nil {
			return r.failure(name, qtype, ans, err)
		}
		sec := Insecure
		if m.AuthenticatedData && srv.trusted {
			sec = Secure
		} else if m.AuthenticatedData {
			r.warnUntrusted(srv.addr)
		}
		ans.Security = ans.Security.Weakest(sec)
		// Walk the chain in this answer.
		owner := cur
		var rrs []dns.RR
		for {
			var next string
			for _, rr := range m.Answer {
				h := rr.Header()
				if !strings.EqualFold(h.Name, owner) {
					continue
				}
				switch {
				case h.Rrtype == qtype:
					rrs = append(rrs, rr)
					ttl = min(ttl, h.Ttl)
				case h.Rrtype == dns.TypeCNAME && qtype != dns.TypeCNAME && next == "":
					next = strings.ToLower(rr.(*dns.CNAME).Target)
					ttl = min(ttl, h.Ttl)
				}
			}
			if len(rrs) > 0 || next == "" {
				break
			}
			if normalize(next) == name || containsName(ans.CNAMEs, normalize(next)) || len(ans.CNAMEs) >= 16 {
				return r.failure(name, qtype, ans, &Error{Name: name, Type: typeString(qtype), Kind: ErrMalformed,
					Security: ans.Security, Rcode: -1, Err: errors.New("CNAME loop")})
			}
			ans.CNAMEs = append(ans.CNAMEs, normalize(next))
			owner = next
		}
		if len(rrs) > 0 {
			ans.RRs = rrs
			return r.positive(name, qtype, ans, ttl)
		}
		if m.Rcode == dns.RcodeNameError || owner == cur || hasSOA(m) {
			return r.negative(name, qtype, ans, m)
		}
		cur = owner // the server stopped at a CNAME: ask for its target
	}
	return r.failure(name, qtype, ans, &Error{Name: name, Type: typeString(qtype), Kind: ErrMalformed,
		Security: ans.Security, Rcode: -1, Err: errors.New("CNAME chain too long")})
}

func containsName(names []string, n string) bool {
	for _, x := range names {
		if x == n {
			return true
		}
	}
	return false
}

func hasSOA(m *dns.Msg) bool {
	for _, rr := range m.Ns {
		if rr.Header().Rrtype == dns.TypeSOA {
			return true
		}
	}
	return false
}

func (r *Resolver) warnUntrusted(addr string) {
	r.warnOnce.Do(func() {
		r.logger.Warn("dnsres: name server is not loopback and not trusted; ignoring its AD bit, so every answer is insecure and DANE is disabled",
			"server", addr)
	})
}

// exchange asks the servers in turn. A server that times out, fails, or
// answers SERVFAIL or REFUSED passes the question to the next; the last
// answer or error is returned. The error is an *Error.
func (r *Resolver) exchange(ctx context.Context, fqdn string, qtype uint16) (*dns.Msg, server, error) {
	q := new(dns.Msg)
	q.SetQuestion(fqdn, qtype)
	q.SetEdns0(1232, true) // DO; 1232: the DNS flag day 2020 size
	q.AuthenticatedData = true
	name := normalize(fqdn)
	var last error
	for i, srv := range r.servers {
		sctx := ctx
		if dl, ok := ctx.Deadline(); ok {
			// Share the time left among the servers left.
			left := time.Until(dl) / time.Duration(len(r.servers)-i)
			var cancel context.CancelFunc
			sctx, cancel = context.WithTimeout(ctx, left)
			defer cancel()
		}
		m, err := exchangeOne(sctx, q, srv.addr)
		if err != nil {
			last = &Error{Name: name, Type: typeString(qtype), Kind: ErrTemporary, Security: Indeterminate, Rcode: -1, Err: err}
			continue
		}
		switch m.Rcode {
		case dns.RcodeSuccess, dns.RcodeNameError:
			return m, srv, nil
		case dns.RcodeServerFailure:
			sec, kind := servfailState(m, srv.trusted)
			last = &Error{Name: name, Type: typeString(qtype), Kind: kind, Security: sec, Rcode: m.Rcode, EDE: edes(m)}
		default:
			last = &Error{Name: name, Type: typeString(qtype), Kind: ErrTemporary, Security: Indeterminate, Rcode: m.Rcode, EDE: edes(m)}
		}
	}
	if last == nil {
		last = &Error{Name: name, Type: typeString(qtype), Kind: ErrTemporary, Security: Indeterminate, Rcode: -1, Err: errors.New("no name server")}
	}
	return nil, server{}, last
}

func exchangeOne(ctx context.Context, q *dns.Msg, addr string) (*dns.Msg, error) {
	c := &dns.Client{Net: "udp", UDPSize: 1232}
	m, _, err := c.ExchangeContext(ctx, q, addr)
	if err == nil && m.Truncated {
		c.Net = "tcp"
		m, _, err = c.ExchangeContext(ctx, q, addr)
	}
	if err != nil {
		return nil, err
	}
	if m.Id != q.Id {
		return nil, errors.New("reply ID mismatch")
	}
	return m, nil
}

// servfailState tells a DNSSEC validation failure from another SERVFAIL.
// An Extended DNS Error of the DNSSEC family says bogus (ErrBogus); one of
// the "could not ask" family says indeterminate. Without EDE, a SERVFAIL
// from a trusted (validating) resolver is Bogus, as Postfix and Unbound's
// users read it, but its Kind stays ErrTemporary: nothing proves that
// validation was the cause.
func servfailState(m *dns.Msg, trusted bool) (Security, error) {
	for _, e := range edes(m) {
		switch e.Code {
		case dns.ExtendedErrorCodeUnsupportedDNSKEYAlgorithm, dns.ExtendedErrorCodeUnsupportedDSDigestType,
			dns.ExtendedErrorCodeDNSBogus, dns.ExtendedErrorCodeSignatureExpired,
			dns.ExtendedErrorCodeSignatureNotYetValid, dns.ExtendedErrorCodeDNSKEYMissing,
			dns.ExtendedErrorCodeRRSIGsMissing, dns.ExtendedErrorCodeNoZoneKeyBitSet,
			dns.ExtendedErrorCodeNSECMissing:
			return Bogus, ErrBogus
		case dns.ExtendedErrorCodeDNSSECIndeterminate, dns.ExtendedErrorCodeNoReachableAuthority,
			dns.ExtendedErrorCodeNetworkError, dns.ExtendedErrorCodeNotReady:
			return Indeterminate, ErrTemporary
		}
	}
	if trusted {
		return Bogus, ErrTemporary
	}
	return Indeterminate, ErrTemporary
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

// failure is an entry for a failed lookup, kept for the failure TTL.
func (r *Resolver) failure(name string, qtype uint16, ans Answer, err error) *entry {
	var de *Error
	if errors.As(err, &de) {
		if de.Name != name {
			c := *de // a hop of the chain failed: report the name asked
			c.Name = name
			de = &c
		}
		if de.Kind == ErrMalformed {
			ans.Security = ans.Security.Weakest(de.Security)
		} else {
			ans.Security = de.Security
		}
		err = de
	}
	e := &entry{ans: ans, err: err}
	if r.failTTL > 0 {
		e.expires = r.now().Add(r.failTTL)
	}
	return e
}

// negative is an entry for NXDOMAIN or NODATA (at the end of the chain),
// kept per RFC 2308 §5.
func (r *Resolver) negative(name string, qtype uint16, ans Answer, m *dns.Msg) *entry {
	kind := ErrNoData
	if m.Rcode == dns.RcodeNameError {
		kind = ErrNXDomain
	}
	e := &entry{ans: ans, err: &Error{Name: name, Type: typeString(qtype), Kind: kind, Security: ans.Security, Rcode: m.Rcode, EDE: edes(m)}}
	d := r.minNegTTL
	for _, rr := range m.Ns {
		if soa, ok := rr.(*dns.SOA); ok {
			d = time.Duration(min(soa.Hdr.Ttl, soa.Minttl)) * time.Second
			d = max(min(d, r.maxNegTTL), r.minNegTTL)
			break
		}
	}
	e.expires = r.now().Add(d)
	return e
}

// positive is an entry for records found, kept for their lowest TTL.
func (r *Resolver) positive(name string, qtype uint16, ans Answer, ttl uint32) *entry {
	e := &entry{ans: ans}
	for _, rr := range ans.RRs {
		switch v := rr.(type) {
		case *dns.A:
			if a, ok := netip.AddrFromSlice(v.A.To4()); ok {
				e.addrs = append(e.addrs, a)
			}
		case *dns.AAAA:
			if a, ok := netip.AddrFromSlice(v.AAAA.To16()); ok {
				e.addrs = append(e.addrs, a.Unmap())
			}
		case *dns.MX:
			e.mx = append(e.mx, MX{Host: normalize(v.Mx), Pref: v.Preference})
		case *dns.PTR:
			e.names = append(e.names, strings.TrimSuffix(v.Ptr, "."))
		case *dns.NS:
			e.names = append(e.names, strings.TrimSuffix(v.Ns, "."))
		case *dns.CNAME:
			e.names = append(e.names, normalize(v.Target))
		case *dns.TXT:
			e.names = append(e.names, strings.Join(v.Txt, ""))
		case *dns.TLSA:
			e.tlsa = append(e.tlsa, tlsaOf(v))
		}
	}
	if qtype == dns.TypeMX {
		sortMX(e.mx)
		e.err = checkMX(name, e.mx, ans.Security)
		if e.err != nil {
			e.mx = nil
		}
	}
	e.expires = r.now().Add(min(time.Duration(ttl)*time.Second, r.maxTTL))
	return e
}
