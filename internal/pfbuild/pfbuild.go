// Package pfbuild is what the two halves of the main.cf layer share:
// smtppolicy/postfix (the SMTP server: policy and server settings) and
// queue/postfix (the queue, the transport router and the SMTP client).
// It reads parameters with errors that name file and line (ConfigError),
// opens the tables a parameter lists, loads certificates, parses the TLS
// parameters' syntax, and lists the queue side's parameters so that the
// server side's classify step accounts for every parameter of main.cf
// while reading only its own.
//
// It is internal to the main.cf layer: nothing of the core imports it.
package pfbuild

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mxkit/mxkit/internal/postfixconf"
	"github.com/mxkit/mxkit/relaymaps"
)

// ConfigError names the parameter at fault and where it was set.
type ConfigError struct {
	File  string
	Line  int
	Param string
	Err   error
}

func (e *ConfigError) Error() string {
	pos := ""
	if e.File != "" {
		pos = e.File + ":" + strconv.Itoa(e.Line) + ": "
	}
	return pos + "parameter " + e.Param + ": " + e.Err.Error()
}

func (e *ConfigError) Unwrap() error { return e.Err }

// ErrUnsupported marks parameters mxkit does not implement.
var ErrUnsupported = errors.New("not supported by mxkit")

// ParseFile reads main.cf at path. The folder of the file is where
// relative table paths are resolved unless baseDir says otherwise: the
// second result is baseDir, or that folder.
func ParseFile(path, baseDir string) (*postfixconf.Config, string, error) {
	cfg, err := postfixconf.ParseFile(path)
	if err != nil {
		return nil, "", err
	}
	if baseDir == "" {
		baseDir = filepath.Dir(path)
	}
	return cfg, baseDir, nil
}

// Override sets parameters after the file, as "postconf -o name=value"
// does, in name order.
func Override(cfg *postfixconf.Config, overrides map[string]string) {
	names := make([]string, 0, len(overrides))
	for n := range overrides {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		cfg.Set(n, overrides[n])
	}
}

// Builder reads a parsed main.cf for one half of the main.cf layer and
// keeps the tables it opens, to close them with it.
type Builder struct {
	Cfg *postfixconf.Config
	Log *slog.Logger
	// Tables opens the tables: relative paths against the base folder.
	Tables  *relaymaps.OpenOptions
	closers []io.Closer
}

// New returns a Builder for cfg; a nil log means slog.Default().
func New(cfg *postfixconf.Config, log *slog.Logger, baseDir string) *Builder {
	if log == nil {
		log = slog.Default()
	}
	return &Builder{Cfg: cfg, Log: log, Tables: &relaymaps.OpenOptions{BaseDir: baseDir, Logger: log}}
}

// Fail returns err as a *ConfigError naming the parameter and where main.cf
// set it.
func (b *Builder) Fail(name string, err error) error {
	p, _ := b.Cfg.Param(name)
	return &ConfigError{File: p.File, Line: p.Line, Param: name, Err: err}
}

// Get returns the expanded value of a parameter without the white space
// around it.
func (b *Builder) Get(name string) (string, error) {
	v, err := b.Cfg.Get(name)
	if err != nil {
		return "", b.Fail(name, err)
	}
	return strings.TrimSpace(v), nil
}

// Bool, Int, Size, Duration and List return a typed value; their errors
// are *ConfigError.
func (b *Builder) Bool(name string) (bool, error) { return typed(b, name, b.Cfg.Bool) }

// Int: see Bool.
func (b *Builder) Int(name string) (int, error) { return typed(b, name, b.Cfg.Int) }

// Size: see Bool.
func (b *Builder) Size(name string) (int64, error) { return typed(b, name, b.Cfg.Size) }

// Duration: see Bool.
func (b *Builder) Duration(name string) (time.Duration, error) {
	return typed(b, name, b.Cfg.Duration)
}

// List: see Bool.
func (b *Builder) List(name string) ([]string, error) { return typed(b, name, b.Cfg.List) }

func typed[T any](b *Builder, name string, get func(string) (T, error)) (T, error) {
	v, err := get(name)
	if err != nil {
		return v, b.Fail(name, err)
	}
	return v, nil
}

// Keep adds c to what Close closes.
func (b *Builder) Keep(c io.Closer) { b.closers = append(b.closers, c) }

// Closers returns what the Builder opened, for the value it built to
// close.
func (b *Builder) Closers() []io.Closer { return b.closers }

// Close closes what the Builder opened (after a failed build).
func (b *Builder) Close() error { return CloseAll(b.closers) }

// CloseAll closes each of cs and joins the errors.
func CloseAll(cs []io.Closer) error {
	var errs []error
	for _, c := range cs {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

// OpenMaps opens a list of tables (relay_recipient_maps = a, b). An empty
// list is nil: "accept all" for recipient tables.
func (b *Builder) OpenMaps(name string) ([]relaymaps.Map, error) {
	v, err := b.Get(name)
	if err != nil {
		return nil, err
	}
	var maps []relaymaps.Map
	for _, spec := range postfixconf.SplitList(v) {
		if strings.HasPrefix(spec, "nis:") {
			// Postfix answers "not found" from NIS tables on hosts
			// without a NIS domain, as this one has.
			b.Log.Info("postfix: NIS table skipped", "param", name, "table", spec)
			continue
		}
		m, err := b.Open(spec)
		if err != nil {
			return nil, b.Fail(name, err)
		}
		maps = append(maps, m)
	}
	return maps, nil
}

// Open opens one table.
func (b *Builder) Open(spec string) (relaymaps.Map, error) {
	// proxy: only forwards lookups through proxymap(8); open the table itself.
	spec = strings.TrimPrefix(spec, "proxy:")
	if spec == "unix:passwd.byname" {
		return passwdTable{}, nil
	}
	m, err := relaymaps.Open(spec, b.Tables)
	if err != nil {
		return nil, err
	}
	if c, ok := m.(io.Closer); ok {
		b.Keep(c)
	}
	return m, nil
}

// DomainList parses a domain list parameter (relay_domains); parent is
// whether a parent domain matches its subdomains.
func (b *Builder) DomainList(name string, parent bool) (*relaymaps.DomainList, error) {
	v, err := b.Get(name)
	if err != nil {
		return nil, err
	}
	v = strings.ReplaceAll(v, "proxy:", "")
	l, err := relaymaps.ParseDomainList(v, b.Tables)
	if err != nil {
		return nil, b.Fail(name, err)
	}
	l.ParentMatchesSubdomains = parent
	b.Keep(l)
	return l, nil
}

// Certificates loads the certificates of a TLS side: the PEM files (key
// and chain in one) that chainParam lists (smtpd_tls_chain_files), or,
// when it lists none, each certificate/key file pair whose certificate
// parameter is set (an unset key file means the key is in the
// certificate file).
func (b *Builder) Certificates(chainParam string, pairs [][2]string) ([]tls.Certificate, error) {
	var certs []tls.Certificate
	chain, err := b.List(chainParam)
	if err != nil {
		return nil, err
	}
	for _, f := range chain {
		pem, err := os.ReadFile(b.Tables.ResolvePath(f))
		if err != nil {
			return nil, b.Fail(chainParam, err)
		}
		c, err := tls.X509KeyPair(pem, pem)
		if err != nil {
			return nil, b.Fail(chainParam, fmt.Errorf("%s: %w", f, err))
		}
		certs = append(certs, c)
	}
	if len(chain) > 0 {
		return certs, nil
	}
	for _, pair := range pairs {
		cf, err := b.Get(pair[0])
		if err != nil {
			return nil, err
		}
		if cf == "" {
			continue
		}
		kf, err := b.Get(pair[1])
		if err != nil {
			return nil, err
		}
		if kf == "" {
			kf = cf
		}
		c, err := tls.LoadX509KeyPair(b.Tables.ResolvePath(cf), b.Tables.ResolvePath(kf))
		if err != nil {
			return nil, b.Fail(pair[0], err)
		}
		certs = append(certs, c)
	}
	return certs, nil
}

// passwdTable is Postfix's unix:passwd.byname: the local user names of
// /etc/passwd.
type passwdTable struct{}

func (passwdTable) Name() string    { return "unix:passwd.byname" }
func (passwdTable) FixedKeys() bool { return true }

func (passwdTable) Lookup(_ context.Context, key string) (string, bool, error) {
	data, err := os.ReadFile("/etc/passwd")
	if err != nil {
		return "", false, &relaymaps.LookupError{Table: "unix:passwd.byname", Key: key, Kind: relaymaps.ErrTemporary, Err: err}
	}
	for _, line := range strings.Split(string(data), "\n") {
		if name, rest, ok := strings.Cut(line, ":"); ok && name == key {
			return name + ":" + rest, true, nil
		}
	}
	return "", false, nil
}
