package relaymaps

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// OpenOptions controls how Open and the list parsers open tables. A nil
// *OpenOptions is valid and means the defaults.
type OpenOptions struct {
	// BaseDir resolves relative file names ("cidr:mynetworks.cidr");
	// empty means the process's working directory.
	BaseDir string
	// Logger receives warnings (duplicate keys, failed reloads). Nil means
	// slog.Default().
	Logger *slog.Logger
	// CheckInterval is how often a file-backed text table (texthash, hash,
	// ...) checks, during a lookup, whether its file changed. Zero means
	// one second; a negative value turns automatic reloading off.
	CheckInterval time.Duration
	// OnReload, if set, is called after every automatic reload attempt of
	// a file-backed table, with the table's name and the error (nil on
	// success). A failed reload keeps the previous contents.
	OnReload func(table string, err error)
}

// ResolvePath returns name resolved against o.BaseDir when it is relative.
// Openers registered with Register should use it for file names.
func (o *OpenOptions) ResolvePath(name string) string {
	if o == nil || o.BaseDir == "" || name == "" || filepath.IsAbs(name) {
		return name
	}
	return filepath.Join(o.BaseDir, name)
}

func (o *OpenOptions) logger() *slog.Logger {
	if o == nil || o.Logger == nil {
		return slog.Default()
	}
	return o.Logger
}

var registry = struct {
	sync.RWMutex
	m map[string]func(name string, opts *OpenOptions) (Map, error)
}{m: map[string]func(string, *OpenOptions) (Map, error){}}

// Register makes a table type available to Open (and to match lists and
// unionmap). The opener receives the part of the spec after "type:" and
// never a nil *OpenOptions. Register panics if typ is empty, contains ':',
// is already registered, or if opener is nil; call it from an init
// function.
func Register(typ string, opener func(name string, opts *OpenOptions) (Map, error)) {
	if typ == "" || strings.IndexByte(typ, ':') >= 0 || opener == nil {
		panic("relaymaps: Register: bad table type or nil opener")
	}
	typ = Fold(typ)
	registry.Lock()
	defer registry.Unlock()
	if _, dup := registry.m[typ]; dup {
		panic("relaymaps: Register called twice for table type " + typ)
	}
	registry.m[typ] = opener
}

// Types returns the registered table types, sorted (like "postconf -m").
func Types() []string {
	registry.RLock()
	defer registry.RUnlock()
	out := make([]string, 0, len(registry.m))
	for t := range registry.m {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

func init() {
	Register("static", openStatic)
	Register("inline", openInline)
	Register("cidr", openCIDR)
	Register("unionmap", openUnion)
	for _, t := range textTypes {
		Register(t, textOpener(t))
	}
}

// Open opens a table from a Postfix-style "type:name" spec, for example
// "cidr:/etc/postfix/client.cidr", "texthash:access", "static:OK" or
// "inline:{ a=b, c=d }". Relative file names are resolved against
// opts.BaseDir. An unknown type is an error that wraps ErrConfig:
//
//	relaymaps: unsupported table type "ldap" in "ldap:/x"
//
// The SQL types pgsql, mysql and sqlite are there when their driver
// package is imported (see RegisterSQL); without it the error names it:
//
//	relaymaps: table type "mysql" needs its driver: import _ "github.com/mxkit/mxkit/relaymaps/mysql"
func Open(spec string, opts *OpenOptions) (Map, error) {
	i := strings.IndexByte(spec, ':')
	if i <= 0 {
		return nil, &SyntaxError{Msg: fmt.Sprintf("bad table spec %q: need \"type:name\"", spec)}
	}
	typ, name := Fold(spec[:i]), spec[i+1:]
	registry.RLock()
	opener := registry.m[typ]
	registry.RUnlock()
	if _, sqlType := sqlTypes[typ]; opener == nil && sqlType {
		return nil, noDriverError(spec[:i])
	}
	if opener == nil {
		return nil, &SyntaxError{Msg: fmt.Sprintf("unsupported table type %q in %q", spec[:i], spec)}
	}
	if opts == nil {
		opts = &OpenOptions{}
	}
	return opener(name, opts)
}
