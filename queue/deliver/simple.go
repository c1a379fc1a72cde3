package deliver

import (
	"context"
	"strings"

	"github.com/mxkit/mxkit/internal/dsncode"
	"github.com/mxkit/mxkit/queue"
)

// Error is the error: transport, Postfix's error(8): every recipient
// bounces with the nexthop as the reason. A nexthop that starts with an
// enhanced status code ("5.1.1 No such user") gives the DSN code; the
// default is 5.0.0. A code of another class keeps its subject and detail
// but gets class 5, since a bounce reports a permanent failure.
type Error struct{}

// Deliver implements queue.Deliverer.
func (Error) Deliver(_ context.Context, d *queue.Delivery) []queue.Result {
	dsn, text := splitDSN(d.Route.Nexthop, '5')
	if text == "" {
		text = "no reason given"
	}
	return queue.Results(len(d.Rcpts), queue.Result{Status: queue.Bounced, DSN: dsn, Text: text})
}

// Retry is the retry: transport, error(8) running as retry: every
// recipient is deferred with the nexthop as the reason; the DSN code
// defaults to 4.0.0 and always has class 4.
type Retry struct{}

// Deliver implements queue.Deliverer.
func (Retry) Deliver(_ context.Context, d *queue.Delivery) []queue.Result {
	dsn, text := splitDSN(d.Route.Nexthop, '4')
	if text == "" {
		text = "no reason given"
	}
	return queue.Results(len(d.Rcpts), queue.Result{Status: queue.Deferred, DSN: dsn, Text: text})
}

// Discard is the discard: transport, Postfix's discard(8): every
// recipient counts as delivered and the message goes nowhere. The text is
// "discarded: " and the nexthop's text ("discarded" alone when empty);
// the DSN code is the nexthop's 2.x.x code, else 2.0.0.
type Discard struct{}

// Deliver implements queue.Deliverer.
func (Discard) Deliver(_ context.Context, d *queue.Delivery) []queue.Result {
	dsn, text := splitDSN(d.Route.Nexthop, '2')
	if text == "" {
		text = "discarded"
	} else {
		text = "discarded: " + text
	}
	return queue.Results(len(d.Rcpts), queue.Result{Status: queue.Delivered, DSN: dsn, Text: text})
}

// splitDSN splits "5.1.1 text" into the DSN code, forced to class, and
// the text, as Postfix's dsn_split does; without a leading code the DSN
// is class.0.0 and the whole value is text.
func splitDSN(s string, class byte) (dsn, text string) {
	s = strings.TrimSpace(s)
	if code, rest := dsncode.Split(s); code != "" {
		return string(class) + code[1:], rest
	}
	return string(class) + ".0.0", s
}
