package main

import (
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is mta-sts-daemon.yml, the configuration file of
// postfix-mta-sts-resolver, with its defaults, plus our keys resolver,
// ca_file and zones.*.dane_first.
type Config struct {
	Host            string
	Port            int
	Path            string      // unix socket; replaces Host and Port
	Mode            os.FileMode // of the unix socket; 0: not changed
	ReusePort       bool
	ShutdownTimeout time.Duration
	CacheGrace      time.Duration
	Cache           CacheConfig
	Proactive       ProactiveConfig
	DefaultZone     Zone
	Zones           map[string]Zone
	// Resolver is the validating resolver, "ADDR" or "ADDR:PORT", for
	// every lookup; "" means the first nameserver of /etc/resolv.conf.
	Resolver string
	// CAFile holds PEM certificates trusted for policy hosts besides the
	// system's roots.
	CAFile string
}

// CacheConfig is the cache section.
type CacheConfig struct {
	Type      string // internal, sqlite, postgres, file
	CacheSize int    // internal
	Filename  string // sqlite
	Timeout   time.Duration
	DSN       string // postgres
	Dir       string // file (ours)
}

// ProactiveConfig is proactive_policy_fetching.
type ProactiveConfig struct {
	Enabled     bool
	Interval    time.Duration
	Concurrency int
	GraceRatio  float64
}

// Zone is default_zone or one of zones.
type Zone struct {
	StrictTesting bool
	Timeout       time.Duration
	RequireSNI    bool
	TLSRPT        bool
	DaneFirst     bool // ours
}

func defaultZone() Zone {
	return Zone{Timeout: 4 * time.Second, RequireSNI: true, DaneFirst: true}
}

// DefaultConfig returns the defaults of postfix-mta-sts-resolver.
func DefaultConfig() *Config {
	return &Config{
		Host:            "127.0.0.1",
		Port:            8461,
		ReusePort:       true,
		ShutdownTimeout: 20 * time.Second,
		CacheGrace:      60 * time.Second,
		Cache:           CacheConfig{Type: "internal", CacheSize: 10000, Timeout: 5 * time.Second},
		Proactive:       ProactiveConfig{Interval: 86400 * time.Second, Concurrency: 100, GraceRatio: 2},
		DefaultZone:     defaultZone(),
		Zones:           map[string]Zone{},
	}
}

// LoadConfig reads and parses a configuration file.
func LoadConfig(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseConfig(path, b)
}

// ParseConfig parses the YAML text of the file named name. Unknown keys
// and values of the wrong type are errors naming the file and line.
func ParseConfig(name string, text []byte) (*Config, error) {
	c := DefaultConfig()
	var doc yaml.Node
	if err := yaml.Unmarshal(text, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	p := &parser{file: name}
	if len(doc.Content) == 0 { // empty file: all defaults
		return c, nil
	}
	root := doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return c, nil
	}
	var hostSet, portSet bool
	err := p.mapping(root, "", func(key string, v *yaml.Node) error {
		switch key {
		case "host":
			hostSet = true
			return p.str(v, key, &c.Host)
		case "port":
			portSet = true
			if err := p.int(v, key, &c.Port); err != nil {
				return err
			}
			if c.Port < 0 || c.Port > 65535 {
				return p.errf(v, "port %d out of range", c.Port)
			}
		case "path":
			return p.str(v, key, &c.Path)
		case "mode":
			var m int
			if err := p.int(v, key, &m); err != nil {
				return err
			}
			if m <= 0 || m > 0o7777 {
				return p.errf(v, "mode %#o out of range", m)
			}
			c.Mode = os.FileMode(m)
		case "reuse_port":
			return p.bool(v, key, &c.ReusePort)
		case "shutdown_timeout":
			return p.seconds(v, key, &c.ShutdownTimeout)
		case "cache_grace":
			return p.seconds(v, key, &c.CacheGrace)
		case "resolver":
			return p.str(v, key, &c.Resolver)
		case "ca_file":
			return p.str(v, key, &c.CAFile)
		case "cache":
			return p.cache(v, &c.Cache)
		case "proactive_policy_fetching":
			return p.mapping(v, key+".", func(k string, v *yaml.Node) error {
				switch k {
				case "enabled":
					return p.bool(v, k, &c.Proactive.Enabled)
				case "interval":
					if err := p.seconds(v, k, &c.Proactive.Interval); err != nil {
						return err
					}
					if c.Proactive.Interval <= 0 {
						return p.errf(v, "interval must be positive")
					}
				case "concurrency_limit":
					if err := p.int(v, k, &c.Proactive.Concurrency); err != nil {
						return err
					}
					if c.Proactive.Concurrency <= 0 {
						return p.errf(v, "concurrency_limit must be positive")
					}
				case "grace_ratio":
					if err := p.float(v, k, &c.Proactive.GraceRatio); err != nil {
						return err
					}
					if !(c.Proactive.GraceRatio > 0) || math.IsInf(c.Proactive.GraceRatio, 0) {
						return p.errf(v, "grace_ratio must be positive")
					}
				default:
					return p.unknown(v, key+"."+k)
				}
				return nil
			})
		case "default_zone":
			return p.zone(v, key, &c.DefaultZone)
		case "zones":
			return p.mapping(v, key+".", func(k string, v *yaml.Node) error {
				z := defaultZone()
				if err := p.zone(v, "zones."+k, &z); err != nil {
					return err
				}
				c.Zones[k] = z
				return nil
			})
		default:
			return p.unknown(v, key)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if c.Path != "" && (hostSet || portSet) {
		// As postfix-mta-sts-resolver: path wins.
		c.Host, c.Port = "", 0
	}
	return c, nil
}

type parser struct {
	file string
	key  *yaml.Node // the key node of the value being parsed, for errors
}

func (p *parser) errf(n *yaml.Node, format string, args ...any) error {
	return fmt.Errorf("%s:%d: %s", p.file, n.Line, fmt.Sprintf(format, args...))
}

func (p *parser) unknown(_ *yaml.Node, key string) error {
	return p.errf(p.key, "unknown key %q", key)
}

// mapping calls f for each key of the mapping n, in order.
func (p *parser) mapping(n *yaml.Node, prefix string, f func(key string, v *yaml.Node) error) error {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil // "cache:" with nothing under it
	}
	if n.Kind != yaml.MappingNode {
		if prefix == "" {
			return p.errf(n, "want a mapping")
		}
		return p.errf(n, "%s: want a mapping", strings.TrimSuffix(prefix, "."))
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return p.errf(k, "%skey: want a string", prefix)
		}
		if seen[k.Value] {
			return p.errf(k, "duplicate key %q", prefix+k.Value)
		}
		seen[k.Value] = true
		p.key = k
		if err := f(k.Value, v); err != nil {
			return err
		}
	}
	return nil
}

func (p *parser) scalar(n *yaml.Node, key, want string) error {
	if n.Kind != yaml.ScalarNode {
		return p.errf(n, "%s: want %s", key, want)
	}
	return nil
}

func (p *parser) str(n *yaml.Node, key string, dst *string) error {
	if err := p.scalar(n, key, "a string"); err != nil {
		return err
	}
	*dst = n.Value
	return nil
}

func (p *parser) bool(n *yaml.Node, key string, dst *bool) error {
	if err := p.scalar(n, key, "true or false"); err != nil {
		return err
	}
	if err := n.Decode(dst); err != nil {
		return p.errf(n, "%s: want true or false, not %q", key, n.Value)
	}
	return nil
}

func (p *parser) int(n *yaml.Node, key string, dst *int) error {
	if err := p.scalar(n, key, "an integer"); err != nil {
		return err
	}
	// YAML 1.1 octal ("0666"), as PyYAML reads it, for mode.
	v := n.Value
	if len(v) > 1 && v[0] == '0' && v[1] >= '0' && v[1] <= '7' {
		i, err := strconv.ParseInt(v[1:], 8, 64)
		if err == nil && i <= math.MaxInt32 {
			*dst = int(i)
			return nil
		}
	}
	if err := n.Decode(dst); err != nil {
		return p.errf(n, "%s: want an integer, not %q", key, n.Value)
	}
	return nil
}

func (p *parser) float(n *yaml.Node, key string, dst *float64) error {
	if err := p.scalar(n, key, "a number"); err != nil {
		return err
	}
	if err := n.Decode(dst); err != nil || math.IsNaN(*dst) {
		return p.errf(n, "%s: want a number, not %q", key, n.Value)
	}
	return nil
}

// seconds reads a number of seconds (a float, as in the Python daemon).
func (p *parser) seconds(n *yaml.Node, key string, dst *time.Duration) error {
	var f float64
	if err := p.float(n, key, &f); err != nil {
		return err
	}
	if f < 0 || f > 1e9 {
		return p.errf(n, "%s: %v seconds out of range", key, f)
	}
	*dst = time.Duration(f * float64(time.Second))
	return nil
}

func (p *parser) zone(n *yaml.Node, name string, z *Zone) error {
	return p.mapping(n, name+".", func(k string, v *yaml.Node) error {
		switch k {
		case "strict_testing":
			return p.bool(v, k, &z.StrictTesting)
		case "timeout":
			if err := p.seconds(v, k, &z.Timeout); err != nil {
				return err
			}
			if z.Timeout <= 0 {
				return p.errf(v, "timeout must be positive")
			}
		case "require_sni":
			return p.bool(v, k, &z.RequireSNI)
		case "tlsrpt":
			return p.bool(v, k, &z.TLSRPT)
		case "dane_first":
			return p.bool(v, k, &z.DaneFirst)
		default:
			return p.unknown(v, name+"."+k)
		}
		return nil
	})
}

func (p *parser) cache(n *yaml.Node, c *CacheConfig) error {
	var opts *yaml.Node
	var optsKey *yaml.Node
	err := p.mapping(n, "cache.", func(k string, v *yaml.Node) error {
		switch k {
		case "type":
			return p.str(v, k, &c.Type)
		case "options":
			opts, optsKey = v, p.key
		default:
			return p.unknown(v, "cache."+k)
		}
		return nil
	})
	if err != nil {
		return err
	}
	switch c.Type {
	case "internal", "sqlite", "postgres", "file":
	case "redis", "redis_sentinel":
		return p.errf(n, "cache type %q is not supported by this daemon: use internal, sqlite, postgres or file", c.Type)
	default:
		return p.errf(n, "unknown cache type %q: want internal, sqlite, postgres or file", c.Type)
	}
	if opts != nil {
		err = p.mapping(opts, "cache.options.", func(k string, v *yaml.Node) error {
			switch {
			case c.Type == "internal" && k == "cache_size":
				if err := p.int(v, k, &c.CacheSize); err != nil {
					return err
				}
				if c.CacheSize <= 0 {
					return p.errf(v, "cache_size must be positive")
				}
			case c.Type == "sqlite" && k == "filename":
				return p.str(v, k, &c.Filename)
			case c.Type == "sqlite" && k == "timeout":
				return p.seconds(v, k, &c.Timeout)
			case c.Type == "sqlite" && k == "threads":
				var n int
				return p.int(v, k, &n) // the pool size of database/sql is managed by it
			case c.Type == "postgres" && k == "dsn":
				return p.str(v, k, &c.DSN)
			case c.Type == "file" && k == "dir":
				return p.str(v, k, &c.Dir)
			default:
				return p.errf(p.key, "unknown key %q for cache type %s", "cache.options."+k, c.Type)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	if optsKey == nil {
		optsKey = n
	}
	switch {
	case c.Type == "sqlite" && c.Filename == "":
		return p.errf(optsKey, "cache type sqlite needs options.filename")
	case c.Type == "postgres" && c.DSN == "":
		return p.errf(optsKey, "cache type postgres needs options.dsn")
	case c.Type == "file" && c.Dir == "":
		return p.errf(optsKey, "cache type file needs options.dir")
	}
	return nil
}

var errNoConfig = errors.New("-config FILE is required")
