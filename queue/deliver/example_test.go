package deliver_test

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/mxkit/mxkit/queue"
	"github.com/mxkit/mxkit/queue/deliver"
)

func delivery(route queue.Route, rcpts ...string) *queue.Delivery {
	m := &queue.Message{ID: "ex1", Sender: "alice@example.org"}
	d := &queue.Delivery{Message: m, Route: route}
	for i, r := range rcpts {
		m.Recipients = append(m.Recipients, queue.Recipient{Addr: r})
		d.Rcpts = append(d.Rcpts, i)
	}
	d.Open = func(context.Context) (io.ReadCloser, error) {
		return io.NopCloser(strings.NewReader("Subject: hi\r\n\r\nhello\r\n")), nil
	}
	return d
}

// transport_maps entries such as "olduser@example.test error:5.1.1 User
// has moved" and "spam.example discard:spam" route recipients to Error and
// Discard.
func Example() {
	deliverers := map[string]queue.Deliverer{
		"error":   deliver.Error{},
		"retry":   deliver.Retry{},
		"discard": deliver.Discard{},
	}
	for _, route := range []queue.Route{
		{Transport: "error", Nexthop: "5.1.1 User has moved"},
		{Transport: "error", Nexthop: "Mailbox disabled"},
		{Transport: "retry", Nexthop: "4.3.2 Down for maintenance"},
		{Transport: "discard", Nexthop: "spam"},
	} {
		res := deliverers[route.Transport].Deliver(context.Background(), delivery(route, "bob@example.test"))
		fmt.Printf("%-38s %s %s %s\n", route, res[0].Status, res[0].DSN, res[0].Text)
	}
	// Output:
	// error:5.1.1 User has moved             bounced 5.1.1 User has moved
	// error:Mailbox disabled                 bounced 5.0.0 Mailbox disabled
	// retry:4.3.2 Down for maintenance       deferred 4.3.2 Down for maintenance
	// discard:spam                           delivered 2.0.0 discarded: spam
}

// An smtp nexthop without brackets needs an MX lookup, which SMTP leaves
// to a Resolve hook: without one the recipients are deferred.
func ExampleSMTP_mx() {
	s := &deliver.SMTP{}
	defer s.Close()
	res := s.Deliver(context.Background(), delivery(queue.Route{Transport: "smtp", Nexthop: "example.test"}, "bob@example.test"))
	fmt.Println(res[0].Status, res[0].DSN)
	fmt.Println(res[0].Text)
	// Output:
	// deferred 4.3.5
	// smtp:example.test: delivery by MX lookup needs a DNS layer (set SMTP.Resolve, e.g. to a deliver.MXResolver): nexthop "example.test": MX lookup needed
}

func ExampleParseNexthop() {
	for _, nh := range []struct {
		s    string
		lmtp bool
	}{{"[mail.example.test]:587", false}, {"[ipv6:2001:db8::25]", false}, {"unix:/run/dovecot/lmtp", true}, {"inet:mailstore.example.test", true}} {
		hosts, err := deliver.ParseNexthop(nh.s, nh.lmtp)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Println(hosts[0].Network, hosts[0].Addr, hosts[0].Remote())
	}
	// Output:
	// tcp mail.example.test:587 mail.example.test
	// tcp [2001:db8::25]:25 [2001:db8::25]
	// unix /run/dovecot/lmtp /run/dovecot/lmtp
	// tcp mailstore.example.test:24 mailstore.example.test
}
