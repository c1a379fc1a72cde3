package postfixconf

import (
	"maps"
	"slices"
	"strings"
	"testing"
)

// TestDefaultsAtLevel36 checks the defaults a current Postfix installation
// (compatibility_level = 3.6) has for the parameters an inbound policy
// engine needs, as documented in postconf(5).
func TestDefaultsAtLevel36(t *testing.T) {
	c := &Config{}
	c.Set("compatibility_level", "3.6")
	c.Set("myhostname", "mx.example.com")
	c.Set("mydomain", "example.com")
	want := map[string]string{
		"config_directory":                          "/etc/postfix",
		"meta_directory":                            "/etc/postfix",
		"data_directory":                            "/var/lib/postfix",
		"queue_directory":                           "/var/spool/postfix",
		"myorigin":                                  "mx.example.com",
		"mydestination":                             "mx.example.com, localhost.example.com, localhost",
		"mynetworks_style":                          "host",
		"mynetworks":                                "",
		"relay_domains":                             "",
		"recipient_delimiter":                       "",
		"smtpd_delay_reject":                        "yes",
		"smtpd_helo_required":                       "no",
		"strict_rfc821_envelopes":                   "no",
		"message_size_limit":                        "10240000",
		"smtpd_recipient_limit":                     "1000",
		"smtpd_client_restrictions":                 "",
		"smtpd_helo_restrictions":                   "",
		"smtpd_sender_restrictions":                 "",
		"smtpd_relay_restrictions":                  "permit_mynetworks, permit_sasl_authenticated, defer_unauth_destination",
		"smtpd_recipient_restrictions":              "",
		"smtpd_data_restrictions":                   "",
		"smtpd_end_of_data_restrictions":            "",
		"smtpd_restriction_classes":                 "",
		"smtpd_reject_unlisted_recipient":           "yes",
		"smtpd_reject_unlisted_sender":              "no",
		"soft_bounce":                               "no",
		"local_transport":                           "local:mx.example.com",
		"relay_transport":                           "relay",
		"default_transport":                         "smtp",
		"transport_maps":                            "",
		"virtual_alias_maps":                        "",
		"virtual_maps":                              "",
		"virtual_alias_domains":                     "",
		"virtual_mailbox_domains":                   "",
		"virtual_mailbox_maps":                      "",
		"relay_recipient_maps":                      "",
		"local_recipient_maps":                      "proxy:unix:passwd.byname hash:/etc/aliases, nis:mail.aliases",
		"alias_maps":                                "hash:/etc/aliases, nis:mail.aliases",
		"inet_interfaces":                           "all",
		"proxy_interfaces":                          "",
		"smtpd_banner":                              "mx.example.com ESMTP Postfix",
		"mail_name":                                 "Postfix", // Postfix's default; smtppolicy/postfix uses "mxkit"
		"reject_code":                               "554",
		"defer_code":                                "450",
		"relay_domains_reject_code":                 "554",
		"unknown_relay_recipient_reject_code":       "550",
		"unknown_local_recipient_reject_code":       "550",
		"unknown_virtual_alias_reject_code":         "550",
		"unknown_virtual_mailbox_reject_code":       "550",
		"access_map_reject_code":                    "554",
		"access_map_defer_code":                     "450",
		"invalid_hostname_reject_code":              "501",
		"non_fqdn_reject_code":                      "504",
		"unknown_address_reject_code":               "450",
		"unknown_client_reject_code":                "450",
		"unknown_hostname_reject_code":              "450",
		"multi_recipient_bounce_reject_code":        "550",
		"plaintext_reject_code":                     "450",
		"show_user_unknown_table_name":              "yes",
		"smtpd_null_access_lookup_key":              "<>",
		"owner_request_special":                     "yes",
		"parent_domain_matches_subdomains":          "debug_peer_list,fast_flush_domains,mynetworks,permit_mx_backup_networks,qmqpd_authorized_clients,relay_domains,smtpd_access_maps",
		"smtpd_tls_fingerprint_digest":              "sha256",
		"relay_clientcerts":                         "",
		"smtpd_tls_security_level":                  "",
		"smtpd_client_connection_count_limit":       "50",
		"smtpd_timeout":                             "300s",
		"smtpd_relay_before_recipient_restrictions": "yes",
		"smtpd_forbid_unauth_pipelining":            "yes",
		"smtpd_forbid_bare_newline":                 "normalize",
		"smtpd_policy_service_default_action":       "451 4.3.5 Server configuration problem",
		"maps_rbl_reject_code":                      "554",
		"unverified_recipient_reject_code":          "450",
	}
	for name, w := range want {
		if _, ok := Defaults[name]; !ok {
			t.Errorf("Defaults has no %s", name)
		}
		if got, err := c.Get(name); err != nil || got != w {
			t.Errorf("Get(%s) = %q, %v; want %q", name, got, err, w)
		}
	}
	if w := c.Warnings(); len(w) != 0 {
		t.Errorf("warnings: %q", w)
	}
}

// TestDefaultsFollowCompatibilityLevel checks the defaults that Postfix
// ties to compatibility_level (COMPATIBILITY_README).
func TestDefaultsFollowCompatibilityLevel(t *testing.T) {
	tests := []struct {
		level string
		want  map[string]string
	}{
		{"", map[string]string{ // unset: level 0
			"relay_domains":                             "mx.example.com, localhost.example.com, localhost",
			"mynetworks_style":                          "subnet",
			"smtpd_relay_restrictions":                  "",
			"smtpd_relay_before_recipient_restrictions": "no",
			"smtpd_tls_fingerprint_digest":              "md5",
			"append_dot_mydomain":                       "yes",
			"smtputf8_enable":                           "no",
		}},
		{"1", map[string]string{
			"relay_domains":            "mx.example.com, localhost.example.com, localhost",
			"smtpd_relay_restrictions": "permit_mynetworks, permit_sasl_authenticated, defer_unauth_destination",
			"append_dot_mydomain":      "no",
		}},
		{"2", map[string]string{
			"relay_domains":    "",
			"mynetworks_style": "host",
			"smtpd_relay_before_recipient_restrictions": "no",
		}},
		{"3.6", map[string]string{
			"smtpd_relay_before_recipient_restrictions": "yes",
			"smtpd_tls_fingerprint_digest":              "sha256",
			"respectful_logging":                        "yes",
		}},
		{"3.10", map[string]string{ // 3.10 > 3.6, not a decimal fraction
			"smtpd_relay_before_recipient_restrictions": "yes",
		}},
	}
	for _, tc := range tests {
		c := &Config{}
		c.Set("myhostname", "mx.example.com")
		c.Set("mydomain", "example.com")
		if tc.level != "" {
			c.Set("compatibility_level", tc.level)
		}
		for name, w := range tc.want {
			if got, err := c.Get(name); err != nil || got != w {
				t.Errorf("level %q: Get(%s) = %q, %v; want %q", tc.level, name, got, err, w)
			}
		}
	}
}

// TestDefaultsExpandCleanly expands every default at several levels: no
// errors, no references to undefined parameters.
func TestDefaultsExpandCleanly(t *testing.T) {
	names := slices.Sorted(maps.Keys(Defaults))
	for _, level := range []string{"0", "2", "3.6", "3.11"} {
		c := &Config{}
		c.Set("compatibility_level", level)
		for _, name := range names {
			if _, err := c.Get(name); err != nil {
				t.Errorf("level %s: Get(%s): %v", level, name, err)
			}
		}
		if w := c.Warnings(); len(w) != 0 {
			t.Errorf("level %s: warnings %q", level, w)
		}
	}
}

func TestDefaultOverridesAreKnown(t *testing.T) {
	// gen_defaults.go leaves these out of postconfDefaults.
	generatorSkips := map[string]bool{"myhostname": true, "mydomain": true, "mynetworks": true, "process_id": true, "process_name": true}
	for name := range defaultOverrides {
		if _, ok := postconfDefaults[name]; ok || generatorSkips[name] {
			continue
		}
		if !referencedByDefaults[name] {
			t.Errorf("override %s is neither a postconf default nor referenced by one", name)
		}
	}
	for name := range timeUnits {
		if _, ok := Defaults[name]; !ok && name != "postscreen_dnsbl_ttl" {
			t.Errorf("timeUnits has unknown parameter %s", name)
		}
	}
	for name := range rawParams {
		if _, ok := Defaults[name]; !ok {
			t.Errorf("rawParams has unknown parameter %s", name)
		}
	}
	if len(Defaults) < 800 {
		t.Errorf("only %d defaults", len(Defaults))
	}
	for name := range Defaults {
		if !validName(name) || strings.ContainsAny(name, " =") {
			t.Errorf("bad default name %q", name)
		}
	}
}
