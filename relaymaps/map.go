package relaymaps

import (
	"context"
	"errors"
	"fmt"
)

// Map is a lookup table. Lookup returns the value for key and whether the key
// was found. An error means the table could not answer; callers must treat it
// as "unknown", never as "not found" (see ErrTemporary and ErrConfig).
//
// Keys are passed as the caller built them. Tables that fold case (all
// tables in this package except regexp) fold the key themselves.
type Map interface {
	Lookup(ctx context.Context, key string) (value string, found bool, err error)
}

// Closer is implemented by tables that hold resources (files watched,
// connections, goroutines).
type Closer interface {
	Close() error
}

// Fixed is implemented by tables that say whether they match whole keys
// only. Postfix derives partial keys (parent domains, shorter network
// prefixes, user@) only for fixed tables (hash, texthash, SQL); pattern
// tables (cidr, regexp, socketmap) are asked the full key only.
type Fixed interface {
	// FixedKeys reports whether the table matches whole keys only.
	FixedKeys() bool
}

// IsFixed reports whether m wants Postfix's derived partial keys. Tables that
// do not implement Fixed are treated as fixed, which is what a user-written
// key/value table usually is.
func IsFixed(m Map) bool {
	if f, ok := m.(Fixed); ok {
		return f.FixedKeys()
	}
	return true
}

// Named is implemented by tables that know their Postfix-style spec
// ("cidr:/etc/postfix/mynetworks.cidr"). It is used in explain traces.
type Named interface {
	Name() string
}

// NameOf returns the table's spec if it has one, or its Go type otherwise.
func NameOf(m Map) string {
	if n, ok := m.(Named); ok {
		return n.Name()
	}
	return fmt.Sprintf("%T", m)
}

// ErrTemporary marks a lookup failure that may go away (a database or
// socketmap server down, a timeout). Postfix answers such failures with
// "451 4.3.0 ... Temporary lookup failure".
var ErrTemporary = errors.New("temporary lookup failure")

// ErrConfig marks a lookup failure caused by configuration (a malformed table,
// a bad query, a PERM answer from a socketmap server). Postfix answers such
// failures with "451 4.3.5 ... Server configuration error".
var ErrConfig = errors.New("table configuration error")

// LookupError describes a failed lookup. Kind is ErrTemporary or ErrConfig;
// errors.Is(err, ErrTemporary) and errors.Is(err, ErrConfig) work on it.
type LookupError struct {
	Table string // the table's spec, e.g. "mysql:/etc/postfix/relay.cf"
	Key   string
	Kind  error // ErrTemporary or ErrConfig
	Err   error // the underlying cause, may be nil
}

func (e *LookupError) Error() string {
	s := e.Table + ": lookup " + fmt.Sprintf("%q", e.Key) + ": " + e.Kind.Error()
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns both the kind and the cause, so errors.Is finds either.
func (e *LookupError) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}

// IsConfig reports whether err is a configuration error (451 4.3.5) rather
// than a temporary one (451 4.3.0). Errors of unknown kind count as
// temporary: an unexplained failure must never become a permanent answer.
func IsConfig(err error) bool {
	return errors.Is(err, ErrConfig)
}

// MapFunc adapts a function to the Map interface. It is a fixed table.
type MapFunc func(ctx context.Context, key string) (string, bool, error)

// Lookup calls f.
func (f MapFunc) Lookup(ctx context.Context, key string) (string, bool, error) {
	return f(ctx, key)
}

// Dict is an in-memory fixed table, handy in tests and for tables built in
// code. Its keys must be lower case; Lookup folds the key it is given.
type Dict map[string]string

// Lookup returns d[lower(key)].
func (d Dict) Lookup(_ context.Context, key string) (string, bool, error) {
	v, ok := d[Fold(key)]
	return v, ok, nil
}

// Fold returns key with ASCII letters in lower case, without allocating
// when it already is. Other bytes (UTF-8 or not) are left alone, like
// Postfix's lowercase(): the result never depends on whether some other
// character of the key happened to be an upper-case ASCII letter.
func Fold(key string) string {
	for i := 0; i < len(key); i++ {
		if c := key[i]; c >= 'A' && c <= 'Z' {
			b := []byte(key)
			for j := i; j < len(b); j++ {
				if c := b[j]; c >= 'A' && c <= 'Z' {
					b[j] = c + ('a' - 'A')
				}
			}
			return string(b)
		}
	}
	return key
}

func asLookupError(err error, le **LookupError) bool { return errors.As(err, le) }

// kindOf classifies an error of unknown origin: configuration errors stay
// configuration errors, everything else is temporary.
func kindOf(err error) error {
	if errors.Is(err, ErrConfig) {
		return ErrConfig
	}
	return ErrTemporary
}
