package tlsrptqueue_test

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/mxkit/mxkit/queue"
	"github.com/mxkit/mxkit/tlspolicy/tlsrpt"
	"github.com/mxkit/mxkit/tlspolicy/tlsrpt/tlsrptqueue"
	"github.com/mxkit/mxkit/tlspolicy/tlsrpt/tlsrpttest"
)

type resolver struct{}

func (resolver) LookupTXT(context.Context, string) ([]string, error) {
	return []string{"v=TLSRPTv1; rua=mailto:tlsrpt@example.com"}, nil
}

// TestQueue: the Reporter's report message lands in a queue Spool, due
// at once, from the report address to the rua, NOTIFY=NEVER, with
// TLS-Required: No.
func TestQueue(t *testing.T) {
	ctx := context.Background()
	sp, err := queue.OpenSpool(t.TempDir(), queue.SpoolOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	kicked := 0
	now := time.Date(2026, 3, 2, 0, 5, 0, 0, time.UTC)
	store := &tlsrpt.MemoryStore{}
	g := &tlsrpt.Aggregator{Store: store}
	f := tlsrpttest.Failure
	g.Record(tlsrpt.Result{Time: tlsrpttest.Day, Policy: tlsrpttest.STS, Failure: &f})
	r := &tlsrpt.Reporter{
		Store: store, Aggregator: g, Resolver: resolver{}, Submitter: "sub",
		Mail: &tlsrptqueue.Submitter{Store: sp, Kick: func() { kicked++ }, Now: func() time.Time { return now }},
		Now:  func() time.Time { return now },
	}
	if _, err := r.SendDue(ctx); err != nil {
		t.Fatal(err)
	}
	due, err := sp.Due(ctx, now, 0)
	if err != nil || len(due) != 1 {
		t.Fatalf("Due = %v, %v", due, err)
	}
	m := due[0]
	if m.Sender != "postmaster@sub" || len(m.Recipients) != 1 || m.Recipients[0].Addr != "tlsrpt@example.com" ||
		m.Recipients[0].Notify != queue.NotifyNever || !m.Arrival.Equal(now) || m.EightBitMIME || !m.TLSOptional {
		t.Errorf("message %+v", m)
	}
	if kicked != 1 {
		t.Errorf("kicked %d times", kicked)
	}
	body, err := sp.Body(ctx, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer body.Close()
	b, _ := io.ReadAll(body)
	if !strings.Contains(string(b), "\r\nTLS-Required: No\r\n") || !strings.Contains(string(b), "report-type=\"tlsrpt\"") {
		t.Errorf("body:\n%s", b)
	}
	if err := (&tlsrptqueue.Submitter{}).Submit(ctx, "a@b", []string{"c@d"}, nil); err == nil {
		t.Error("Submit without Store: no error")
	}
}
