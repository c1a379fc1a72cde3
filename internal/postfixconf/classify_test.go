package postfixconf

import "testing"

func TestClassify(t *testing.T) {
	machinery := []string{
		"queue_directory", "command_directory", "daemon_directory", "data_directory",
		"meta_directory", "mail_owner", "setgid_group", "sendmail_path", "newaliases_path",
		"mailq_path", "manpage_directory", "sample_directory", "readme_directory",
		"html_directory", "shlib_directory", "biff", "maillog_file", "notify_classes",
		"mailbox_size_limit", "alias_database", "syslog_name", "max_use", "home_mailbox",
	}
	other := []string{
		"alias_maps", "owner_request_special", "delay_warning_time", "confirm_delay_cleared",
		"tls_low_cipherlist", "tls_ssl_options", "smtp_tls_security_level",
		"smtp_tls_policy_maps", "smtpd_milters", "non_smtpd_milters", "milter_default_action",
		"smtpd_relay_restrictions", "mynetworks", "message_size_limit", "queue_minfree",
		"no_such_parameter", "",
	}
	for _, n := range machinery {
		if k := Classify(n); k != KindMachinery {
			t.Errorf("Classify(%q) = %v, want machinery", n, k)
		}
	}
	for _, n := range other {
		if k := Classify(n); k != KindOther {
			t.Errorf("Classify(%q) = %v, want other", n, k)
		}
	}
	if got := IgnoredParams["biff"]; got != "local(8) delivery agent" {
		t.Errorf("IgnoredParams[biff] = %q", got)
	}
	if KindOther.String() != "other" || KindMachinery.String() != "machinery" || Kind(7).String() != "Kind(?)" {
		t.Error("Kind.String")
	}
}

func TestIgnoredParamsAreKnown(t *testing.T) {
	seen := map[string]bool{}
	for _, g := range machineryGroups {
		if g.reason == "" {
			t.Error("group without a reason")
		}
		for _, n := range g.names {
			if seen[n] {
				t.Errorf("%s listed twice", n)
			}
			seen[n] = true
			if _, ok := Defaults[n]; !ok {
				t.Errorf("%s is not a Postfix parameter", n)
			}
		}
	}
	if len(seen) != len(IgnoredParams) {
		t.Errorf("IgnoredParams has %d names, groups have %d", len(IgnoredParams), len(seen))
	}
}
