package netstring

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// MaxDigits is the longest length prefix a Reader or Decode accepts.
const MaxDigits = 9

// ErrFormat is wrapped by the errors of malformed netstrings.
var ErrFormat = errors.New("netstring: malformed")

// ErrTooLarge is wrapped by the errors of netstrings longer than the limit.
var ErrTooLarge = errors.New("netstring: too large")

// Error describes a netstring that cannot be decoded. errors.Is(err,
// ErrFormat) or errors.Is(err, ErrTooLarge) tells its kind.
type Error struct {
	Kind error  // ErrFormat or ErrTooLarge
	Msg  string // what was wrong, e.g. `bad length byte 'x'`
}

func (e *Error) Error() string { return e.Kind.Error() + ": " + e.Msg }

// Unwrap returns e.Kind.
func (e *Error) Unwrap() error { return e.Kind }

func formatErr(format string, args ...any) error {
	return &Error{Kind: ErrFormat, Msg: fmt.Sprintf(format, args...)}
}

func tooLarge(n, max int) error {
	return &Error{Kind: ErrTooLarge, Msg: fmt.Sprintf("length %d over the limit of %d bytes", n, max)}
}

// quoteByte shows b for an error message.
func quoteByte(b byte) string { return strconv.QuoteRune(rune(b)) }

// Append appends the netstring encoding of data to dst and returns the
// extended slice.
func Append(dst []byte, data string) []byte {
	dst = strconv.AppendInt(dst, int64(len(data)), 10)
	dst = append(dst, ':')
	dst = append(dst, data...)
	return append(dst, ',')
}

// Encode returns the netstring encoding of data.
func Encode(data string) []byte {
	return Append(make([]byte, 0, len(data)+12), data)
}

// Decode decodes the netstring at the start of b, whose data may be at most
// max bytes long (max < 0: no limit). It returns the data (a sub-slice of
// b) and the bytes after the netstring. An incomplete netstring is an error
// that wraps io.ErrUnexpectedEOF; an empty b returns io.EOF.
func Decode(b []byte, max int) (data, rest []byte, err error) {
	if len(b) == 0 {
		return nil, nil, io.EOF
	}
	n, i := 0, 0
	for ; ; i++ {
		if i == len(b) {
			return nil, nil, io.ErrUnexpectedEOF
		}
		c := b[i]
		if c == ':' {
			break
		}
		if n, err = lengthDigit(n, i, c, max); err != nil {
			return nil, nil, err
		}
	}
	if i == 0 {
		return nil, nil, formatErr("empty length")
	}
	b = b[i+1:]
	if len(b) <= n {
		return nil, nil, io.ErrUnexpectedEOF
	}
	if b[n] != ',' {
		return nil, nil, formatErr("%s instead of ',' after %d bytes of data", quoteByte(b[n]), n)
	}
	return b[:n], b[n+1:], nil
}

// lengthDigit adds the i-th byte c of a length prefix to n.
func lengthDigit(n, i int, c byte, max int) (int, error) {
	if c < '0' || c > '9' {
		return 0, formatErr("bad length byte %s", quoteByte(c))
	}
	if i >= MaxDigits {
		return 0, formatErr("length longer than %d digits", MaxDigits)
	}
	n = n*10 + int(c-'0')
	if max >= 0 && n > max {
		return 0, tooLarge(n, max)
	}
	return n, nil
}

// Reader reads consecutive netstrings from a stream.
type Reader struct {
	r   *bufio.Reader
	max int
	buf []byte
}

// NewReader returns a Reader of netstrings from r whose data may be at most
// max bytes long (max < 0: up to 999999999 bytes, which is no protection).
// If r is a *bufio.Reader it is used as it is.
func NewReader(r io.Reader, max int) *Reader {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReader(r)
	}
	return &Reader{r: br, max: max}
}

// Buffered reports how many bytes have been read from the stream but not
// yet decoded. A server uses it to tell whether a client pipelined another
// request.
func (r *Reader) Buffered() int { return r.r.Buffered() }

// Next reads the next netstring and returns its data, which is valid until
// the next call of Next. At the end of the stream, before any byte of a
// netstring, it returns io.EOF; a stream that ends inside a netstring gives
// io.ErrUnexpectedEOF. A length over the limit returns an error wrapping
// ErrTooLarge as soon as the length is read, without reading the data. After
// a format or size error the stream is out of step: close it.
func (r *Reader) Next() ([]byte, error) {
	n := 0
	for i := 0; ; i++ {
		c, err := r.r.ReadByte()
		if err != nil {
			if err == io.EOF && i > 0 {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		if c == ':' {
			if i == 0 {
				return nil, formatErr("empty length")
			}
			break
		}
		if n, err = lengthDigit(n, i, c, r.max); err != nil {
			return nil, err
		}
	}
	if cap(r.buf) < n+1 {
		r.buf = make([]byte, n+1)
	}
	buf := r.buf[:n+1]
	if _, err := io.ReadFull(r.r, buf); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	if buf[n] != ',' {
		return nil, formatErr("%s instead of ',' after %d bytes of data", quoteByte(buf[n]), n)
	}
	return buf[:n], nil
}
