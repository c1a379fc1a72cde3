package netstring

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestEncode(t *testing.T) {
	for in, want := range map[string]string{
		"":                      "0:,",
		"hello":                 "5:hello,",
		"postfix a:b,c":         "13:postfix a:b,c,",
		"\x00\r\n":              "3:\x00\r\n,",
		strings.Repeat("x", 12): "12:xxxxxxxxxxxx,",
	} {
		if got := string(Encode(in)); got != want {
			t.Errorf("Encode(%q) = %q, want %q", in, got, want)
		}
		if got := string(Append([]byte("1:a,"), in)); got != "1:a,"+want {
			t.Errorf("Append(1:a,, %q) = %q", in, got)
		}
	}
}

// decodeCases are inputs with one netstring, their data or error text.
var decodeCases = []struct {
	in, data, rest, err string
}{
	{in: "5:hello,", data: "hello"},
	{in: "0:,", data: ""},
	{in: "0:,1:x,", data: "", rest: "1:x,"},
	{in: "05:hello,", data: "hello"},
	{in: "3:a,b,tail", data: "a,b", rest: "tail"},
	{in: "10:0123456789,", data: "0123456789"},
	{in: "11:0123456789,", err: "netstring: too large: length 11 over the limit of 10 bytes"},
	{in: "99999999999:", err: "netstring: too large: length 99 over the limit of 10 bytes"},
	{in: ":,", err: "netstring: malformed: empty length"},
	{in: "x:,", err: "netstring: malformed: bad length byte 'x'"},
	{in: "-1:,", err: "netstring: malformed: bad length byte '-'"},
	{in: " 1:a,", err: "netstring: malformed: bad length byte ' '"},
	{in: "1:ab", err: "netstring: malformed: 'b' instead of ',' after 1 bytes of data"},
	{in: "0:x", err: "netstring: malformed: 'x' instead of ',' after 0 bytes of data"},
	{in: "5", err: io.ErrUnexpectedEOF.Error()},
	{in: "5:", err: io.ErrUnexpectedEOF.Error()},
	{in: "5:hell", err: io.ErrUnexpectedEOF.Error()},
	{in: "5:hello", err: io.ErrUnexpectedEOF.Error()},
	{in: "", err: io.EOF.Error()},
}

func TestDecode(t *testing.T) {
	for _, c := range decodeCases {
		data, rest, err := Decode([]byte(c.in), 10)
		if c.err != "" {
			if err == nil || err.Error() != c.err {
				t.Errorf("Decode(%q) error = %v, want %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil || string(data) != c.data || string(rest) != c.rest {
			t.Errorf("Decode(%q) = %q, %q, %v; want %q, %q", c.in, data, rest, err, c.data, c.rest)
		}
	}
}

func TestReader(t *testing.T) {
	for _, c := range decodeCases {
		r := NewReader(strings.NewReader(c.in), 10)
		data, err := r.Next()
		if c.err != "" {
			if err == nil || err.Error() != c.err {
				t.Errorf("Next(%q) error = %v, want %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil || string(data) != c.data {
			t.Errorf("Next(%q) = %q, %v; want %q", c.in, data, err, c.data)
		}
		if r.Buffered() != len(c.rest) {
			t.Errorf("Next(%q): Buffered() = %d, want %d", c.in, r.Buffered(), len(c.rest))
		}
	}
}

func TestErrorKinds(t *testing.T) {
	_, _, err := Decode([]byte("11:"), 10)
	if !errors.Is(err, ErrTooLarge) || errors.Is(err, ErrFormat) {
		t.Errorf("too large: %v", err)
	}
	_, err = NewReader(strings.NewReader("a"), 10).Next()
	if !errors.Is(err, ErrFormat) || errors.Is(err, ErrTooLarge) {
		t.Errorf("format: %v", err)
	}
	_, _, err = Decode([]byte("1234567890:"), -1)
	if err == nil || err.Error() != "netstring: malformed: length longer than 9 digits" {
		t.Errorf("10 digits: %v", err)
	}
}

// TestReaderPipelined reads several netstrings from one stream, as a
// server does when a client pipelines requests, then a clean EOF.
func TestReaderPipelined(t *testing.T) {
	var stream []byte
	want := []string{"postfix example.com", "", "x", strings.Repeat("y", 5000), "last"}
	for _, s := range want {
		stream = Append(stream, s)
	}
	// One byte per Read: the reader must not depend on how data arrives.
	r := NewReader(&oneByteReader{r: bytes.NewReader(stream)}, 5000)
	for _, w := range want {
		got, err := r.Next()
		if err != nil || string(got) != w {
			t.Fatalf("Next() = %.20q, %v; want %.20q", got, err, w)
		}
	}
	if _, err := r.Next(); err != io.EOF {
		t.Fatalf("at end: %v, want io.EOF", err)
	}
}

// TestReaderLimitBeforeData checks that an oversized length is refused
// without reading (or waiting for) the data.
func TestReaderLimitBeforeData(t *testing.T) {
	pr, pw := io.Pipe()
	go func() { pw.Write([]byte("100001:")) }() // and never the data
	_, err := NewReader(pr, 100000).Next()
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
	pr.Close()
}

type oneByteReader struct{ r io.Reader }

func (o *oneByteReader) Read(p []byte) (int, error) {
	if len(p) > 1 {
		p = p[:1]
	}
	return o.r.Read(p)
}
