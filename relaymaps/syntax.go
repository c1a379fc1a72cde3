package relaymaps

import (
	"fmt"
	"os"
	"strings"
)

// SyntaxError reports malformed table or list input. Error() has the form
// "relaymaps: /etc/postfix/client.cidr:12: host bits set in "10.0.0.1/8""
// for files and "relaymaps: cidr:{...}: rule 2: ..." for inline tables.
// errors.Is(err, ErrConfig) is true.
type SyntaxError struct {
	File   string // file name or table spec; may be empty
	Line   int    // 1-based line (or rule number for inline tables); 0 if unknown
	Inline bool   // Line counts {rules} of an inline table, not file lines
	Msg    string
}

func (e *SyntaxError) Error() string {
	switch {
	case e.File == "":
		return "relaymaps: " + e.Msg
	case e.Line <= 0:
		return "relaymaps: " + e.File + ": " + e.Msg
	case e.Inline:
		return fmt.Sprintf("relaymaps: %s: rule %d: %s", e.File, e.Line, e.Msg)
	default:
		return fmt.Sprintf("relaymaps: %s:%d: %s", e.File, e.Line, e.Msg)
	}
}

// Unwrap returns ErrConfig.
func (e *SyntaxError) Unwrap() error { return ErrConfig }

// configError is a configuration failure with an underlying cause (a file
// that cannot be read, a table that cannot be opened).
type configError struct {
	msg string
	err error
}

func (e *configError) Error() string {
	if e.err == nil {
		return e.msg
	}
	return e.msg + ": " + e.err.Error()
}

func (e *configError) Unwrap() []error {
	if e.err == nil {
		return []error{ErrConfig}
	}
	return []error{ErrConfig, e.err}
}

// File access goes through these so that fuzz tests never touch the real
// file system.
var (
	readFile = os.ReadFile
	statFile = os.Stat
)

// isSpace is Postfix's ISSPACE for the ASCII range.
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

func isSep(c byte) bool { return c == ',' || isSpace(c) }

// logicalLine is one logical line of a Postfix table source file.
type logicalLine struct {
	line int // physical line where the logical line starts
	text string
}

// logicalLines splits text like Postfix's readlline(3): blank lines and
// lines whose first non-blank character is '#' are ignored, and a line that
// starts with whitespace continues the previous logical line (comment and
// blank lines in between do not end it). A continuation line with nothing
// to continue is an error (Postfix warns and skips it). Trailing blanks are
// removed from each logical line.
func logicalLines(text string) ([]logicalLine, int, string) {
	out := make([]logicalLine, 0, strings.Count(text, "\n")+1)
	lineNo := 0
	for len(text) > 0 {
		lineNo++
		var ln string
		if i := strings.IndexByte(text, '\n'); i >= 0 {
			ln, text = text[:i], text[i+1:]
		} else {
			ln, text = text, ""
		}
		ln = strings.TrimSuffix(ln, "\r")
		j := 0
		for j < len(ln) && isSpace(ln[j]) {
			j++
		}
		if j == len(ln) || ln[j] == '#' {
			continue
		}
		if j > 0 {
			if len(out) == 0 {
				return nil, lineNo, "continuation line (starts with whitespace) has no preceding line to continue"
			}
			out[len(out)-1].text += ln
			continue
		}
		out = append(out, logicalLine{lineNo, ln})
	}
	for i := range out {
		out[i].text = strings.TrimRightFunc(out[i].text, isSpaceRune)
	}
	return out, 0, ""
}

func isSpaceRune(r rune) bool { return r < 0x80 && isSpace(byte(r)) }

// splitKeyValue splits a logical line at its first whitespace into the key
// and the value, trimming blanks around the value.
func splitKeyValue(s string) (key, value string) {
	i := 0
	for i < len(s) && !isSpace(s[i]) {
		i++
	}
	return s[:i], strings.TrimFunc(s[i:], isSpaceRune)
}

// nextToken returns the next token of s at or after i, tokens being
// separated by commas and whitespace, with balanced {} quoting separators
// (Postfix's mystrtokq with CHARS_COMMA_SP and CHARS_BRACE). It returns
// start < 0 when no token is left.
func nextToken(s string, i int) (tok string, start, end int, err error) {
	for i < len(s) && isSep(s[i]) {
		i++
	}
	if i >= len(s) {
		return "", -1, i, nil
	}
	start = i
	level := 0
	for ; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '{':
			level++
		case c == '}' && level > 0:
			level--
		case level == 0 && isSep(c):
			return s[start:i], start, i, nil
		}
	}
	if level > 0 {
		return "", start, i, fmt.Errorf("missing \"}\" in %q", s[start:])
	}
	return s[start:], start, i, nil
}

// splitTokens returns all tokens of s (see nextToken).
func splitTokens(s string) ([]string, error) {
	var out []string
	for i := 0; ; {
		tok, start, end, err := nextToken(s, i)
		if err != nil {
			return nil, err
		}
		if start < 0 {
			return out, nil
		}
		out = append(out, tok)
		i = end
	}
}

// unbrace strips the {} around s, which must start with '{' and end with
// the matching '}', and trims blanks inside (Postfix's extpar with
// EXTPAR_FLAG_STRIP).
func unbrace(s string) (string, error) {
	if s == "" || s[0] != '{' {
		return "", fmt.Errorf("no \"{\" at start of %q", s)
	}
	level := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '{':
			level++
		case '}':
			level--
			if level == 0 {
				if i != len(s)-1 {
					return "", fmt.Errorf("text after \"}\" in %q", s)
				}
				return strings.TrimFunc(s[1:i], isSpaceRune), nil
			}
		}
	}
	return "", fmt.Errorf("missing \"}\" in %q", s)
}

// splitNameValue splits "name = value" (blanks allowed around '='),
// like Postfix's split_nameval.
func splitNameValue(s string) (name, value string, err error) {
	s = strings.TrimLeftFunc(s, isSpaceRune)
	if s == "" || s[0] == '=' {
		return "", "", fmt.Errorf("missing key in %q", s)
	}
	i := 0
	for i < len(s) && !isSpace(s[i]) && s[i] != '=' {
		i++
	}
	name = s[:i]
	rest := strings.TrimLeftFunc(s[i:], isSpaceRune)
	if rest == "" || rest[0] != '=' {
		return "", "", fmt.Errorf("missing \"=\" after key %q", name)
	}
	return name, strings.TrimFunc(rest[1:], isSpaceRune), nil
}
