package postfixconf

import (
	"slices"
	"strings"
	"testing"
	"time"
)

const typedCF = `smtpd_helo_required = YES
strict_rfc821_envelopes = False
soft_bounce = maybe
smtpd_recipient_limit = 250
smtpd_soft_error_limit = -1
smtpd_hard_error_limit = 2x
message_size_limit = 26214400
header_size_limit = 1k
queue_minfree = -5
delay_warning_time = 6
maximal_queue_lifetime = 2
smtpd_timeout = 5m
smtpd_error_sleep_time = 1w
smtpd_policy_service_timeout = 3 s
smtpd_tls_session_cache_timeout = 1h30m
bounce_queue_lifetime = 99999999d
smtpd_starttls_timeout = 10x
empty_bool =
smtpd_helo_restrictions = permit_mynetworks,
    check_policy_service { inet:127.0.0.1:9998, timeout=10s }, reject
`

func typedConfig(t *testing.T) *Config {
	t.Helper()
	c, err := Parse(strings.NewReader(typedCF), "main.cf")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestBool(t *testing.T) {
	c := typedConfig(t)
	tests := []struct {
		name string
		want bool
		err  string
	}{
		{name: "smtpd_helo_required", want: true},
		{name: "strict_rfc821_envelopes", want: false},
		{name: "smtpd_delay_reject", want: true}, // default
		{name: "soft_bounce", err: `main.cf:3: soft_bounce: bad boolean value "maybe" (want yes or no)`},
		{name: "empty_bool", err: `main.cf:18: empty_bool: bad boolean value "" (want yes or no)`},
		{name: "no_such_param", err: `no_such_param (undefined): bad boolean value "" (want yes or no)`},
	}
	for _, tc := range tests {
		got, err := c.Bool(tc.name)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("Bool(%s) = %v, %v; want error %q", tc.name, got, err, tc.err)
			}
		} else if err != nil || got != tc.want {
			t.Errorf("Bool(%s) = %v, %v; want %v", tc.name, got, err, tc.want)
		}
	}
	c.Set("soft_bounce", "nope")
	if _, err := c.Bool("soft_bounce"); err == nil || err.Error() != `soft_bounce: bad boolean value "nope" (want yes or no)` {
		t.Errorf("Bool after Set: %v", err)
	}
}

func TestInt(t *testing.T) {
	c := typedConfig(t)
	tests := []struct {
		name string
		want int
		err  string
	}{
		{name: "smtpd_recipient_limit", want: 250},
		{name: "smtpd_soft_error_limit", want: -1},
		{name: "smtpd_client_connection_count_limit", want: 50},
		{name: "smtpd_junk_command_limit", want: 100}, // ${stress?{1}:{100}}
		{name: "smtpd_hard_error_limit", err: `main.cf:6: smtpd_hard_error_limit: bad integer value "2x"`},
	}
	for _, tc := range tests {
		got, err := c.Int(tc.name)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("Int(%s) = %v, %v; want error %q", tc.name, got, err, tc.err)
			}
		} else if err != nil || got != tc.want {
			t.Errorf("Int(%s) = %v, %v; want %v", tc.name, got, err, tc.want)
		}
	}
}

func TestSize(t *testing.T) {
	c := typedConfig(t)
	if n, err := c.Size("message_size_limit"); err != nil || n != 26214400 {
		t.Errorf("Size(message_size_limit) = %d, %v", n, err)
	}
	if n, err := c.Size("mailbox_size_limit"); err != nil || n != 51200000 {
		t.Errorf("Size(mailbox_size_limit) = %d, %v", n, err)
	}
	if _, err := c.Size("header_size_limit"); err == nil || err.Error() != `main.cf:8: header_size_limit: bad size value "1k" (want a number of bytes)` {
		t.Errorf("Size(header_size_limit): %v", err)
	}
	if _, err := c.Size("queue_minfree"); err == nil || err.Error() != `main.cf:9: queue_minfree: bad size value "-5" (want a number of bytes)` {
		t.Errorf("Size(queue_minfree): %v", err)
	}
}

func TestDuration(t *testing.T) {
	c := typedConfig(t)
	tests := []struct {
		name string
		want time.Duration
		err  string
	}{
		{name: "delay_warning_time", want: 6 * time.Hour},          // default unit h
		{name: "maximal_queue_lifetime", want: 2 * 24 * time.Hour}, // default unit d
		{name: "smtpd_timeout", want: 5 * time.Minute},
		{name: "smtpd_error_sleep_time", want: 7 * 24 * time.Hour},
		{name: "smtpd_proxy_timeout", want: 100 * time.Second}, // default
		{name: "smtpd_starttls_timeout", err: `main.cf:17: smtpd_starttls_timeout: bad time value "10x" (want a number with an optional s, m, h, d or w suffix)`},
		{name: "smtpd_policy_service_timeout", err: `main.cf:14: smtpd_policy_service_timeout: bad time value "3 s" (want a number with an optional s, m, h, d or w suffix)`},
		{name: "smtpd_tls_session_cache_timeout", err: `main.cf:15: smtpd_tls_session_cache_timeout: bad time value "1h30m" (want a number with an optional s, m, h, d or w suffix)`},
		{name: "bounce_queue_lifetime", err: `main.cf:16: bounce_queue_lifetime: time value "99999999d" is too large`},
	}
	for _, tc := range tests {
		got, err := c.Duration(tc.name)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("Duration(%s) = %v, %v; want error %q", tc.name, got, err, tc.err)
			}
		} else if err != nil || got != tc.want {
			t.Errorf("Duration(%s) = %v, %v; want %v", tc.name, got, err, tc.want)
		}
	}
	// Under stress the default changes, as in Postfix.
	c.Set("stress", "yes")
	if d, err := c.Duration("smtpd_starttls_timeout"); err == nil {
		t.Errorf("Duration(smtpd_starttls_timeout) = %v: main.cf value must win", d)
	}
	if d, err := c.Duration("smtpd_per_request_deadline"); err == nil {
		t.Errorf("Duration of a boolean parameter = %v", d)
	}
	c2 := &Config{}
	c2.Set("stress", "yes")
	if d, err := c2.Duration("smtpd_timeout"); err != nil || d != 10*time.Second {
		t.Errorf("Duration(smtpd_timeout) under stress = %v, %v", d, err)
	}
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		unit byte
		want time.Duration
		ok   bool
	}{
		{"0", 's', 0, true},
		{"0s", 'd', 0, true},
		{"45", 's', 45 * time.Second, true},
		{"45", 'm', 45 * time.Minute, true},
		{"2147483647", 's', 2147483647 * time.Second, true},
		{"2147483648", 's', 0, false},
		{"", 's', 0, false},
		{"s", 's', 0, false},
		{"-1", 's', 0, false},
		{"+1", 's', 0, false},
		{"1S", 's', 0, false},
		{"1.5h", 's', 0, false},
	}
	for _, tc := range tests {
		got, err := parseDuration(tc.in, tc.unit)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseDuration(%q, %c) = %v, %v", tc.in, tc.unit, got, err)
		}
	}
}

func TestList(t *testing.T) {
	c := typedConfig(t)
	got, err := c.List("smtpd_helo_restrictions")
	want := []string{"permit_mynetworks", "check_policy_service", "{ inet:127.0.0.1:9998, timeout=10s }", "reject"}
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("List = %q, %v", got, err)
	}
	if got, err := c.List("smtpd_sender_restrictions"); err != nil || got != nil {
		t.Errorf("List of an empty value = %q, %v", got, err)
	}
	c.Set("bad", "${x")
	if _, err := c.List("bad"); err == nil {
		t.Error("List of a bad value: no error")
	}
}
