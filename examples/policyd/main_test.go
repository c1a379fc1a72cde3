package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mxkit/mxkit/internal/smtpdialog"
	"github.com/mxkit/mxkit/internal/testpostfix"
	"github.com/mxkit/mxkit/smtppolicy/policyproto"
)

const testMainCF = `myhostname = policy.example
mydestination = example.com
local_recipient_maps =
mynetworks = 192.168.0.0/16
smtpd_client_restrictions = check_client_access inline:{ {192.0.2.66=REJECT blocked client} }
smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination,
    check_recipient_access inline:{ {blocked@example.com=REJECT not here}, {later@example.com=DEFER_IF_PERMIT try later} }
`

// startPolicyd runs policyd with testMainCF and returns its address.
func startPolicyd(t *testing.T) string {
	t.Helper()
	cf := filepath.Join(t.TempDir(), "main.cf")
	if err := os.WriteFile(cf, []byte(testMainCF), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	var stderr strings.Builder
	go func() { done <- run(ctx, []string{"-listen", "127.0.0.1:0", "-config", cf}, &stderr, ready) }()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("policyd: %v\n%s", err, stderr.String())
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("policyd: %v", err)
		}
	})
	return addr
}

func TestPolicydAnswers(t *testing.T) {
	addr := startPolicyd(t)
	c, err := policyproto.NewClient("inet:"+addr, &policyproto.Options{TryLimit: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, tc := range []struct {
		state, client, rcpt, want string
	}{
		{"RCPT", "203.0.113.1", "ok@example.com", "DUNNO"},
		{"RCPT", "203.0.113.1", "blocked@example.com", "554 5.7.1 not here"},
		{"RCPT", "203.0.113.1", "later@example.com", "450 4.7.1 try later"},
		{"RCPT", "203.0.113.1", "u@elsewhere.example", "554 5.7.1 <u@elsewhere.example>: Relay access denied"},
		{"RCPT", "192.168.1.1", "u@elsewhere.example", "DUNNO"},
		{"RCPT", "192.0.2.66", "ok@example.com", "554 5.7.1 <unknown[192.0.2.66]>: Client host rejected: blocked client"},
		{"CONNECT", "192.0.2.66", "", "554 5.7.1 blocked client"},
		{"MAIL", "203.0.113.1", "", "DUNNO"},
		{"DATA", "192.0.2.66", "", "DUNNO"},
	} {
		req := policyproto.Request{Request: policyproto.RequestType, ProtocolState: tc.state, ProtocolName: "ESMTP",
			ClientAddress: tc.client, ClientName: "unknown", ReverseClientName: "unknown", HeloName: "client.example",
			Sender: "a@example.org", Recipient: tc.rcpt}
		got, err := c.Query(context.Background(), &req)
		if err != nil || got != tc.want {
			t.Errorf("%s from %s to %s: %q, %v; want %q", tc.state, tc.client, tc.rcpt, got, err, tc.want)
		}
	}
}

// A real Postfix asks policyd and refuses what the main.cf given to
// policyd refuses, with mxkit's reply.
func TestPolicydWithRealPostfix(t *testing.T) {
	testpostfix.Require(t)
	addr := startPolicyd(t)
	inst := testpostfix.Start(t, testpostfix.Options{MainCF: "mydestination = example.com, elsewhere.example\nlocal_recipient_maps =\n" +
		"smtpd_recipient_restrictions = reject_unauth_destination, check_policy_service inet:" + addr + "\n"})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	replies, err := smtpdialog.Run(ctx, inst.Addr, "127.0.0.5", []string{"EHLO client.example", "MAIL FROM:<a@example.org>",
		"RCPT TO:<ok@example.com>", "RCPT TO:<blocked@example.com>", "RCPT TO:<later@example.com>", "RCPT TO:<u@elsewhere.example>", "QUIT"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"250 2.1.5 Ok",
		"554 5.7.1 <blocked@example.com>: Recipient address rejected: not here",
		"450 4.7.1 <later@example.com>: Recipient address rejected: try later",
		// Postfix's list lets elsewhere.example through; policyd's main.cf
		// does not relay it.
		"554 5.7.1 <u@elsewhere.example>: Recipient address rejected: <u@elsewhere.example>: Relay access denied",
	}
	for i, w := range want {
		if got := replies[3+i].String(); got != w {
			t.Errorf("RCPT %d: %q, want %q", i+1, got, w)
		}
	}
	if t.Failed() {
		t.Log(inst.Log())
	}
}
