package postfixconf

import "maps"

// Defaults maps a parameter name to Postfix's built-in default value, in
// main.cf syntax (unexpanded). Get falls back to it for parameters that
// main.cf does not set.
//
// The table starts from "postconf -d" of Postfix 3.7.11 (zdefaults.go, made
// by gen_defaults.go and checked against the installed postconf by
// TestDefaultsMatchPostconf) and applies defaultOverrides: host-dependent
// values are left empty for the caller to fill in, and a few defaults that
// changed in later releases use the newer value.
//
// Defaults that depend on compatibility_level are kept as the conditional
// expressions Postfix itself uses, for example
//
//	relay_domains = ${{$compatibility_level} <level {2} ? {$mydestination} : {}}
//
// so they follow the compatibility_level that main.cf sets (0 when unset,
// as in Postfix). With compatibility_level = 3.6 the SMTP server defaults
// are the ones documented for current Postfix: mynetworks_style = host,
// relay_domains empty, smtpd_relay_before_recipient_restrictions = yes,
// smtpd_tls_fingerprint_digest = sha256.
//
// Defaults is shared by every Config; change it only before any Config is
// used, or not at all (use Config.Set instead).
var Defaults = buildDefaults()

// defaultOverrides corrects or completes postconfDefaults. Each entry says
// where its value comes from.
var defaultOverrides = map[string]string{
	// Computed by Postfix at run time from the host (gethostname(),
	// interface addresses). Left empty: the caller fills them in.
	"myhostname": "", // postconf(5): FQDN from gethostname()
	"mydomain":   "", // postconf(5): $myhostname minus its first label, or "localdomain"
	"mynetworks": "", // postconf(5): computed from mynetworks_style
	// Run-time values of the Postfix process; empty here.
	"process_id":   "",
	"process_name": "",

	// Changed in Postfix 3.9; checked against postconf(5):
	// "smtpd_forbid_unauth_pipelining (default: Postfix >= 3.9: yes)" and
	// "no (default for Postfix < 3.9)" under smtpd_forbid_bare_newline,
	// whose 3.9 default is normalize.
	"smtpd_forbid_unauth_pipelining": "yes",
	"smtpd_forbid_bare_newline":      "normalize",
	// Not changed, unverified: the project's reference notes say that
	// Postfix 3.11 made milter_default_action default to "shutdown" and
	// smtp_tls_security_level to "may" (at compatibility_level >= 3.11);
	// the postconf(5) available here still documents tempfail and empty.

	// Backwards-compatibility names. Postfix leaves them undefined and
	// uses them only as "$old_name" or "${old_name?...}" in the defaults of
	// their successors (virtual_alias_maps = $virtual_maps, ...). Defining
	// them as empty gives the same expansion without an "undefined
	// parameter" warning. postconf -d prints none of them.
	"authorized_verp_clients":                  "",
	"fallback_relay":                           "",
	"lmtp_per_record_deadline":                 "",
	"postscreen_blacklist_action":              "",
	"postscreen_dnsbl_ttl":                     "",
	"postscreen_dnsbl_whitelist_threshold":     "",
	"postscreen_whitelist_interfaces":          "",
	"smtp_per_record_deadline":                 "",
	"smtpd_client_connection_limit_exceptions": "",
	"smtpd_per_record_deadline":                "",
	"tlsproxy_client_level":                    "",
	"tlsproxy_client_policy":                   "",
	"virtual_maps":                             "",
}

func buildDefaults() map[string]string {
	d := maps.Clone(postconfDefaults)
	maps.Copy(d, defaultOverrides)
	return d
}

// rawParams are parameters whose value Postfix does not expand when it
// loads main.cf, because the value holds macros ($client_address,
// $rbl_code, $home, ...) that the using program fills in later, or a
// character set where "$" is literal. Get returns their raw value. Taken
// from the CONFIG_RAW_TABLE entries in smtpd.c, postscreen.c and local.c
// and checked with "postconf -x".
var rawParams = map[string]bool{
	"command_execution_directory": true,
	"default_rbl_reply":           true,
	"forward_path":                true,
	"luser_relay":                 true,
	"mailbox_command":             true,
	"postscreen_expansion_filter": true,
	"postscreen_reject_footer":    true,
	"smtpd_expansion_filter":      true,
	"smtpd_reject_footer":         true,
}

// timeUnits gives the default unit of time-valued parameters whose bare
// numbers are not seconds, per "The default time unit is ..." in
// postconf(5). All other time parameters count in seconds.
var timeUnits = map[string]byte{
	"address_verify_cache_cleanup_interval": 'h',
	"address_verify_negative_expire_time":   'd',
	"address_verify_negative_refresh_time":  'h',
	"address_verify_positive_expire_time":   'd',
	"address_verify_positive_refresh_time":  'd',
	"bounce_queue_lifetime":                 'd',
	"delay_warning_time":                    'h',
	"fast_flush_purge_time":                 'd',
	"fast_flush_refresh_time":               'h',
	"maximal_queue_lifetime":                'd',
	"postscreen_bare_newline_ttl":           'd',
	"postscreen_cache_cleanup_interval":     'h',
	"postscreen_cache_retention_time":       'd',
	"postscreen_dnsbl_max_ttl":              'h',
	"postscreen_dnsbl_ttl":                  'h',
	"postscreen_greet_ttl":                  'd',
	"postscreen_non_smtp_command_ttl":       'd',
	"postscreen_pipelining_ttl":             'd',
	"smtp_sasl_auth_cache_time":             'd',
}
