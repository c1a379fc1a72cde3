package tlspolicy

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mxkit/mxkit/dane"
)

func TestDial(t *testing.T) {
	p := newPKI(t)
	sha := func(b []byte) string { s := sha256.Sum256(b); return colonHex(s[:]) }
	ee, _ := dane.RecordFor(p.self.Cert, dane.UsageDANEEE, dane.SelectorSPKI, dane.MatchSHA256)
	daneDec := &dane.Decision{Outcome: dane.Required, BaseDomain: "mx.example.com", Records: []dane.TLSA{ee}, RefIDs: []string{"mx.example.com", "example.com"}, MXSecure: true}
	daneOther := &dane.Decision{Outcome: dane.Required, BaseDomain: "mx.example.com", Records: []dane.TLSA{ee}, MXSecure: true}
	halfDane := &dane.Decision{Outcome: dane.Required, BaseDomain: "mx.example.com", Records: []dane.TLSA{ee}}
	good, expired, self, untrusted := tlsCert(p.leaf), tlsCert(p.expired), tlsCert(p.self), tlsCert(p.untrusted)
	const lbl = "mx.example.com[127.0.0.1]"

	for _, tc := range []struct {
		name   string
		srv    srvConf
		policy Policy
		want   string // "" or the *Error's DSN and text
		trust  string // Conn.Trust on success ("" plaintext)
		cmds   []string
		sni    []string // SNI the server saw, nil: not checked
		result ResultType
		reason string
	}{
		{name: "may, offered, untrusted", srv: srvConf{cert: self}, trust: "Untrusted",
			cmds: []string{"EHLO client.example.org", "STARTTLS", "TLS EHLO client.example.org"}, sni: []string{""}},
		{name: "may, offered, trusted", srv: srvConf{cert: good}, trust: "Trusted"},
		{name: "default level is may", srv: srvConf{cert: good}, policy: Policy{Level: Default}, trust: "Trusted"},
		{name: "may, lower-case keyword", srv: srvConf{cert: self, ehlo: []string{"250-mx.example.com", "250 starttls"}}, trust: "Untrusted",
			cmds: []string{"EHLO client.example.org", "STARTTLS", "TLS EHLO client.example.org"}},
		{name: "may, not offered: plaintext, no STARTTLS", srv: srvConf{ehlo: []string{"250-mx.example.com", "250 8BITMIME"}},
			cmds: []string{"EHLO client.example.org", "EHLO client.example.org"}},
		{name: "may, refused: plaintext on the same connection", srv: srvConf{cert: self, starttls: "454 4.7.0 TLS not available due to local problem"},
			cmds: []string{"EHLO client.example.org", "STARTTLS", "EHLO client.example.org"}},
		{name: "none: no STARTTLS, go-smtp's EHLO only", srv: srvConf{cert: self}, policy: Policy{Level: None}, cmds: []string{"EHLO client.example.org"}},
		{name: "encrypt, not offered", srv: srvConf{ehlo: []string{"250-mx.example.com", "250 8BITMIME"}}, policy: Policy{Level: Encrypt},
			want: "4.7.4 TLS is required, but was not offered by host " + lbl, cmds: []string{"EHLO client.example.org"},
			result: ResultSTARTTLSNotSupported},
		{name: "encrypt, refused 454", srv: srvConf{cert: self, starttls: "454 4.7.0 TLS not available due to local problem"}, policy: Policy{Level: Encrypt},
			want: "4.7.0 TLS is required, but host " + lbl + " refused to start TLS: 454 4.7.0 TLS not available due to local problem", result: ResultSTARTTLSNotSupported},
		{name: "encrypt, refused 5xx without enhanced code", srv: srvConf{cert: self, starttls: "502 command not implemented"}, policy: Policy{Level: Encrypt},
			want: "5.0.0 TLS is required, but host " + lbl + " refused to start TLS: 502 command not implemented", result: ResultSTARTTLSNotSupported},
		{name: "encrypt, self-signed is fine", srv: srvConf{cert: self}, policy: Policy{Level: Encrypt}, trust: "Untrusted"},
		{name: "injected bytes after 220", srv: srvConf{cert: self, starttls: "220 2.0.0 Ready\r\n250-injected"}, policy: Policy{Level: May},
			want: "4.7.5 Cannot start TLS: handshake failure", cmds: []string{"EHLO client.example.org", "STARTTLS", "handshake failed"}, result: ResultValidationFailure},
		{name: "handshake failure", srv: srvConf{cert: self, tlsCfg: func(c *tls.Config) { c.MinVersion, c.MaxVersion = tls.VersionTLS10, tls.VersionTLS10 }},
			policy: Policy{Level: Encrypt}, want: "4.7.5 Cannot start TLS: handshake failure", result: ResultValidationFailure, reason: "tls-remote-protocol-version-not-supported"},
		{name: "verify, hostname", srv: srvConf{cert: good}, policy: Policy{Level: Verify}, trust: "Verified", sni: []string{""}},
		{name: "verify, servername=hostname", srv: srvConf{cert: good}, policy: Policy{Level: Verify, ServerName: "hostname"}, trust: "Verified", sni: []string{"mx.example.com"}},
		{name: "verify, servername literal", srv: srvConf{cert: good}, policy: Policy{Level: Verify, ServerName: "sni.example"}, trust: "Verified", sni: []string{"sni.example"}},
		{name: "verify, name mismatch", srv: srvConf{cert: good}, policy: Policy{Level: Verify, Match: []string{"nexthop"}},
			want: "4.7.5 Server certificate not verified", result: ResultCertificateHostMismatch},
		{name: "verify, expired", srv: srvConf{cert: expired}, policy: Policy{Level: Verify}, want: "4.7.5 Server certificate not verified", result: ResultCertificateExpired},
		{name: "verify, untrusted", srv: srvConf{cert: untrusted}, policy: Policy{Level: Verify},
			want: "4.7.5 Server certificate not verified", result: ResultCertificateNotTrusted},
		{name: "secure, default nexthop:dot-nexthop", srv: srvConf{cert: good}, policy: Policy{Level: Secure}, trust: "Verified"},
		{name: "secure, literal .domain", srv: srvConf{cert: good}, policy: Policy{Level: Secure, Match: []string{".example.com"}}, trust: "Verified"},
		{name: "secure, other domain", srv: srvConf{cert: good}, policy: Policy{Level: Secure, Match: []string{"example.net", ".example.net"}},
			want: "4.7.5 Server certificate not verified", result: ResultCertificateHostMismatch},
		{name: "fingerprint, certificate digest with colons", srv: srvConf{cert: self}, policy: Policy{Level: Fingerprint, Match: []string{"00", sha(p.self.Cert.Raw)}}, trust: "Verified"},
		{name: "fingerprint, SPKI digest without colons", srv: srvConf{cert: self},
			policy: Policy{Level: Fingerprint, Match: []string{strings.ToLower(strings.ReplaceAll(sha(p.self.Cert.RawSubjectPublicKeyInfo), ":", ""))}}, trust: "Verified"},
		{name: "fingerprint, mismatch", srv: srvConf{cert: self}, policy: Policy{Level: Fingerprint, Match: []string{sha(p.leaf.Cert.Raw)}},
			want: "4.7.5 Server certificate not verified", result: ResultCertificateNotTrusted},
		{name: "dane-ee: expired self-signed wrong name, SNI = base", srv: srvConf{cert: self}, policy: Policy{Level: Dane, DANE: daneDec, ServerName: "ignored.example"},
			trust: "Verified", sni: []string{"mx.example.com"}},
		{name: "half-dane logs Trusted", srv: srvConf{cert: self}, policy: Policy{Level: Dane, DANE: halfDane}, trust: "Trusted"},
		{name: "dane, other key with a valid WebPKI cert", srv: srvConf{cert: good}, policy: Policy{Level: DaneOnly, DANE: daneOther},
			want: "4.7.5 Server certificate not verified", result: ResultCertificateNotTrusted},
		{name: "dane-only without a decision", srv: srvConf{cert: self}, policy: Policy{Level: DaneOnly}, want: "4.7.5 client TLS configuration problem"},
		{name: "dane without usable records: encrypt", srv: srvConf{cert: self}, policy: Policy{Level: Dane}, trust: "Untrusted"},
		{name: "greeting refused", srv: srvConf{greeting: "554 5.3.2 go away"}, want: "5.3.2 host " + lbl + " refused to talk to me: 554 5.3.2 go away"},
		{name: "EHLO 421", srv: srvConf{ehlo: []string{"421 4.3.2 busy"}}, want: "4.3.2 host " + lbl + " refused to talk to me: 421 4.3.2 busy"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.srv.start(t)
			d := &Dialer{Hostname: "client.example.org", Logger: quiet, TLS: &tls.Config{RootCAs: p.roots}}
			pol := tc.policy
			c, err := d.Dial(context.Background(), Target{Addr: s.addr(), Host: "mx.example.com", Nexthop: "example.com"}, &pol)
			if tc.want != "" {
				var e *Error
				if !errors.As(err, &e) {
					t.Fatalf("err = %v, want %q", err, tc.want)
				}
				if got := errText(e); got != tc.want {
					t.Errorf("error %q, want %q (%v)", got, tc.want, err)
				}
				if e.Result != tc.result || tc.reason != "" && e.ReasonCode != tc.reason {
					t.Errorf("result %q %q, want %q %q", e.Result, e.ReasonCode, tc.result, tc.reason)
				}
				if tc.result != "" && (e.Report == nil || e.Report.Failure.ResultType != tc.result ||
					e.Report.Failure.ReceivingIP.String() != "127.0.0.1" || e.Report.Failure.SendingMTAIP.String() != "127.0.0.1" ||
					e.Report.Failure.ReceivingMXHostname != "mx.example.com") {
					t.Errorf("report %+v", e.Report)
				}
			} else {
				if err != nil {
					t.Fatalf("Dial: %v", err)
				}
				if c.Trust != tc.trust || (c.TLS != nil) != (tc.trust != "") {
					t.Errorf("trust %q (TLS %v), want %q", c.Trust, c.TLS != nil, tc.trust)
				}
				if !c.Result.Success && tc.trust != "" {
					t.Errorf("result %+v", c.Result)
				}
				if err := c.Client.Mail("a@example.org", nil); err != nil {
					t.Errorf("MAIL after the handover: %v", err)
				}
				_ = c.Client.Quit()
			}
			time.Sleep(10 * time.Millisecond) // let the server log the last command
			if tc.cmds != nil {
				got := s.commands()
				if i := slices.IndexFunc(got, func(s string) bool { return strings.HasPrefix(strings.TrimPrefix(s, "TLS "), "MAIL FROM:") }); i >= 0 {
					got = got[:i]
				}
				if !slices.Equal(got, tc.cmds) {
					t.Errorf("server got %q, want %q", got, tc.cmds)
				}
			}
			if tc.sni != nil && !slices.Equal(s.snis(), tc.sni) {
				t.Errorf("SNI %q, want %q", s.snis(), tc.sni)
			}
		})
	}
}

// MTA-STS testing mode: a bad certificate is reported, never acted on.
func TestDialReportOnly(t *testing.T) {
	p := newPKI(t)
	s := srvConf{cert: tlsCert(p.untrusted)}.start(t)
	d := &Dialer{Hostname: "client.example.org", Logger: quiet, TLS: &tls.Config{RootCAs: p.roots}}
	rep := ReportPolicy{Type: PolicySTS, Domain: "example.com", MXHosts: []string{"mx.example.com"}}
	c, err := d.Dial(context.Background(), Target{Addr: s.addr(), Host: "mx.example.com", Nexthop: "example.com"},
		&Policy{Level: May, ReportOnly: true, Report: rep})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Result.Success || c.Result.Failure == nil || c.Result.Failure.ResultType != ResultCertificateNotTrusted ||
		c.Result.Policy.Type != PolicySTS || c.Result.Failure.ReceivingMXHelo != "mx.example.com" {
		t.Errorf("result %+v %+v", c.Result, c.Result.Failure)
	}
	if c.EHLO != "mx.example.com\nPIPELINING\nSTARTTLS" || c.Greeting != "mx.example.com ESMTP" {
		t.Errorf("EHLO %q greeting %q", c.EHLO, c.Greeting)
	}
}

func TestDialTimeouts(t *testing.T) {
	ln := srvConf{greeting: "220-slow"}.start(t) // never finishes the greeting
	d := &Dialer{Logger: quiet, Timeouts: Timeouts{Helo: 100 * time.Millisecond}}
	_, err := d.Dial(context.Background(), Target{Addr: ln.addr(), Host: "mx.example.com"}, nil)
	if got := err.Error(); !strings.HasPrefix(got, "4.4.2 conversation with mx.example.com[127.0.0.1] timed out while receiving the initial server greeting") {
		t.Errorf("error %q", got)
	}
	var e *Error
	if !errors.As(err, &e) || e.Kind != KindIO || e.While != "receiving the initial server greeting" {
		t.Errorf("%+v", e)
	}
	if _, _, ok := ResultOf(err); ok {
		t.Error("an I/O error counted for TLS-RPT")
	}
}

func TestExtensions(t *testing.T) {
	got := Extensions("mx.example.com hello\nstarttls\nSize 1000\n8bitmime\n")
	if _, ok := got["STARTTLS"]; !ok || got["SIZE"] != "1000" || len(got) != 3 {
		t.Errorf("%q", got)
	}
	if len(Extensions("")) != 0 {
		t.Error("empty reply")
	}
}
