package smtppolicy

import (
	"context"
	"fmt"
	"github.com/mxkit/mxkit/dnsres"
	"strings"

	"github.com/mxkit/mxkit/relaymaps"
)

// argChecks builds the restrictions of this package that take arguments
// (a table, a DNS list). Registry.Parse consults it after the registry's
// own classes and extensions, so an Extension of the same name wins.
var argChecks = map[string]func(r *Registry, args []string) (Check, int, error){}

func init() {
	for name, c := range map[string]Check{
		"reject_unknown_client_hostname":         RejectUnknownClientHostname,
		"reject_unknown_client":                  RejectUnknownClientHostname,
		"reject_unknown_reverse_client_hostname": RejectUnknownReverseClientHostname,
		"reject_unknown_helo_hostname":           RejectUnknownHeloHostname,
		"reject_unknown_hostname":                RejectUnknownHeloHostname,
		"reject_unknown_sender_domain":           RejectUnknownSenderDomain,
		"reject_unknown_recipient_domain":        RejectUnknownRecipientDomain,
	} {
		simpleChecks[name] = c
	}
	for _, k := range []serverAccessKind{serverClient, serverReverseClient, serverHelo, serverSender, serverRecipient} {
		for _, t := range []serverType{serverA, serverMX, serverNS} {
			name := serverAccessName(k, t)
			argChecks[name] = func(r *Registry, args []string) (Check, int, error) {
				if len(args) == 0 || !strings.Contains(args[0], ":") {
					return nil, 0, fmt.Errorf("needs a type:table argument")
				}
				m, err := r.open(args[0])
				if err != nil {
					return nil, 0, err
				}
				return newServerAccess(k, t, m, r), 1, nil
			}
		}
	}
}

// noResolver is the answer of a DNS check when Policy.Resolver is nil: a
// DNS check without DNS is a configuration error, never a pass.
func noResolver(st *State, check string) Decision {
	st.logger().Error("smtppolicy: restriction needs a DNS resolver but Policy.Resolver is nil", "check", check)
	d := configError()
	d.Note = "Policy.Resolver is nil"
	return d
}

func (st *State) resolver() Resolver {
	if st.policy == nil {
		return nil
	}
	return st.policy.Resolver
}

// deferIfPermit is Postfix's DEFER_IF_PERMIT for a reject-type check that
// failed temporarily: it raises defer_if_permit, or, under warn_if_reject,
// rejects (which warn_if_reject turns into a logged warning).
func deferIfPermit(st *State, rj Rejection) Decision {
	if st.ev.warn > 0 {
		return reject(rj)
	}
	return Decision{Action: ActionDeferIfPermit, Rejection: rj}
}

// Client name checks. They use State.ClientName, ReverseName and the
// *Temporary flags that the front end fills in with LookupClient; they make
// no DNS queries of their own.
var (
	// RejectUnknownClientHostname is "reject_unknown_client_hostname": the
	// client has no forward-confirmed reverse name. "450 4.7.25 Client
	// host rejected: cannot find your hostname, [ip]" with
	// unknown_client_reject_code (450), and always 450 when the name is
	// unknown because of a temporary DNS failure (never defer_if_permit:
	// a later name-based allowlist would decide wrongly).
	RejectUnknownClientHostname Check = &builtin{name: "reject_unknown_client_hostname", fn: func(_ context.Context, st *State) (Decision, error) {
		if st.ClientName != "" && !strings.EqualFold(st.ClientName, "unknown") {
			return Decision{}, nil
		}
		c := code(st.policy.Codes.UnknownClient, 450)
		if st.ClientNameTemporary {
			c = 450
		}
		return reject(Rejection{Code: c, DSN: "4.7.25", Text: "Client host rejected: cannot find your hostname, [" + st.clientAddrString() + "]"}), nil
	}}
	// RejectUnknownReverseClientHostname is
	// "reject_unknown_reverse_client_hostname": the client address has
	// no PTR name. "450 4.7.1 Client host rejected: cannot find your
	// reverse hostname, [ip]", 450 on a temporary failure.
	RejectUnknownReverseClientHostname Check = &builtin{name: "reject_unknown_reverse_client_hostname", fn: func(_ context.Context, st *State) (Decision, error) {
		if st.ReverseName != "" && !strings.EqualFold(st.ReverseName, "unknown") {
			return Decision{}, nil
		}
		c := code(st.policy.Codes.UnknownClient, 450)
		if st.ReverseNameTemporary {
			c = 450
		}
		return reject(Rejection{Code: c, DSN: "4.7.1", Text: "Client host rejected: cannot find your reverse hostname, [" + st.clientAddrString() + "]"}), nil
	}}
)

// RejectUnknownHeloHostname is "reject_unknown_helo_hostname": the HELO
// name has no A, AAAA or MX record (a null MX passes: it is an MTA's
// name). "450 4.7.1 <h>: Helo command rejected: Host not found"
// (unknown_hostname_reject_code); a temporary failure raises
// defer_if_permit with 450 and the same text. An address literal is
// checked for syntax only.
var RejectUnknownHeloHostname Check = &builtin{name: "reject_unknown_helo_hostname", fn: func(ctx context.Context, st *State) (Decision, error) {
	h := st.Helo
	if h == "" {
		return Decision{}, nil
	}
	if h[0] == '[' {
		return rejectInvalidHostaddr(st, h), nil
	}
	r := st.resolver()
	if r == nil {
		return noResolver(st, "reject_unknown_helo_hostname"), nil
	}
	switch hostStatus(ctx, r, truncateDot(h)) {
	case dnsres.StatusOK, dnsres.StatusNullMX:
		return Decision{}, nil
	case dnsres.StatusRetry:
		return deferIfPermit(st, Rejectf(450, "4.7.1", h, ClassHelo, "Host not found")), nil
	case dnsres.StatusInvalid:
		return reject(Rejectf(code(st.policy.Codes.UnknownHostname, 450), "4.7.1", h, ClassHelo, "Malformed DNS server reply")), nil
	}
	return reject(Rejectf(code(st.policy.Codes.UnknownHostname, 450), "4.7.1", h, ClassHelo, "Host not found")), nil
}}

// hostStatus is Postfix's dns_lookup_l(name, A, AAAA, MX) stopping at the
// first success. A name that is not a valid host name is not looked up.
func hostStatus(ctx context.Context, r Resolver, name string) dnsres.Status {
	if !ValidHostname(name) {
		return dnsres.StatusNotFound
	}
	retry := false
	for _, network := range [2]string{"ip4", "ip6"} {
		_, err := r.LookupIP(ctx, network, name)
		switch dnsres.StatusOf(err) {
		case dnsres.StatusOK:
			return dnsres.StatusOK
		case dnsres.StatusRetry:
			retry = true
		}
	}
	_, err := r.LookupMX(ctx, name)
	s := dnsres.StatusOf(err)
	if s == dnsres.StatusOK || s == dnsres.StatusNullMX {
		return s
	}
	if retry || s == dnsres.StatusRetry {
		return dnsres.StatusRetry
	}
	return s
}

// mailhostStatus is Postfix's reject_unknown_mailhost lookup: MX, then A
// and AAAA, stopping at a success, a null MX or a malformed MX.
func mailhostStatus(ctx context.Context, r Resolver, domain string) dnsres.Status {
	if !ValidHostname(domain) {
		return dnsres.StatusNotFound
	}
	_, err := r.LookupMX(ctx, domain)
	s := dnsres.StatusOf(err)
	if s != dnsres.StatusNotFound && s != dnsres.StatusRetry {
		return s
	}
	retry := s == dnsres.StatusRetry
	for _, network := range [2]string{"ip4", "ip6"} {
		_, err := r.LookupIP(ctx, network, domain)
		switch dnsres.StatusOf(err) {
		case dnsres.StatusOK:
			return dnsres.StatusOK
		case dnsres.StatusRetry:
			retry = true
		}
	}
	if retry {
		return dnsres.StatusRetry
	}
	return dnsres.StatusNotFound
}

// The unknown-domain checks.
var (
	// RejectUnknownSenderDomain is "reject_unknown_sender_domain": the
	// sender's domain has no MX and no A or AAAA record: "450 4.1.8 <a>:
	// Sender address rejected: Domain not found"
	// (unknown_address_reject_code); a null MX gives "550 5.7.27 <a>:
	// Sender address rejected: Domain d does not accept mail (nullMX)".
	// A temporary failure raises defer_if_permit (450 4.1.8). Local and
	// virtual domains and address literals are not checked; relay domains
	// are.
	RejectUnknownSenderDomain Check = &unknownDomain{sender: true}
	// RejectUnknownRecipientDomain is "reject_unknown_recipient_domain":
	// the same test for the recipient, with 450 4.1.2 and, for a null MX,
	// "556 5.1.10 <a>: Recipient address rejected: Domain d does not
	// accept mail (nullMX)".
	RejectUnknownRecipientDomain Check = &unknownDomain{}
)

type unknownDomain struct{ sender bool }

func (u *unknownDomain) String() string {
	if u.sender {
		return "reject_unknown_sender_domain"
	}
	return "reject_unknown_recipient_domain"
}

func (u *unknownDomain) Check(ctx context.Context, st *State) (Decision, error) {
	addr, class, dsn := st.Recipient, ClassRecipient, "4.1.2"
	if u.sender {
		if !st.HasSender {
			return Decision{}, nil
		}
		addr, class, dsn = st.Sender, ClassSender, "4.1.8"
	}
	if addr == "" {
		return Decision{}, nil
	}
	res, err := st.resolve(ctx, addr)
	if err != nil {
		return tempFailure(addr, err), nil
	}
	d := res.Domain
	if d == "" || res.Final() || d[0] == '[' {
		return Decision{}, nil
	}
	r := st.resolver()
	if r == nil {
		return noResolver(st, u.String()), nil
	}
	switch mailhostStatus(ctx, r, d) {
	case dnsres.StatusOK:
		return Decision{}, nil
	case dnsres.StatusNullMX:
		c, nd := 556, "4.1.10"
		if u.sender {
			c, nd = 550, "4.7.27"
		}
		return reject(Rejectf(c, nd, addr, class, "Domain "+d+" does not accept mail (nullMX)")), nil
	case dnsres.StatusRetry:
		return deferIfPermit(st, Rejectf(450, dsn, addr, class, "Domain not found")), nil
	case dnsres.StatusInvalid:
		return reject(Rejectf(code(st.policy.Codes.UnknownAddress, 450), dsn, addr, class, "Malformed DNS server reply")), nil
	}
	return reject(Rejectf(code(st.policy.Codes.UnknownAddress, 450), dsn, addr, class, "Domain not found")), nil
}

// serverAccess is check_{client,reverse_client,helo,sender,recipient}_{a,mx,ns}_access.
type serverAccessKind uint8

const (
	serverClient serverAccessKind = iota
	serverReverseClient
	serverHelo
	serverSender
	serverRecipient
)

type serverType uint8

const (
	serverA serverType = iota
	serverMX
	serverNS
)

func serverAccessName(k serverAccessKind, t serverType) string {
	return "check_" + [...]string{"client", "reverse_client", "helo", "sender", "recipient"}[k] +
		"_" + [...]string{"a", "mx", "ns"}[t] + "_access"
}

type serverAccess struct {
	kind  serverAccessKind
	typ   serverType
	table relaymaps.Map
	acc   *accessCheck // for accessProbe
}

func newServerAccess(k serverAccessKind, t serverType, m relaymaps.Map, r *Registry) *serverAccess {
	return &serverAccess{kind: k, typ: t, table: m, acc: &accessCheck{table: m, reg: r}}
}

// CheckServerAccess returns check_<what>_<type>_access TABLE: what is
// "client", "reverse_client", "helo", "sender" or "recipient"; typ is "a",
// "mx" or "ns". The host names of the name's MX or NS servers and then
// their addresses (for "a": the name's own addresses) are looked up in
// table as check_client_access does. An OK result is refused as a
// configuration error (451 4.3.5), as in Postfix: use DUNNO for exceptions.
// A DNS failure logs a warning and answers DUNNO. reg resolves restriction
// names in table values; it may be nil.
func CheckServerAccess(what, typ string, table relaymaps.Map, reg *Registry) (Check, error) {
	name := "check_" + what + "_" + typ + "_access"
	for _, k := range []serverAccessKind{serverClient, serverReverseClient, serverHelo, serverSender, serverRecipient} {
		for _, t := range []serverType{serverA, serverMX, serverNS} {
			if serverAccessName(k, t) == name {
				return newServerAccess(k, t, table, reg), nil
			}
		}
	}
	return nil, fmt.Errorf("smtppolicy: no restriction %s", name)
}

func (a *serverAccess) String() string {
	return serverAccessName(a.kind, a.typ) + " " + a.acc.tableName()
}

func (a *serverAccess) Check(ctx context.Context, st *State) (Decision, error) {
	var subject, replyName string
	var class Class
	switch a.kind {
	case serverClient:
		subject, replyName, class = st.ClientName, st.ClientNamAddr(), ClassClient
		if strings.EqualFold(subject, "unknown") {
			return Decision{}, nil
		}
	case serverReverseClient:
		subject, replyName, class = st.ReverseName, st.ReverseName, ClassUnverifiedClient
		if strings.EqualFold(subject, "unknown") {
			return Decision{}, nil
		}
	case serverHelo:
		subject, replyName, class = st.Helo, st.Helo, ClassHelo
	case serverSender:
		if !st.HasSender {
			return Decision{}, nil
		}
		subject, replyName, class = st.Sender, st.Sender, ClassSender
	case serverRecipient:
		subject, replyName, class = st.Recipient, st.Recipient, ClassRecipient
	}
	if subject == "" {
		return Decision{}, nil
	}
	r := st.resolver()
	if r == nil {
		return noResolver(st, serverAccessName(a.kind, a.typ)), nil
	}
	p := accessProbe{a: a.acc, st: st, fixed: relaymaps.IsFixed(a.table), name: replyName, class: class}
	d, decided := a.search(ctx, st, r, &p, subject)
	if !decided {
		return Decision{}, nil
	}
	if d.Action == ActionPermit && !st.Discard {
		st.logger().Warn("smtppolicy: restriction returns OK, which is not allowed for security reasons; use DUNNO to make an exception",
			"check", serverAccessName(a.kind, a.typ), "subject", subject, "key", d.Key)
		cd := configError()
		cd.Key, cd.Table, cd.Value = d.Key, d.Table, d.Value
		return cd, nil
	}
	return d, nil
}

// search is Postfix's check_server_access.
func (a *serverAccess) search(ctx context.Context, st *State, r Resolver, p *accessProbe, subject string) (Decision, bool) {
	domain := subject
	if i := strings.LastIndexByte(subject, '@'); i >= 0 {
		domain = subject[i+1:]
	}
	// An address literal is its own MX host (and its own address).
	if domain != "" && domain[0] == '[' {
		if a.typ == serverNS {
			return Decision{}, false
		}
		ip, ok := parseAddressLiteral(domain)
		if !ok {
			return Decision{}, false
		}
		return a.probeAddr(ctx, p, ip.String())
	}
	domain = truncateDot(domain)
	var servers []string
	switch a.typ {
	case serverA:
		servers = []string{domain}
	case serverMX:
		mx, err := r.LookupMX(ctx, domain)
		switch dnsres.StatusOf(err) {
		case dnsres.StatusOK:
			servers = make([]string, len(mx.Hosts))
			for i, m := range mx.Hosts {
				servers[i] = m.Host
			}
		case dnsres.StatusNullMX:
			return Decision{}, false
		case dnsres.StatusNotFound:
			servers = []string{domain}
		default:
			st.logger().Warn("smtppolicy: unable to look up MX host", "domain", domain, "error", err)
			return Decision{}, false
		}
	case serverNS:
		d := domain
		for {
			ns, err := r.LookupNS(ctx, d)
			s := dnsres.StatusOf(err)
			if s == dnsres.StatusOK {
				servers = ns
				break
			}
			i := strings.IndexByte(d, '.')
			if s != dnsres.StatusNotFound || i < 0 || i == len(d)-1 {
				st.logger().Warn("smtppolicy: unable to look up NS host", "domain", d, "error", err)
				return Decision{}, false
			}
			d = d[i+1:]
		}
	}
	for _, host := range servers {
		if validHostaddr(host) {
			if d, ok := a.probeAddr(ctx, p, host); ok {
				return d, true
			}
			continue
		}
		if a.typ != serverA {
			for k := range relaymaps.HostKeys(host) {
				if p.probe(ctx, k) {
					return p.d, true
				}
			}
		}
		addrs, err := r.LookupIP(ctx, "ip", host)
		if err != nil {
			if a.typ != serverA {
				st.logger().Warn("smtppolicy: unable to look up server host", "host", host, "check", serverAccessName(a.kind, a.typ), "error", err)
			}
			continue
		}
		for _, ip := range addrs {
			if d, ok := a.probeAddr(ctx, p, ip.String()); ok {
				return d, true
			}
		}
	}
	return Decision{}, false
}

func (a *serverAccess) probeAddr(ctx context.Context, p *accessProbe, addr string) (Decision, bool) {
	for k := range relaymaps.AddrKeys(addr) {
		if p.probe(ctx, k) {
			return p.d, true
		}
	}
	return Decision{}, false
}
