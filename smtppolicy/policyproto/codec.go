package policyproto

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Limits bound what a peer may send. The zero value means DefaultLimits.
type Limits struct {
	// MaxLine is the longest attribute line, name=value without the LF.
	MaxLine int
	// MaxAttrs is the most attributes in one request or reply.
	MaxAttrs int
}

// DefaultLimits allow lines of 4096 bytes and 128 attributes: Postfix
// sends about 35 short attributes; a certificate subject is the longest.
var DefaultLimits = Limits{MaxLine: 4096, MaxAttrs: 128}

func (l Limits) norm() Limits {
	if l.MaxLine <= 0 {
		l.MaxLine = DefaultLimits.MaxLine
	}
	if l.MaxAttrs <= 0 {
		l.MaxAttrs = DefaultLimits.MaxAttrs
	}
	return l
}

// ErrMalformed marks input that breaks the protocol. The peer that sent it
// should be disconnected without a reply (SMTPD_POLICY_README).
var ErrMalformed = errors.New("policyproto: malformed attribute list")

// Attr is one name=value attribute.
type Attr struct{ Name, Value string }

// Attrs is an attribute list in the order it was sent. When a name occurs
// more than once, Get returns the last value, as the common policy
// servers (postgrey, policyd-spf) do by filling a hash or dict.
type Attrs []Attr

// Get returns the value of the last attribute called name.
func (a Attrs) Get(name string) (string, bool) {
	for i := len(a) - 1; i >= 0; i-- {
		if a[i].Name == name {
			return a[i].Value, true
		}
	}
	return "", false
}

// ValidName reports whether s can be sent as an attribute name: not
// empty, and without '=', NUL, CR or LF.
func ValidName(s string) bool {
	return s != "" && !strings.ContainsAny(s, "=\x00\r\n")
}

// ValidValue reports whether s can be sent as an attribute value: without
// NUL, CR or LF. (CR is refused because a reader may strip one before LF.)
func ValidValue(s string) bool { return !strings.ContainsAny(s, "\x00\r\n") }

// AppendAttrs appends the wire form of attrs, with the empty line that ends
// the list. It refuses names and values that cannot be sent.
func AppendAttrs(dst []byte, attrs Attrs) ([]byte, error) {
	for _, a := range attrs {
		if !ValidName(a.Name) {
			return dst, fmt.Errorf("policyproto: attribute name %q cannot be sent", a.Name)
		}
		if !ValidValue(a.Value) {
			return dst, fmt.Errorf("policyproto: attribute %s: value %q cannot be sent", a.Name, a.Value)
		}
		dst = appendAttr(dst, a.Name, a.Value)
	}
	return append(dst, '\n'), nil
}

func appendAttr(dst []byte, name, value string) []byte {
	dst = append(dst, name...)
	dst = append(dst, '=')
	dst = append(dst, value...)
	return append(dst, '\n')
}

// WriteAttrs writes attrs and the empty line that ends them.
func WriteAttrs(w io.Writer, attrs Attrs) error {
	b, err := AppendAttrs(nil, attrs)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// ReadAttrs reads one attribute list, up to and including the empty line
// that ends it. Lines end with LF; one CR before the LF is removed, so
// that a person can talk to a server with telnet; NUL and other CRs are
// refused. Every line must be
// name=value with a valid name; the value may be empty and may contain
// '='. io.EOF is returned only when the stream ends before the first byte
// of a list; a list cut short gives io.ErrUnexpectedEOF.
func ReadAttrs(br *bufio.Reader, lim Limits) (Attrs, error) {
	var attrs Attrs
	err := scanAttrs(br, lim, func(name, value []byte) error {
		attrs = append(attrs, Attr{string(name), string(value)})
		return nil
	})
	return attrs, err
}

// scanAttrs reads one attribute list and calls fn for each attribute. The
// slices are valid only during the call.
func scanAttrs(br *bufio.Reader, lim Limits, fn func(name, value []byte) error) error {
	lim = lim.norm()
	n := 0
	for lineNo := 1; ; lineNo++ {
		line, err := readLine(br, lim.MaxLine)
		if err != nil {
			if err == io.EOF && lineNo > 1 {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
		if len(line) == 0 {
			return nil
		}
		eq := -1
		for i, c := range line {
			if c == '=' {
				eq = i
				break
			}
		}
		if eq <= 0 {
			if eq == 0 {
				return fmt.Errorf("%w: line %d: empty attribute name", ErrMalformed, lineNo)
			}
			return fmt.Errorf("%w: line %d: no '=' in %q", ErrMalformed, lineNo, clip(line))
		}
		for _, c := range line {
			if c == 0 || c == '\r' {
				return fmt.Errorf("%w: line %d: NUL or CR byte", ErrMalformed, lineNo)
			}
		}
		if n++; n > lim.MaxAttrs {
			return fmt.Errorf("%w: more than %d attributes", ErrMalformed, lim.MaxAttrs)
		}
		if err := fn(line[:eq], line[eq+1:]); err != nil {
			return fmt.Errorf("line %d: %w", lineNo, err)
		}
	}
}

// readLine returns one line without its LF (and one CR before it).
func readLine(br *bufio.Reader, max int) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		return nil, fmt.Errorf("%w: line longer than %d bytes", ErrMalformed, max)
	}
	if err != nil {
		if err == io.EOF && len(line) > 0 {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	if len(line) > max {
		return nil, fmt.Errorf("%w: line longer than %d bytes", ErrMalformed, max)
	}
	return line, nil
}

func clip(b []byte) string {
	if len(b) > 40 {
		return string(b[:40]) + "..."
	}
	return string(b)
}

// ReadReply reads a policy server's reply and returns its action. Other
// attributes are ignored, as Postfix ignores them. A reply without
// action= is an error (Postfix treats it as a failed request).
func ReadReply(br *bufio.Reader, lim Limits) (action string, err error) {
	found := false
	err = scanAttrs(br, lim, func(name, value []byte) error {
		if string(name) == "action" {
			action, found = string(value), true
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	if !found {
		return "", fmt.Errorf("%w: reply without action=", ErrMalformed)
	}
	return action, nil
}

// AppendReply appends "action=ACTION\n\n". Bytes that cannot be sent
// (NUL, CR, LF) are replaced by spaces.
func AppendReply(dst []byte, action string) []byte {
	dst = append(dst, "action="...)
	for i := 0; i < len(action); i++ {
		c := action[i]
		if c == 0 || c == '\r' || c == '\n' {
			c = ' '
		}
		dst = append(dst, c)
	}
	return append(dst, "\n\n"...)
}

func parseUint(name string, v []byte, bits int) (uint64, error) {
	if len(v) == 0 {
		return 0, nil
	}
	n, err := strconv.ParseUint(string(v), 10, bits)
	if err != nil {
		return 0, fmt.Errorf("%w: %s=%q is not a number", ErrMalformed, name, clip(v))
	}
	return n, nil
}
