package gosmtp

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/netip"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/mxkit/mxkit/smtppolicy"
)

// Backend is a smtp.Backend that runs a Policy before the application's
// backend: the application sees only the senders, recipients and messages
// the policy accepted. Used alone, it evaluates MAIL, RCPT and DATA
// itself; behind a Listener, the Listener's front has already done so
// and Backend only reads and checks the message body.
type Backend struct {
	// Policy is evaluated for every session.
	Policy *smtppolicy.Policy
	// Next is the application's backend.
	Next smtp.Backend
	// Hostname is $myhostname, used in replies; "" means
	// Policy.Site.MyHostname, or "localhost".
	Hostname string
	// NoPeernameLookup turns off the client name lookup that Backend does
	// when it is used without a Listener and Policy.Resolver is set.
	NoPeernameLookup bool
}

func hostname(h string, p *smtppolicy.Policy) string {
	if h != "" {
		return h
	}
	if p != nil && p.Site != nil && p.Site.MyHostname != "" {
		return p.Site.MyHostname
	}
	return "localhost"
}

// toSMTP turns a policy reply into the bare *smtp.SMTPError go-smtp needs.
func toSMTP(r *smtppolicy.Reply) *smtp.SMTPError {
	e := smtp.EnhancedCode(r.Enhanced)
	if r.Enhanced == (smtppolicy.EnhancedCode{}) {
		e = smtp.NoEnhancedCode
	}
	return &smtp.SMTPError{Code: r.Code, EnhancedCode: e, Message: r.Text}
}

// bare unwraps an application error to the *smtp.SMTPError it carries, so
// that go-smtp sends its code rather than 451.
func bare(err error) error {
	if err == nil {
		return nil
	}
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return se
	}
	var re *smtppolicy.ReplyError
	if errors.As(err, &re) {
		return toSMTP(&re.Reply)
	}
	return err
}

// StateOf returns the policy state of a go-smtp connection, so that the
// application can record facts the policy needs (SASLUsername after
// AUTH). It is nil before the first HELO/EHLO of a Backend-only setup.
func StateOf(c *smtp.Conn) *smtppolicy.State {
	if fc, ok := frontOf(c.Conn()); ok {
		return fc.sess.State()
	}
	if s, ok := c.Session().(interface{ policy() *smtppolicy.Session }); ok {
		return s.policy().State()
	}
	return nil
}

func frontOf(nc net.Conn) (*Conn, bool) {
	fc, ok := nc.(*Conn)
	return fc, ok
}

// NewSession implements smtp.Backend.
func (b *Backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	s := &session{b: b, conn: c, host: hostname(b.Hostname, b.Policy)}
	if fc, ok := frontOf(c.Conn()); ok {
		s.front = true
		s.ps = fc.sess
		s.ctx, s.cancel = context.WithCancel(fc.ctx)
	} else {
		st := &smtppolicy.State{}
		if ap, err := netip.ParseAddrPort(c.Conn().RemoteAddr().String()); err == nil {
			st.ClientAddr, st.ClientPort = ap.Addr().Unmap(), int(ap.Port())
		}
		if ap, err := netip.ParseAddrPort(c.Conn().LocalAddr().String()); err == nil {
			st.ServerAddr = ap
		}
		if cs, ok := c.TLSConnectionState(); ok {
			st.TLS = &cs
		}
		s.ctx, s.cancel = context.WithCancel(context.Background())
		if b.Policy.Resolver != nil && !b.NoPeernameLookup {
			st.ClientName, st.ReverseName, st.ClientNameTemporary, st.ReverseNameTemporary =
				smtppolicy.LookupClient(s.ctx, b.Policy.Resolver, st.ClientAddr)
		}
		s.ps = b.Policy.NewSession(st)
		if r := s.ps.Connect(s.ctx); r != nil {
			s.cancel()
			return nil, toSMTP(r)
		}
		if r := s.ps.Helo(s.ctx, c.Hostname(), true); r != nil {
			s.cancel()
			return nil, toSMTP(r)
		}
	}
	next, err := b.Next.NewSession(c)
	if err != nil {
		s.cancel()
		return nil, bare(err)
	}
	s.next = next
	if as, ok := next.(smtp.AuthSession); ok {
		return &authSession{session: s, auth: as}, nil
	}
	return s, nil
}

type session struct {
	b      *Backend
	conn   *smtp.Conn
	host   string
	front  bool // a Listener front evaluates MAIL, RCPT and DATA
	ps     *smtppolicy.Session
	next   smtp.Session
	ctx    context.Context
	cancel context.CancelFunc
}

type authSession struct {
	*session
	auth smtp.AuthSession
}

func (s *authSession) AuthMechanisms() []string { return s.auth.AuthMechanisms() }
func (s *authSession) Auth(mech string) (sasl.Server, error) {
	srv, err := s.auth.Auth(mech)
	return srv, bare(err)
}

func (s *session) policy() *smtppolicy.Session { return s.ps }

// Context returns the connection's context, cancelled at Logout.
func (s *session) Context() context.Context { return s.ctx }

func (s *session) Reset() {
	if !s.front {
		s.ps.Reset()
	}
	s.next.Reset()
}

func (s *session) Logout() error {
	defer s.cancel()
	return s.next.Logout()
}

func (s *session) Mail(from string, opts *smtp.MailOptions) error {
	if !s.front {
		var size int64
		if opts != nil {
			size = opts.Size
		}
		if r := s.ps.Mail(s.ctx, from, size); r != nil {
			return toSMTP(r)
		}
	}
	if err := s.next.Mail(from, opts); err != nil {
		if !s.front {
			s.ps.Reset()
		}
		return bare(err)
	}
	return nil
}

func (s *session) Rcpt(to string, opts *smtp.RcptOptions) error {
	if !s.front {
		if r := s.ps.Rcpt(s.ctx, to); r != nil {
			return toSMTP(r)
		}
	}
	if err := s.next.Rcpt(to, opts); err != nil {
		if !s.front {
			s.ps.Unaccept(to)
		}
		return bare(err)
	}
	return nil
}

// errBareLF is Postfix's reply with smtpd_forbid_bare_newline = yes.
func (s *session) errBareLF() *smtp.SMTPError {
	return &smtp.SMTPError{Code: 521, EnhancedCode: smtp.EnhancedCode{5, 5, 2}, Message: s.host + " Error: bare <LF> received"}
}

func (s *session) Data(r io.Reader) error {
	if !s.front {
		// Without the front, DATA restrictions run only now, after 354.
		if rep := s.ps.Data(s.ctx); rep != nil {
			_, _ = io.Copy(io.Discard, r)
			return toSMTP(rep)
		}
	}
	limit := s.b.Policy.MessageSizeLimit
	var buf bytes.Buffer
	var size int64
	bareLF := false
	prevCR := false
	chunk := make([]byte, 32*1024)
	for {
		n, err := r.Read(chunk)
		p := chunk[:n]
		for i, c := range p {
			prev := prevCR
			if i > 0 {
				prev = p[i-1] == '\r'
			}
			if c == '\n' && !prev {
				bareLF = true
			}
		}
		if n > 0 {
			prevCR = p[n-1] == '\r'
		}
		size += int64(n)
		if limit <= 0 || size <= limit {
			buf.Write(p)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return bare(err)
		}
	}
	if bareLF {
		e := s.errBareLF()
		if !s.front {
			// Postfix disconnects: write the reply ourselves and close.
			_, _ = io.WriteString(s.conn.Conn(), "521 5.5.2 "+e.Message+"\r\n")
			_ = s.conn.Close()
		}
		return e
	}
	if rep := s.ps.EndOfData(s.ctx, size); rep != nil {
		return toSMTP(rep)
	}
	if err := s.next.Data(&buf); err != nil {
		return bare(err)
	}
	if q, ok := s.next.(QueueIDer); ok {
		if fc, ok := frontOf(s.conn.Conn()); ok {
			fc.queueID = q.QueueID()
		}
	}
	return nil
}

// QueueIDer is implemented by application sessions that name the message
// they just accepted; behind a Listener the reply to the end of data is
// then Postfix's "250 2.0.0 Ok: queued as ID".
type QueueIDer interface {
	QueueID() string
}
