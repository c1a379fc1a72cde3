package smtppolicytest_test

import (
	"fmt"
	"log/slog"
	"testing"

	"github.com/mxkit/mxkit/smtppolicy"
	"github.com/mxkit/mxkit/smtppolicy/smtppolicytest"
)

func examplePolicy() *smtppolicy.Policy {
	return &smtppolicy.Policy{
		Site: &smtppolicy.Site{
			MyHostname:   "mx.example",
			MyNetworks:   smtppolicytest.Networks("192.168.0.0/16"),
			RelayDomains: smtppolicytest.Domains{"example.org"},
		},
		Sender: smtppolicy.Chain{smtppolicy.CheckSenderAccess(smtppolicytest.Map(map[string]string{
			"spammer@bad.example": "REJECT go away",
		}), nil)},
		Relay:  smtppolicy.Chain{smtppolicy.PermitMyNetworks, smtppolicy.RejectUnauthDestination},
		Logger: slog.New(slog.DiscardHandler),
	}
}

func ExamplePlay() {
	t := &testing.T{} // in a real test, use the test's *testing.T
	for _, r := range smtppolicytest.Play(t, examplePolicy(), smtppolicytest.NewState("203.0.113.5"), `
		EHLO client.example
		MAIL FROM:<spammer@bad.example>
		RCPT TO:<u@example.org>
		RSET
		MAIL FROM:<friend@good.example>
		RCPT TO:<u@elsewhere.example>
		RCPT TO:<u@example.org>
		QUIT`) {
		fmt.Println(r)
	}
	// Output:
	// 220 mx.example ESMTP
	// 250 mx.example
	// 250 2.1.0 Ok
	// 554 5.7.1 <spammer@bad.example>: Sender address rejected: go away
	// 250 2.0.0 Ok
	// 250 2.1.0 Ok
	// 554 5.7.1 <u@elsewhere.example>: Relay access denied
	// 250 2.1.5 Ok
	// 221 2.0.0 Bye
}

func ExampleExpect() {
	t := &testing.T{} // in a real test, use the test's *testing.T
	smtppolicytest.Expect(t, examplePolicy(), smtppolicytest.NewState("192.168.1.10"), `
		< 220 mx.example
		> EHLO laptop
		< 250
		> MAIL FROM:<me@example.org>
		< 250 2.1.0 Ok
		> RCPT TO:<friend@elsewhere.example>
		< 250 2.1.5 Ok
	`)
	fmt.Println("failed:", t.Failed())
	// Output: failed: false
}
