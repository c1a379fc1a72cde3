package postfix

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mxkit/mxkit/queue"
	"github.com/mxkit/mxkit/tlspolicy"
)

func TestRouter(t *testing.T) {
	srv := buildString(t, `myhostname = mx.example.test
mydestination = $myhostname, localhost
relay_domains = example.test, relayed.test
virtual_mailbox_domains = vmail.test
virtual_alias_domains = valias.test
relayhost = [smarthost.example]:587
local_transport = error:local mail delivery is disabled
transport_maps = inline:{ example.test=lmtp:unix:/run/lmtp, special.example.org=:[10.0.0.1], plain.example.org=smtp:, { bad@relayed.test = error:5.1.1 gone } }
`)
	for _, tc := range []struct{ rcpt, want string }{
		{"alice@example.test", "lmtp:unix:/run/lmtp"},
		{"bob@relayed.test", "relay:[smarthost.example]:587"},
		{"bad@relayed.test", "error:5.1.1 gone"},
		{"user@vmail.test", "virtual:vmail.test"},
		{"user@valias.test", "error:User unknown in virtual alias table"},
		{"root@mx.example.test", "error:local mail delivery is disabled"},
		{"someone@elsewhere.example", "smtp:[smarthost.example]:587"},
		{"x@special.example.org", "smtp:[10.0.0.1]"},
		{"x@plain.example.org", "smtp:[smarthost.example]:587"},
	} {
		r, err := srv.Route(context.Background(), tc.rcpt)
		if err != nil {
			t.Errorf("Route(%s): %v", tc.rcpt, err)
			continue
		}
		if r.String() != tc.want {
			t.Errorf("Route(%s) = %s, want %s", tc.rcpt, r, tc.want)
		}
	}
	// Without relayhost the next hop is the recipient's domain.
	srv = buildString(t, "myhostname = mx.example.test\nrelay_domains = example.test\n")
	for rcpt, want := range map[string]string{
		"a@example.test":      "relay:example.test",
		"b@Elsewhere.Example": "smtp:elsewhere.example",
	} {
		if r, err := srv.Route(context.Background(), rcpt); err != nil || r.String() != want {
			t.Errorf("Route(%s) = %s, %v; want %s", rcpt, r, err, want)
		}
	}
}

func TestQueueSettings(t *testing.T) {
	srv := buildString(t, `myhostname = mx.example.test
minimal_backoff_time = 60s
maximal_backoff_time = 1h
maximal_queue_lifetime = 3d
bounce_queue_lifetime = 0
delay_warning_time = 6h
soft_bounce = yes
default_destination_concurrency_limit = 5
smtp_destination_rate_delay = 2s
relay_destination_concurrency_limit = 3
bounce_size_limit = 10000
`)
	q := srv.Queue
	want := queue.Schedule{MinBackoff: time.Minute, MaxBackoff: time.Hour, Lifetime: 72 * time.Hour, BounceLifetime: -1, DelayWarning: 6 * time.Hour}
	if q.Schedule.MinBackoff != want.MinBackoff || q.Schedule.MaxBackoff != want.MaxBackoff || q.Schedule.Lifetime != want.Lifetime ||
		q.Schedule.BounceLifetime != want.BounceLifetime || q.Schedule.DelayWarning != want.DelayWarning {
		t.Errorf("Schedule = %+v, want %+v", q.Schedule, want)
	}
	if !q.SoftBounce {
		t.Error("soft_bounce not read")
	}
	if q.Limit != (queue.Limit{Concurrency: 5, Recipients: 50}) {
		t.Errorf("Limit = %+v", q.Limit)
	}
	if got := q.TransportLimits["smtp"]; got != (queue.Limit{Concurrency: 5, RateDelay: 2 * time.Second, Recipients: 50}) {
		t.Errorf("smtp limit = %+v", got)
	}
	if got := q.TransportLimits["relay"]; got != (queue.Limit{Concurrency: 3, Recipients: 50}) {
		t.Errorf("relay limit = %+v", got)
	}
	if q.DSN.ReportingMTA != "mx.example.test" || q.DSN.MaxReturned != 10000 {
		t.Errorf("DSN = %+v", q.DSN)
	}
	// Postfix's defaults: delay warnings off, 5 days.
	d := buildString(t, "myhostname = mx.example.test\n").Queue
	if d.Schedule.DelayWarning != 0 || d.Schedule.Lifetime != 5*24*time.Hour || d.Schedule.MinBackoff != 300*time.Second || d.Schedule.MaxBackoff != 4000*time.Second || d.SoftBounce {
		t.Errorf("default queue settings = %+v", d)
	}
	if _, err := tryBuild(t, "compatibility_level = 3.6\nrelayhost = [a.example], [b.example]\n"); err == nil || !strings.Contains(err.Error(), "relayhost") {
		t.Errorf("two relay hosts: err = %v, want a relayhost error", err)
	}
}

// TestSeedQueue reads the queue side of smtppolicy/postfix's seed main.cf.
func TestSeedQueue(t *testing.T) {
	srv, qs, err := Load("../../smtppolicy/postfix/testdata/seed/main.cf", quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	defer qs.Close()
	if qs.Schedule.DelayWarning != 6*time.Hour {
		t.Errorf("the seed's delay_warning_time = 6h read as %v", qs.Schedule.DelayWarning)
	}
	if qs.SMTP.TLS.Level != tlspolicy.Dane {
		t.Errorf("smtp_tls_security_level = dane read as %v", qs.SMTP.TLS.Level)
	}
	// The SMTP client's parameters are honoured, none ignored.
	if ignored := strings.Join(srv.Ignored, "\n"); strings.Contains(ignored, "smtp_") {
		t.Errorf("smtp_* parameters ignored:\n%s", ignored)
	}
}
