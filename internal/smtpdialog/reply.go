package smtpdialog

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/mxkit/mxkit/internal/dsncode"
)

// Limits that keep a misbehaving server from making the reader buffer
// without bound. RFC 5321 §4.5.3.1.5 allows 512 octets per reply line;
// these are far above that on purpose, so that an over-long line is
// reported as what it is rather than cut.
const (
	MaxLineLen    = 64 << 10 // octets per reply line, CRLF included
	MaxReplyLines = 1000     // lines per (multi-line) reply
)

// Errors returned for replies that break RFC 5321 §4.2 syntax.
var (
	// ErrMalformed is wrapped by every syntax error in a reply.
	ErrMalformed = errors.New("malformed SMTP reply")
	// ErrBareLF reports a reply line ended by LF without CR.
	ErrBareLF = fmt.Errorf("%w: line not terminated by CRLF", ErrMalformed)
)

// Reply is one SMTP reply, possibly of several lines.
type Reply struct {
	// Code is the three-digit reply code (200-599).
	Code int
	// Enhanced is the RFC 3463 enhanced status code found at the start of
	// the first line's text ("5.7.1"), or "" when there is none.
	Enhanced string
	// Lines are the reply's lines exactly as received, without CRLF,
	// code and separator included ("250-mx.example.test", "250 SIZE").
	Lines []string
	// Text is the text of every line, joined by "\n", with the code, the
	// separator and, where present, the enhanced status code removed.
	Text string
}

// String returns the reply as it was received, lines joined by "\n".
func (r Reply) String() string { return strings.Join(r.Lines, "\n") }

// Positive reports a 2xx reply.
func (r Reply) Positive() bool { return r.Code >= 200 && r.Code < 300 }

// Class returns the first digit of the code (2, 3, 4 or 5).
func (r Reply) Class() int { return r.Code / 100 }

// ParseReply parses one complete reply: every line, the last included,
// ended by CRLF, and nothing after the last line.
func ParseReply(s string) (Reply, error) {
	br := bufio.NewReaderSize(strings.NewReader(s), 4096)
	r, err := readReply(br)
	if err != nil {
		return Reply{}, err
	}
	if br.Buffered() > 0 {
		return Reply{}, fmt.Errorf("%w: data after the last reply line", ErrMalformed)
	}
	return r, nil
}

// readReply reads one reply from br. It returns io.EOF when the stream
// ends cleanly before the first octet of a reply, and
// io.ErrUnexpectedEOF when it ends inside one.
func readReply(br *bufio.Reader) (Reply, error) {
	var r Reply
	var texts []string
	for n := 0; ; n++ {
		line, err := readLine(br)
		if err != nil {
			if errors.Is(err, io.EOF) && n > 0 {
				err = io.ErrUnexpectedEOF
			}
			return Reply{}, err
		}
		if n >= MaxReplyLines {
			return Reply{}, fmt.Errorf("%w: more than %d lines", ErrMalformed, MaxReplyLines)
		}
		code, final, text, err := parseLine(line)
		if err != nil {
			return Reply{}, err
		}
		if n == 0 {
			r.Code = code
		} else if code != r.Code {
			return Reply{}, fmt.Errorf("%w: line %d has code %d, first line has %d", ErrMalformed, n+1, code, r.Code)
		}
		r.Lines = append(r.Lines, line)
		texts = append(texts, text)
		if final {
			break
		}
	}
	r.Enhanced = dsncode.Prefix(texts[0])
	if r.Enhanced != "" {
		for i, t := range texts {
			if rest, ok := strings.CutPrefix(t, r.Enhanced); ok && (rest == "" || rest[0] == ' ') {
				texts[i] = strings.TrimPrefix(rest, " ")
			}
		}
	}
	r.Text = strings.Join(texts, "\n")
	return r, nil
}

// readLine reads one CRLF-terminated line and returns it without CRLF.
func readLine(br *bufio.Reader) (string, error) {
	var buf []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if len(buf)+len(chunk) > MaxLineLen {
			return "", fmt.Errorf("%w: line longer than %d octets", ErrMalformed, MaxLineLen)
		}
		buf = append(buf, chunk...)
		switch {
		case err == nil:
			if len(buf) < 2 || buf[len(buf)-2] != '\r' {
				return "", ErrBareLF
			}
			return string(buf[:len(buf)-2]), nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF) && len(buf) > 0:
			return "", io.ErrUnexpectedEOF
		default:
			return "", err
		}
	}
}

// parseLine splits "250-text", "250 text" or "250".
func parseLine(line string) (code int, final bool, text string, err error) {
	if len(line) < 3 || line[0] < '2' || line[0] > '5' || !isDigit(line[1]) || !isDigit(line[2]) {
		return 0, false, "", fmt.Errorf("%w: bad reply code in %q", ErrMalformed, clip(line))
	}
	code, _ = strconv.Atoi(line[:3])
	if len(line) == 3 {
		return code, true, "", nil
	}
	switch line[3] {
	case ' ':
		return code, true, line[4:], nil
	case '-':
		return code, false, line[4:], nil
	}
	return 0, false, "", fmt.Errorf("%w: expected ' ' or '-' after the code in %q", ErrMalformed, clip(line))
}

func isDigit(b byte) bool { return b >= '0' && b <= '9' }

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}
