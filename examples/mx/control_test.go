package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mxkit/mxkit/internal/smtpdialog"
)

// TestQueueCommand drives "mx queue" against a running MX (over the
// control socket) and then against its spool with no MX running.
func TestQueueCommand(t *testing.T) {
	spool := t.TempDir()
	addr, stop := runMX(t, "-spool", spool, "-config", writeConfig(t, faultConfig))
	mx := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := queueCommand(context.Background(), append([]string{"-spool", spool}, args...), &out)
		return out.String(), err
	}
	reply := dataReply(t, addr, "parked@example.test", "parked")
	id := strings.TrimPrefix(reply, "250 2.0.0 Ok: queued as ")
	// Wait for the first (failed) attempt: the reason shows in the list.
	var list string
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(list, "Connection refused"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no deferral reason in the listing:\n%s", list)
		}
		list, _ = mx("list")
	}
	row := regexp.MustCompile(`(?m)^` + id + `\s+\d+\s+\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d\s+sender@example\.org$`)
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^-Queue ID-\s+-Size-\s+-Arrival Time-\s+-Sender/Recipient-$`),
		row,
		regexp.MustCompile(`(?m)^\s+\(connect to \[127\.0\.0\.1\]:1: Connection refused\)$`),
		regexp.MustCompile(`(?m)^\s+parked@example\.test$`),
		regexp.MustCompile(`(?m)^-- 1 Kbytes in 1 Requests\.$`),
	} {
		if !want.MatchString(list) {
			t.Errorf("listing does not match %s:\n%s", want, list)
		}
	}
	if out, err := mx("hold", id); err != nil || out != "hold: 1 messages\n" {
		t.Errorf("hold: %q, %v", out, err)
	}
	if list, _ = mx("list"); !strings.Contains(list, id+"!") {
		t.Errorf("held message not marked with !:\n%s", list)
	}
	if out, err := mx("release", id); err != nil || out != "release: 1 messages\n" {
		t.Errorf("release: %q, %v", out, err)
	}
	if out, err := mx("flush", "example.test"); err != nil || !strings.HasSuffix(out, "messages made due\n") {
		t.Errorf("flush: %q, %v", out, err)
	}
	if _, err := mx("delete", "nosuchid"); err == nil || err.Error() != "nosuchid: no such message" {
		t.Errorf("delete of an unknown ID: %v", err)
	}
	if _, err := mx("bogus"); err == nil || err.Error() != `unknown queue command "bogus"` {
		t.Errorf("unknown command: %v", err)
	}

	// With the MX stopped, the command opens the spool itself.
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if list, err := mx("list"); err != nil || !strings.Contains(list, id) {
		t.Errorf("offline list: %v\n%s", err, list)
	}
	if out, err := mx("delete", id); err != nil || out != "delete: 1 messages\n" {
		t.Errorf("offline delete: %q, %v", out, err)
	}
	if list, err := mx("list"); err != nil || list != "Mail queue is empty\n" {
		t.Errorf("list after delete: %q, %v", list, err)
	}
}

// TestETRNFlushes: ETRN for a relay domain (fast_flush_domains) makes its
// deferred mail due at once, as "mx queue flush DOMAIN" does.
func TestETRNFlushes(t *testing.T) {
	addr, spool := startMX(t, "-config", writeConfig(t, faultConfig))
	dataReply(t, addr, "parked@example.test", "parked")
	attempts := func() int {
		resp, err := ask(context.Background(), spool, "", controlRequest{Op: "list"})
		if err != nil || len(resp.Messages) != 1 {
			t.Fatalf("list: %v %+v", err, resp)
		}
		return resp.Messages[0].Attempts
	}
	for deadline := time.Now().Add(10 * time.Second); attempts() == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no first attempt")
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := smtpdialog.Run(ctx, addr, "127.0.0.1", []string{"EHLO client.example.org", "ETRN example.test", "ETRN elsewhere.example"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(r[1].String(), "250-ETRN") || r[2].String() != "250 Queuing started" || r[3].String() != "459 <elsewhere.example>: service unavailable" {
		t.Fatalf("ETRN dialogue: %v", r)
	}
	// The flush made the message due: it is tried again at once, not
	// after the 300 s backoff (the dead destination's suspension is
	// lifted too).
	for deadline := time.Now().Add(10 * time.Second); attempts() < 2; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("message not retried after ETRN")
		}
	}
}
