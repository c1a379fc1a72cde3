package relaymaps_test

import (
	"context"
	"errors"
	"iter"
	"strings"
	"testing"

	"github.com/mxkit/mxkit/relaymaps"
)

// keyList renders keys as "key" (full) and "key*" (partial).
func keyList(seq iter.Seq[relaymaps.Key]) string {
	var out []string
	for k := range seq {
		if k.Partial {
			out = append(out, k.Key+"*")
		} else {
			out = append(out, k.Key)
		}
	}
	return strings.Join(out, " ")
}

func TestHostKeys(t *testing.T) {
	for in, want := range map[string]string{
		"Mail.Sub.Example.COM": "mail.sub.example.com sub.example.com* example.com* com*",
		"example.com":          "example.com com*",
		"localhost":            "localhost",
		"example.com.":         "example.com. com.*",
		".example.com":         ".example.com com*",
		"a..b":                 "a..b .b*", // as Postfix walks it
		"192.0.2.1":            "192.0.2.1",
		"2001:DB8::1":          "2001:db8::1",
		"[192.0.2.1]":          "[192.0.2.1]",
		"1.2.3":                "1.2.3 2.3* 3*",
		"":                     "",
	} {
		if got := keyList(relaymaps.HostKeys(in)); got != want {
			t.Errorf("HostKeys(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestAddrKeys(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.1":   "192.0.2.1 192.0.2* 192.0* 192*",
		"2001:DB8::1": "2001:db8::1 2001:db8:* 2001:db8* 2001*",
		"::1":         "::1 :*",
		"10":          "10",
		"":            "",
	} {
		if got := keyList(relaymaps.AddrKeys(in)); got != want {
			t.Errorf("AddrKeys(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestAccessAddressKeys(t *testing.T) {
	for _, c := range []struct{ addr, delim, want string }{
		{"User+Ext@Sub.Example.COM", "+", "user+ext@sub.example.com user@sub.example.com* sub.example.com* example.com* com* user+ext@* user@*"},
		{"user@example.com", "+", "user@example.com example.com* com* user@*"},
		{"user-ext+more@example.com", "+-", "user-ext+more@example.com user@example.com* example.com* com* user-ext+more@* user@*"},
		{"user-ext+more@example.com", "+", "user-ext+more@example.com user-ext@example.com* example.com* com* user-ext+more@* user-ext@*"},
		{"user+ext@example.com", "", "user+ext@example.com example.com* com* user+ext@*"},
		{"+ext@example.com", "+", "+ext@example.com example.com* com* +ext@*"},
		{"user+@example.com", "+", "user+@example.com user@example.com* example.com* com* user+@* user@*"},
		{"Postmaster@example.com", "+-", "postmaster@example.com example.com* com* postmaster@*"},
		{"mailer-daemon@example.com", "-", "mailer-daemon@example.com example.com* com* mailer-daemon@*"},
		{"double-bounce@example.com", "-", "double-bounce@example.com example.com* com* double-bounce@*"},
		{"owner-list@example.com", "-", "owner-list@example.com example.com* com* owner-list@*"},
		{"list-request@example.com", "+-", "list-request@example.com example.com* com* list-request@*"},
		{"owner-list+x@example.com", "+", "owner-list+x@example.com owner-list@example.com* example.com* com* owner-list+x@* owner-list@*"},
		{"user@[192.0.2.1]", "+", "user@[192.0.2.1] [192.0.2.1]* user@*"},
		{`"a@b"@example.com`, "+", `"a@b"@example.com example.com* com* "a@b"@*`},
		{"user@", "+", "user@ user@*"},
		{"user+ext", "+", "user+ext user* user+ext@* user@*"},
		{"", "+", ""},
	} {
		if got := keyList(relaymaps.AccessAddressKeys(c.addr, c.delim)); got != c.want {
			t.Errorf("AccessAddressKeys(%q, %q) =\n %q\nwant\n %q", c.addr, c.delim, got, c.want)
		}
	}
}

func TestRecipientKeys(t *testing.T) {
	for _, c := range []struct {
		addr, delim string
		local       bool
		want        string
	}{
		{"User+Ext@Example.com", "+-", false, "user+ext@example.com user@example.com* @example.com*"},
		{"user+ext@example.com", "+-", true, "user+ext@example.com user@example.com* user+ext* user* @example.com*"},
		{"user@example.com", "+", true, "user@example.com user* @example.com*"},
		{"user@example.com", "+", false, "user@example.com @example.com*"},
		{"owner-x-y@example.com", "-", true, "owner-x-y@example.com owner-x-y* @example.com*"},
		{"@example.com", "+", true, "@example.com"},
		{"user+ext", "+", true, "user+ext user*"},
		{"", "+", true, ""},
	} {
		if got := keyList(relaymaps.RecipientKeys(c.addr, c.delim, c.local)); got != c.want {
			t.Errorf("RecipientKeys(%q, %q, %v) =\n %q\nwant\n %q", c.addr, c.delim, c.local, got, c.want)
		}
	}
}

func TestKeysStopEarly(t *testing.T) {
	for name, seq := range map[string]iter.Seq[relaymaps.Key]{
		"host":      relaymaps.HostKeys("a.b.c"),
		"addr":      relaymaps.AddrKeys("1.2.3.4"),
		"access":    relaymaps.AccessAddressKeys("u+e@a.b", "+"),
		"access-na": relaymaps.AccessAddressKeys("u+e", "+"),
		"recipient": relaymaps.RecipientKeys("u+e@a.b", "+", true),
	} {
		for stop := 1; stop < 8; stop++ {
			n := 0
			for range seq {
				n++
				if n == stop {
					break
				}
			}
			if n > stop {
				t.Errorf("%s: yielded after break", name)
			}
		}
	}
}

type patternMap struct{ relaymaps.Dict }

func (patternMap) FixedKeys() bool { return false }

func TestFind(t *testing.T) {
	ctx := context.Background()
	a := relaymaps.Dict{"example.com": "A-domain"}
	b := relaymaps.Dict{"user@example.com": "B-bare"}
	keys := relaymaps.AccessAddressKeys("user+x@example.com", "+")

	// Each key goes to every table before the next key: b's user@ wins
	// over a's domain although a comes first.
	v, k, m, found, err := relaymaps.Find(ctx, []relaymaps.Map{a, b}, keys)
	if err != nil || !found || v != "B-bare" || k != "user@example.com" || relaymaps.NameOf(m) != "relaymaps.Dict" {
		t.Errorf("Find = %q %q %v %v", v, k, found, err)
	}

	// Partial keys skip pattern tables.
	p := patternMap{relaymaps.Dict{"user@example.com": "P"}}
	v, _, _, found, err = relaymaps.Find(ctx, []relaymaps.Map{p}, keys)
	if found || err != nil {
		t.Errorf("pattern table got a partial key: %q %v", v, err)
	}
	v, k, _, found, _ = relaymaps.Find(ctx, []relaymaps.Map{p}, relaymaps.AccessAddressKeys("user@example.com", "+"))
	if !found || v != "P" || k != "user@example.com" {
		t.Errorf("pattern table full key: %q %q %v", v, k, found)
	}

	// A found value ends the search, whatever it says (DUNNO is opaque).
	d := relaymaps.Dict{"user+x@example.com": "DUNNO", "example.com": "REJECT"}
	v, _, _, _, _ = relaymaps.Find(ctx, []relaymaps.Map{d}, keys)
	if v != "DUNNO" {
		t.Errorf("got %q, want DUNNO", v)
	}

	// Errors stop the search and become *LookupError.
	plain := errors.New("connection refused")
	failing := relaymaps.MapFunc(func(_ context.Context, key string) (string, bool, error) {
		if key == "sub.example.com" {
			return "", false, plain
		}
		return "", false, nil
	})
	_, k, m, found, err = relaymaps.Find(ctx, []relaymaps.Map{a, failing}, relaymaps.AccessAddressKeys("user@sub.example.com", "+"))
	var le *relaymaps.LookupError
	if found || !errors.As(err, &le) || le.Kind != relaymaps.ErrTemporary || le.Key != "sub.example.com" || k != "sub.example.com" || !errors.Is(err, plain) {
		t.Errorf("plain error: %v %q %v", err, k, found)
	}
	if relaymaps.NameOf(m) != "relaymaps.MapFunc" {
		t.Errorf("map = %s", relaymaps.NameOf(m))
	}
	if got := err.Error(); got != `relaymaps.MapFunc: lookup "sub.example.com": temporary lookup failure: connection refused` {
		t.Errorf("error text %q", got)
	}
	own := &relaymaps.LookupError{Table: "t", Key: "k", Kind: relaymaps.ErrConfig}
	_, _, _, _, err = relaymaps.Find(ctx, []relaymaps.Map{relaymaps.MapFunc(func(context.Context, string) (string, bool, error) {
		return "", false, own
	})}, keys)
	if err != own {
		t.Errorf("own LookupError replaced: %v", err)
	}
	_, _, _, _, err = relaymaps.Find(ctx, []relaymaps.Map{relaymaps.MapFunc(func(context.Context, string) (string, bool, error) {
		return "", false, errors.Join(relaymaps.ErrConfig, errors.New("bad SQL"))
	})}, keys)
	if !errors.As(err, &le) || le.Kind != relaymaps.ErrConfig {
		t.Errorf("config error kind: %v", err)
	}

	if _, _, _, found, err := relaymaps.Find(ctx, nil, keys); found || err != nil {
		t.Errorf("no maps: %v %v", found, err)
	}
}
