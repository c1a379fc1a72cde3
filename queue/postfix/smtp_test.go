package postfix

import (
	"net/netip"
	"slices"
	"testing"
	"time"
)

const smtpBase = "compatibility_level = 3.6\nmyhostname = mx.example.test\nmydestination =\nsmtpd_peername_lookup = no\n"

func TestSMTPClientSettings(t *testing.T) {
	srv, err := tryBuild(t, smtpBase+`
inet_interfaces = 192.0.2.25
proxy_interfaces = 198.51.100.25
inet_protocols = ipv4
smtp_helo_name = out.example.test
smtp_connect_timeout = 7s
smtp_mx_address_limit = 3
smtp_mx_session_limit = 1
smtp_randomize_addresses = no
smtp_fallback_relay = [relay1.example]:587, relay2.example
smtp_dns_support_level = dnssec
`)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	c := srv.Queue.SMTP
	if c.HeloName != "out.example.test" || c.Timeouts.Connect != 7*time.Second || c.Timeouts.Helo != 300*time.Second ||
		c.AddressLimit != 3 || c.SessionLimit != 1 || c.Randomize || !c.IPv4 || c.IPv6 || !c.DNSSEC ||
		!slices.Equal(c.FallbackRelays, []string{"[relay1.example]:587", "relay2.example"}) {
		t.Errorf("settings = %+v", c)
	}
	m := srv.MXResolver(nil)
	if !m.Self(netip.MustParseAddr("192.0.2.25")) || !m.Self(netip.MustParseAddr("::ffff:198.51.100.25")) || m.Self(netip.MustParseAddr("192.0.2.26")) {
		t.Error("Self does not follow inet_interfaces and proxy_interfaces")
	}
	if m.AddressLimit != 3 || !m.NoRandomize || !m.IPv4 || m.IPv6 || len(m.FallbackRelays) != 2 {
		t.Errorf("MXResolver = %+v", m)
	}
	d := srv.SMTPDeliverer(nil, nil, nil)
	if d.Hostname != "out.example.test" || d.Timeouts.Connect != 7*time.Second || d.Resolve == nil {
		t.Errorf("SMTPDeliverer = %+v", d)
	}

	// Defaults: helo name $myhostname, 5 addresses, randomized, both
	// families; 0 means no limit.
	srv, err = tryBuild(t, smtpBase+"smtp_mx_address_limit = 0\n")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if c := srv.Queue.SMTP; c.HeloName != "mx.example.test" || c.AddressLimit != -1 || c.SessionLimit != 2 || !c.Randomize || !c.IPv4 || !c.IPv6 || c.DNSSEC {
		t.Errorf("defaults = %+v", c)
	}
}

func TestSMTPClientRefusals(t *testing.T) {
	wantRefused(t, smtpBase, []refusal{
		{"smtp_address_preference = ipv6\n", "main.cf:5: parameter smtp_address_preference: address family preference is not supported by mxkit"},
		{"smtp_dns_support_level = disabled\n", "main.cf:5: parameter smtp_dns_support_level: delivery without DNS (no MX lookups) is not supported by mxkit"},
		{"smtp_dns_support_level = secure\n", `main.cf:5: parameter smtp_dns_support_level: unknown level "secure"`},
		{"inet_protocols = ipx\n", `main.cf:5: parameter inet_protocols: unknown protocol "ipx"`},
		{"smtp_mx_session_limit = -1\n", "main.cf:5: parameter smtp_mx_session_limit: negative value -1"},
		{"smtp_defer_if_no_mx_address_found = yes\n", "main.cf:5: parameter smtp_defer_if_no_mx_address_found: deferring when no MX host has an address is not supported"},
	})
}
