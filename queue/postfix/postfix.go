package postfix

import (
	"io"

	"github.com/mxkit/mxkit/internal/pfbuild"
	"github.com/mxkit/mxkit/internal/postfixconf"
	inbound "github.com/mxkit/mxkit/smtppolicy/postfix"
)

// Load reads a main.cf file once and builds both halves of what it says:
// the SMTP server (smtppolicy/postfix's Server: the policy and the server
// settings) and the queue side (Settings). Every parameter is accounted
// for as smtppolicy/postfix's Load does it; a queue-side parameter that is
// refused (a second relayhost, smtp_dns_support_level = disabled, an
// unreadable smtp_tls_CAfile, ...) is an error naming the file and line,
// a *smtppolicy/postfix.ConfigError. Close both when done.
func Load(path string, opts *inbound.Options) (*inbound.Server, *Settings, error) {
	o := options(opts)
	cfg, base, err := pfbuild.ParseFile(path, o.BaseDir)
	if err != nil {
		return nil, nil, err
	}
	o.BaseDir = base
	return both(cfg, &o)
}

// Parse reads main.cf text from r (name is the file name errors give) and
// builds both halves as Load does; relative paths are resolved against
// opts.BaseDir, opts.Overrides apply to both.
func Parse(r io.Reader, name string, opts *inbound.Options) (*inbound.Server, *Settings, error) {
	cfg, err := postfixconf.Parse(r, name)
	if err != nil {
		return nil, nil, err
	}
	o := options(opts)
	return both(cfg, &o)
}

func options(opts *inbound.Options) inbound.Options {
	if opts == nil {
		return inbound.Options{}
	}
	return *opts
}

func both(cfg *postfixconf.Config, opts *inbound.Options) (*inbound.Server, *Settings, error) {
	srv, err := inbound.Build(cfg, opts)
	if err != nil {
		return nil, nil, err
	}
	qs, err := build(cfg, srv, opts)
	if err != nil {
		srv.Close()
		return nil, nil, err
	}
	return srv, qs, nil
}

// Close closes the tables the queue side opened.
func (q *Settings) Close() error { return pfbuild.CloseAll(q.closers) }

type builder struct {
	*pfbuild.Builder
	srv *inbound.Server
	qs  *Settings
}

// build reads the queue side of cfg, which inbound.Build has read (its
// identity step has filled in myhostname and mydomain, and the overrides
// are set).
func build(cfg *postfixconf.Config, srv *inbound.Server, opts *inbound.Options) (qs *Settings, err error) {
	b := &builder{Builder: pfbuild.New(cfg, opts.Logger, opts.BaseDir), srv: srv,
		qs: &Settings{site: srv.Policy.Site, hostname: srv.Hostname}}
	if err := b.queue(); err != nil {
		b.Close()
		return nil, err
	}
	b.qs.closers = b.Closers()
	return b.qs, nil
}
