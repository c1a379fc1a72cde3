package relaymaps

import (
	"context"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net/netip"
	"os"
	"strings"
	"testing"
)

// naiveCIDR evaluates parsed rules the way Postfix's cidr_match_execute
// does: one by one, skipping if-blocks whose condition fails.
func naiveCIDR(ops []cidrOp, a netip.Addr) (string, bool) {
	for i := 0; i < len(ops); i++ {
		op := &ops[i]
		switch op.kind {
		case opMatch:
			if op.matches(a) {
				return op.value, true
			}
		case opIf:
			if op.matches(a) {
				continue
			}
			for depth := 1; depth > 0 && i+1 < len(ops); {
				i++
				switch ops[i].kind {
				case opIf:
					depth++
				case opEndif:
					depth--
				}
			}
		}
	}
	return "", false
}

func parseOps(t testing.TB, text string) ([]cidrOp, error) {
	t.Helper()
	lines, bad, msg := logicalLines(text)
	if msg != "" {
		return nil, &SyntaxError{File: "f", Line: bad, Msg: msg}
	}
	return parseCIDROps("f", false, lines)
}

// randomCIDRText writes a random cidr table over a small address space so
// that rules overlap a lot.
func randomCIDRText(r *rand.Rand, n int) string {
	var b strings.Builder
	depth := 0
	for i := range n {
		switch x := r.IntN(20); {
		case x == 0 && depth < 4:
			fmt.Fprintf(&b, "if %s%s\n", neg(r), randPrefix(r))
			depth++
			continue
		case x == 1 && depth > 0:
			b.WriteString("endif\n")
			depth--
			continue
		}
		fmt.Fprintf(&b, "%s%s r%d\n", neg(r), randPrefix(r), i)
	}
	for ; depth > 0; depth-- {
		b.WriteString("endif\n")
	}
	return b.String()
}

func neg(r *rand.Rand) string {
	if r.IntN(6) == 0 {
		return "!"
	}
	return ""
}

func randAddr(r *rand.Rand) netip.Addr {
	if r.IntN(4) == 0 {
		var b [16]byte
		b[0], b[1], b[15] = 0x20, 0x01, byte(r.IntN(8))
		b[2] = byte(r.IntN(4))
		return netip.AddrFrom16(b)
	}
	return netip.AddrFrom4([4]byte{10, byte(r.IntN(4)), byte(r.IntN(4)), byte(r.IntN(8))})
}

func randPrefix(r *rand.Rand) netip.Prefix {
	a := randAddr(r)
	var bits int
	if a.Is4() {
		bits = []int{0, 8, 14, 16, 22, 24, 29, 30, 32, 32}[r.IntN(10)]
	} else {
		bits = []int{0, 16, 30, 32, 64, 125, 128, 128}[r.IntN(8)]
	}
	p, _ := a.Prefix(bits)
	return p
}

// TestCIDRIndexMatchesNaive compares the compiled table with a rule-by-rule
// evaluation on random tables.
func TestCIDRIndexMatchesNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for round := range 200 {
		text := randomCIDRText(r, 5+r.IntN(80))
		ops, err := parseOps(t, text)
		if err != nil {
			t.Fatalf("round %d: %v\n%s", round, err, text)
		}
		tab := newCIDRTable("cidr:f", ops)
		for range 100 {
			a := randAddr(r)
			gv, gok, _ := tab.Lookup(context.Background(), a.String())
			wv, wok := naiveCIDR(ops, a)
			if gv != wv || gok != wok {
				t.Fatalf("round %d: Lookup(%s) = %q, %v; rule by rule: %q, %v\n%s", round, a, gv, gok, wv, wok, text)
			}
		}
	}
}

func FuzzCIDRTable(f *testing.F) {
	f.Add("192.168.1.1 OK\n192.168.0.0/16 REJECT\n", "192.168.1.1")
	f.Add("if 10.0.0.0/8\n!10.1.0.0/16 a\nendif\n[2001:db8::]/32 b\n", "2001:db8::1")
	f.Add("10.0.0.1/8 x\n", "10.0.0.1")
	f.Add("::ffff:10.0.0.0/104 mapped\n10.0.0.0/8 v4\n", "::ffff:10.1.2.3")
	f.Fuzz(func(t *testing.T, text, key string) {
		tab, err := ParseCIDRTable("f", text)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "relaymaps: f") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		ops, err := parseOps(t, text)
		if err != nil {
			t.Fatalf("ParseCIDRTable accepted what parseCIDROps rejects: %v", err)
		}
		v, ok, err := tab.Lookup(context.Background(), key)
		if err != nil {
			t.Fatal(err)
		}
		a, perr := netip.ParseAddr(key)
		if perr != nil || a.Zone() != "" {
			if ok {
				t.Fatalf("non-address key %q found: %q", key, v)
			}
			return
		}
		if wv, wok := naiveCIDR(ops, a); v != wv || ok != wok {
			t.Fatalf("Lookup(%q) = %q, %v; rule by rule %q, %v", key, v, ok, wv, wok)
		}
	})
}

func FuzzTextTable(f *testing.F) {
	f.Add("# comment\nUser@Example.com OK\n  continued\nexample.com REJECT\nexample.com DUP\n")
	f.Add("key\n")
	f.Add("  leading\n")
	f.Add("a\tb\r\nc d\r\n")
	f.Fuzz(func(t *testing.T, text string) {
		m, err := parseText("f", text, nil)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "relaymaps: f:") {
				t.Fatalf("error does not name file and line: %v", err)
			}
			return
		}
		for k, v := range m {
			if k == "" || v == "" || Fold(k) != k || strings.ContainsAny(k, " \t\n") {
				t.Fatalf("bad entry %q=%q", k, v)
			}
			if !strings.Contains(Fold(text), k) {
				t.Fatalf("key %q is not from the input", k)
			}
		}
	})
}

// noFiles makes list and table parsing unable to read any file.
func noFiles(t testing.TB) {
	oldRead, oldStat := readFile, statFile
	readFile = func(name string) ([]byte, error) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	statFile = func(name string) (os.FileInfo, error) {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: fs.ErrNotExist}
	}
	t.Cleanup(func() { readFile, statFile = oldRead, oldStat })
}

func FuzzMatchList(f *testing.F) {
	f.Add("example.com, .example.net !bad.example.org inline:{a.example=x}", "a.b.example.com", "192.0.2.1")
	f.Add("127.0.0.0/8 [::1]/128 !192.168.1.1 192.168.0.0/16 cidr:{{10.0.0.0/8 x}}", "host.example", "10.1.2.3")
	f.Add("# comment\nexample.com /etc/nothing", "example.com", "::1")
	f.Add("!!x, unionmap:{static:a, inline:{b=c}} 10.0.0.1/8", "x", "::ffff:1.2.3.4")
	noFiles(f)
	f.Fuzz(func(t *testing.T, spec, name, addr string) {
		ctx := context.Background()
		ip, _ := netip.ParseAddr(addr)
		if dl, err := ParseDomainList(spec, nil); err == nil {
			if _, err := dl.Match(ctx, name); err != nil {
				t.Fatalf("DomainList.Match: %v", err)
			}
			dl.ParentMatchesSubdomains = false
			_, _ = dl.Match(ctx, name)
			_ = dl.Close()
		} else if !strings.HasPrefix(err.Error(), "relaymaps: ") {
			t.Fatalf("error without prefix: %v", err)
		}
		if hl, err := ParseHostList(spec, nil); err == nil {
			if _, err := hl.Match(ctx, name, ip); err != nil {
				t.Fatalf("HostList.Match: %v", err)
			}
			_ = hl.Close()
		} else if !strings.HasPrefix(err.Error(), "relaymaps: ") {
			t.Fatalf("error without prefix: %v", err)
		}
	})
}

// checkKeyForms checks that every derived key is the folded address, a
// substring of it, or one made of its pieces (user@domain, user@).
func checkKeyForms(t *testing.T, addr string, keys []Key) {
	t.Helper()
	a := Fold(addr)
	if addr == "" {
		if len(keys) != 0 {
			t.Fatalf("empty address gave keys %v", keys)
		}
		return
	}
	if len(keys) == 0 || keys[0] != (Key{Key: a}) {
		t.Fatalf("first key of %q is not the full address: %v", addr, keys)
	}
	for i, k := range keys {
		if k.Key == "" {
			t.Fatalf("empty key from %q: %v", addr, keys)
		}
		if i > 0 && !k.Partial {
			t.Fatalf("key %d of %q is not partial: %v", i, addr, keys)
		}
		if strings.Contains(a, k.Key) {
			continue
		}
		at := strings.LastIndexByte(k.Key, '@')
		if at < 0 {
			t.Fatalf("key %q is not a form of %q", k.Key, addr)
		}
		kl, kd := k.Key[:at], k.Key[at:]
		if !strings.HasPrefix(a, kl) || !strings.HasSuffix(a, kd) && kd != "@" {
			t.Fatalf("key %q is not a form of %q", k.Key, addr)
		}
	}
}

func collect(seq func(func(Key) bool)) []Key {
	var out []Key
	for k := range seq {
		out = append(out, k)
	}
	return out
}

func FuzzAddressKeys(f *testing.F) {
	f.Add("User+Ext@Sub.Example.COM", "+-", true)
	f.Add("owner-list@example.com", "-", false)
	f.Add("postmaster+x@example.com", "+", true)
	f.Add("a-b+c@@x.", "+-", true)
	f.Add("noat+ext", "+", false)
	f.Add("@example.com", "+", true)
	f.Fuzz(func(t *testing.T, addr, delims string, local bool) {
		checkKeyForms(t, addr, collect(AccessAddressKeys(addr, delims)))
		checkKeyForms(t, addr, collect(RecipientKeys(addr, delims, local)))
		for _, k := range collect(HostKeys(addr)) {
			if !strings.Contains(Fold(addr), k.Key) || k.Key == "" {
				t.Fatalf("HostKeys(%q) gave %q", addr, k.Key)
			}
		}
		for _, k := range collect(AddrKeys(addr)) {
			if !strings.HasPrefix(Fold(addr), k.Key) || k.Key == "" {
				t.Fatalf("AddrKeys(%q) gave %q", addr, k.Key)
			}
		}
	})
}
