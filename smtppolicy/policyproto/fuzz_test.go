package policyproto

import (
	"bufio"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

// FuzzReadRequest checks that any input either parses into a Request that
// survives a round trip through the wire form, or fails cleanly.
func FuzzReadRequest(f *testing.F) {
	f.Add(postfixQuery)
	f.Add("request=smtpd_access_policy\nsender=\nsender=x\n\n")
	f.Add("a=b\r\n\r\n")
	f.Add("size=99999999999999999999\n\n")
	f.Add("=\n\n")
	f.Fuzz(func(t *testing.T, in string) {
		br := bufio.NewReaderSize(strings.NewReader(in), 64)
		lim := Limits{MaxLine: 60, MaxAttrs: 40}
		r, err := ReadRequest(br, lim)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && err != io.EOF && err != io.ErrUnexpectedEOF {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		b, err := r.AppendTo(nil)
		if err != nil {
			t.Fatalf("parsed request cannot be written: %v", err)
		}
		r2, err := ReadRequest(bufio.NewReader(strings.NewReader(string(b))), Limits{MaxLine: 1 << 16, MaxAttrs: 1000})
		if err != nil {
			t.Fatalf("re-read: %v\n%q", err, b)
		}
		if !reflect.DeepEqual(r, r2) {
			t.Fatalf("round trip differs:\n%+v\n%+v", r, r2)
		}
	})
}

// FuzzReadReply checks the client's reply parser.
func FuzzReadReply(f *testing.F) {
	f.Add("action=DUNNO\n\n")
	f.Add("action=550 5.7.1 go away\nextra=1\n\n")
	f.Add("action\n\n")
	f.Fuzz(func(t *testing.T, in string) {
		a, err := ReadReply(bufio.NewReader(strings.NewReader(in)), Limits{MaxLine: 100, MaxAttrs: 10})
		if err != nil {
			return
		}
		b := AppendReply(nil, a)
		a2, err := ReadReply(bufio.NewReader(strings.NewReader(string(b))), Limits{MaxLine: 200, MaxAttrs: 10})
		if err != nil || a2 != a {
			t.Fatalf("round trip %q: %q, %v", a, a2, err)
		}
	})
}
