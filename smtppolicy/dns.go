package smtppolicy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// Resolver answers the DNS questions of the DNS-based checks. Names are
// given without a trailing dot. The slices returned may be shared with a
// cache: callers must not modify them.
//
// Errors tell a name that does not exist or has no records of the type
// (errors.Is(err, ErrNotFound): ErrNXDomain or ErrNoData) from a temporary
// failure (ErrTemporary: SERVFAIL, a timeout, a network error). LookupMX
// reports a null MX (RFC 7505) as ErrNullMX and an MX record whose target
// is not a host name as ErrMalformed. *DNSError carries the details.
type Resolver interface {
	// LookupIP returns the A records ("ip4"), the AAAA records ("ip6") or
	// both ("ip") of host.
	LookupIP(ctx context.Context, network, host string) ([]netip.Addr, error)
	// LookupMX returns the MX records of domain, in the order received.
	LookupMX(ctx context.Context, domain string) ([]MX, error)
	// LookupPTR returns the PTR names of addr, without trailing dots.
	LookupPTR(ctx context.Context, addr netip.Addr) ([]string, error)
	// LookupTXT returns the TXT records of name, each record's strings
	// concatenated.
	LookupTXT(ctx context.Context, name string) ([]string, error)
	// LookupNS returns the NS host names of domain.
	LookupNS(ctx context.Context, domain string) ([]string, error)
}

// MX is one mail exchanger record. Host has no trailing dot.
type MX struct {
	Host string
	Pref uint16
}

// The DNS error classes. errors.Is(err, ErrNotFound) holds for both
// ErrNXDomain and ErrNoData.
var (
	ErrNotFound  = errors.New("dns: not found")
	ErrNXDomain  = errors.New("dns: no such domain")
	ErrNoData    = errors.New("dns: no records of the requested type")
	ErrNullMX    = errors.New("dns: domain does not accept mail (null MX)")
	ErrMalformed = errors.New("dns: malformed reply")
	ErrTemporary = errors.New("dns: temporary failure")
)

// DNSError is a failed lookup.
type DNSError struct {
	Name string // the name looked up, without trailing dot
	Type string // "A", "MX", ...
	// Kind is one of ErrNXDomain, ErrNoData, ErrNullMX, ErrMalformed,
	// ErrTemporary.
	Kind error
	// Err is the underlying error of a temporary failure (a timeout, a
	// network error), or nil.
	Err error
	// Rcode is the DNS response code when there was a response, or -1.
	Rcode int
}

func (e *DNSError) Error() string {
	s := "lookup " + e.Name + " " + e.Type + ": " + strings.TrimPrefix(e.Kind.Error(), "dns: ")
	if e.Rcode > 0 {
		s += " (" + dns.RcodeToString[e.Rcode] + ")"
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Is matches the error class sentinels; ErrNotFound matches ErrNXDomain
// and ErrNoData.
func (e *DNSError) Is(target error) bool {
	if target == e.Kind {
		return true
	}
	return target == ErrNotFound && (e.Kind == ErrNXDomain || e.Kind == ErrNoData)
}

// Unwrap returns the underlying network error.
func (e *DNSError) Unwrap() error { return e.Err }

// Temporary reports whether the lookup may succeed later.
func (e *DNSError) Temporary() bool { return e.Kind == ErrTemporary }

// dnsStatus classifies a lookup error as Postfix's dns_lookup does.
type dnsStatus uint8

const (
	dnsOK dnsStatus = iota
	dnsNotFound
	dnsNullMX
	dnsInval
	dnsRetry
)

func statusOf(err error) dnsStatus {
	switch {
	case err == nil:
		return dnsOK
	case errors.Is(err, ErrNotFound):
		return dnsNotFound
	case errors.Is(err, ErrNullMX):
		return dnsNullMX
	case errors.Is(err, ErrMalformed):
		return dnsInval
	}
	return dnsRetry
}

// ResolverOptions configure NewResolver. The zero value uses the servers
// of /etc/resolv.conf with a 5 s timeout and a cache.
type ResolverOptions struct {
	// Servers are "host:port" name servers, tried in order. Empty means
	// the nameserver lines of ResolvConf.
	Servers []string
	// ResolvConf is the resolv.conf(5) file to read when Servers is
	// empty; "" means /etc/resolv.conf.
	ResolvConf string
	// Timeout bounds each lookup (all servers and the TCP retry
	// together); 0 means 5 s. The context's deadline applies too.
	Timeout time.Duration
	// CacheSize is the maximum number of cached answers; 0 means 10000,
	// a negative value turns the cache off.
	CacheSize int
	// MaxTTL caps how long a positive answer is cached; 0 means 1 hour.
	MaxTTL time.Duration
	// MaxNegativeTTL caps how long a negative answer is cached; 0 means
	// 15 minutes. Negative answers are cached for the SOA's TTL or
	// MINIMUM, whichever is lower (RFC 2308 §5), and not at all without
	// an SOA.
	MaxNegativeTTL time.Duration
	// Logger receives warnings; nil means slog.Default().
	Logger *slog.Logger
}

// DNSResolver is the default Resolver: a stub resolver on miekg/dns that
// asks recursive name servers, with a cache that honours TTLs and makes one
// upstream query for many concurrent askers. It is safe for concurrent use.
type DNSResolver struct {
	servers   []string
	timeout   time.Duration
	cacheSize int
	maxTTL    time.Duration
	maxNegTTL time.Duration
	logger    *slog.Logger
	now       func() time.Time

	mu       sync.Mutex
	cache    map[cacheKey]*cacheEntry
	inflight map[cacheKey]*flight
}

type cacheKey struct {
	name  string // lower case, no trailing dot
	qtype uint16
}

// cacheEntry is one answer: the records of the type, or err.
type cacheEntry struct {
	expires time.Time
	addrs   []netip.Addr
	mx      []MX
	names   []string // PTR, NS, TXT
	err     error
}

type flight struct {
	done    chan struct{}
	e       *cacheEntry
	waiters int // askers beyond the first, for tests
}

// NewResolver returns a resolver for opts. It fails when no name server is
// configured or resolv.conf cannot be read.
func NewResolver(opts ResolverOptions) (*DNSResolver, error) {
	r := &DNSResolver{
		servers:   opts.Servers,
		timeout:   opts.Timeout,
		cacheSize: opts.CacheSize,
		maxTTL:    opts.MaxTTL,
		maxNegTTL: opts.MaxNegativeTTL,
		logger:    opts.Logger,
		now:       time.Now,
		cache:     map[cacheKey]*cacheEntry{},
		inflight:  map[cacheKey]*flight{},
	}
	if len(r.servers) == 0 {
		path := opts.ResolvConf
		if path == "" {
			path = "/etc/resolv.conf"
		}
		cfg, err := dns.ClientConfigFromFile(path)
		if err != nil {
			return nil, fmt.Errorf("smtppolicy: resolver: %w", err)
		}
		for _, s := range cfg.Servers {
			r.servers = append(r.servers, net.JoinHostPort(s, cfg.Port))
		}
		if len(r.servers) == 0 {
			return nil, fmt.Errorf("smtppolicy: resolver: %s: no nameserver", path)
		}
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
	if r.logger == nil {
		r.logger = slog.Default()
	}
	return r, nil
}

// LookupIP implements Resolver.
func (r *DNSResolver) LookupIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	switch network {
	case "ip4":
		e := r.lookup(ctx, host, dns.TypeA)
		return e.addrs, e.err
	case "ip6":
		e := r.lookup(ctx, host, dns.TypeAAAA)
		return e.addrs, e.err
	case "ip":
		a := r.lookup(ctx, host, dns.TypeA)
		aaaa := r.lookup(ctx, host, dns.TypeAAAA)
		switch {
		case a.err == nil && aaaa.err == nil:
			return append(append(make([]netip.Addr, 0, len(a.addrs)+len(aaaa.addrs)), a.addrs...), aaaa.addrs...), nil
		case a.err == nil:
			return a.addrs, nil
		case aaaa.err == nil:
			return aaaa.addrs, nil
		case statusOf(a.err) == dnsRetry:
			return nil, a.err
		}
		return nil, aaaa.err
	}
	return nil, fmt.Errorf("smtppolicy: LookupIP: unknown network %q", network)
}

// LookupMX implements Resolver.
func (r *DNSResolver) LookupMX(ctx context.Context, domain string) ([]MX, error) {
	e := r.lookup(ctx, domain, dns.TypeMX)
	return e.mx, e.err
}

// LookupPTR implements Resolver.
func (r *DNSResolver) LookupPTR(ctx context.Context, addr netip.Addr) ([]string, error) {
	name, err := dns.ReverseAddr(addr.Unmap().String())
	if err != nil {
		return nil, err
	}
	e := r.lookup(ctx, name, dns.TypePTR)
	return e.names, e.err
}

// LookupTXT implements Resolver.
func (r *DNSResolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	e := r.lookup(ctx, name, dns.TypeTXT)
	return e.names, e.err
}

// LookupNS implements Resolver.
func (r *DNSResolver) LookupNS(ctx context.Context, domain string) ([]string, error) {
	e := r.lookup(ctx, domain, dns.TypeNS)
	return e.names, e.err
}

// lookup answers from the cache, joins a query in flight, or asks.
func (r *DNSResolver) lookup(ctx context.Context, name string, qtype uint16) *cacheEntry {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	key := cacheKey{name, qtype}
	if name == "" || len(name) > 253 {
		return &cacheEntry{err: &DNSError{Name: name, Type: dns.TypeToString[qtype], Kind: ErrNXDomain, Rcode: -1}}
	}
	r.mu.Lock()
	if e, ok := r.cache[key]; ok {
		if r.now().Before(e.expires) {
			r.mu.Unlock()
			return e
		}
		delete(r.cache, key)
	}
	if f, ok := r.inflight[key]; ok {
		f.waiters++
		r.mu.Unlock()
		select {
		case <-f.done:
			return f.e
		case <-ctx.Done():
			return &cacheEntry{err: &DNSError{Name: name, Type: dns.TypeToString[qtype], Kind: ErrTemporary, Err: ctx.Err(), Rcode: -1}}
		}
	}
	f := &flight{done: make(chan struct{})}
	r.inflight[key] = f
	r.mu.Unlock()

	// The query outlives a caller that gives up: others may be waiting.
	go func() {
		qctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.timeout)
		defer cancel()
		e := r.query(qctx, name, qtype)
		r.mu.Lock()
		delete(r.inflight, key)
		if r.cacheSize > 0 && e.expires.After(r.now()) {
			r.store(key, e)
		}
		f.e = e
		close(f.done)
		r.mu.Unlock()
	}()
	select {
	case <-f.done:
		return f.e
	case <-ctx.Done():
		return &cacheEntry{err: &DNSError{Name: name, Type: dns.TypeToString[qtype], Kind: ErrTemporary, Err: ctx.Err(), Rcode: -1}}
	}
}

// store adds e to the cache, making room first: expired entries go, and
// if that is not enough, arbitrary ones. r.mu is held.
func (r *DNSResolver) store(key cacheKey, e *cacheEntry) {
	if len(r.cache) >= r.cacheSize {
		now := r.now()
		for k, v := range r.cache {
			if !now.Before(v.expires) {
				delete(r.cache, k)
			}
		}
		for k := range r.cache {
			if len(r.cache) < r.cacheSize {
				break
			}
			delete(r.cache, k)
		}
	}
	r.cache[key] = e
}

// query asks the servers in turn. A server that times out, fails or
// answers SERVFAIL or REFUSED passes the question to the next.
func (r *DNSResolver) query(ctx context.Context, name string, qtype uint16) *cacheEntry {
	tname := dns.TypeToString[qtype]
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	m.SetEdns0(1232, false)
	var lastErr error
	rcode := -1
	for i, srv := range r.servers {
		sctx := ctx
		if dl, ok := ctx.Deadline(); ok {
			// Share the time left among the servers left.
			left := time.Until(dl) / time.Duration(len(r.servers)-i)
			var cancel context.CancelFunc
			sctx, cancel = context.WithTimeout(ctx, left)
			defer cancel()
		}
		resp, err := exchange(sctx, m, srv)
		if err != nil {
			lastErr = err
			continue
		}
		if resp.Rcode == dns.RcodeServerFailure || resp.Rcode == dns.RcodeRefused {
			rcode, lastErr = resp.Rcode, nil
			continue
		}
		return r.entry(name, qtype, resp)
	}
	return &cacheEntry{err: &DNSError{Name: name, Type: tname, Kind: ErrTemporary, Err: lastErr, Rcode: rcode}}
}

func exchange(ctx context.Context, m *dns.Msg, srv string) (*dns.Msg, error) {
	c := &dns.Client{Net: "udp", UDPSize: 1232}
	resp, _, err := c.ExchangeContext(ctx, m, srv)
	if err == nil && resp.Truncated {
		c.Net = "tcp"
		resp, _, err = c.ExchangeContext(ctx, m, srv)
	}
	return resp, err
}

// entry turns a response into a cache entry with its expiry.
func (r *DNSResolver) entry(name string, qtype uint16, resp *dns.Msg) *cacheEntry {
	tname := dns.TypeToString[qtype]
	now := r.now()
	e := &cacheEntry{}
	if resp.Rcode != dns.RcodeSuccess && resp.Rcode != dns.RcodeNameError {
		e.err = &DNSError{Name: name, Type: tname, Kind: ErrTemporary, Rcode: resp.Rcode}
		return e
	}
	ttl := uint32(1<<31 - 1)
	n := 0
	for _, rr := range resp.Answer {
		h := rr.Header()
		if h.Rrtype != qtype && h.Rrtype != dns.TypeCNAME {
			continue
		}
		ttl = min(ttl, h.Ttl)
		switch v := rr.(type) {
		case *dns.A:
			if a, ok := netip.AddrFromSlice(v.A.To4()); ok {
				e.addrs = append(e.addrs, a)
				n++
			}
		case *dns.AAAA:
			if a, ok := netip.AddrFromSlice(v.AAAA.To16()); ok {
				e.addrs = append(e.addrs, a)
				n++
			}
		case *dns.MX:
			e.mx = append(e.mx, MX{Host: strings.TrimSuffix(v.Mx, "."), Pref: v.Preference})
			n++
		case *dns.PTR:
			e.names = append(e.names, strings.TrimSuffix(v.Ptr, "."))
			n++
		case *dns.NS:
			e.names = append(e.names, strings.TrimSuffix(v.Ns, "."))
			n++
		case *dns.TXT:
			e.names = append(e.names, strings.Join(v.Txt, ""))
			n++
		}
	}
	if resp.Rcode == dns.RcodeNameError || n == 0 {
		kind := ErrNoData
		if resp.Rcode == dns.RcodeNameError {
			kind = ErrNXDomain
		}
		e.addrs, e.mx, e.names = nil, nil, nil
		e.err = &DNSError{Name: name, Type: tname, Kind: kind, Rcode: resp.Rcode}
		// RFC 2308 §5: the SOA's TTL bounded by its MINIMUM; no SOA, no
		// caching.
		for _, rr := range resp.Ns {
			if soa, ok := rr.(*dns.SOA); ok {
				d := time.Duration(min(soa.Hdr.Ttl, soa.Minttl)) * time.Second
				e.expires = now.Add(min(d, r.maxNegTTL))
				break
			}
		}
		return e
	}
	if qtype == dns.TypeMX {
		e.err = checkMX(name, e.mx)
		if e.err != nil {
			e.mx = nil
		}
	}
	e.expires = now.Add(min(time.Duration(ttl)*time.Second, r.maxTTL))
	return e
}

// checkMX finds a null MX (RFC 7505: one record, target ".") and MX
// targets that are not host names.
func checkMX(name string, mx []MX) error {
	if len(mx) == 1 && mx[0].Host == "" {
		return &DNSError{Name: name, Type: "MX", Kind: ErrNullMX, Rcode: -1}
	}
	for _, m := range mx {
		if !ValidHostname(m.Host) {
			return &DNSError{Name: name, Type: "MX", Kind: ErrMalformed, Rcode: -1}
		}
	}
	return nil
}

// LookupClient implements Postfix's client name verification (smtpd_peer):
// the first PTR name of addr is the reverse name; it becomes the client
// name only if it is a valid host name whose A or AAAA records include addr
// (forward-confirmed reverse DNS). Either name is "unknown" otherwise;
// nameTemp and reverseTemp report that a temporary DNS failure is why, so
// that reject_unknown_client_hostname and
// reject_unknown_reverse_client_hostname answer 450 instead of their
// configured code. A nil Resolver gives "unknown" for both, not temporary.
// The front end calls it at connect and fills in State.ClientName,
// ReverseName, ClientNameTemporary and ReverseNameTemporary.
func LookupClient(ctx context.Context, r Resolver, addr netip.Addr) (name, reverse string, nameTemp, reverseTemp bool) {
	const unknown = "unknown"
	if r == nil || !addr.IsValid() {
		return unknown, unknown, false, false
	}
	addr = addr.Unmap()
	ptrs, err := r.LookupPTR(ctx, addr)
	if err != nil || len(ptrs) == 0 {
		temp := err != nil && statusOf(err) == dnsRetry
		return unknown, unknown, temp, temp
	}
	reverse = strings.TrimSuffix(ptrs[0], ".")
	if !ValidHostname(reverse) {
		// Postfix: "numeric hostname" or malformed: not a name at all.
		return unknown, unknown, false, false
	}
	addrs, err := r.LookupIP(ctx, "ip", reverse)
	if err != nil {
		return unknown, reverse, statusOf(err) == dnsRetry, false
	}
	for _, a := range addrs {
		if a.Unmap() == addr {
			return reverse, reverse, false, false
		}
	}
	// The forward names do not include addr: a forged name.
	return unknown, reverse, false, false
}
