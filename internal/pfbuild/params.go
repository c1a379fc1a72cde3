package pfbuild

import "regexp"

// TransportLimit matches the per-transport limit parameters, whose names
// come from master.cf service names and are not in Postfix's defaults.
var TransportLimit = regexp.MustCompile(`^([a-z0-9-]+)_destination_(concurrency_limit|rate_delay|recipient_limit)$`)

// The parameters queue/postfix reads: the queue and delivery, smtp(8) and
// its TLS. smtppolicy/postfix accounts for them without reading them, so
// that a main.cf is judged as a whole whichever half reads it.
var (
	// QueueParams are the queue and delivery parameters.
	QueueParams = []string{
		"minimal_backoff_time", "maximal_backoff_time", "maximal_queue_lifetime", "bounce_queue_lifetime",
		"delay_warning_time", "default_destination_concurrency_limit", "default_destination_rate_delay",
		"default_destination_recipient_limit", "relayhost", "virtual_transport", "bounce_size_limit",
		"queue_minfree", "fast_flush_domains",
	}
	// SMTPParams are the smtp(8) parameters; the others of the smtp_
	// prefix stop start-up (or are logged as ignored, see the server
	// side's list).
	SMTPParams = []string{
		"smtp_helo_name", "smtp_connect_timeout", "smtp_helo_timeout", "smtp_starttls_timeout",
		"smtp_mail_timeout", "smtp_rcpt_timeout", "smtp_data_init_timeout", "smtp_data_xfer_timeout",
		"smtp_data_done_timeout", "smtp_rset_timeout", "smtp_quit_timeout", "smtp_mx_address_limit",
		"smtp_mx_session_limit", "smtp_randomize_addresses", "smtp_fallback_relay", "fallback_relay",
		"smtp_dns_support_level", "smtp_address_preference", "smtp_skip_5xx_greeting",
		"smtp_always_send_ehlo", "smtp_defer_if_no_mx_address_found", "smtp_connection_cache_time_limit",
		"smtp_connection_reuse_count_limit", "smtp_connection_reuse_time_limit",
	}
	// SMTPTLSParams are the smtp_tls_* parameters; other smtp_tls_*
	// parameters set in main.cf stop start-up.
	SMTPTLSParams = []string{
		"smtp_tls_security_level", "smtp_use_tls", "smtp_enforce_tls", "smtp_tls_policy_maps",
		"smtp_tls_dane_insecure_mx_policy", "smtp_tls_servername", "smtp_tls_fingerprint_digest",
		"smtp_tls_protocols", "smtp_tls_mandatory_protocols", "smtp_tls_ciphers", "smtp_tls_mandatory_ciphers",
		"smtp_tls_exclude_ciphers", "smtp_tls_mandatory_exclude_ciphers", "smtp_tls_CAfile", "smtp_tls_CApath",
		"smtp_tls_chain_files", "smtp_tls_cert_file", "smtp_tls_key_file", "smtp_tls_eccert_file",
		"smtp_tls_eckey_file", "smtp_tls_session_cache_database", "smtp_tls_session_cache_timeout",
	}
)
