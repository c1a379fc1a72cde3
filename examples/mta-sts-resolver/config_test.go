package main

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// manExample is the example of mta-sts-daemon.yml(5).
const manExample = `host: 127.0.0.1
port: 8461
reuse_port: true
shutdown_timeout: 20
proactive_policy_fetching:
  enabled: true
  interval: 86400
  concurrency_limit: 100
  grace_ratio: 2
cache:
  type: internal
  options:
    cache_size: 10000
default_zone:
  strict_testing: false
  timeout: 4
zones:
  myzone:
    strict_testing: false
    timeout: 4
`

func TestParseConfigDefaults(t *testing.T) {
	for _, text := range []string{"", "# nothing\n", "---\n"} {
		c, err := ParseConfig("d.yml", []byte(text))
		if err != nil {
			t.Fatalf("%q: %v", text, err)
		}
		if !reflect.DeepEqual(c, DefaultConfig()) {
			t.Errorf("%q: %+v, want the defaults", text, c)
		}
	}
	d := DefaultConfig()
	want := &Config{Host: "127.0.0.1", Port: 8461, ReusePort: true, ShutdownTimeout: 20 * time.Second, CacheGrace: 60 * time.Second,
		Cache:       CacheConfig{Type: "internal", CacheSize: 10000, Timeout: 5 * time.Second},
		Proactive:   ProactiveConfig{Interval: 86400 * time.Second, Concurrency: 100, GraceRatio: 2},
		DefaultZone: Zone{Timeout: 4 * time.Second, RequireSNI: true, DaneFirst: true},
		Zones:       map[string]Zone{}}
	if !reflect.DeepEqual(d, want) {
		t.Errorf("defaults %+v, want %+v", d, want)
	}
}

func TestParseConfig(t *testing.T) {
	c, err := ParseConfig("man.yml", []byte(manExample))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Proactive.Enabled || c.Zones["myzone"] != (Zone{Timeout: 4 * time.Second, RequireSNI: true, DaneFirst: true}) {
		t.Errorf("got %+v", c)
	}
	c, err = ParseConfig("x.yml", []byte(`path: /run/mta-sts.sock
mode: 0660
port: 9000
cache_grace: 1.5
resolver: 127.0.0.1:5353
ca_file: /etc/ssl/ca.pem
cache:
  type: sqlite
  options:
    filename: /var/lib/mta-sts/cache.db
    threads: 4
    timeout: 2
default_zone:
  tlsrpt: true
  require_sni: false
zones:
  strict:
    strict_testing: true
    dane_first: false
    timeout: 0.5
`))
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultConfig()
	want.Path, want.Mode, want.Host, want.Port = "/run/mta-sts.sock", 0o660, "", 0
	want.CacheGrace = 1500 * time.Millisecond
	want.Resolver, want.CAFile = "127.0.0.1:5353", "/etc/ssl/ca.pem"
	want.Cache = CacheConfig{Type: "sqlite", CacheSize: 10000, Filename: "/var/lib/mta-sts/cache.db", Timeout: 2 * time.Second}
	want.DefaultZone = Zone{Timeout: 4 * time.Second, TLSRPT: true, DaneFirst: true}
	want.Zones["strict"] = Zone{StrictTesting: true, Timeout: 500 * time.Millisecond, RequireSNI: true}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got  %+v\nwant %+v", c, want)
	}
}

func TestParseConfigErrors(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{"hots: 127.0.0.1\n", `e.yml:1: unknown key "hots"`},
		{"port: 1\nzones:\n  z:\n    strict: true\n", `e.yml:4: unknown key "zones.z.strict"`},
		{"default_zone:\n  timeout: 4\n  tlsprt: true\n", `e.yml:3: unknown key "default_zone.tlsprt"`},
		{"proactive_policy_fetching:\n  every: 3\n", `e.yml:2: unknown key "proactive_policy_fetching.every"`},
		{"cache:\n  type: redis\n  options:\n    url: redis://localhost\n", `e.yml:2: cache type "redis" is not supported by this daemon: use internal, sqlite, postgres or file`},
		{"cache:\n  type: memcache\n", `e.yml:2: unknown cache type "memcache"`},
		{"cache:\n  type: sqlite\n", `e.yml:2: cache type sqlite needs options.filename`},
		{"cache:\n  type: internal\n  options:\n    filename: x\n", `e.yml:4: unknown key "cache.options.filename" for cache type internal`},
		{"cache:\n  type: postgres\n  options:\n    user: x\n", `e.yml:4: unknown key "cache.options.user" for cache type postgres`},
		{"port: eighty\n", `e.yml:1: port: want an integer, not "eighty"`},
		{"port: 70000\n", `e.yml:1: port 70000 out of range`},
		{"reuse_port: maybe\n", `e.yml:1: reuse_port: want true or false, not "maybe"`},
		{"shutdown_timeout: -1\n", `e.yml:1: shutdown_timeout: -1 seconds out of range`},
		{"zones:\n  z: [1]\n", `e.yml:2: zones.z: want a mapping`},
		{"host: a\nhost: b\n", `e.yml:2: duplicate key "host"`},
		{"- a\n", `e.yml:1: want a mapping`},
		{"a: [\n", `e.yml: yaml: line 1: did not find expected node content`},
	} {
		_, err := ParseConfig("e.yml", []byte(tc.text))
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.text, err, tc.want)
		}
	}
}

func TestNormalizeKey(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"example.com", "example.com"},
		{"Example.COM.", "example.com"},
		{"[example.com]:25", "example.com"},
		{"[example.com]", "example.com"},
		{"example.com:587", "example.com"},
		{" example.com ", "example.com"},
		{"example.com..", "example.com"},
		{".example.com", ".example.com"},
		{"[1.2.3.4]:25", "1.2.3.4"},
	} {
		if got := normalizeKey(tc.in); got != tc.want {
			t.Errorf("normalizeKey(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add(manExample)
	f.Add("cache:\n  type: sqlite\n  options:\n    filename: x\nmode: 0666\n")
	f.Add("zones:\n  a:\n    tlsrpt: true\n")
	f.Fuzz(func(t *testing.T, text string) {
		c, err := ParseConfig("f.yml", []byte(text))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "f.yml") {
				t.Fatalf("error without the file name: %v", err)
			}
			return
		}
		if c.Cache.Type == "" || c.DefaultZone.Timeout <= 0 || c.Proactive.Concurrency <= 0 {
			t.Fatalf("bad config accepted: %+v", c)
		}
	})
}

func FuzzNormalizeKey(f *testing.F) {
	for _, s := range []string{"example.com", "[good.loc]:25", ".good.loc", "[1.2.3.4]", "a:b:c", "]["} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		d := normalizeKey(key)
		if normalizeKey(d) != d && !strings.Contains(d, ":") && !strings.Contains(d, "]") {
			t.Fatalf("not idempotent: %q → %q → %q", key, d, normalizeKey(d))
		}
		if strings.HasSuffix(d, ".") || d != strings.ToLower(d) {
			t.Fatalf("%q → %q", key, d)
		}
	})
}
