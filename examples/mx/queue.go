package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"net/textproto"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mxkit/mxkit/queue"
	"github.com/mxkit/mxkit/queue/deliver"
	qpostfix "github.com/mxkit/mxkit/queue/postfix"
	"github.com/mxkit/mxkit/relaymaps"
	"github.com/mxkit/mxkit/smtppolicy/gosmtp"
	"github.com/mxkit/mxkit/smtppolicy/postfix"
)

// backend is the application behind the policy: each accepted message is
// written to the queue's store (fsynced, file and folder, before the 250)
// and handed to the queue runner.
type backend struct {
	store    queue.Store
	q        *queue.Queue
	srv      *postfix.Server
	hostname string
	log      *slog.Logger
	now      func() time.Time
	// spoolDir and minFree drive the storage check at MAIL; spoolDir is
	// empty when the queue is not on a local disk.
	spoolDir string
	minFree  int64
}

// freeSpace returns the bytes available to us on the file system of dir
// (a variable: tests simulate a full disk).
var freeSpace = func(dir string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}

// transports returns the deliverers of the example: smtp and relay (SMTP
// by MX lookup through the server's DNS layer, or to a [host]:port next
// hop), lmtp, error, retry, discard, and maildir, whose relative folders
// are under the spool folder.
func transports(srv *postfix.Server, qs *qpostfix.Settings, spoolDir string, log *slog.Logger) map[string]queue.Deliverer {
	var smtpc *deliver.SMTP
	if srv.DNS != nil {
		smtpc = qs.SMTPDeliverer(srv.DNS, nil, log)
	} else {
		// No DNS layer: bracketed next hops only.
		smtpc = &deliver.SMTP{Hostname: qs.SMTP.HeloName, Timeouts: qs.SMTP.Timeouts, Logger: log}
	}
	lmtpc := &deliver.SMTP{LMTP: true, Hostname: srv.Hostname, Logger: log}
	md := deliver.Maildir{Hostname: srv.Hostname, Logger: log}
	maildir := queue.DelivererFunc(func(ctx context.Context, d *queue.Delivery) []queue.Result {
		if !filepath.IsAbs(d.Route.Nexthop) {
			dd := *d
			dd.Route.Nexthop = filepath.Join(spoolDir, d.Route.Nexthop)
			d = &dd
		}
		return md.Deliver(ctx, d)
	})
	return map[string]queue.Deliverer{
		"smtp": smtpc, "relay": smtpc, "lmtp": lmtpc,
		"error": deliver.Error{}, "retry": deliver.Retry{}, "discard": deliver.Discard{},
		"maildir": maildir,
	}
}

// listenSelf adds our own listening address to the addresses at which an
// MX host is ourselves, and its port as the port where that holds: a
// backup MX listening on 127.0.0.2:2525 drops itself and every MX after it
// from the list for a next hop on port 2525, as Postfix does on port 25
// with inet_interfaces (see deliver.MXResolver.SelfPort).
func listenSelf(c *qpostfix.SMTPClient, listen string) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return
	}
	if ip, err := netip.ParseAddr(host); err == nil && !ip.IsUnspecified() {
		c.Self = append(c.Self, ip.Unmap())
	} else if host == "" || err == nil {
		if ifs, err := net.InterfaceAddrs(); err == nil {
			for _, ia := range ifs {
				if p, err := netip.ParsePrefix(ia.String()); err == nil {
					c.Self = append(c.Self, p.Addr().Unmap())
				}
			}
		}
	}
	if port != "0" && port != "25" && port != "smtp" {
		c.SelfPort = port
	}
}

func (b *backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &session{b: b, conn: c}, nil
}

type rcpt struct {
	addr, orcpt string
	notify      queue.Notify
}

type session struct {
	b    *backend
	conn *smtp.Conn

	from  string
	mopts smtp.MailOptions
	rcpts []rcpt
	id    string
}

func (s *session) Reset() {
	s.from, s.mopts, s.rcpts = "", smtp.MailOptions{}, nil
}

func (s *session) Logout() error { return nil }

// Mail refuses the transaction with 452 4.3.1 when the queue's file
// system is short of space, as Postfix's smtpd does: less than
// queue_minfree would be left after the message, or the declared SIZE is
// more than half the free space. A client retries later; the check
// saves it from sending a message that the disk would refuse at DATA.
func (s *session) Mail(from string, opts *smtp.MailOptions) error {
	var size int64
	if opts != nil {
		size = opts.Size
	}
	if dir := s.b.spoolDir; dir != "" {
		free, err := freeSpace(dir)
		if err == nil && (size > free/2 || free-size < s.b.minFree) {
			s.b.log.Warn("mx: not enough space for the queue", "free", free, "size", size, "queue_minfree", s.b.minFree)
			return &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 3, 1}, Message: "Insufficient system storage"}
		}
	}
	s.from = from
	if opts != nil {
		s.mopts = *opts
	}
	return nil
}

func (s *session) Rcpt(to string, opts *smtp.RcptOptions) error {
	r := rcpt{addr: to}
	if opts != nil {
		if opts.OriginalRecipient != "" {
			r.orcpt = strings.ToLower(string(opts.OriginalRecipientType)) + ";" + opts.OriginalRecipient
		}
		var parts []string
		for _, n := range opts.Notify {
			parts = append(parts, string(n))
		}
		n, err := queue.ParseNotify(strings.Join(parts, ","))
		if err != nil {
			return &smtp.SMTPError{Code: 501, EnhancedCode: smtp.EnhancedCode{5, 5, 4}, Message: "Bad NOTIFY parameter syntax"}
		}
		r.notify = n
	}
	s.rcpts = append(s.rcpts, r)
	return nil
}

// QueueID names the last message accepted, for "250 2.0.0 Ok: queued as ID".
func (s *session) QueueID() string { return s.id }

// Data queues the message. The answer is 250 only once Put returned nil;
// a storage failure is 451 4.3.0 (the client keeps the message), never a
// 5xx and never a 250.
func (s *session) Data(r io.Reader) error {
	ctx := context.Background()
	b := s.b
	now := b.now()
	m := &queue.Message{
		ID:           queue.NewID(),
		Sender:       s.from,
		EnvID:        s.mopts.EnvelopeID,
		SMTPUTF8:     s.mopts.UTF8,
		EightBitMIME: s.mopts.Body == smtp.Body8BitMIME,
		Arrival:      now,
	}
	switch s.mopts.Return {
	case smtp.DSNReturnFull:
		m.Ret = queue.RetFull
	case smtp.DSNReturnHeaders:
		m.Ret = queue.RetHeaders
	}
	st := gosmtp.StateOf(s.conn)
	proto := "ESMTP"
	if st != nil {
		m.Client = queue.Client{Helo: st.Helo, Name: st.ClientName, Addr: st.ClientAddr.String(), Protocol: proto}
		if st.TLS != nil {
			m.Client.Protocol = "ESMTPS"
		}
	}
	if err := s.expand(ctx, m); err != nil {
		b.log.Error("mx: virtual alias expansion failed", "err", err)
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Error: queue file write error"}
	}
	var hdr strings.Builder
	if st != nil {
		for _, p := range st.Prepend {
			hdr.WriteString(p + "\r\n")
		}
	}
	tlsClause := ""
	if st != nil && b.srv.TLSReceivedHeader && b.srv.TLS != nil {
		tlsClause = gosmtp.ReceivedTLS(st.TLS, b.srv.TLS.ClientAuth != tls.NoClientCert)
	}
	hdr.WriteString(received(m, b.hostname, tlsClause, now))
	head := &headCapture{max: 64 << 10}
	err := b.store.Put(ctx, m, io.MultiReader(strings.NewReader(hdr.String()), io.TeeReader(r, head)))
	if err != nil {
		var se *smtp.SMTPError
		if errors.As(err, &se) {
			return se // the size limit, from go-smtp's reader
		}
		b.log.Error("mx: queue file write error", "err", err)
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Error: queue file write error"}
	}
	s.id = m.ID
	// client and message_id are for Postfix's smtpd "client=" and
	// cleanup "message-id=" lines (-log-format postfix).
	b.log.Info("mx: queued", "id", m.ID, "from", m.Sender, "nrcpt", len(m.Recipients), "size", m.Size,
		"client", clientNamAddr(m.Client), "message_id", head.messageID())
	if b.q != nil {
		b.q.Kick()
	}
	return nil
}

// expand rewrites the recipients through virtual_alias_maps, as Postfix's
// cleanup(8) does before the message is queued, and drops duplicates. A
// rewritten recipient keeps the address the client gave as its original
// recipient (for DSNs), unless the client gave ORCPT.
func (s *session) expand(ctx context.Context, m *queue.Message) error {
	site := s.b.srv.Policy.Site
	seen := map[string]bool{}
	for _, r := range s.rcpts {
		addrs := []string{r.addr}
		if site != nil && len(site.VirtualAliasMaps) > 0 {
			var err error
			addrs, err = relaymaps.ExpandVirtual(ctx, site.VirtualAliasMaps, r.addr, relaymaps.VirtualOptions{Delimiters: site.RecipientDelimiter})
			if err != nil {
				return err
			}
		}
		for _, a := range addrs {
			key := strings.ToLower(a)
			if seen[key] {
				continue
			}
			seen[key] = true
			orcpt := r.orcpt
			if orcpt == "" && !strings.EqualFold(a, r.addr) {
				orcpt = "rfc822;" + r.addr
			}
			m.Recipients = append(m.Recipients, queue.Recipient{Addr: a, ORCPT: orcpt, Notify: r.notify})
		}
	}
	return nil
}

// received returns the Received header field the example adds (RFC 5321
// §4.4), in Postfix's layout; tlsClause is gosmtp.ReceivedTLS's comment
// (smtpd_tls_received_header), or "".
func received(m *queue.Message, hostname, tlsClause string, now time.Time) string {
	c := m.Client
	name := c.Name
	if name == "" {
		name = "unknown"
	}
	addr := c.Addr
	if strings.Contains(addr, ":") {
		addr = "IPv6:" + addr
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Received: from %s (%s [%s])%s\r\n\tby %s (mxkit) with %s id %s", c.Helo, name, addr, tlsClause, hostname, c.Protocol, m.ID)
	if len(m.Recipients) == 1 {
		fmt.Fprintf(&b, "\r\n\tfor <%s>", m.Recipients[0].Addr)
	}
	fmt.Fprintf(&b, "; %s\r\n", now.Format("Mon, 2 Jan 2006 15:04:05 -0700 (MST)"))
	return b.String()
}

// clientNamAddr is Postfix's name[addr] of a client.
func clientNamAddr(c queue.Client) string {
	name := c.Name
	if name == "" {
		name = "unknown"
	}
	return name + "[" + c.Addr + "]"
}

// headCapture keeps the first max bytes of a message, for its header.
type headCapture struct {
	max int
	buf []byte
}

func (h *headCapture) Write(p []byte) (int, error) {
	if n := h.max - len(h.buf); n > 0 {
		h.buf = append(h.buf, p[:min(n, len(p))]...)
	}
	return len(p), nil
}

// messageID returns the Message-ID field of the captured header as it
// is written ("<x@y>"), or "" without one. A header longer than the
// capture, or malformed, yields what was read up to there.
func (h *headCapture) messageID() string {
	hdr, _ := textproto.NewReader(bufio.NewReader(bytes.NewReader(h.buf))).ReadMIMEHeader()
	return strings.TrimSpace(hdr.Get("Message-Id"))
}
