package smtppolicy

import (
	"context"
	"fmt"
	"github.com/mxkit/mxkit/dnsres"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"
)

// dnsListHealthTTL is how long the verdict of a list's negative test entry
// (is the list broken?) is kept; rblTXTLimit bounds the TXT of a listing.
const (
	dnsListHealthTTL = 5 * time.Minute
	rblTXTLimit      = 500
)

// DNSList is one DNS list (RFC 5782) with its reply filter, as written
// after reject_rbl_client and friends: "zen.example" or
// "zen.example=127.0.0.[2..11]". A filter is one address pattern or
// several separated by ';' (an mxkit extension; Postfix takes one): each
// octet is a number or a bracketed set of numbers and ranges
// ("[2;4..7]"). Without a filter any A record counts as a listing.
//
// Answers are cached by the Resolver (dnsres keeps them for their TTL and
// failures for a few seconds); the DNSList keeps only the verdict of its
// health probe, for five minutes. A DNSList is safe for concurrent use.
//
// Safe defaults: an answer in 127.255.255.0/24 (Spamhaus's codes for
// refused or over-quota queries) is an error, not a listing; a list that
// lists the address 127.0.0.1 (RFC 5782 §5: it must not; a list that
// answers for everything, such as an expired domain with a wildcard) or,
// for a domain list, the name "invalid", is reported as broken once and
// ignored. Errors and broken lists fail open.
type DNSList struct {
	// Domain is the list's DNS domain, without the filter.
	Domain string
	spec   string
	filter []ipPattern

	mu       sync.Mutex
	health   time.Time // when the broken-list probe expires
	broken   bool
	warnedEC bool // logged a 127.255.255.x answer
	now      func() time.Time
}

// dnsxlResult is what a lookup found: a value, so that a lookup through
// the DNS layer's cache allocates nothing here.
type dnsxlResult struct {
	soft  bool         // temporary failure or error code
	addrs []netip.Addr // the A records; nil: not listed
}

// ParseDNSList parses "domain[=filter]".
func ParseDNSList(spec string) (*DNSList, error) {
	domain, filter, hasFilter := strings.Cut(spec, "=")
	domain = truncateDot(strings.ToLower(domain))
	if !ValidHostname(domain) || !strings.Contains(domain, ".") {
		return nil, fmt.Errorf("DNS list %q: invalid domain name", spec)
	}
	l := &DNSList{Domain: domain, spec: spec, now: time.Now}
	if hasFilter {
		for alt := range strings.SplitSeq(filter, ";") {
			// ';' also separates the members of a bracketed set:
			// rejoin the pieces of "127.0.0.[2;3]".
			if n := len(l.filter); n > 0 && l.filter[n-1].open {
				l.filter[n-1].text += ";" + alt
				l.filter[n-1].open = strings.Count(l.filter[n-1].text, "[") > strings.Count(l.filter[n-1].text, "]")
				continue
			}
			l.filter = append(l.filter, ipPattern{text: alt, open: strings.Count(alt, "[") > strings.Count(alt, "]")})
		}
		for i := range l.filter {
			if err := l.filter[i].compile(); err != nil {
				return nil, fmt.Errorf("DNS list %q: %w", spec, err)
			}
		}
	}
	return l, nil
}

// String returns the list as written.
func (l *DNSList) String() string { return l.spec }

// ipPattern is one IPv4 pattern: each octet a set of allowed values.
type ipPattern struct {
	text   string
	open   bool
	octets [4][4]uint64 // 256-bit sets
}

func (p *ipPattern) compile() error {
	if p.open {
		return fmt.Errorf("filter %q: unbalanced '['", p.text)
	}
	parts := splitOctets(p.text)
	if len(parts) != 4 {
		return fmt.Errorf("filter %q: need four octets", p.text)
	}
	for i, part := range parts {
		set := &p.octets[i]
		body := part
		if strings.HasPrefix(part, "[") {
			if !strings.HasSuffix(part, "]") || len(part) < 3 {
				return fmt.Errorf("filter %q: bad octet set %q", p.text, part)
			}
			body = part[1 : len(part)-1]
		}
		for item := range strings.SplitSeq(body, ";") {
			lo, hi, isRange := strings.Cut(item, "..")
			a, err1 := octet(lo)
			b := a
			var err2 error
			if isRange {
				b, err2 = octet(hi)
			}
			if err1 != nil || err2 != nil || b < a {
				return fmt.Errorf("filter %q: bad octet %q", p.text, item)
			}
			if (isRange || strings.Contains(body, ";")) && body == part {
				return fmt.Errorf("filter %q: ranges and lists need brackets: %q", p.text, part)
			}
			for v := a; v <= b; v++ {
				set[v/64] |= 1 << (v % 64)
			}
		}
	}
	return nil
}

// splitOctets splits at the dots outside brackets.
func splitOctets(s string) []string {
	var out []string
	start, depth := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '[':
			depth++
		case ']':
			depth--
		case '.':
			if depth == 0 && (i+1 >= len(s) || s[i+1] != '.') && (i == 0 || s[i-1] != '.') {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}

func octet(s string) (int, error) {
	if s == "" || len(s) > 3 {
		return 0, fmt.Errorf("bad octet")
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < 0 || v > 255 || s[0] == '+' {
		return 0, fmt.Errorf("bad octet")
	}
	return v, nil
}

func (p *ipPattern) match(a netip.Addr) bool {
	if !a.Is4() {
		return false
	}
	b := a.As4()
	for i, v := range b {
		if p.octets[i][v/64]&(1<<(v%64)) == 0 {
			return false
		}
	}
	return true
}

// matches applies the reply filter to a listing.
func (l *DNSList) matches(addrs []netip.Addr) bool {
	if len(addrs) == 0 {
		return false
	}
	if len(l.filter) == 0 {
		return true
	}
	for _, a := range addrs {
		for i := range l.filter {
			if l.filter[i].match(a) {
				return true
			}
		}
	}
	return false
}

// dnsxlVerdict is what a lookup found.
type dnsxlVerdict uint8

const (
	dnsxlNotListed dnsxlVerdict = iota
	dnsxlListed
	dnsxlSoft // temporary failure or error answer: fail open
)

// lookupAddr asks the list about addr. Answers are not kept here: the
// Resolver's cache (dnsres) keeps them for their TTL, and failures briefly.
func (l *DNSList) lookupAddr(ctx context.Context, st *State, r Resolver, addr netip.Addr) dnsxlVerdict {
	return l.verdict(ctx, st, r, l.query(ctx, st, r, reverseQuery(addr, l.Domain)), true)
}

// lookupName is the same for a domain list; name is the domain to look up.
func (l *DNSList) lookupName(ctx context.Context, st *State, r Resolver, name string) dnsxlVerdict {
	return l.verdict(ctx, st, r, l.query(ctx, st, r, name+"."+l.Domain), false)
}

func (l *DNSList) verdict(ctx context.Context, st *State, r Resolver, res dnsxlResult, addrList bool) dnsxlVerdict {
	if res.soft {
		return dnsxlSoft
	}
	if !l.matches(res.addrs) {
		return dnsxlNotListed
	}
	if l.isBroken(ctx, st, r, addrList) {
		return dnsxlSoft
	}
	return dnsxlListed
}

// query looks name up.
func (l *DNSList) query(ctx context.Context, st *State, r Resolver, name string) dnsxlResult {
	addrs, err := r.LookupIP(ctx, "ip4", name)
	switch dnsres.StatusOf(err) {
	case dnsres.StatusOK:
	case dnsres.StatusNotFound:
		return dnsxlResult{}
	default:
		st.logger().Warn("smtppolicy: DNS list lookup error", "query", name, "error", err)
		return dnsxlResult{soft: true}
	}
	for _, a := range addrs {
		if b := a.As4(); a.Is4() && b[0] == 127 && b[1] == 255 && b[2] == 255 {
			l.mu.Lock()
			warn := !l.warnedEC
			l.warnedEC = true
			l.mu.Unlock()
			if warn {
				st.logger().Error("smtppolicy: DNS list answered with an error code, not a listing (queries refused or over quota?); failing open",
					"list", l.Domain, "query", name, "answer", a.String())
			}
			return dnsxlResult{soft: true}
		}
	}
	return dnsxlResult{addrs: addrs}
}

// isBroken probes the list's RFC 5782 §5 negative test entry (127.0.0.1,
// or the name "invalid" for a domain list) after a listing; a list that
// lists it lists everything.
func (l *DNSList) isBroken(ctx context.Context, st *State, r Resolver, addrList bool) bool {
	l.mu.Lock()
	if l.now().Before(l.health) {
		b := l.broken
		l.mu.Unlock()
		return b
	}
	l.mu.Unlock()
	probe := "invalid." + l.Domain
	if addrList {
		probe = "1.0.0.127." + l.Domain
	}
	addrs, err := r.LookupIP(ctx, "ip4", probe)
	if dnsres.StatusOf(err) == dnsres.StatusRetry {
		return false // cannot tell; try again next time
	}
	broken := err == nil && len(addrs) > 0
	l.mu.Lock()
	was := l.broken
	l.broken, l.health = broken, l.now().Add(dnsListHealthTTL)
	l.mu.Unlock()
	if broken && !was {
		st.logger().Error("smtppolicy: DNS list is broken: it lists its negative test entry; ignoring it", "list", l.Domain, "probe", probe)
	}
	return broken
}

// txt returns the TXT of a listing: the records joined by " / ", at
// most 500 bytes, as Postfix does. Only a listing asks for it (and the
// DNS layer caches it).
func (l *DNSList) txt(ctx context.Context, r Resolver, query string) string {
	recs, err := r.LookupTXT(ctx, query)
	var b strings.Builder
	if err == nil {
		for i, t := range recs {
			if b.Len() >= rblTXTLimit {
				break
			}
			if i > 0 {
				b.WriteString(" / ")
			}
			b.WriteString(t)
		}
	}
	t := b.String()
	if len(t) > rblTXTLimit {
		t = t[:rblTXTLimit]
	}
	return t
}

// reverseQuery builds the DNS list query for an address: the octets (or
// the nibbles of an IPv6 address) in reverse, then the list's domain.
func reverseQuery(a netip.Addr, domain string) string {
	var b strings.Builder
	if a.Is4() {
		o := a.As4()
		b.Grow(16 + len(domain))
		for i := 3; i >= 0; i-- {
			b.WriteString(strconv.Itoa(int(o[i])))
			b.WriteByte('.')
		}
	} else {
		const hex = "0123456789abcdef"
		o := a.As16()
		b.Grow(64 + len(domain))
		for i := 15; i >= 0; i-- {
			b.WriteByte(hex[o[i]&0xf])
			b.WriteByte('.')
			b.WriteByte(hex[o[i]>>4])
			b.WriteByte('.')
		}
	}
	b.WriteString(domain)
	return b.String()
}

// rhsDomain extracts the domain a right-hand-side list is asked about, as
// Postfix's find_dnsxl_domain does; "" means skip.
func rhsDomain(what string) string {
	d := what
	if i := strings.LastIndexByte(what, '@'); i >= 0 {
		d = what[i+1:]
		if d != "" && d[0] == '[' {
			return ""
		}
	}
	if d == "" {
		return ""
	}
	// Names ending in a numeric label are not asked about (some lists
	// refuse "IP queries").
	last := d
	if i := strings.LastIndexByte(d, '.'); i >= 0 {
		last = d[i+1:]
	}
	if allDigits(last) || !ValidHostname(d) {
		return ""
	}
	return d
}

// expandFilter replaces bytes outside smtpd_expansion_filter's default set
// (tab, space and printable ASCII) with '_', as Postfix does with values
// put into the RBL reply template.
func expandFilter(s string) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c != '\t' && (c < 0x20 || c > 0x7e) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	b := []byte(s)
	for i, c := range b {
		if c != '\t' && (c < 0x20 || c > 0x7e) {
			b[i] = '_'
		}
	}
	return string(b)
}

// rblRejection is Postfix's default_rbl_reply: "$rbl_code Service
// unavailable; $rbl_class [$rbl_what] blocked using
// $rbl_domain${rbl_reason?; $rbl_reason}", with maps_rbl_reject_code (554)
// and DSN 5.7.1.
func rblRejection(st *State, domain, what string, class Class, txt string) Rejection {
	text := "Service unavailable; " + string(class) + " [" + expandFilter(what) + "] blocked using " + domain
	if txt != "" {
		text += "; " + expandFilter(txt)
	}
	return Rejection{Code: code(st.policy.Codes.RBL, 554), DSN: "4.7.1", Text: text}
}

// dnsListKind says what a DNS list check asks about.
type dnsListKind uint8

const (
	rblClient dnsListKind = iota
	rhsblClient
	rhsblReverseClient
	rhsblHelo
	rhsblSender
	rhsblRecipient
	dnswlClient
)

var dnsListNames = [...]string{"reject_rbl_client", "reject_rhsbl_client", "reject_rhsbl_reverse_client",
	"reject_rhsbl_helo", "reject_rhsbl_sender", "reject_rhsbl_recipient", "permit_dnswl_client"}

type dnsListCheck struct {
	kind dnsListKind
	list *DNSList
}

func init() {
	for i, name := range dnsListNames {
		kind := dnsListKind(i)
		argChecks[name] = func(_ *Registry, args []string) (Check, int, error) {
			if len(args) == 0 {
				return nil, 0, fmt.Errorf("needs a DNS list domain argument")
			}
			l, err := ParseDNSList(args[0])
			if err != nil {
				return nil, 0, err
			}
			return &dnsListCheck{kind: kind, list: l}, 1, nil
		}
	}
	argChecks["reject_rbl"] = argChecks["reject_rbl_client"]
	argChecks["reject_dnsbl_score"] = parseDNSBLScore
}

// NewDNSListCheck builds the DNS list restriction name ("reject_rbl_client",
// "reject_rhsbl_client", "reject_rhsbl_reverse_client",
// "reject_rhsbl_helo", "reject_rhsbl_sender", "reject_rhsbl_recipient" or
// "permit_dnswl_client") for list ("domain[=filter]", see DNSList).
//
// The reject_* checks answer Postfix's default_rbl_reply: "554 5.7.1
// Service unavailable; Client host [192.0.2.1] blocked using list; TXT"
// (maps_rbl_reject_code; the class and the value vary with the check; the
// list's TXT records follow when it has any). They fail open: a DNS
// failure is DUNNO. The rhsbl checks skip "unknown" client names, address
// literals and names ending in a numeric label.
//
// permit_dnswl_client permits a listed client, except for a recipient that
// reject_unauth_destination would refuse (it never opens the relay); a
// DNS failure raises defer_if_reject with "450 4.7.1 <ip>: Client host
// rejected: Service unavailable".
func NewDNSListCheck(name, list string) (Check, error) {
	for i, n := range dnsListNames {
		if n == name {
			l, err := ParseDNSList(list)
			if err != nil {
				return nil, err
			}
			return &dnsListCheck{kind: dnsListKind(i), list: l}, nil
		}
	}
	return nil, fmt.Errorf("smtppolicy: %q is not a DNS list restriction", name)
}

func (c *dnsListCheck) String() string { return dnsListNames[c.kind] + " " + c.list.spec }

func (c *dnsListCheck) Check(ctx context.Context, st *State) (Decision, error) {
	l := c.list
	switch c.kind {
	case rblClient, dnswlClient:
		if !st.ClientAddr.IsValid() {
			return Decision{}, nil
		}
		if c.kind == dnswlClient && st.Stage == StageRcpt && st.Recipient != "" {
			// Never allowlist a recipient that is not ours to accept.
			ok, _, err := authDestination(ctx, st)
			if err != nil {
				return tempFailure(st.Recipient, err), nil
			}
			if !ok {
				return Decision{}, nil
			}
		}
		r := st.resolver()
		if r == nil {
			return noResolver(st, dnsListNames[c.kind]), nil
		}
		addr := st.ClientAddr.Unmap()
		v := l.lookupAddr(ctx, st, r, addr)
		if c.kind == dnswlClient {
			switch v {
			case dnsxlListed:
				return Decision{Action: ActionPermit, Note: "listed in " + l.Domain}, nil
			case dnsxlSoft:
				return Decision{Action: ActionDeferIfReject, Rejection: Rejectf(450, "4.7.1", st.clientAddrString(), ClassClient, "Service unavailable")}, nil
			}
			return Decision{}, nil
		}
		if v != dnsxlListed {
			return Decision{}, nil
		}
		txt := l.txt(ctx, r, reverseQuery(addr, l.Domain))
		return reject(rblRejection(st, l.Domain, st.clientAddrString(), ClassClient, txt)), nil
	}
	var what string
	var class Class
	switch c.kind {
	case rhsblClient:
		what, class = st.ClientName, ClassClient
		if strings.EqualFold(what, "unknown") {
			return Decision{}, nil
		}
	case rhsblReverseClient:
		what, class = st.ReverseName, ClassUnverifiedClient
		if strings.EqualFold(what, "unknown") {
			return Decision{}, nil
		}
	case rhsblHelo:
		what, class = st.Helo, ClassHelo
	case rhsblSender:
		if !st.HasSender {
			return Decision{}, nil
		}
		what, class = st.Sender, ClassSender
	case rhsblRecipient:
		what, class = st.Recipient, ClassRecipient
	}
	d := rhsDomain(what)
	if d == "" {
		return Decision{}, nil
	}
	r := st.resolver()
	if r == nil {
		return noResolver(st, dnsListNames[c.kind]), nil
	}
	if l.lookupName(ctx, st, r, d) != dnsxlListed {
		return Decision{}, nil
	}
	txt := l.txt(ctx, r, d+"."+l.Domain)
	return reject(rblRejection(st, l.Domain, what, class, txt)), nil
}

// WeightedList is one list of a DNSBLScore with its weight.
type WeightedList struct {
	List   string // "domain[=filter]"
	Weight int    // may be negative, for allowlists
}

// DNSBLScore is an mxkit extension modelled on postscreen_dnsbl_sites and
// postscreen_dnsbl_threshold: the client address is looked up in every
// list; each list whose answer passes its filter adds its weight once; a
// total of threshold or more is rejected with the default RBL reply naming
// the listing list of highest weight ("554 5.7.1 Service unavailable;
// Client host [ip] blocked using list; TXT"). Lists that fail count 0
// (fail open). In main.cf syntax:
//
//	reject_dnsbl_score 3 {zen.example*3, bl.example=127.0.0.2*2, wl.example*-2}
//
// (a weight of 1 may be left out).
func DNSBLScore(threshold int, lists []WeightedList) (Check, error) {
	if len(lists) == 0 {
		return nil, fmt.Errorf("smtppolicy: DNSBLScore needs at least one list")
	}
	s := &dnsblScore{threshold: threshold}
	for _, wl := range lists {
		l, err := ParseDNSList(wl.List)
		if err != nil {
			return nil, err
		}
		s.lists = append(s.lists, l)
		s.weights = append(s.weights, wl.Weight)
	}
	return s, nil
}

type dnsblScore struct {
	threshold int
	lists     []*DNSList
	weights   []int
}

func parseDNSBLScore(_ *Registry, args []string) (Check, int, error) {
	if len(args) < 2 {
		return nil, 0, fmt.Errorf("usage: reject_dnsbl_score THRESHOLD {list*weight, ...}")
	}
	threshold, err := strconv.Atoi(args[0])
	if err != nil {
		return nil, 0, fmt.Errorf("threshold %q: not a number", args[0])
	}
	group := args[1]
	if len(group) < 2 || group[0] != '{' || group[len(group)-1] != '}' {
		return nil, 0, fmt.Errorf("lists %q: need a {list*weight, ...} group", group)
	}
	var lists []WeightedList
	for _, item := range strings.FieldsFunc(group[1:len(group)-1], func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' }) {
		wl := WeightedList{List: item, Weight: 1}
		if i := strings.LastIndexByte(item, '*'); i >= 0 {
			w, err := strconv.Atoi(item[i+1:])
			if err != nil {
				return nil, 0, fmt.Errorf("list %q: bad weight", item)
			}
			wl.List, wl.Weight = item[:i], w
		}
		lists = append(lists, wl)
	}
	c, err := DNSBLScore(threshold, lists)
	if err != nil {
		return nil, 0, err
	}
	return c, 2, nil
}

func (s *dnsblScore) String() string {
	var b strings.Builder
	b.WriteString("reject_dnsbl_score ")
	b.WriteString(strconv.Itoa(s.threshold))
	b.WriteString(" {")
	for i, l := range s.lists {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(l.spec)
		b.WriteByte('*')
		b.WriteString(strconv.Itoa(s.weights[i]))
	}
	b.WriteByte('}')
	return b.String()
}

func (s *dnsblScore) Check(ctx context.Context, st *State) (Decision, error) {
	if !st.ClientAddr.IsValid() {
		return Decision{}, nil
	}
	r := st.resolver()
	if r == nil {
		return noResolver(st, "reject_dnsbl_score"), nil
	}
	addr := st.ClientAddr.Unmap()
	score, best := 0, -1
	for i, l := range s.lists {
		if l.lookupAddr(ctx, st, r, addr) != dnsxlListed {
			continue
		}
		score += s.weights[i]
		if best < 0 || s.weights[i] > s.weights[best] {
			best = i
		}
	}
	if score < s.threshold || best < 0 {
		return Decision{}, nil
	}
	l := s.lists[best]
	txt := l.txt(ctx, r, reverseQuery(addr, l.Domain))
	d := reject(rblRejection(st, l.Domain, st.clientAddrString(), ClassClient, txt))
	if st.tracing() {
		d.Note = "score " + strconv.Itoa(score) + " >= " + strconv.Itoa(s.threshold)
	}
	return d, nil
}
