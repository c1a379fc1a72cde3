package smtppolicy

import (
	"context"
	"log/slog"
	"strings"
	"sync"
)

// Policy is a set of Postfix-style restriction lists with the settings that
// change how they are evaluated. Its zero value is usable and safe: nothing
// is permitted to relay (the relay list defaults to Postfix's
// permit_mynetworks, permit_sasl_authenticated, defer_unauth_destination,
// and Site's zero value has no mynetworks and no relay domains).
//
// A Policy must not be changed once sessions use it.
type Policy struct {
	// The restriction lists, in the order Postfix evaluates them.
	Client    Chain // smtpd_client_restrictions
	Helo      Chain // smtpd_helo_restrictions
	Sender    Chain // smtpd_sender_restrictions
	Relay     Chain // smtpd_relay_restrictions; nil means DefaultRelay()
	Recipient Chain // smtpd_recipient_restrictions
	Data      Chain // smtpd_data_restrictions
	EndOfData Chain // smtpd_end_of_data_restrictions

	// Site describes the local, virtual and relay domains and the valid
	// recipients. Nil means an empty Site.
	Site *Site

	// EarlyReject evaluates the client, HELO and sender lists when their
	// command arrives (smtpd_delay_reject = no) instead of at each RCPT.
	EarlyReject bool
	// RecipientBeforeRelay evaluates smtpd_recipient_restrictions before
	// smtpd_relay_restrictions, as Postfix does below compatibility
	// level 3.6 (smtpd_relay_before_recipient_restrictions = no).
	RecipientBeforeRelay bool
	// NoImplicitRecipientCheck turns off the recipient validation Postfix
	// does after the lists (smtpd_reject_unlisted_recipient = no).
	NoImplicitRecipientCheck bool
	// ImplicitSenderCheck validates the sender like reject_unlisted_sender
	// after the sender list (smtpd_reject_unlisted_sender = yes).
	ImplicitSenderCheck bool
	// HeloRequired refuses MAIL before HELO/EHLO (smtpd_helo_required).
	HeloRequired bool
	// MessageSizeLimit in bytes (message_size_limit); 0 is no limit.
	MessageSizeLimit int64
	// RecipientLimit per message (smtpd_recipient_limit); 0 is no limit.
	RecipientLimit int
	// SoftBounce turns every 5xx reply into a 4xx (soft_bounce).
	SoftBounce bool
	// DryRun evaluates and logs everything but accepts: every rejection
	// is logged as "dry-run: would reject" and the command goes on.
	DryRun bool
	// Codes overrides Postfix's default reply codes.
	Codes Codes
	// Resolver answers the DNS-based checks; nil makes them answer
	// 451 4.3.5 Server configuration error.
	Resolver Resolver

	// Logger receives decisions. Nil means slog.Default().
	Logger *slog.Logger

	once     sync.Once
	relay    Chain
	relayErr bool
}

// Codes are the configurable reply codes. A zero field means Postfix's
// default, given in the field's comment.
type Codes struct {
	Reject               int // reject_code, 554
	Defer                int // defer_code, 450
	Relay                int // relay_domains_reject_code, 554
	AccessMapReject      int // access_map_reject_code, 554
	AccessMapDefer       int // access_map_defer_code, 450
	InvalidHostname      int // invalid_hostname_reject_code, 501
	NonFQDN              int // non_fqdn_reject_code, 504
	UnknownAddress       int // unknown_address_reject_code, 450
	UnknownClient        int // unknown_client_reject_code, 450
	UnknownHostname      int // unknown_hostname_reject_code, 450
	UnknownLocal         int // unknown_local_recipient_reject_code, 550
	UnknownRelay         int // unknown_relay_recipient_reject_code, 550
	UnknownVirtualAlias  int // unknown_virtual_alias_reject_code, 550
	UnknownVirtualMbox   int // unknown_virtual_mailbox_reject_code, 550
	MultiRecipientBounce int // multi_recipient_bounce_reject_code, 550
	Plaintext            int // plaintext_reject_code, 450
	RBL                  int // maps_rbl_reject_code, 554
}

func code(v, def int) int {
	if v != 0 {
		return v
	}
	return def
}

// DefaultRelay returns Postfix's default smtpd_relay_restrictions:
// permit_mynetworks, permit_sasl_authenticated, defer_unauth_destination.
func DefaultRelay() Chain {
	return Chain{PermitMyNetworks, PermitSASLAuthenticated, DeferUnauthDestination}
}

// relayChain returns the relay list and whether the policy is safe: at
// least one of the relay and recipient lists must contain a check that can
// refuse relaying, or every RCPT is refused with a configuration error
// (Postfix refuses to start in that case).
func (p *Policy) relayChain() (Chain, bool) {
	p.once.Do(func() {
		p.relay = p.Relay
		if p.relay == nil {
			p.relay = DefaultRelay()
		}
		p.relayErr = !p.relay.restrictsRelay() && !p.Recipient.restrictsRelay()
		if p.relayErr {
			p.logger().Error("smtppolicy: neither the relay nor the recipient restrictions contain reject_unauth_destination, defer_unauth_destination, reject, defer or defer_if_permit; refusing all recipients")
		}
	})
	return p.relay, !p.relayErr
}

// Validate reports a policy that would refuse every recipient because
// it has no relay protection.
func (p *Policy) Validate() error {
	if _, ok := p.relayChain(); !ok {
		return errNoRelayProtection
	}
	return nil
}

var errNoRelayProtection = &policyError{"smtppolicy: specify at least one of reject_unauth_destination, defer_unauth_destination, reject, defer or defer_if_permit in the relay or recipient restrictions"}

type policyError struct{ s string }

func (e *policyError) Error() string { return e.s }

func (p *Policy) logger() *slog.Logger {
	if p.Logger != nil {
		return p.Logger
	}
	return slog.Default()
}

var emptySite Site

func (p *Policy) site() *Site {
	if p.Site != nil {
		return p.Site
	}
	return &emptySite
}

// earlyState keeps the outcome of early evaluation
// (smtpd_delay_reject = no).
type earlyState struct {
	client *Reply // the client list rejected at connect
	sender *Reply
}

// Session evaluates a Policy for one SMTP session. Its methods take the
// SMTP commands in protocol order and return nil to go on or the reply to
// send. They implement Postfix's protocol rules around the restriction
// lists (HELO required, nested MAIL, size and recipient limits, bare
// postmaster, no valid recipients) so that a front end only has to parse
// commands and relay replies.
type Session struct {
	p  *Policy
	st State
	// denied is the reply of a client list that rejected at connect time:
	// every later command but QUIT gets 503 (smtpd_delay_reject = no).
	denied bool
}

// NewSession starts a session. client carries the connection facts
// (ClientAddr, ClientName, ...); it is copied.
func (p *Policy) NewSession(client *State) *Session {
	s := &Session{p: p}
	if client != nil {
		s.st = *client
		s.st.Recipients = nil
	}
	s.st.site = p.site()
	s.st.policy = p
	s.st.softBounce = p.SoftBounce
	if s.st.Logger == nil {
		s.st.Logger = p.Logger
	}
	if s.st.ClientName == "" {
		s.st.ClientName = "unknown"
	}
	if s.st.ReverseName == "" {
		s.st.ReverseName = "unknown"
	}
	return s
}

// State returns the session state. The front end may update connection
// facts on it (TLS after STARTTLS, SASL after AUTH, IllegalPipelining).
func (s *Session) State() *State { return &s.st }

// Policy returns the session's policy.
func (s *Session) Policy() *Policy { return s.p }

// fixed formats a reply that does not come from a restriction list
// (protocol errors, limits). soft_bounce applies to it too.
func (s *Session) fixed(code int, dsn, text string) *Reply {
	r := Rejection{Code: code, DSN: dsn, Text: text}.format(s.p.SoftBounce)
	return &r
}

// Connect evaluates the client list at connect time when EarlyReject is
// set. A non-nil reply replaces the greeting; every later command except
// QUIT then gets Denied().
func (s *Session) Connect(ctx context.Context) *Reply {
	s.st.Stage = StageConnect
	if !s.p.EarlyReject {
		return nil
	}
	r := s.evalClient(ctx)
	if r != nil {
		s.denied = true
		s.st.early.client = r
	}
	return s.dry(r)
}

// Denied returns the reply for commands after a connect-time rejection:
// "503 5.7.0 Error: access denied for host[addr]", or nil.
func (s *Session) Denied() *Reply {
	if !s.denied {
		return nil
	}
	return s.fixed(503, "5.7.0", "Error: access denied for "+s.st.ClientNamAddr())
}

// Helo records the HELO/EHLO name and, with EarlyReject, evaluates the HELO
// list. A rejected HELO leaves the session without a HELO name.
func (s *Session) Helo(ctx context.Context, name string, esmtp bool) *Reply {
	if r := s.Denied(); r != nil {
		return r
	}
	s.st.Stage = StageHelo
	s.st.resetTransaction()
	prev, prevESMTP := s.st.Helo, s.st.ESMTP
	s.st.Helo, s.st.ESMTP = name, esmtp
	if s.p.EarlyReject {
		if r := s.evalHelo(ctx); r != nil && !s.p.DryRun {
			s.st.Helo, s.st.ESMTP = prev, prevESMTP
			return r
		}
	}
	return nil
}

// Reset forgets the mail transaction (RSET, or a new EHLO).
func (s *Session) Reset() { s.st.resetTransaction() }

// Mail evaluates MAIL FROM. from is the address without angle brackets
// ("" for the null sender); size is the SIZE= parameter or 0.
func (s *Session) Mail(ctx context.Context, from string, size int64) *Reply {
	if r := s.MailSequence(); r != nil {
		return r
	}
	if s.p.MessageSizeLimit > 0 && size > s.p.MessageSizeLimit {
		return s.fixed(552, "5.3.4", "Message size exceeds fixed limit")
	}
	s.st.Stage = StageMail
	s.st.Sender, s.st.Size = from, size
	if s.p.EarlyReject {
		s.st.HasSender = true
		if r := s.evalSender(ctx); r != nil && !s.p.DryRun {
			s.st.resetTransaction()
			return r
		}
		s.st.HasSender = false
	}
	s.st.HasSender = true
	return nil
}

// MailSequence returns the reply MAIL FROM gets before its address is
// looked at (Postfix checks these first): the session was denied at
// connect, HELO is required and missing, or a transaction is open. Nil
// means go on.
func (s *Session) MailSequence() *Reply {
	if r := s.Denied(); r != nil {
		return r
	}
	if s.p.HeloRequired && s.st.Helo == "" {
		return s.fixed(503, "5.5.1", "Error: send HELO/EHLO first")
	}
	if s.st.HasSender {
		return s.fixed(503, "5.5.1", "Error: nested MAIL command")
	}
	return nil
}

// RcptSequence is MailSequence for RCPT TO: MAIL must come first.
func (s *Session) RcptSequence() *Reply {
	if r := s.Denied(); r != nil {
		return r
	}
	if !s.st.HasSender {
		return s.fixed(503, "5.5.1", "Error: need MAIL command")
	}
	return nil
}

// DataSequence is MailSequence for DATA and BDAT: outside a transaction
// "503 5.5.1 Error: need RCPT command"; inside one with no accepted
// recipient "554 5.5.1 Error: no valid recipients" (Postfix 3.7, whether
// or not RCPT was tried).
func (s *Session) DataSequence() *Reply {
	if r := s.Denied(); r != nil {
		return r
	}
	if !s.st.HasSender {
		return s.fixed(503, "5.5.1", "Error: need RCPT command")
	}
	if len(s.st.Recipients) == 0 {
		return s.fixed(554, "5.5.1", "Error: no valid recipients")
	}
	return nil
}

// Rcpt evaluates RCPT TO. to is the address without angle brackets. When
// it returns nil the recipient is accepted and added to State.Recipients;
// call Unaccept if the application refuses it afterwards.
func (s *Session) Rcpt(ctx context.Context, to string) *Reply {
	if r := s.RcptSequence(); r != nil {
		return r
	}
	if s.p.RecipientLimit > 0 && len(s.st.Recipients) >= s.p.RecipientLimit {
		return s.fixed(452, "4.5.3", "Error: too many recipients")
	}
	s.st.Stage = StageRcpt
	s.st.Recipient = to
	// RFC 5321 §4.5.1: postmaster without a domain is always accepted.
	if strings.EqualFold(to, "postmaster") {
		s.accept(to)
		return nil
	}
	r := s.evalRcpt(ctx, to)
	if r = s.dry(r); r != nil {
		s.st.Rejected++
		return r
	}
	s.accept(to)
	return nil
}

// Vrfy evaluates "VRFY addr" as Postfix's smtpd does (smtpd_check_rcpt):
// the delayed client and HELO restrictions, the sender restrictions when
// a transaction is open, then the relay and recipient restrictions and
// the implicit recipient validation, for addr. Nothing of the session
// changes. Nil means the answer is "252 2.0.0 <argument>".
func (s *Session) Vrfy(ctx context.Context, addr string) *Reply {
	if r := s.Denied(); r != nil {
		return r
	}
	// RFC 5321 §4.5.1: postmaster without a domain is always accepted.
	if strings.EqualFold(addr, "postmaster") {
		return nil
	}
	saved := s.st
	defer func() { s.st = saved }()
	s.st.Stage = StageRcpt
	s.st.Recipient = addr
	return s.dry(s.evalRcpt(ctx, addr))
}

// Etrn evaluates ETRN (RFC 1985) as Postfix's smtpd_check_etrn does:
// with smtpd_delay_reject (the default) the client and HELO restrictions
// run now, and a deferred permit (defer_if_permit) from them becomes the
// deferral. smtpd_etrn_restrictions has no counterpart (the main.cf layer
// refuses it). The session's transaction state is left untouched.
func (s *Session) Etrn(ctx context.Context, domain string) *Reply {
	if r := s.Denied(); r != nil {
		return r
	}
	saved := s.st
	defer func() { s.st = saved }()
	st := &s.st
	if !s.p.EarlyReject {
		if r := s.evalClient(ctx); r != nil {
			return s.dry(r)
		}
		if r := s.evalHelo(ctx); r != nil {
			return s.dry(r)
		}
	} else if r := st.early.client; r != nil {
		return s.dry(r)
	}
	st.ev.dip = st.heloDIP
	if st.ev.dip == nil {
		st.ev.dip = st.clientDIP
	}
	st.ev.list = "smtpd_etrn_restrictions"
	return s.dry(st.deferIfPermit())
}

func (s *Session) accept(to string) { s.st.Recipients = append(s.st.Recipients, to) }

// Unaccept removes the last accepted recipient (the application refused it
// after the policy accepted it).
func (s *Session) Unaccept(to string) {
	if n := len(s.st.Recipients); n > 0 && s.st.Recipients[n-1] == to {
		s.st.Recipients = s.st.Recipients[:n-1]
		s.st.Rejected++
	}
}

// Data evaluates the DATA command, before the 354 reply.
func (s *Session) Data(ctx context.Context) *Reply {
	if r := s.DataSequence(); r != nil {
		return r
	}
	s.st.Stage = StageData
	return s.dry(s.evalMessageStage(ctx, s.p.Data, "smtpd_data_restrictions", "DATA", ClassData))
}

// EndOfData evaluates the end of the message; size is the message size in
// bytes as received.
func (s *Session) EndOfData(ctx context.Context, size int64) *Reply {
	if s.p.MessageSizeLimit > 0 && size > s.p.MessageSizeLimit {
		return s.fixed(552, "5.3.4", "Error: message file too big")
	}
	s.st.Stage = StageEndOfData
	s.st.Size = size
	return s.dry(s.evalMessageStage(ctx, s.p.EndOfData, "smtpd_end_of_data_restrictions", "END-OF-DATA", ClassEndOfData))
}

// dry implements DryRun: the rejection is logged, and nil returned.
func (s *Session) dry(r *Reply) *Reply {
	if r == nil {
		return nil
	}
	l := s.st.logger()
	if !l.Enabled(context.Background(), slog.LevelInfo) {
		if s.p.DryRun {
			return nil
		}
		return r
	}
	msg := "smtppolicy: reject"
	if s.p.DryRun {
		msg = "smtppolicy: dry-run: would reject"
	}
	// Postfix's "NOQUEUE: reject: RCPT from host[addr]: 554 ...; from=<> to=<> proto=ESMTP helo=<>".
	proto := "SMTP"
	if s.st.ESMTP {
		proto = "ESMTP"
	}
	l.Info(msg, "stage", s.st.Stage.String(), "client", s.st.ClientNamAddr(),
		"from", s.st.Sender, "to", s.st.Recipient, "helo", s.st.Helo, "reply", r.String(), "proto", proto)
	if s.p.DryRun {
		return nil
	}
	return r
}

// begin starts the evaluation of one list.
func (st *State) begin(list, name string, class Class) {
	st.ev.depth, st.ev.warn = 0, 0
	st.ev.dir = nil
	st.ev.list, st.ev.name, st.ev.class = list, name, class
}

// run evaluates a chain and returns the settled rejection, if any.
func (st *State) run(ctx context.Context, c Chain) *Reply {
	if len(c) == 0 {
		return nil
	}
	d, _ := c.Check(ctx, st)
	if d.Action == ActionReject {
		return d.reply
	}
	return nil
}

// deferIfPermit turns a raised defer_if_permit flag into the final reply.
func (st *State) deferIfPermit() *Reply {
	if st.ev.dip == nil {
		return nil
	}
	r := st.ev.dip.format(st.softBounce)
	st.traceNote(st.ev.list, "defer_if_permit", ActionReject, r.String(), "deferred permit")
	return &r
}

func (s *Session) evalClient(ctx context.Context) *Reply {
	st := &s.st
	st.ev.dip = nil
	st.begin("smtpd_client_restrictions", st.ClientNamAddr(), ClassClient)
	r := st.run(ctx, s.p.Client)
	st.clientDIP = st.ev.dip
	return r
}

func (s *Session) evalHelo(ctx context.Context) *Reply {
	st := &s.st
	if st.Helo == "" {
		st.heloDIP = st.clientDIP
		return nil
	}
	st.ev.dip = st.clientDIP
	st.begin("smtpd_helo_restrictions", st.Helo, ClassHelo)
	r := st.run(ctx, s.p.Helo)
	st.heloDIP = st.ev.dip
	return r
}

func (s *Session) evalSender(ctx context.Context) *Reply {
	st := &s.st
	if !st.HasSender {
		return nil
	}
	st.ev.dip = st.heloDIP
	if st.ev.dip == nil {
		st.ev.dip = st.clientDIP
	}
	st.ev.senderMapsChecked = false
	st.begin("smtpd_sender_restrictions", st.Sender, ClassSender)
	r := st.run(ctx, s.p.Sender)
	st.senderDIP = st.ev.dip
	if r == nil && s.p.ImplicitSenderCheck && !st.ev.senderMapsChecked && !st.Discard && st.Sender != "" {
		r = rejectUnlistedSender.settleDirect(ctx, st)
	}
	return r
}

// evalRcpt is Postfix's smtpd_check_rcpt.
func (s *Session) evalRcpt(ctx context.Context, to string) *Reply {
	st := &s.st
	if !s.p.EarlyReject {
		if r := s.evalClient(ctx); r != nil {
			return r
		}
		if r := s.evalHelo(ctx); r != nil {
			return r
		}
		if r := s.evalSender(ctx); r != nil {
			return r
		}
	} else if r := st.early.client; r != nil {
		return r
	}
	st.ev.dip = st.senderDIP
	st.ev.rcptMapsChecked = false
	st.begin("", to, ClassRecipient)
	st.ev.dir = nil
	relay, ok := s.p.relayChain()
	if !ok {
		r := configError().Rejection.format(st.softBounce)
		return &r
	}
	lists := [2]struct {
		name string
		c    Chain
	}{{"smtpd_relay_restrictions", relay}, {"smtpd_recipient_restrictions", s.p.Recipient}}
	if s.p.RecipientBeforeRelay {
		lists[0], lists[1] = lists[1], lists[0]
	}
	for _, l := range lists {
		st.ev.list = l.name
		st.ev.depth, st.ev.warn = 0, 0
		if r := st.run(ctx, l.c); r != nil {
			return r
		}
	}
	if r := st.deferIfPermit(); r != nil {
		return r
	}
	if !s.p.NoImplicitRecipientCheck && !st.ev.rcptMapsChecked && !st.Discard {
		st.ev.list = "smtpd_reject_unlisted_recipient"
		return rejectUnlistedRecipient.settleDirect(ctx, st)
	}
	return nil
}

func (s *Session) evalMessageStage(ctx context.Context, c Chain, list, name string, class Class) *Reply {
	st := &s.st
	saved := st.Recipient
	st.Recipient = ""
	if len(st.Recipients) == 1 {
		st.Recipient = st.Recipients[0]
	}
	defer func() { st.Recipient = saved }()
	st.ev.dip = nil
	st.begin(list, name, class)
	if r := st.run(ctx, c); r != nil {
		return r
	}
	return st.deferIfPermit()
}
