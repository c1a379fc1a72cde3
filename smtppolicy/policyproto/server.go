package policyproto

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/mxkit/mxkit/internal/netserve"
)

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("policyproto: server closed")

// Server is a policy server for Postfix's check_policy_service (and
// ours): it reads queries on many connections at once, keeps each
// connection open for more queries, and answers each with the action
// Handler returns.
//
// On a malformed query (bad syntax, a line or list over the Limits, a
// request= other than smtpd_access_policy) the server logs and closes the
// connection without replying, as SMTPD_POLICY_README asks; the client
// then retries or applies its default action.
type Server struct {
	// Handler decides. It returns an access(5) action: "DUNNO", "OK",
	// "REJECT text", "550 5.7.1 text", "DEFER_IF_PERMIT text", a
	// restriction name... "" means DUNNO. NUL, CR and LF in the action
	// are sent as spaces.
	Handler func(ctx context.Context, req Request) (action string)
	// IdleTimeout closes connections that send no query for this long;
	// 0 means 1000s (Postfix's client gives up on an idle connection
	// after smtpd_policy_service_max_idle, 300s by default).
	IdleTimeout time.Duration
	// Limits bound each query.
	Limits Limits
	// Logger receives protocol errors; nil means slog.Default().
	Logger *slog.Logger

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*srvConn]struct{}
	closing   bool
	wg        sync.WaitGroup
	ctx       context.Context
	cancel    context.CancelFunc
}

type srvConn struct {
	nc   net.Conn
	busy bool // a query is being answered
}

func (s *Server) init() {
	if s.listeners == nil {
		s.listeners = map[net.Listener]struct{}{}
		s.conns = map[*srvConn]struct{}{}
		s.ctx, s.cancel = context.WithCancel(context.Background())
	}
}

func (s *Server) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

// ListenAndServe listens on network and address ("tcp", "127.0.0.1:10040"
// or "unix", "/run/policy.sock") and serves.
func (s *Server) ListenAndServe(network, address string) error {
	l, err := net.Listen(network, address)
	if err != nil {
		return err
	}
	return s.Serve(l)
}

// Serve accepts connections on l until Shutdown; it always returns a
// non-nil error, ErrServerClosed after Shutdown. l is closed on return.
func (s *Server) Serve(l net.Listener) error {
	if s.Handler == nil {
		l.Close()
		return errors.New("policyproto: Server.Handler is nil")
	}
	s.mu.Lock()
	s.init()
	if s.closing {
		s.mu.Unlock()
		l.Close()
		return ErrServerClosed
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
		l.Close()
	}()
	closing := func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.closing
	}
	for {
		nc, err := netserve.Accept(l, closing, s.logger())
		if errors.Is(err, netserve.ErrClosed) {
			return ErrServerClosed
		}
		if err != nil {
			return err
		}
		c := &srvConn{nc: nc}
		s.mu.Lock()
		if s.closing {
			s.mu.Unlock()
			nc.Close()
			return ErrServerClosed
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serveConn(c)
	}
}

func (s *Server) serveConn(c *srvConn) {
	defer s.wg.Done()
	defer func() {
		c.nc.Close()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	}()
	lim := s.Limits.norm()
	idle := s.IdleTimeout
	if idle <= 0 {
		idle = 1000 * time.Second
	}
	br := bufio.NewReaderSize(c.nc, lim.MaxLine+2)
	out := make([]byte, 0, 256)
	log := s.logger()
	for {
		c.nc.SetReadDeadline(time.Now().Add(idle))
		req, err := ReadRequest(br, lim)
		if err == nil && req.Request != RequestType {
			err = fmt.Errorf("%w: request=%q, want %s", ErrMalformed, req.Request, RequestType)
		}
		if err != nil {
			if !errors.Is(err, io.EOF) && !s.isClosing() {
				log.Warn("policyproto: closing connection without a reply", "client", c.nc.RemoteAddr().String(), "error", err)
			}
			return
		}
		s.mu.Lock()
		if s.closing {
			s.mu.Unlock()
			return
		}
		c.busy = true
		s.mu.Unlock()

		action := s.Handler(s.ctx, req)
		if action == "" {
			action = "DUNNO"
		}
		out = AppendReply(out[:0], action)
		c.nc.SetWriteDeadline(time.Now().Add(idle))
		_, err = c.nc.Write(out)

		s.mu.Lock()
		c.busy = false
		closing := s.closing
		s.mu.Unlock()
		if err != nil {
			log.Warn("policyproto: writing reply", "client", c.nc.RemoteAddr().String(), "error", err)
			return
		}
		if closing {
			return
		}
	}
}

func (s *Server) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// Shutdown stops accepting, closes the connections that wait for a
// query, lets the queries being answered finish and then closes their
// connections. If ctx ends first, the remaining connections are closed,
// the Handler's context is canceled, and ctx's error is returned.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.init()
	s.closing = true
	for l := range s.listeners {
		l.Close()
	}
	for c := range s.conns {
		if !c.busy {
			// Interrupt the read that waits for the next query.
			c.nc.SetReadDeadline(time.Unix(1, 0))
		}
	}
	s.mu.Unlock()

	waited := make(chan struct{})
	go func() { s.wg.Wait(); close(waited) }()
	select {
	case <-waited:
		s.cancel()
		return nil
	case <-ctx.Done():
		s.cancel()
		s.mu.Lock()
		for c := range s.conns {
			c.nc.Close()
		}
		s.mu.Unlock()
		<-waited
		return ctx.Err()
	}
}
