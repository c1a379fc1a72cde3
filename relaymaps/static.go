package relaymaps

import (
	"context"
	"fmt"
	"strings"
)

// Static is Postfix's "static:VALUE" table: every key is found and the
// value is always Value (Postfix dict_static ignores the key). The zero
// value answers "" for every key.
//
// Like Postfix's dict_static, Static is a fixed table (DICT_FLAG_FIXED); as
// it answers the first key it is asked, this makes no difference to which
// value a search finds.
type Static struct {
	Value string
}

// Lookup returns s.Value, found, for any key.
func (s Static) Lookup(context.Context, string) (string, bool, error) {
	return s.Value, true, nil
}

// FixedKeys reports true, as Postfix does for static tables.
func (Static) FixedKeys() bool { return true }

// Name returns "static:VALUE", or "static:{ VALUE }" when the value holds
// blanks, commas or braces.
func (s Static) Name() string {
	if strings.ContainsAny(s.Value, " \t\r\n,{}") {
		return "static:{ " + s.Value + " }"
	}
	return "static:" + s.Value
}

func openStatic(name string, _ *OpenOptions) (Map, error) {
	if name != "" && name[0] == '{' {
		v, err := unbrace(name)
		if err != nil {
			return nil, &SyntaxError{File: "static:" + name, Msg: err.Error()}
		}
		return Static{Value: v}, nil
	}
	return Static{Value: name}, nil
}

// Inline is Postfix's "inline:{ key=value, { key = text with spaces } }"
// table (Postfix 3.0 and later): an in-memory fixed table. Keys are folded
// to lower case. As in Postfix, a key given twice keeps the last value.
type Inline struct {
	name string
	m    map[string]string
}

// ParseInline parses the part of an inline table spec after "inline:",
// which must be enclosed in {}.
func ParseInline(name string) (*Inline, error) {
	spec := "inline:" + name
	fail := func(format string, args ...any) (*Inline, error) {
		return nil, &SyntaxError{File: spec, Msg: fmt.Sprintf(format, args...)}
	}
	inner, err := unbrace(strings.TrimFunc(name, isSpaceRune))
	if err != nil {
		return fail("%v; need \"inline:{key=value, ...}\"", err)
	}
	toks, err := splitTokens(inner)
	if err != nil {
		return fail("%v", err)
	}
	m := make(map[string]string, len(toks))
	for _, tok := range toks {
		if tok[0] == '{' {
			if tok, err = unbrace(tok); err != nil {
				return fail("%v", err)
			}
		}
		k, v, err := splitNameValue(tok)
		if err != nil {
			return fail("%v", err)
		}
		m[Fold(k)] = v
	}
	if len(m) == 0 {
		return fail("empty table; need \"inline:{key=value, ...}\"")
	}
	return &Inline{name: spec, m: m}, nil
}

func openInline(name string, _ *OpenOptions) (Map, error) { return ParseInline(name) }

// Lookup returns the value for the folded key.
func (t *Inline) Lookup(_ context.Context, key string) (string, bool, error) {
	v, ok := t.m[Fold(key)]
	return v, ok, nil
}

// FixedKeys reports true.
func (*Inline) FixedKeys() bool { return true }

// Name returns the spec the table was parsed from.
func (t *Inline) Name() string { return t.name }
