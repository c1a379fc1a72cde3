package smtppolicy

import (
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"strings"

	"github.com/mxkit/mxkit/dnsres"
	"github.com/mxkit/mxkit/relaymaps"
	"golang.org/x/net/idna"
)

// builtin is a check that needs no configuration beyond the Policy and Site.
type builtin struct {
	name  string
	fn    func(ctx context.Context, st *State) (Decision, error)
	relay bool // can refuse relaying
}

func (b *builtin) Check(ctx context.Context, st *State) (Decision, error) { return b.fn(ctx, st) }
func (b *builtin) String() string                                         { return b.name }
func (b *builtin) restrictsRelay() bool                                   { return b.relay }

func reject(rj Rejection) Decision { return Decision{Action: ActionReject, Rejection: rj} }

// The generic restrictions (postfix-semantics §2.1).
var (
	// Permit is "permit": accept at this stage.
	Permit Check = &builtin{name: "permit", fn: func(context.Context, *State) (Decision, error) {
		return Decision{Action: ActionPermit}, nil
	}}
	// Reject is "reject": 554 5.7.1 <name>: <Class> rejected: Access denied.
	Reject Check = &builtin{name: "reject", relay: true, fn: func(_ context.Context, st *State) (Decision, error) {
		return reject(Rejectf(code(st.policy.Codes.Reject, 554), "5.7.1", st.ev.name, st.ev.class, "Access denied")), nil
	}}
	// Defer is "defer": 450 4.3.2 <name>: <Class> rejected: Try again later.
	Defer Check = &builtin{name: "defer", relay: true, fn: func(_ context.Context, st *State) (Decision, error) {
		return reject(Rejectf(code(st.policy.Codes.Defer, 450), "4.3.2", st.ev.name, st.ev.class, "Try again later")), nil
	}}
	// DeferIfPermit is "defer_if_permit": if the stage would end in a
	// permit, answer 450 4.7.0 instead.
	DeferIfPermit Check = &builtin{name: "defer_if_permit", relay: true, fn: func(_ context.Context, st *State) (Decision, error) {
		return Decision{Action: ActionDeferIfPermit, Rejection: Rejectf(450, "4.7.0", st.ev.name, st.ev.class, "defer_if_permit requested")}, nil
	}}
	// DeferIfReject is "defer_if_reject": a later 5xx rejection in this
	// stage becomes 450 4.7.0.
	DeferIfReject Check = &builtin{name: "defer_if_reject", fn: func(_ context.Context, st *State) (Decision, error) {
		return Decision{Action: ActionDeferIfReject, Rejection: Rejectf(450, "4.7.0", st.ev.name, st.ev.class, "defer_if_reject requested")}, nil
	}}
	// RejectUnauthPipelining is "reject_unauth_pipelining": 503 5.5.0 when
	// the client pipelined where RFC 2920 forbids it.
	RejectUnauthPipelining Check = &builtin{name: "reject_unauth_pipelining", fn: func(_ context.Context, st *State) (Decision, error) {
		if !st.IllegalPipelining {
			return Decision{}, nil
		}
		return reject(Rejectf(503, "5.5.0", st.ev.name, st.ev.class, "Improper use of SMTP command pipelining")), nil
	}}
	// RejectPlaintextSession is "reject_plaintext_session": 450 4.7.1
	// Session encryption is required.
	RejectPlaintextSession Check = &builtin{name: "reject_plaintext_session", fn: func(_ context.Context, st *State) (Decision, error) {
		if st.TLS != nil {
			return Decision{}, nil
		}
		return reject(Rejection{Code: code(st.policy.Codes.Plaintext, 450), DSN: "4.7.1", Text: "Session encryption is required"}), nil
	}}
	// RejectMultiRecipientBounce is "reject_multi_recipient_bounce": a null
	// sender with more than one recipient.
	RejectMultiRecipientBounce Check = &builtin{name: "reject_multi_recipient_bounce", fn: func(_ context.Context, st *State) (Decision, error) {
		limit := 0
		if st.Stage == StageData || st.Stage == StageEndOfData {
			limit = 1
		}
		if !st.HasSender || st.Sender != "" || len(st.Recipients) <= limit {
			return Decision{}, nil
		}
		return reject(Rejectf(code(st.policy.Codes.MultiRecipientBounce, 550), "5.5.3", st.ev.name, st.ev.class, "Multi-recipient bounce")), nil
	}}
)

// Client restrictions.
var (
	// PermitMyNetworks is "permit_mynetworks": the client is in
	// Site.MyNetworks.
	PermitMyNetworks Check = &builtin{name: "permit_mynetworks", fn: func(ctx context.Context, st *State) (Decision, error) {
		if st.site.MyNetworks == nil || !st.ClientAddr.IsValid() {
			return Decision{}, nil
		}
		ok, err := st.site.MyNetworks.Match(ctx, st.ClientName, st.ClientAddr)
		if err != nil {
			return tempFailure(st.ClientNamAddr(), err), nil
		}
		if ok {
			return Decision{Action: ActionPermit, Note: "client in mynetworks"}, nil
		}
		return Decision{}, nil
	}}
	// PermitSASLAuthenticated is "permit_sasl_authenticated".
	PermitSASLAuthenticated Check = &builtin{name: "permit_sasl_authenticated", fn: func(_ context.Context, st *State) (Decision, error) {
		if st.SASLUsername != "" {
			return Decision{Action: ActionPermit, Value: st.SASLUsername}, nil
		}
		return Decision{}, nil
	}}
)

// tempFailure is Postfix's reject_dict_retry: 451 4.3.0 <name>: Temporary
// lookup failure. It is never turned into a warning.
func tempFailure(name string, err error) Decision {
	return Decision{Action: ActionReject, ConfigError: true, Note: err.Error(),
		Rejection: Rejection{Code: 451, DSN: "4.3.0", Text: "<" + name + ">: Temporary lookup failure"}}
}

// PermitTLSClientCerts is "permit_tls_clientcerts": the client presented a
// certificate whose public-key or certificate fingerprint (upper-case hex
// with colons, "AB:CD:...", SHA-256 by default) is a key in certs
// (relay_clientcerts). The public-key fingerprint is tried first; the
// certificate need not chain to a trusted CA, as in Postfix.
func PermitTLSClientCerts(certs relaymaps.Map) Check {
	return permitTLSClientCerts(certs, "sha256")
}

func permitTLSClientCerts(certs relaymaps.Map, digest string) Check {
	return &builtin{name: "permit_tls_clientcerts", fn: func(ctx context.Context, st *State) (Decision, error) {
		if certs == nil || st.TLS == nil || len(st.TLS.PeerCertificates) == 0 {
			return Decision{}, nil
		}
		cert := st.TLS.PeerCertificates[0]
		for _, fp := range [2]string{Fingerprint(cert.RawSubjectPublicKeyInfo, digest), Fingerprint(cert.Raw, digest)} {
			v, found, err := certs.Lookup(ctx, fp)
			if err != nil {
				return tempFailure(st.ClientNamAddr(), err), nil
			}
			if found {
				return Decision{Action: ActionPermit, Key: fp, Table: relaymaps.NameOf(certs), Value: v}, nil
			}
		}
		return Decision{}, nil
	}}
}

// CertFingerprint returns the SHA-256 fingerprint of the certificate in
// Postfix's form (smtpd_tls_fingerprint_digest = sha256): "AB:CD:...".
func CertFingerprint(c *x509.Certificate) string { return Fingerprint(c.Raw, "sha256") }

// PublicKeyFingerprint returns the SHA-256 fingerprint of the certificate's
// SubjectPublicKeyInfo in Postfix's form.
func PublicKeyFingerprint(c *x509.Certificate) string {
	return Fingerprint(c.RawSubjectPublicKeyInfo, "sha256")
}

// Fingerprint returns the digest of b in Postfix's fingerprint form
// ("AB:CD:..."). digest is smtpd_tls_fingerprint_digest: "md5", "sha1"
// or "sha256" (anything else means sha256).
func Fingerprint(b []byte, digest string) string {
	var sum []byte
	switch strings.ToLower(digest) {
	case "md5":
		s := md5.Sum(b)
		sum = s[:]
	case "sha1":
		s := sha1.Sum(b)
		sum = s[:]
	default:
		s := sha256.Sum256(b)
		sum = s[:]
	}
	h := strings.ToUpper(hex.EncodeToString(sum))
	var s strings.Builder
	for i := 0; i < len(h); i += 2 {
		if i > 0 {
			s.WriteByte(':')
		}
		s.WriteString(h[i : i+2])
	}
	return s.String()
}

// HELO restrictions.
var (
	// RejectInvalidHeloHostname is "reject_invalid_helo_hostname":
	// 501 5.5.2 <h>: Helo command rejected: Invalid name (or "invalid ip
	// address" for a bad [address] literal).
	RejectInvalidHeloHostname Check = &builtin{name: "reject_invalid_helo_hostname", fn: func(_ context.Context, st *State) (Decision, error) {
		h := st.Helo
		if h == "" {
			return Decision{}, nil
		}
		if h[0] == '[' {
			return rejectInvalidHostaddr(st, h), nil
		}
		t := truncateDot(h)
		if !ValidHostname(t) && !validHostaddr(t) {
			return reject(Rejectf(code(st.policy.Codes.InvalidHostname, 501), "5.5.2", h, ClassHelo, "Invalid name")), nil
		}
		return Decision{}, nil
	}}
	// RejectNonFQDNHeloHostname is "reject_non_fqdn_helo_hostname":
	// 504 5.5.2 <h>: Helo command rejected: need fully-qualified hostname.
	RejectNonFQDNHeloHostname Check = &builtin{name: "reject_non_fqdn_helo_hostname", fn: func(_ context.Context, st *State) (Decision, error) {
		h := st.Helo
		if h == "" {
			return Decision{}, nil
		}
		if h[0] == '[' {
			return rejectInvalidHostaddr(st, h), nil
		}
		t := truncateDot(h)
		if !ValidHostname(t) || !strings.Contains(t, ".") {
			return reject(Rejectf(code(st.policy.Codes.NonFQDN, 504), "5.5.2", h, ClassHelo, "need fully-qualified hostname")), nil
		}
		return Decision{}, nil
	}}
)

func rejectInvalidHostaddr(st *State, h string) Decision {
	if len(h) > 2 && h[len(h)-1] == ']' && validMailhostAddr(h[1:len(h)-1]) {
		return Decision{}
	}
	return reject(Rejectf(code(st.policy.Codes.InvalidHostname, 501), "5.5.2", h, ClassHelo, "invalid ip address"))
}

// truncateDot strips one trailing dot, but not from "..".
func truncateDot(s string) string {
	if n := len(s); n > 1 && s[n-1] == '.' && s[n-2] != '.' {
		return s[:n-1]
	}
	return s
}

// ValidHostname implements Postfix's valid_hostname (dnsres.ValidHostname):
// letters, digits, underscores, dots and hyphens; no empty labels; no
// label starting or ending with a hyphen; labels up to 63 and names up to
// 255 characters; not all numeric.
func ValidHostname(name string) bool { return dnsres.ValidHostname(name) }

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// validHostaddr is Postfix's valid_hostaddr: a dotted quad or an IPv6
// address (without the "IPv6:" prefix).
func validHostaddr(s string) bool {
	if strings.IndexByte(s, ':') >= 0 {
		return validIPv6(s)
	}
	return validIPv4(s)
}

// validMailhostAddr accepts the inside of an address literal: a dotted quad
// or "IPv6:" followed by an IPv6 address.
func validMailhostAddr(s string) bool {
	if len(s) > 5 && strings.EqualFold(s[:5], "ipv6:") {
		return validIPv6(s[5:])
	}
	return validIPv4(s)
}

func validIPv4(s string) bool {
	count, val, in := 0, 0, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			if !in {
				in, val = true, 0
				count++
			}
			val = val*10 + int(c-'0')
			if val > 255 {
				return false
			}
		case c == '.':
			if !in || i == len(s)-1 {
				return false
			}
			if count == 1 && val == 0 && strings.Trim(s, "0.") != "" {
				return false
			}
			in = false
		default:
			return false
		}
	}
	return count == 4
}

func validIPv6(s string) bool {
	field, null, length := 0, 0, 0
	i := 0
	for {
		if i == len(s) {
			if field < 2 {
				return false
			}
			return !(length == 0 && null != field-1)
		}
		switch c := s[i]; {
		case c == '.':
			if field < 2 || field > 6 {
				return false
			}
			return validIPv4(s[i-length:])
		case c == ':':
			if field == 0 && length == 0 && i+1 < len(s) && isAlnum(s[i+1]) {
				return false
			}
			field++
			if field > 7 {
				return false
			}
			i++
			length = 0
			if i < len(s) && s[i] == ':' {
				if null > 0 {
					return false
				}
				null = field
			}
		default:
			n := 0
			for i+n < len(s) && isHex(s[i+n]) {
				n++
			}
			if n == 0 || n > 4 {
				return false
			}
			length = n
			i += n
		}
	}
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// Sender and recipient address syntax checks.
var (
	// RejectNonFQDNSender is "reject_non_fqdn_sender": 504 5.5.2 <a>:
	// Sender address rejected: need fully-qualified address. The null
	// sender and address literals are not checked.
	RejectNonFQDNSender Check = &builtin{name: "reject_non_fqdn_sender", fn: func(_ context.Context, st *State) (Decision, error) {
		if !st.HasSender || st.Sender == "" {
			return Decision{}, nil
		}
		return rejectNonFQDNAddress(st, st.Sender, ClassSender), nil
	}}
	// RejectNonFQDNRecipient is "reject_non_fqdn_recipient".
	RejectNonFQDNRecipient Check = &builtin{name: "reject_non_fqdn_recipient", fn: func(_ context.Context, st *State) (Decision, error) {
		if st.Recipient == "" {
			return Decision{}, nil
		}
		return rejectNonFQDNAddress(st, st.Recipient, ClassRecipient), nil
	}}
)

func rejectNonFQDNAddress(st *State, addr string, class Class) Decision {
	_, domain := splitAddress(stripSourceRoute(addr))
	if len(domain) > 1 && domain[0] == '[' && domain[len(domain)-1] == ']' {
		return Decision{}
	}
	d := truncateDot(domain)
	if d == "" || !validUTF8Hostname(d) || !strings.Contains(d, ".") {
		return reject(Rejectf(code(st.policy.Codes.NonFQDN, 504), "4.5.2", addr, class, "need fully-qualified address"))
	}
	return Decision{}
}

// validUTF8Hostname is Postfix's valid_utf8_hostname with smtputf8_enable:
// an ASCII name must be a valid host name; a name with U-labels (only an
// SMTPUTF8 session lets one through the front) must convert to a valid
// one with IDNA (RFC 5891).
func validUTF8Hostname(name string) bool {
	for i := 0; i < len(name); i++ {
		if name[i] >= 0x80 {
			a, err := idna.Lookup.ToASCII(name)
			return err == nil && ValidHostname(a)
		}
	}
	return ValidHostname(name)
}

// Destination checks.
var (
	// RejectUnauthDestination is "reject_unauth_destination": 554 5.7.1
	// <rcpt>: Relay access denied, unless the recipient domain is local,
	// virtual or a relay domain, without sender-specified routing.
	RejectUnauthDestination Check = &builtin{name: "reject_unauth_destination", relay: true, fn: func(ctx context.Context, st *State) (Decision, error) {
		return unauthDestination(ctx, st, code(st.policy.Codes.Relay, 554))
	}}
	// DeferUnauthDestination is "defer_unauth_destination": as
	// reject_unauth_destination with relay_domains_reject_code - 100
	// (454 4.7.1).
	DeferUnauthDestination Check = &builtin{name: "defer_unauth_destination", relay: true, fn: func(ctx context.Context, st *State) (Decision, error) {
		return unauthDestination(ctx, st, code(st.policy.Codes.Relay, 554)-100)
	}}
	// PermitAuthDestination is "permit_auth_destination".
	PermitAuthDestination Check = &builtin{name: "permit_auth_destination", fn: func(ctx context.Context, st *State) (Decision, error) {
		if st.Recipient == "" {
			return Decision{}, nil
		}
		ok, note, err := authDestination(ctx, st)
		if err != nil {
			return tempFailure(st.Recipient, err), nil
		}
		if ok {
			return Decision{Action: ActionPermit, Note: note}, nil
		}
		return Decision{Note: note}, nil
	}}
)

func unauthDestination(ctx context.Context, st *State, replyCode int) (Decision, error) {
	if st.Recipient == "" {
		return Decision{}, nil
	}
	ok, note, err := authDestination(ctx, st)
	if err != nil {
		return tempFailure(st.Recipient, err), nil
	}
	if ok {
		return Decision{Note: note}, nil
	}
	d := reject(Rejection{Code: replyCode, DSN: "5.7.1", Text: "<" + st.Recipient + ">: Relay access denied"})
	d.Note = note
	return d, nil
}

// authDestination is Postfix's permit_auth_destination test. The note is
// built only when tracing.
func authDestination(ctx context.Context, st *State) (bool, string, error) {
	res, err := st.resolve(ctx, st.Recipient)
	if err != nil {
		return false, "", err
	}
	note := ""
	if res.Routed && !st.site.AllowUntrustedRouting {
		if st.tracing() {
			note = "sender-specified routing in " + res.Address
		}
		return false, note, nil
	}
	if res.Final() || res.Class == ClassRelayDomain {
		if st.tracing() {
			note = res.Class.String() + " domain " + res.Domain
		}
		return true, note, nil
	}
	if st.tracing() {
		note = "domain " + res.Domain + " is not ours"
	}
	return false, note, nil
}

// resolve resolves addr through the Site, remembering the last two
// answers (the sender and the recipient are resolved many times per RCPT).
func (st *State) resolve(ctx context.Context, addr string) (*Resolution, error) {
	c := &st.resolved
	for i := range c.e {
		if c.e[i].ok && c.e[i].addr == addr {
			return &c.e[i].res, nil
		}
	}
	res, err := st.site.Resolve(ctx, addr)
	if err != nil {
		return nil, err
	}
	e := &c.e[c.next%len(c.e)]
	c.next++
	*e = resolvedEntry{addr: addr, res: res, ok: true}
	return &e.res, nil
}

type resolveCache struct {
	e    [2]resolvedEntry
	next int
}

type resolvedEntry struct {
	addr string
	res  Resolution
	ok   bool
}

// Recipient validation.
var (
	// RejectUnlistedRecipient is "reject_unlisted_recipient": the
	// recipient's address class has a recipient table and the recipient is
	// not in it: 550 5.1.1 <a>: Recipient address rejected: User unknown in
	// relay recipient table (local recipient, virtual mailbox, virtual
	// alias).
	RejectUnlistedRecipient Check = rejectUnlistedRecipient
	// RejectUnlistedSender is "reject_unlisted_sender": the same test for
	// the sender, with sender DSNs (550 5.1.0).
	RejectUnlistedSender Check = rejectUnlistedSender
)

type unlisted struct{ sender bool }

var (
	rejectUnlistedRecipient = &unlisted{}
	rejectUnlistedSender    = &unlisted{sender: true}
)

func (u *unlisted) String() string {
	if u.sender {
		return "reject_unlisted_sender"
	}
	return "reject_unlisted_recipient"
}

func (u *unlisted) Check(ctx context.Context, st *State) (Decision, error) {
	if u.sender {
		if !st.HasSender || st.Sender == "" || st.ev.senderMapsChecked {
			return Decision{}, nil
		}
		st.ev.senderMapsChecked = true
		return checkRcptMaps(ctx, st, st.Sender, ClassSender), nil
	}
	if st.Recipient == "" || st.ev.rcptMapsChecked {
		return Decision{}, nil
	}
	st.ev.rcptMapsChecked = true
	return checkRcptMaps(ctx, st, st.Recipient, ClassRecipient), nil
}

// settleDirect evaluates the check outside a chain (the implicit checks
// after the lists) and returns its final reply.
func (u *unlisted) settleDirect(ctx context.Context, st *State) *Reply {
	st.ev.depth, st.ev.warn = 0, 0
	d, _ := u.Check(ctx, st)
	d = st.settle(u, d)
	if d.Action == ActionReject {
		return d.reply
	}
	return nil
}

// checkRcptMaps is Postfix's check_rcpt_maps.
func checkRcptMaps(ctx context.Context, st *State, addr string, class Class) Decision {
	res, err := st.resolve(ctx, addr)
	if err != nil {
		return tempFailure(addr, err)
	}
	site := st.site
	delim := site.RecipientDelimiter
	local := res.Class == ClassLocalDomain
	if len(site.VirtualAliasMaps) > 0 {
		v, key, m, found, err := findRecipient(ctx, site.VirtualAliasMaps, res.Address, delim, local)
		if err != nil {
			return tempFailure(addr, err)
		}
		if found {
			d := Decision{Key: key, Value: v}
			if st.tracing() {
				d.Table, d.Note = relaymaps.NameOf(m), "virtual alias"
			}
			return d
		}
	}
	dsn := "5.1.1"
	if class == ClassSender {
		dsn = "5.1.0"
	}
	switch res.Transport {
	case "error":
		c := 550
		if res.Class == ClassVirtualAliasDomain {
			c = code(st.policy.Codes.UnknownVirtualAlias, 550)
		}
		d, text := splitDSN(dsn, res.Nexthop)
		return reject(Rejection{Code: c, DSN: FixDSN(d, class), Text: "<" + addr + ">: " + string(class) + " rejected: " + text})
	case "retry":
		d, text := splitDSN("4.1.1", res.Nexthop)
		if class == ClassSender {
			d = FixDSN(d, class)
		}
		return reject(Rejection{Code: 450, DSN: d, Text: "<" + addr + ">: " + string(class) + " rejected: " + text})
	}
	var maps []relaymaps.Map
	var c int
	var table string
	switch res.Class {
	case ClassLocalDomain:
		if isSpecialLocal(res.Local) {
			return Decision{}
		}
		maps, c, table = site.LocalRecipientMaps, code(st.policy.Codes.UnknownLocal, 550), "local recipient"
	case ClassVirtualMailboxDomain:
		maps, c, table = site.VirtualMailboxMaps, code(st.policy.Codes.UnknownVirtualMbox, 550), "virtual mailbox"
	case ClassRelayDomain:
		maps, c, table = site.RelayRecipientMaps, code(st.policy.Codes.UnknownRelay, 550), "relay recipient"
	default:
		return Decision{}
	}
	if maps == nil {
		return Decision{}
	}
	v, key, m, found, err := findRecipient(ctx, maps, res.Address, delim, local)
	if err != nil {
		return tempFailure(addr, err)
	}
	if found {
		d := Decision{Key: key, Value: v}
		if st.tracing() {
			d.Table = relaymaps.NameOf(m)
		}
		return d
	}
	reason := "User unknown"
	if !site.HideUnknownTableName {
		reason += " in " + table + " table"
	}
	return reject(Rejection{Code: c, DSN: dsn, Text: "<" + addr + ">: " + string(class) + " rejected: " + reason})
}

// isSpecialLocal reports the local parts Postfix always accepts in local
// domains: postmaster, mailer-daemon and double-bounce.
func isSpecialLocal(local string) bool {
	return strings.EqualFold(local, "postmaster") || strings.EqualFold(local, "mailer-daemon") || strings.EqualFold(local, "double-bounce")
}

// findRecipient is relaymaps.Find over RecipientKeys, written out so the
// iterator does not escape on the RCPT hot path.
func findRecipient(ctx context.Context, maps []relaymaps.Map, addr, delim string, local bool) (value, key string, m relaymaps.Map, found bool, err error) {
	for k := range relaymaps.RecipientKeys(addr, delim, local) {
		for _, t := range maps {
			if k.Partial && !relaymaps.IsFixed(t) {
				continue
			}
			v, ok, err := t.Lookup(ctx, k.Key)
			if err != nil {
				return "", k.Key, t, false, err
			}
			if ok {
				return v, k.Key, t, true, nil
			}
		}
	}
	return "", "", nil, false, nil
}
