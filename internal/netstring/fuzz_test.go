package netstring

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// FuzzDecode checks that Decode and Reader agree on every input, that
// what they decode re-encodes to the bytes consumed, and that the limit
// holds.
func FuzzDecode(f *testing.F) {
	for _, c := range decodeCases {
		f.Add([]byte(c.in))
	}
	f.Add([]byte("13:postfix a.b,7:postfix,"))
	f.Add([]byte("3:abc,3:def"))
	f.Fuzz(func(t *testing.T, in []byte) {
		const max = 64
		r := NewReader(bytes.NewReader(in), max)
		rest := in
		for {
			data, next, err := Decode(rest, max)
			rdata, rerr := r.Next()
			if err != nil {
				if rerr == nil || rerr.Error() != err.Error() {
					t.Fatalf("Decode error %v, Reader error %v", err, rerr)
				}
				if err == io.EOF && len(rest) != 0 {
					t.Fatalf("io.EOF with %d bytes left", len(rest))
				}
				if err != io.EOF && err != io.ErrUnexpectedEOF && !errors.Is(err, ErrFormat) && !errors.Is(err, ErrTooLarge) {
					t.Fatalf("unexpected error kind: %v", err)
				}
				return
			}
			if rerr != nil || !bytes.Equal(rdata, data) {
				t.Fatalf("Decode %q, Reader %q, %v", data, rdata, rerr)
			}
			if len(data) > max {
				t.Fatalf("decoded %d bytes, limit %d", len(data), max)
			}
			consumed := rest[:len(rest)-len(next)]
			// Leading zeros are accepted, so compare after the length.
			if enc := Encode(string(data)); !bytes.HasSuffix(consumed, enc[bytes.IndexByte(enc, ':'):]) {
				t.Fatalf("consumed %q does not end like Encode(%q) = %q", consumed, data, enc)
			}
			rest = next
		}
	})
}
