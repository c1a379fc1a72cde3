package postfixconf

// Kind says how a program that implements Postfix's inbound policy (the
// SMTP server side of an MX) should treat a main.cf parameter.
type Kind int

const (
	// KindOther is a parameter the caller must decide about: it may
	// change policy (restrictions, tables, reply codes, TLS, milters,
	// limits), concern delivery that the program may also do (smtp_*
	// client settings, queue lifetimes, delay notices), or be unknown.
	// It is the zero Kind.
	KindOther Kind = iota
	// KindMachinery is a parameter that concerns only Postfix's own
	// machinery (install paths, ownership, process management, logging
	// set-up, internal service names, queue file internals, the local(8)
	// delivery agent, postmaster notices). A policy engine accepts it,
	// logs that it is ignored, and goes on. $name references to it still
	// expand as usual.
	KindMachinery
)

func (k Kind) String() string {
	switch k {
	case KindOther:
		return "other"
	case KindMachinery:
		return "machinery"
	}
	return "Kind(?)"
}

// Classify returns KindMachinery for the parameters in IgnoredParams and
// KindOther for every other name, including unknown ones.
func Classify(name string) Kind {
	if _, ok := IgnoredParams[name]; ok {
		return KindMachinery
	}
	return KindOther
}

// IgnoredParams maps each KindMachinery parameter to the group it belongs
// to, a short reason fit for a log line ("install paths", "local(8)
// delivery agent", ...). It is built from machineryGroups.
//
// Left out on purpose, although they look like machinery:
//   - alias_maps: the default local_recipient_maps is
//     "proxy:unix:passwd.byname $alias_maps", so it decides which local
//     recipients the SMTP server accepts;
//   - owner_request_special: changes how a recipient_delimiter splits
//     owner-list and list-request addresses in recipient lookups;
//   - delay_warning_time, confirm_delay_cleared, maximal_queue_lifetime
//     and the other queue timers: a program that queues mail (a backup
//     MX) sends the same delay notices and needs them;
//   - queue_minfree, in_flow_delay, line_length_limit,
//     message_size_limit: the SMTP server enforces them;
//   - tls_*, smtp_*, milter_*, *_milters: they change what is accepted
//     or how mail leaves.
var IgnoredParams = buildIgnored()

// machineryGroups lists the KindMachinery parameters, grouped by reason.
var machineryGroups = []struct {
	reason string
	names  []string
}{
	{"install paths and files", []string{
		"alternate_config_directories", "command_directory", "config_directory",
		"daemon_directory", "data_directory", "html_directory", "mailq_path",
		"manpage_directory", "meta_directory", "newaliases_path", "openssl_path",
		"process_id_directory", "queue_directory", "readme_directory",
		"sample_directory", "sendmail_path", "shlib_directory",
	}},
	{"ownership and privileges", []string{
		"authorized_flush_users", "authorized_mailq_users", "authorized_submit_users",
		"default_privs", "mail_owner", "setgid_group",
	}},
	{"process management", []string{
		"application_event_drain_time", "daemon_table_open_error_is_fatal",
		"daemon_timeout", "debug_peer_level", "debug_peer_list", "debugger_command",
		"default_process_limit", "export_environment", "fork_attempts", "fork_delay",
		"import_environment", "ipc_idle", "ipc_timeout", "ipc_ttl", "master_service_disable",
		"max_idle", "max_use", "multi_instance_directories", "multi_instance_enable",
		"multi_instance_group", "multi_instance_name", "multi_instance_wrapper",
		"postmulti_control_commands", "postmulti_start_commands", "postmulti_stop_commands",
		"process_id", "process_name", "service_name", "service_throttle_time",
		"stale_lock_time", "stress", "trigger_timeout",
	}},
	{"logging set-up", []string{
		"backwards_bounce_logfile_compatibility", "delay_logging_resolution_limit",
		"helpful_warnings", "maillog_file", "maillog_file_compressor",
		"maillog_file_prefixes", "maillog_file_rotate_suffix",
		"postlogd_watchdog_timeout", "syslog_facility", "syslog_name",
	}},
	{"internal service names", []string{
		"address_verify_service_name", "bounce_service_name", "cleanup_service_name",
		"connection_cache_service_name", "defer_service_name", "dnsblog_service_name",
		"error_service_name", "flush_service_name", "pickup_service_name",
		"postlog_service_name", "proxymap_service_name", "proxywrite_service_name",
		"queue_service_name", "rewrite_service_name", "showq_service_name",
		"smtpd_service_name", "tlsmgr_service_name", "tlsproxy_service_name",
		"trace_service_name",
	}},
	{"queue file and database internals", []string{
		"berkeley_db_create_buffer_size", "berkeley_db_read_buffer_size",
		"default_database_type", "enable_long_queue_ids", "hash_queue_depth",
		"hash_queue_names", "lmdb_map_size", "queue_file_attribute_count_limit",
	}},
	{"local(8) delivery agent", []string{
		"alias_database", "allow_mail_to_commands", "allow_mail_to_files", "biff",
		"command_execution_directory", "command_expansion_filter", "command_time_limit",
		"deliver_lock_attempts", "deliver_lock_delay", "execution_directory_expansion_filter",
		"expand_owner_alias", "fallback_transport", "fallback_transport_maps",
		"forward_expansion_filter", "forward_path", "frozen_delivered_to", "home_mailbox",
		"local_command_shell", "local_delivery_status_filter", "luser_relay",
		"mail_spool_directory", "mailbox_command", "mailbox_command_maps",
		"mailbox_delivery_lock", "mailbox_size_limit", "mailbox_transport",
		"mailbox_transport_maps", "prepend_delivered_header", "require_home_directory",
		"reset_owner_alias", "strict_mailbox_ownership", "sun_mailtool_compatibility",
	}},
	{"postmaster notices", []string{
		"2bounce_notice_recipient", "bounce_notice_recipient", "delay_notice_recipient",
		"error_notice_recipient", "notify_classes",
	}},
	{"sendmail(1) command", []string{
		"sendmail_fix_line_endings",
	}},
}

func buildIgnored() map[string]string {
	m := map[string]string{}
	for _, g := range machineryGroups {
		for _, n := range g.names {
			m[n] = g.reason
		}
	}
	return m
}
