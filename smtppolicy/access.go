package smtppolicy

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/mxkit/mxkit/internal/pflist"
	"github.com/mxkit/mxkit/relaymaps"
)

// accessKind says what an access table is asked about.
type accessKind uint8

const (
	accessClient accessKind = iota
	accessHelo
	accessSender
	accessRecipient
)

var accessNames = [...]string{"check_client_access", "check_helo_access", "check_sender_access", "check_recipient_access"}

type accessCheck struct {
	kind  accessKind
	table relaymaps.Map
	reg   *Registry

	nameOnce sync.Once
	name     string
}

// CheckClientAccess is "check_client_access TABLE": the client's name and
// its parent domains, then its IP address and shorter prefixes
// ("1.2.3.4", "1.2.3", "1.2", "1") are looked up in table; the first key
// found decides by its access(5) action. Partial keys go only to fixed
// tables. reg resolves restriction names in table values; it may be nil.
func CheckClientAccess(table relaymaps.Map, reg *Registry) Check {
	return &accessCheck{kind: accessClient, table: table, reg: reg}
}

// CheckHeloAccess is "check_helo_access TABLE": the HELO name and its
// parent domains.
func CheckHeloAccess(table relaymaps.Map, reg *Registry) Check {
	return &accessCheck{kind: accessHelo, table: table, reg: reg}
}

// CheckSenderAccess is "check_sender_access TABLE", with access(5)'s address
// key order: user+ext@domain, user@domain, domain, parent domains,
// user+ext@, user@. The null sender is looked up as "<>".
func CheckSenderAccess(table relaymaps.Map, reg *Registry) Check {
	return &accessCheck{kind: accessSender, table: table, reg: reg}
}

// CheckRecipientAccess is "check_recipient_access TABLE", with the same key
// order as CheckSenderAccess on the resolved recipient. An OK for a
// recipient with sender-specified routing counts as DUNNO.
func CheckRecipientAccess(table relaymaps.Map, reg *Registry) Check {
	return &accessCheck{kind: accessRecipient, table: table, reg: reg}
}

func (a *accessCheck) String() string {
	return accessNames[a.kind] + " " + a.tableName()
}

func (a *accessCheck) tableName() string {
	a.nameOnce.Do(func() { a.name = relaymaps.NameOf(a.table) })
	return a.name
}

func (a *accessCheck) restrictsRelay() bool { return false }

func (a *accessCheck) Check(ctx context.Context, st *State) (Decision, error) {
	// The key loops are written out per kind, ranging directly over the
	// relaymaps iterators, so that nothing escapes to the heap on the
	// RCPT hot path.
	p := accessProbe{a: a, st: st, fixed: relaymaps.IsFixed(a.table)}
	switch a.kind {
	case accessClient:
		p.name, p.class = st.ClientNamAddr(), ClassClient
		for k := range relaymaps.HostKeys(st.ClientName) {
			if p.probe(ctx, k) {
				return p.d, nil
			}
		}
		for k := range relaymaps.AddrKeys(st.clientAddrString()) {
			if p.probe(ctx, k) {
				return p.d, nil
			}
		}
	case accessHelo:
		if st.Helo == "" {
			return Decision{}, nil
		}
		p.name, p.class = st.Helo, ClassHelo
		for k := range relaymaps.HostKeys(st.Helo) {
			if p.probe(ctx, k) {
				return p.d, nil
			}
		}
	case accessSender, accessRecipient:
		addr, class := st.Recipient, ClassRecipient
		if a.kind == accessSender {
			if !st.HasSender {
				return Decision{}, nil
			}
			addr, class = st.Sender, ClassSender
			if addr == "" {
				p.name, p.class = "", ClassSender
				p.probe(ctx, relaymaps.Key{Key: "<>"})
				return p.d, nil
			}
		}
		if addr == "" {
			return Decision{}, nil
		}
		p.name, p.class = addr, class
		res, err := st.resolve(ctx, addr)
		if err != nil {
			return tempFailure(addr, err), nil
		}
		p.routed = a.kind == accessRecipient && res.Routed && !st.site.AllowUntrustedRouting
		for k := range relaymaps.AccessAddressKeys(res.Address, st.site.RecipientDelimiter) {
			if p.probe(ctx, k) {
				return p.d, nil
			}
		}
	}
	return Decision{}, nil
}

// accessProbe looks keys up one at a time; the first key found decides.
type accessProbe struct {
	a      *accessCheck
	st     *State
	fixed  bool
	routed bool
	name   string
	class  Class
	d      Decision
}

// probe looks up one key and reports whether the search is over.
func (p *accessProbe) probe(ctx context.Context, k relaymaps.Key) bool {
	if k.Partial && !p.fixed {
		return false
	}
	a := p.a
	v, found, err := a.table.Lookup(ctx, k.Key)
	if err != nil {
		d := reject(Rejectf(451, "4.3.5", p.name, p.class, "Server configuration error"))
		d.ConfigError, d.Key, d.Table, d.Note = true, k.Key, a.tableName(), err.Error()
		p.st.logger().Warn("smtppolicy: access table lookup failed", "table", a.tableName(), "key", k.Key, "error", err)
		p.d = d
		return true
	}
	if !found {
		return false
	}
	d, err := a.reg.accessResult(ctx, p.st, a.tableName(), v, p.name, p.class)
	if err != nil {
		d = p.st.failure(err)
	}
	d.Key, d.Table, d.Value = k.Key, a.tableName(), v
	if p.routed && d.Action == ActionPermit {
		d.Action, d.Note = ActionDunno, "OK ignored: sender-specified routing"
	}
	p.d = d
	return true
}

// AccessAction interprets an access(5) value as check_*_access does, for
// callers that get such values elsewhere (a policy server's action=, a
// table of their own). name and class go into the reply text.
func (r *Registry) AccessAction(ctx context.Context, st *State, value, name string, class Class) (Decision, error) {
	return r.accessResult(ctx, st, "", value, name, class)
}

// accessResult is Postfix's check_table_result.
func (r *Registry) accessResult(ctx context.Context, st *State, table, value, name string, class Class) (Decision, error) {
	cmd, text := value, ""
	if i := strings.IndexAny(value, " \t"); i >= 0 {
		cmd, text = value[:i], strings.TrimLeft(value[i:], " \t")
	}
	codes := &st.policy.Codes
	switch strings.ToUpper(cmd) {
	case "DUNNO":
		return Decision{}, nil
	case "OK", "RELAY":
		return Decision{Action: ActionPermit}, nil
	case "REJECT":
		dsn, t := splitDSN("5.7.1", text)
		if t == "" {
			t = "Access denied"
		}
		return reject(Rejectf(code(codes.AccessMapReject, 554), FixDSN(dsn, class), name, class, t)), nil
	case "DEFER":
		dsn, t := splitDSN("4.7.1", text)
		if t == "" {
			t = "Access denied"
		}
		return reject(Rejectf(code(codes.AccessMapDefer, 450), FixDSN(dsn, class), name, class, t)), nil
	case "DEFER_IF_PERMIT", "DEFER_IF_REJECT":
		dsn, t := splitDSN("4.7.1", text)
		if t == "" {
			t = "Service unavailable"
		}
		act := ActionDeferIfPermit
		if strings.EqualFold(cmd, "DEFER_IF_REJECT") {
			act = ActionDeferIfReject
		}
		return Decision{Action: act, Rejection: Rejectf(450, FixDSN(dsn, class), name, class, t)}, nil
	case "WARN":
		st.logger().Warn("smtppolicy: warn", "stage", st.Stage.String(), "client", st.ClientNamAddr(), "text", text)
		return Decision{Note: "WARN " + text}, nil
	case "INFO":
		st.logger().Info("smtppolicy: info", "stage", st.Stage.String(), "client", st.ClientNamAddr(), "text", text)
		return Decision{Note: "INFO " + text}, nil
	case "HOLD", "DISCARD", "FILTER", "REDIRECT", "BCC", "PREPEND":
		return r.sideEffect(st, table, strings.ToUpper(cmd), text, name, class)
	}
	if value == "" {
		st.logger().Warn("smtppolicy: access table entry has an empty value; treating it as OK", "table", table)
		return Decision{Action: ActionPermit}, nil
	}
	if allDigits(value) {
		return Decision{Action: ActionPermit}, nil
	}
	if len(cmd) == 3 && text != "" && (cmd[0] == '4' || cmd[0] == '5') && isDigit(cmd[1]) && isDigit(cmd[2]) {
		c, _ := strconv.Atoi(cmd)
		dsn, t := splitDSN(string(cmd[0])+".7.1", text)
		if t == "" {
			t = "Access denied"
		}
		return reject(Rejectf(c, FixDSN(dsn, class), name, class, t)), nil
	}
	if strings.IndexByte(value, ':') >= 0 {
		st.logger().Error("smtppolicy: access table entry names a lookup table; define a restriction class instead", "table", table, "value", value)
		return configError(), nil
	}
	chain, err := r.valueChain(value)
	if err != nil {
		st.logger().Error("smtppolicy: access table entry", "table", table, "value", value, "error", err)
		return configError(), nil
	}
	return chain.Check(ctx, st)
}

func (r *Registry) sideEffect(st *State, table, cmd, text, name string, class Class) (Decision, error) {
	// With smtpd_delay_reject = no, client and HELO restrictions run
	// outside a transaction: Postfix skips these actions there.
	if !st.HasSender {
		st.logger().Warn("smtppolicy: access table action skipped outside a mail transaction", "table", table, "action", cmd)
		return Decision{Note: cmd + " skipped: no transaction"}, nil
	}
	switch cmd {
	case "HOLD":
		st.Hold = true
	case "DISCARD":
		st.Discard = true
		return Decision{Action: ActionPermit, Note: fmt.Sprintf("<%s>: %s triggers DISCARD action", name, class)}, nil
	case "FILTER":
		if !strings.Contains(text, ":") {
			st.logger().Warn("smtppolicy: FILTER requires transport:destination", "table", table)
			return Decision{}, nil
		}
		st.Filter = text
	case "REDIRECT":
		if !strings.Contains(text, "@") {
			st.logger().Warn("smtppolicy: REDIRECT requires user@domain", "table", table)
			return Decision{}, nil
		}
		st.Redirect = text
	case "BCC":
		if !strings.Contains(text, "@") {
			st.logger().Warn("smtppolicy: BCC requires user@domain", "table", table)
			return Decision{}, nil
		}
		st.Bcc = append(st.Bcc, text)
	case "PREPEND":
		if st.Stage == StageEndOfData || !isHeader(text) {
			st.logger().Warn("smtppolicy: PREPEND requires header: text and is not allowed at end of data", "table", table)
			return Decision{}, nil
		}
		st.Prepend = append(st.Prepend, text)
	}
	return Decision{Note: cmd + " " + text}, nil
}

func isHeader(s string) bool {
	i := strings.IndexByte(s, ':')
	if i <= 0 {
		return false
	}
	for j := 0; j < i; j++ {
		if c := s[j]; c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return s != ""
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// Registry turns Postfix restriction names into checks. It holds what
// names refer to: restriction classes, tables, relay_clientcerts, and
// extensions registered by other packages (DNS checks, policy services).
// Its zero value knows the built-in restrictions; a nil *Registry knows
// them too, but cannot evaluate access-table values that name restrictions.
type Registry struct {
	// Classes are the restriction classes (smtpd_restriction_classes):
	// a class name in a list or an access-table value evaluates its chain.
	Classes map[string]Chain
	// OpenTable opens "type:name" tables; nil means relaymaps.Open with
	// no options.
	OpenTable func(spec string) (relaymaps.Map, error)
	// RelayClientCerts is relay_clientcerts, for permit_tls_clientcerts.
	RelayClientCerts relaymaps.Map
	// FingerprintDigest is smtpd_tls_fingerprint_digest: "sha256" (the
	// default when empty), "sha1" or "md5".
	FingerprintDigest string
	// Extensions add restrictions by name. An extension gets the tokens
	// that follow its name and says how many of them it consumed.
	Extensions map[string]Extension

	values sync.Map // access-table value → Chain
}

// Extension builds a check from the tokens after its name (for example
// "reject_rbl_client zen.example" gets ["zen.example", ...]); it returns how
// many tokens it used.
type Extension func(args []string) (c Check, used int, err error)

// Simple restrictions by name.
var simpleChecks = map[string]Check{
	"permit":                        Permit,
	"reject":                        Reject,
	"defer":                         Defer,
	"defer_if_permit":               DeferIfPermit,
	"defer_if_reject":               DeferIfReject,
	"warn_if_reject":                WarnIfReject,
	"reject_unauth_pipelining":      RejectUnauthPipelining,
	"reject_plaintext_session":      RejectPlaintextSession,
	"reject_multi_recipient_bounce": RejectMultiRecipientBounce,
	"permit_mynetworks":             PermitMyNetworks,
	"permit_sasl_authenticated":     PermitSASLAuthenticated,
	"reject_invalid_helo_hostname":  RejectInvalidHeloHostname,
	"reject_invalid_hostname":       RejectInvalidHeloHostname,
	"reject_non_fqdn_helo_hostname": RejectNonFQDNHeloHostname,
	"reject_non_fqdn_hostname":      RejectNonFQDNHeloHostname,
	"reject_non_fqdn_sender":        RejectNonFQDNSender,
	"reject_non_fqdn_recipient":     RejectNonFQDNRecipient,
	"reject_unauth_destination":     RejectUnauthDestination,
	"defer_unauth_destination":      DeferUnauthDestination,
	"permit_auth_destination":       PermitAuthDestination,
	"reject_unlisted_recipient":     RejectUnlistedRecipient,
	"check_recipient_maps":          RejectUnlistedRecipient,
	"reject_unlisted_sender":        RejectUnlistedSender,
}

// Known reports whether name is a restriction the registry can build.
func (r *Registry) Known(name string) bool {
	name = strings.ToLower(name)
	if _, ok := simpleChecks[name]; ok {
		return true
	}
	switch name {
	case "check_client_access", "check_helo_access", "check_sender_access", "check_recipient_access", "permit_tls_clientcerts":
		return true
	}
	if _, ok := argChecks[name]; ok {
		return true
	}
	if r == nil {
		return false
	}
	if _, ok := r.Classes[name]; ok {
		return true
	}
	_, ok := r.Extensions[name]
	return ok
}

// ParseError is a restriction list that cannot be built.
type ParseError struct {
	Name string // the restriction or token at fault
	Msg  string
}

func (e *ParseError) Error() string { return fmt.Sprintf("restriction %q: %s", e.Name, e.Msg) }

// Parse builds a chain from restriction tokens, as they come from a
// main.cf list split on commas and white space. defaultAccess is the access
// check a bare "type:table" token stands for in this list
// ("check_client_access" in smtpd_client_restrictions, ...); "" forbids
// bare tables (data and end-of-data lists).
func (r *Registry) Parse(tokens []string, defaultAccess string) (Chain, error) {
	var c Chain
	for i := 0; i < len(tokens); i++ {
		tok := tokens[i]
		name := strings.ToLower(tok)
		if strings.IndexByte(tok, ':') >= 0 {
			if defaultAccess == "" {
				return nil, &ParseError{tok, "a lookup table needs a check_*_access restriction before it in this list"}
			}
			name = defaultAccess
			i--
		}
		if chk, ok := simpleChecks[name]; ok {
			c = append(c, chk)
			continue
		}
		switch name {
		case "check_client_access", "check_helo_access", "check_sender_access", "check_recipient_access":
			if i+1 >= len(tokens) || !strings.Contains(tokens[i+1], ":") {
				return nil, &ParseError{name, "needs a type:table argument"}
			}
			i++
			m, err := r.open(tokens[i])
			if err != nil {
				return nil, &ParseError{tokens[i], err.Error()}
			}
			kind := map[string]accessKind{"check_client_access": accessClient, "check_helo_access": accessHelo,
				"check_sender_access": accessSender, "check_recipient_access": accessRecipient}[name]
			c = append(c, &accessCheck{kind: kind, table: m, reg: r})
			continue
		case "permit_tls_clientcerts":
			var certs relaymaps.Map
			digest := "sha256"
			if r != nil {
				certs = r.RelayClientCerts
				if r.FingerprintDigest != "" {
					digest = r.FingerprintDigest
				}
			}
			c = append(c, permitTLSClientCerts(certs, digest))
			continue
		}
		if r != nil {
			if cl, ok := r.Classes[name]; ok {
				c = append(c, Named(name, cl))
				continue
			}
			if ext, ok := r.Extensions[name]; ok {
				chk, used, err := ext(tokens[i+1:])
				if err != nil {
					return nil, &ParseError{name, err.Error()}
				}
				c = append(c, chk)
				i += used
				continue
			}
		}
		if mk, ok := argChecks[name]; ok {
			chk, used, err := mk(r, tokens[i+1:])
			if err != nil {
				return nil, &ParseError{name, err.Error()}
			}
			c = append(c, chk)
			i += used
			continue
		}
		return nil, &ParseError{tok, "unknown restriction"}
	}
	return c, nil
}

// ParseList splits a list on commas and white space (keeping "{ ... }"
// groups together) and parses it.
func (r *Registry) ParseList(list, defaultAccess string) (Chain, error) {
	return r.Parse(pflist.Split(list), defaultAccess)
}

func (r *Registry) open(spec string) (relaymaps.Map, error) {
	if r != nil && r.OpenTable != nil {
		return r.OpenTable(spec)
	}
	return relaymaps.Open(spec, nil)
}

// valueChain parses an access-table value that names restrictions, once.
func (r *Registry) valueChain(value string) (Chain, error) {
	if r == nil {
		return nil, fmt.Errorf("no registry to evaluate %q", value)
	}
	if c, ok := r.values.Load(value); ok {
		return c.(Chain), nil
	}
	c, err := r.ParseList(value, "")
	if err != nil {
		return nil, err
	}
	r.values.Store(value, c)
	return c, nil
}
