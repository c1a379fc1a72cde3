package deliver

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mxkit/mxkit/internal/testcert"
	"github.com/mxkit/mxkit/internal/testpostfix"
	"github.com/mxkit/mxkit/queue"
)

// A real Postfix smtpd as the next hop, offering STARTTLS with a test
// certificate and rejecting one recipient with check_recipient_access.
func TestPostfixNextHop(t *testing.T) {
	testpostfix.Require(t)
	cert, err := testcert.Issue("mx.example.test", []string{"mx.example.test"}, nil, false,
		time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := cert.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	inst := testpostfix.Start(t, testpostfix.Options{
		MainCF: `smtpd_tls_security_level = may
smtpd_tls_cert_file = $config_directory/cert.pem
smtpd_tls_key_file = $config_directory/key.pem
smtpd_tls_loglevel = 1
smtpd_recipient_restrictions = check_recipient_access hash:$config_directory/rcpt_access, permit_mynetworks, reject
`,
		Files: map[string]string{
			"cert.pem":    string(cert.PEM()),
			"key.pem":     string(keyPEM),
			"rcpt_access": "nobody@example.test 550 5.1.1 No such user here\n",
		},
		Postmap: []string{"rcpt_access"},
	})
	host, p, _ := net.SplitHostPort(inst.Addr)
	s := &SMTP{Logger: quiet, Hostname: "client.example.org"}
	defer s.Close()
	d := msg(queue.Route{Transport: "smtp", Nexthop: "[" + host + "]:" + p}, "alice@example.org",
		"Subject: to Postfix\r\n\r\n.dot\r\n", "bob@example.test", "nobody@example.test")
	d.Message.Recipients[0].Notify = queue.NotifySuccess | queue.NotifyFailure
	got := s.Deliver(context.Background(), d)
	if len(got) != 2 {
		t.Fatalf("%+v", got)
	}
	if r := got[0]; r.Status != queue.Delivered || r.DSN != "2.0.0" || !strings.HasPrefix(r.Text, "250 2.0.0 Ok: queued as ") ||
		r.Remote != "[127.0.0.1]" || !r.Relayed {
		t.Errorf("bob: %+v", r)
	}
	wantResults(t, got[1:], []queue.Result{{Status: queue.Bounced, DSN: "5.1.1",
		Text: "550 5.1.1 <nobody@example.test>: Recipient address rejected: No such user here", Remote: "[127.0.0.1]"}})

	// Postfix logs the TLS session of our connection.
	deadline := time.Now().Add(10 * time.Second)
	for {
		log := inst.Log()
		if strings.Contains(log, "TLS connection established from unknown[127.0.0.1]") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no TLS session in Postfix's log:\n%s", log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
