package queue

import (
	"context"
	"fmt"
	"io"
	"strings"
)

// Route is where one recipient goes: a transport(5) result, as
// transport_maps, relay_transport and default_transport give it.
//
// Transport names the Deliverer ("smtp", "lmtp", "error", "retry",
// "discard", "maildir", or any name the application registers). Nexthop is
// the transport's own argument: "[mail.example.com]:25" or
// "example.com" (MX lookup) for smtp, "unix:/path" or "[host]:port" for
// lmtp, "5.1.1 No such user" for error, a folder for maildir.
type Route struct {
	Transport string
	Nexthop   string
}

// String returns "transport:nexthop", transport(5)'s notation.
func (r Route) String() string { return r.Transport + ":" + r.Nexthop }

// Destination is the key of per-destination concurrency and rate limits:
// Postfix's transport plus next hop (without the port for smtp/lmtp is
// not done here: [a]:25 and [a]:2525 are different destinations).
func (r Route) Destination() string { return strings.ToLower(r.String()) }

// Delivery is one attempt to hand a message to one route for some of its
// recipients.
type Delivery struct {
	// Message is the envelope; deliverers must not change it.
	Message *Message
	// Rcpts are indexes into Message.Recipients, all with this Route,
	// in envelope order.
	Rcpts []int
	Route Route
	// Open returns a fresh reader of the message content as stored
	// (CRLF line endings). It may be called more than once (a retry on
	// another connection); the caller closes each reader.
	Open func(ctx context.Context) (io.ReadCloser, error)
}

// Addrs returns the envelope addresses of d.Rcpts.
func (d *Delivery) Addrs() []string {
	a := make([]string, len(d.Rcpts))
	for i, r := range d.Rcpts {
		a[i] = d.Message.Recipients[r].Addr
	}
	return a
}

// Result is the outcome of a Delivery for one recipient.
type Result struct {
	// Status is Delivered, Bounced or Deferred. The scheduler turns
	// Bounced into Deferred under soft_bounce and Deferred into Bounced
	// when the message has outlived the queue lifetime.
	Status Status
	// DSN is the RFC 3463 enhanced status code ("2.0.0", "5.1.1",
	// "4.4.1"). Deliverers derive one from the reply code when the next
	// hop gave none.
	DSN string
	// Text is the next hop's reply ("550 5.1.1 <bob@example.test>: ...",
	// multi-line replies joined with a space) when Remote is set, else
	// our own reason ("connect to [192.0.2.1]:25: Connection refused").
	Text string
	// Remote names the next hop that answered (host name or [address]),
	// for the DSN's Remote-MTA field; empty when no server answered.
	Remote string
	// Relayed reports that the next hop accepted the recipient with its
	// DSN parameters (NOTIFY, ORCPT, ENVID, RET passed on: RFC 3461 §4),
	// so it, not we, owes the sender any later notification.
	Relayed bool
}

// Deliverer delivers messages over one kind of transport. Deliver returns
// exactly one Result per d.Rcpts, in order. It never returns Delivered for
// a recipient the next hop did not accept. A failure that is not the next
// hop's verdict (network, TLS, local I/O, a canceled ctx) is Deferred.
//
// Deliverers are used concurrently; the scheduler bounds the concurrency
// per destination. A Deliverer that keeps connections open implements
// io.Closer.
type Deliverer interface {
	Deliver(ctx context.Context, d *Delivery) []Result
}

// DelivererFunc adapts a function to the Deliverer interface.
type DelivererFunc func(ctx context.Context, d *Delivery) []Result

// Deliver calls f(ctx, d).
func (f DelivererFunc) Deliver(ctx context.Context, d *Delivery) []Result { return f(ctx, d) }

// Router chooses the Route of each recipient. An error is a temporary
// failure (a table lookup failed): the recipient is deferred with it.
type Router interface {
	Route(ctx context.Context, m *Message, rcpt string) (Route, error)
}

// RouterFunc adapts a function to the Router interface.
type RouterFunc func(ctx context.Context, m *Message, rcpt string) (Route, error)

// Route calls f(ctx, m, rcpt).
func (f RouterFunc) Route(ctx context.Context, m *Message, rcpt string) (Route, error) {
	return f(ctx, m, rcpt)
}

// Results returns n copies of r: the same outcome for every recipient of a
// delivery (a connection failure, a rejected MAIL FROM).
func Results(n int, r Result) []Result {
	out := make([]Result, n)
	for i := range out {
		out[i] = r
	}
	return out
}

// Deferf returns a Deferred result with DSN code dsn and our own reason.
func Deferf(dsn, format string, args ...any) Result {
	return Result{Status: Deferred, DSN: dsn, Text: fmt.Sprintf(format, args...)}
}
