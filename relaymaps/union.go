package relaymaps

import (
	"context"
	"errors"
	"strings"
)

// Union is Postfix's "unionmap:{type:name, ...}" table (Postfix 3.0): every
// lookup goes to every member in order, and the values of all members that
// find the key are joined with ",". The key is not found when no member
// finds it. An error from any member is the lookup's error.
//
// Like Postfix, a Union is fixed or pattern-matching as its first member
// is (see IsFixed).
type Union struct {
	maps []Map
	name string
}

// NewUnion returns the union of maps. Close closes the members that are
// Closers.
func NewUnion(maps ...Map) *Union {
	names := make([]string, len(maps))
	for i, m := range maps {
		names[i] = NameOf(m)
	}
	return &Union{maps: maps, name: "unionmap:{" + strings.Join(names, ", ") + "}"}
}

func openUnion(name string, opts *OpenOptions) (Map, error) {
	spec := "unionmap:" + name
	inner, err := unbrace(strings.TrimFunc(name, isSpaceRune))
	if err != nil {
		return nil, &SyntaxError{File: spec, Msg: err.Error() + `; need "unionmap:{type:name, ...}"`}
	}
	toks, err := splitTokens(inner)
	if err != nil {
		return nil, &SyntaxError{File: spec, Msg: err.Error()}
	}
	if len(toks) == 0 {
		return nil, &SyntaxError{File: spec, Msg: `no tables; need "unionmap:{type:name, ...}"`}
	}
	maps := make([]Map, 0, len(toks))
	for _, tok := range toks {
		m, err := Open(tok, opts)
		if err != nil {
			_ = NewUnion(maps...).Close()
			return nil, err
		}
		maps = append(maps, m)
	}
	u := NewUnion(maps...)
	u.name = spec
	return u, nil
}

// Lookup asks every member and joins the values found with ",".
func (u *Union) Lookup(ctx context.Context, key string) (string, bool, error) {
	var out string
	var b []byte
	found := false
	for _, m := range u.maps {
		v, ok, err := m.Lookup(ctx, key)
		if err != nil {
			return "", false, err
		}
		if !ok {
			continue
		}
		switch {
		case !found:
			out, found = v, true
		case b == nil:
			b = append(append(append(make([]byte, 0, len(out)+1+len(v)), out...), ','), v...)
		default:
			b = append(append(b, ','), v...)
		}
	}
	if b != nil {
		out = string(b)
	}
	return out, found, nil
}

// FixedKeys reports whether the first member is fixed (true for an empty
// union).
func (u *Union) FixedKeys() bool {
	if len(u.maps) == 0 {
		return true
	}
	return IsFixed(u.maps[0])
}

// Name returns "unionmap:{...}".
func (u *Union) Name() string { return u.name }

// Close closes the members that are Closers.
func (u *Union) Close() error {
	var errs []error
	for _, m := range u.maps {
		if c, ok := m.(Closer); ok {
			errs = append(errs, c.Close())
		}
	}
	return errors.Join(errs...)
}
