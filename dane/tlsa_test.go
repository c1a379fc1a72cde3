package dane

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"strings"
	"testing"
)

func TestParseTLSA(t *testing.T) {
	tests := []struct {
		in   string
		want TLSA
	}{
		{"3 1 1 0a0B0c", TLSA{3, 1, 1, []byte{10, 11, 12}}},
		{"2 0 0 ABCDEF", TLSA{2, 0, 0, []byte{0xab, 0xcd, 0xef}}},
		{"  3 1 1 ( ab cd\n ef )", TLSA{3, 1, 1, []byte{0xab, 0xcd, 0xef}}},
		{"255 255 255 00", TLSA{255, 255, 255, []byte{0}}},
	}
	for _, tc := range tests {
		got, err := ParseTLSA(tc.in)
		if err != nil {
			t.Errorf("ParseTLSA(%q): %v", tc.in, err)
			continue
		}
		if got.Usage != tc.want.Usage || got.Selector != tc.want.Selector || got.MatchingType != tc.want.MatchingType || !bytes.Equal(got.Data, tc.want.Data) {
			t.Errorf("ParseTLSA(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
	bad := map[string]string{
		"3 1 1":      `dane: TLSA "3 1 1": want "USAGE SELECTOR MTYPE HEXDATA"`,
		"256 1 1 ab": `dane: TLSA usage "256": not a number 0..255`,
		"3 x 1 ab":   `dane: TLSA selector "x": not a number 0..255`,
		"3 1 -1 ab":  `dane: TLSA matching type "-1": not a number 0..255`,
		"3 1 1 abc":  `dane: TLSA data: encoding/hex: odd length hex string`,
		"3 1 1 zz":   `dane: TLSA data: encoding/hex: invalid byte: U+007A 'z'`,
		"3 1 1 ( )":  `dane: TLSA "3 1 1    ": want "USAGE SELECTOR MTYPE HEXDATA"`,
	}
	for in, want := range bad {
		if _, err := ParseTLSA(in); err == nil || err.Error() != want {
			t.Errorf("ParseTLSA(%q) error = %v, want %s", in, err, want)
		}
	}
}

func TestTLSAWireRoundTrip(t *testing.T) {
	r := TLSA{3, 1, 1, bytes.Repeat([]byte{0xAB}, 32)}
	w := r.AppendWire(nil)
	if hex.EncodeToString(w) != "030101"+strings.Repeat("ab", 32) {
		t.Fatalf("wire = %x", w)
	}
	got, err := ParseTLSAWire(w)
	if err != nil || got.String() != r.String() {
		t.Fatalf("ParseTLSAWire = %v, %v", got, err)
	}
	if _, err := ParseTLSAWire([]byte{3, 1, 1}); err == nil || err.Error() != "dane: TLSA RDATA of 3 bytes is too short" {
		t.Fatalf("short wire: %v", err)
	}
}

func TestRecordFor(t *testing.T) {
	p := testPKI(t)
	c := p.leaf.cert
	spki256 := sha256.Sum256(c.RawSubjectPublicKeyInfo)
	cert512 := sha512.Sum512(c.Raw)
	for _, tc := range []struct {
		sel, mt uint8
		data    []byte
	}{{0, 0, c.Raw}, {1, 0, c.RawSubjectPublicKeyInfo}, {1, 1, spki256[:]}, {0, 2, cert512[:]}} {
		r := rec(t, p.leaf, 3, tc.sel, tc.mt)
		if !bytes.Equal(r.Data, tc.data) || !r.Matches(c) || !r.Usable() {
			t.Errorf("RecordFor(3 %d %d) = %v", tc.sel, tc.mt, r)
		}
	}
	r := rec(t, p.leaf, 3, 1, 1)
	if want := "3 1 1 " + hex.EncodeToString(spki256[:]); r.String() != want {
		t.Errorf("String = %q, want %q", r.String(), want)
	}
	// Upper-case presentation hex matches as well.
	up, err := ParseTLSA(strings.ToUpper(r.String()))
	if err != nil || !up.Matches(c) {
		t.Errorf("upper-case record does not match: %v", err)
	}
	if _, err := RecordFor(c, 3, 2, 1); err == nil || err.Error() != "dane: unsupported selector 2" {
		t.Errorf("selector 2: %v", err)
	}
	if _, err := RecordFor(c, 3, 1, 3); err == nil || err.Error() != "dane: unsupported matching type 3" {
		t.Errorf("mtype 3: %v", err)
	}
}

func TestUsable(t *testing.T) {
	d32, d64 := make([]byte, 32), make([]byte, 64)
	for _, tc := range []struct {
		r    TLSA
		want bool
	}{
		{TLSA{3, 1, 1, d32}, true},
		{TLSA{2, 0, 2, d64}, true},
		{TLSA{2, 0, 0, []byte{1}}, true},
		{TLSA{0, 0, 1, d32}, false}, // PKIX-TA
		{TLSA{1, 1, 1, d32}, false}, // PKIX-EE
		{TLSA{4, 1, 1, d32}, false},
		{TLSA{3, 2, 1, d32}, false},
		{TLSA{3, 1, 3, d32}, false},
		{TLSA{3, 1, 1, d64}, false}, // wrong digest length
		{TLSA{3, 1, 2, d32}, false},
		{TLSA{3, 1, 0, nil}, false},
	} {
		if got := tc.r.Usable(); got != tc.want {
			t.Errorf("%v.Usable() = %v, want %v", tc.r, got, tc.want)
		}
	}
}
