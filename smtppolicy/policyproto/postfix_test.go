package policyproto

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/mxkit/mxkit/internal/smtpdialog"
	"github.com/mxkit/mxkit/internal/testpostfix"
)

// A real Postfix with check_policy_service pointing at our Server accepts
// and refuses exactly as our check_policy_service does with the same
// server: same codes, DSNs and texts.
func TestRealPostfixAsksOurServer(t *testing.T) {
	testpostfix.Require(t)
	_, cl := startServer(t, decide)
	list := "reject_unauth_destination, check_policy_service inet:" + cl.Addr().String()
	inst := testpostfix.Start(t, testpostfix.Options{MainCF: "mydestination = example.com\nlocal_recipient_maps =\n" +
		"smtpd_recipient_restrictions = " + list + "\n"})

	rcpts := []string{"ok@example.com", "refused@example.com", "deferred@example.com", "grey@example.com", "class@example.com"}
	script := []string{"EHLO client.example", "MAIL FROM:<a@example.org>"}
	for _, r := range rcpts {
		script = append(script, "RCPT TO:<"+r+">")
	}
	script = append(script, "QUIT")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	replies, err := smtpdialog.Run(ctx, inst.Addr, "127.0.0.5", script)
	if err != nil {
		t.Fatalf("%v\n%s", err, inst.Log())
	}
	if n := cl.n.Load(); n != 1 {
		t.Errorf("Postfix opened %d connections for %d queries, want 1", n, len(rcpts))
	}
	ours := rcpt(t, policyFor(t, list, nil), rcpts...)
	for i, r := range rcpts {
		got := replies[3+i]
		want := ours[i]
		if want == "" {
			want = "250 2.1.5 Ok"
		}
		if got.String() != want {
			t.Errorf("RCPT %s: Postfix says %q, our check_policy_service %q", r, got.String(), want)
		}
	}
}

// When the policy server is down, Postfix and our client both apply the
// default action, with the same reply.
func TestRealPostfixDefaultAction(t *testing.T) {
	testpostfix.Require(t)
	// A port nothing listens on: take one and close it.
	dead := fmt.Sprintf("inet:127.0.0.1:%d", freePort(t))
	list := "reject_unauth_destination, check_policy_service { " + dead + ", try_limit=1 }"
	inst := testpostfix.Start(t, testpostfix.Options{MainCF: "mydestination = example.com\nlocal_recipient_maps =\n" +
		"smtpd_recipient_restrictions = " + list + "\n"})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	replies, err := smtpdialog.Run(ctx, inst.Addr, "127.0.0.5", []string{"EHLO c.example", "MAIL FROM:<a@example.org>", "RCPT TO:<x@example.com>", "QUIT"})
	if err != nil {
		t.Fatal(err)
	}
	ours := rcpt(t, policyFor(t, list, nil), "x@example.com")
	const want = "451 4.3.5 <x@example.com>: Recipient address rejected: Server configuration problem"
	if replies[3].String() != want || ours[0] != want {
		t.Fatalf("Postfix %q, ours %q, want %q", replies[3].String(), ours[0], want)
	}
}
