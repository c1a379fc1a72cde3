package relaymaps_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/mxkit/mxkit/relaymaps"
)

func TestExpandVirtual(t *testing.T) {
	maps := []relaymaps.Map{
		relaymaps.Dict{
			"info@example.com":   "alice@example.net, bob@example.org",
			"alice@example.net":  "alice@example.net, archive@example.net",
			"sales@example.com":  "info@example.com, Carol@Example.NET",
			"@alias.example":     "@example.com",
			"joe@example.com":    "joseph@mail.example",
			"self@example.com":   "self@example.com",
			"team@example.com":   "alice@example.net,bob@example.org alice@example.net",
			"postmaster":         "root@example.com",
			"user":               "local-user@mail.example",
			"user+special@local": "special@mail.example",
			"dup@example.com":    "carol@example.net",
		},
	}
	local := func(d string) bool { return d == "local" }
	for _, tc := range []struct {
		addr, delims string
		noProp       bool
		want         string
	}{
		{"info@example.com", "+", false, "alice@example.net bob@example.org archive@example.net"},
		{"sales@example.com", "+", false, "alice@example.net Carol@Example.NET bob@example.org archive@example.net"},
		{"nobody@example.com", "+", false, "nobody@example.com"},
		{"joe+tag@example.com", "+", false, "joseph+tag@mail.example"},
		{"joe+tag@example.com", "+", true, "joseph@mail.example"},
		{"joe@alias.example", "+", false, "joseph@mail.example"},
		{"joe+x@alias.example", "+", false, "joseph+x@mail.example"},
		{"anyone+x@alias.example", "+", false, "anyone+x@example.com"},
		{"self@example.com", "+", false, "self@example.com"},
		{"self+ext@example.com", "+", false, "self+ext@example.com"},
		{"team@example.com", "+", false, "alice@example.net bob@example.org archive@example.net"},
		{"user@local", "+", false, "local-user@mail.example"},
		{"user@remote.example", "+", false, "user@remote.example"},
		{"user+special@local", "+", false, "special@mail.example"},
		{"user+other@local", "+", false, "local-user+other@mail.example"},
		{"Info@Example.COM", "+", false, "alice@example.net bob@example.org archive@example.net"},
	} {
		got, err := relaymaps.ExpandVirtual(context.Background(), maps, tc.addr, relaymaps.VirtualOptions{
			Delimiters: tc.delims, IsLocalDomain: local, NoPropagateExtensions: tc.noProp,
		})
		if err != nil {
			t.Errorf("ExpandVirtual(%q): %v", tc.addr, err)
			continue
		}
		if s := strings.Join(got, " "); s != tc.want {
			t.Errorf("ExpandVirtual(%q, noProp=%v):\n got %s\nwant %s", tc.addr, tc.noProp, s, tc.want)
		}
	}
}

func TestExpandVirtualOrigin(t *testing.T) {
	maps := []relaymaps.Map{relaymaps.Dict{"a@example.com": "bob, carol@x.example"}}
	got, err := relaymaps.ExpandVirtual(context.Background(), maps, "a+t@example.com", relaymaps.VirtualOptions{Delimiters: "+", Origin: "example.org"})
	if err != nil || strings.Join(got, " ") != "bob+t@example.org carol+t@x.example" {
		t.Fatalf("got %q, %v", got, err)
	}
}

func TestExpandVirtualLimits(t *testing.T) {
	ctx := context.Background()
	loop := []relaymaps.Map{relaymaps.Dict{"a@x": "b@x", "b@x": "c@x", "c@x": "a@x"}}
	_, err := relaymaps.ExpandVirtual(ctx, loop, "a@x", relaymaps.VirtualOptions{})
	if err == nil || err.Error() != "relaymaps: virtual alias loop: a@x -> b@x -> c@x -> a@x" || !errors.Is(err, relaymaps.ErrConfig) {
		t.Errorf("loop: %v", err)
	}

	// A chain of 20 aliases with a nesting limit of 10.
	chain := relaymaps.Dict{}
	for i := range 20 {
		chain[fmt.Sprintf("u%d@x", i)] = fmt.Sprintf("u%d@x", i+1)
	}
	_, err = relaymaps.ExpandVirtual(ctx, []relaymaps.Map{chain}, "u0@x", relaymaps.VirtualOptions{MaxNesting: 10})
	if err == nil || err.Error() != `relaymaps: virtual alias expansion of "u0@x": nesting deeper than 10` {
		t.Errorf("nesting: %v", err)
	}
	got, err := relaymaps.ExpandVirtual(ctx, []relaymaps.Map{chain}, "u0@x", relaymaps.VirtualOptions{})
	if err != nil || strings.Join(got, " ") != "u20@x" {
		t.Errorf("chain: %q %v", got, err)
	}

	// Fan-out: 40 addresses, each to 40 more.
	fan := relaymaps.Dict{}
	var l1 []string
	for i := range 40 {
		var l2 []string
		for j := range 40 {
			l2 = append(l2, fmt.Sprintf("m%d-%d@x", i, j))
		}
		fan[fmt.Sprintf("l%d@x", i)] = strings.Join(l2, ",")
		l1 = append(l1, fmt.Sprintf("l%d@x", i))
	}
	fan["all@x"] = strings.Join(l1, ",")
	_, err = relaymaps.ExpandVirtual(ctx, []relaymaps.Map{fan}, "all@x", relaymaps.VirtualOptions{})
	if err == nil || err.Error() != `relaymaps: virtual alias expansion of "all@x": more than 1000 addresses` {
		t.Errorf("fan-out: %v", err)
	}
	got, err = relaymaps.ExpandVirtual(ctx, []relaymaps.Map{fan}, "all@x", relaymaps.VirtualOptions{MaxAddresses: 2000})
	if err != nil || len(got) != 1600 || got[0] != "m0-0@x" || got[1] != "m1-0@x" {
		t.Errorf("fan-out with a higher limit: %d addresses, %v", len(got), err)
	}

	// Lookup errors are returned, never treated as "not found".
	bad := relaymaps.MapFunc(func(context.Context, string) (string, bool, error) {
		return "", false, errors.New("database down")
	})
	_, err = relaymaps.ExpandVirtual(ctx, []relaymaps.Map{bad}, "a@x", relaymaps.VirtualOptions{})
	var le *relaymaps.LookupError
	if !errors.As(err, &le) || !errors.Is(err, relaymaps.ErrTemporary) {
		t.Errorf("lookup error: %v", err)
	}
}

func TestValidRecipient(t *testing.T) {
	ctx := context.Background()
	maps := []relaymaps.Map{relaymaps.Dict{"alice@example.com": "x"}, relaymaps.Dict{"@catchall.example": "x"}}
	for addr, want := range map[string]bool{
		"alice@example.com":       true,
		"Alice+tag@Example.com":   true,
		"bob@example.com":         false,
		"anyone@catchall.example": true,
		"alice":                   false,
	} {
		if got, err := relaymaps.ValidRecipient(ctx, maps, addr, "+"); got != want || err != nil {
			t.Errorf("ValidRecipient(%q) = %v, %v; want %v", addr, got, err, want)
		}
	}
	if ok, err := relaymaps.ValidRecipient(ctx, nil, "anyone@anywhere.example", "+"); !ok || err != nil {
		t.Errorf("empty maps: %v %v", ok, err)
	}
	bad := relaymaps.MapFunc(func(context.Context, string) (string, bool, error) {
		return "", false, relaymaps.ErrTemporary
	})
	if ok, err := relaymaps.ValidRecipient(ctx, []relaymaps.Map{bad}, "a@x", ""); ok || !errors.Is(err, relaymaps.ErrTemporary) {
		t.Errorf("lookup error: %v %v", ok, err)
	}
}
