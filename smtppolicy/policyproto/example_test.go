package policyproto_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"

	"github.com/mxkit/mxkit/smtppolicy"
	"github.com/mxkit/mxkit/smtppolicy/policyproto"
	"github.com/mxkit/mxkit/smtppolicy/smtppolicytest"
)

// A policy server that refuses one recipient, and a policy that asks it
// with check_policy_service.
func Example() {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	srv := &policyproto.Server{Handler: func(_ context.Context, r policyproto.Request) string {
		if r.Recipient == "spam-trap@example.com" {
			return "550 5.7.1 go away"
		}
		return "DUNNO"
	}}
	go srv.Serve(l)
	defer srv.Shutdown(context.Background())

	reg := &smtppolicy.Registry{}
	policyproto.Register(reg, nil)
	rcpt, _ := reg.ParseList("reject_unauth_destination, check_policy_service inet:"+l.Addr().String(), "check_recipient_access")
	p := &smtppolicy.Policy{
		Site:      &smtppolicy.Site{MyDestination: smtppolicytest.Domains{"example.com"}},
		Recipient: rcpt,
		Logger:    slog.New(slog.DiscardHandler),
	}
	st := smtppolicytest.NewState("192.0.2.1")
	s := p.NewSession(&st)
	ctx := context.Background()
	s.Helo(ctx, "client.example", true)
	s.Mail(ctx, "a@example.org", 0)
	fmt.Println(s.Rcpt(ctx, "user@example.com"))
	fmt.Println(s.Rcpt(ctx, "spam-trap@example.com"))
	// Output:
	// <nil>
	// 550 5.7.1 <spam-trap@example.com>: Recipient address rejected: go away
}

func ExampleRequest_AppendTo() {
	r := policyproto.Request{Request: policyproto.RequestType, ProtocolState: "RCPT", Sender: "a@example.org"}
	b, _ := r.AppendTo(nil)
	fmt.Print(string(b[:105]))
	// Output:
	// request=smtpd_access_policy
	// protocol_state=RCPT
	// protocol_name=
	// helo_name=
	// queue_id=
	// sender=a@example.org
}
