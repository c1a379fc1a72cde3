package mtasts

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Mode is a policy's mode (RFC 8461 §5).
type Mode string

// The modes.
const (
	ModeEnforce Mode = "enforce"
	ModeTesting Mode = "testing"
	ModeNone    Mode = "none"
)

// MaxMaxAge is the largest max_age allowed (RFC 8461 §3.2): 31557600 s.
const MaxMaxAge = 31557600 * time.Second

// Policy is a parsed MTA-STS policy (RFC 8461 §3.2). A Policy shared by a
// cache must not be modified.
type Policy struct {
	Mode Mode
	// MaxAge is how long the policy may be cached, 0 to MaxMaxAge, whole
	// seconds.
	MaxAge time.Duration
	// MX holds the mx patterns, lower case without a trailing dot:
	// "mail.example.com" or "*.example.com".
	MX []string
}

// SyntaxError is a policy that does not parse. Line is 0 for a problem
// with the policy as a whole (a missing field).
type SyntaxError struct {
	Line int
	Msg  string
}

func (e *SyntaxError) Error() string {
	if e.Line == 0 {
		return e.Msg
	}
	return "line " + strconv.Itoa(e.Line) + ": " + e.Msg
}

// ParsePolicy parses a policy body. Lines end with LF or CRLF; each is
// "key:" followed by optional spaces and tabs and the value; trailing
// spaces and tabs are dropped; empty lines are skipped. version (STSv1),
// mode and max_age are required, mx at least once unless the mode is
// none. Keys are case-sensitive; for a repeated key other than mx the
// first wins; unknown keys are ignored.
func ParsePolicy(text string) (*Policy, error) {
	p := &Policy{}
	var haveVersion, haveMode, haveMaxAge bool
	for n := 1; text != ""; n++ {
		line, rest, _ := strings.Cut(text, "\n")
		text = rest
		line = strings.TrimSuffix(line, "\r")
		line = strings.TrimRight(line, " \t")
		if line == "" {
			continue
		}
		key, value, ok := strings.Cut(line, ":")
		if !ok {
			return nil, &SyntaxError{n, fmt.Sprintf("%q: want key: value", clip(line))}
		}
		value = strings.TrimLeft(value, " \t")
		if strings.ContainsAny(value, "\r") || strings.ContainsAny(key, " \t\r") {
			return nil, &SyntaxError{n, fmt.Sprintf("%q: want key: value", clip(line))}
		}
		switch key {
		case "version":
			if haveVersion {
				continue
			}
			if value != "STSv1" {
				return nil, &SyntaxError{n, fmt.Sprintf("version %q: want STSv1", clip(value))}
			}
			haveVersion = true
		case "mode":
			if haveMode {
				continue
			}
			// Constants, not value: a policy must not pin the body.
			switch Mode(value) {
			case ModeEnforce:
				p.Mode = ModeEnforce
			case ModeTesting:
				p.Mode = ModeTesting
			case ModeNone:
				p.Mode = ModeNone
			default:
				return nil, &SyntaxError{n, fmt.Sprintf("mode %q: want enforce, testing or none", clip(value))}
			}
			haveMode = true
		case "max_age":
			if haveMaxAge {
				continue
			}
			if value == "" || len(value) > 10 || strings.Trim(value, "0123456789") != "" {
				return nil, &SyntaxError{n, fmt.Sprintf("max_age %q: want 1 to 10 digits", clip(value))}
			}
			v, _ := strconv.ParseUint(value, 10, 64)
			if v > uint64(MaxMaxAge/time.Second) {
				return nil, &SyntaxError{n, fmt.Sprintf("max_age %d: more than %d", v, MaxMaxAge/time.Second)}
			}
			p.MaxAge = time.Duration(v) * time.Second
			haveMaxAge = true
		case "mx":
			pat := strings.ToLower(strings.TrimSuffix(value, "."))
			if !validDomain(strings.TrimPrefix(pat, "*.")) {
				return nil, &SyntaxError{n, fmt.Sprintf("mx %q: want a host name or *.domain", clip(value))}
			}
			p.MX = append(p.MX, strings.Clone(pat))
		}
	}
	switch {
	case !haveVersion:
		return nil, &SyntaxError{0, "no version field"}
	case !haveMode:
		return nil, &SyntaxError{0, "no mode field"}
	case !haveMaxAge:
		return nil, &SyntaxError{0, "no max_age field"}
	case len(p.MX) == 0 && p.Mode != ModeNone:
		return nil, &SyntaxError{0, "no mx field (required unless mode is none)"}
	}
	return p, nil
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// validDomain reports whether s is a host name in A-labels: LDH labels
// of 1 to 63 characters, not starting or ending with "-", at most 253
// characters in all.
func validDomain(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			if c := label[i]; !isAlnumByte(c) && c != '-' {
				return false
			}
		}
	}
	return true
}

// Match reports whether the MX host name mx matches one of the policy's
// patterns (RFC 8461 §4.1): an exact match, or "*.example.com" matching a
// name with exactly one more label on the left ("mail.example.com", but
// neither "example.com" nor "a.mail.example.com"). The comparison ignores
// case and a trailing dot. Match does not look at the mode.
func (p *Policy) Match(mx string) bool {
	mx = strings.TrimSuffix(mx, ".")
	for _, pat := range p.MX {
		if suffix, ok := strings.CutPrefix(pat, "*"); ok {
			// suffix is ".example.com"; mx must be label + suffix.
			if len(mx) > len(suffix) && strings.EqualFold(mx[len(mx)-len(suffix):], suffix) &&
				!strings.Contains(mx[:len(mx)-len(suffix)], ".") {
				return true
			}
			continue
		}
		if strings.EqualFold(mx, pat) {
			return true
		}
	}
	return false
}

// String returns the policy in its canonical text form, CRLF line
// endings: version, mode, the mx lines, max_age.
func (p *Policy) String() string {
	var b strings.Builder
	b.WriteString("version: STSv1\r\nmode: ")
	b.WriteString(string(p.Mode))
	b.WriteString("\r\n")
	for _, m := range p.MX {
		b.WriteString("mx: ")
		b.WriteString(m)
		b.WriteString("\r\n")
	}
	b.WriteString("max_age: ")
	b.WriteString(strconv.FormatInt(int64(p.MaxAge/time.Second), 10))
	b.WriteString("\r\n")
	return b.String()
}

// PolicyID returns an id for the _mta-sts TXT record of a policy: the
// first 20 hexadecimal digits (80 bits) of the SHA-256 of its canonical
// text (String). Equal policies get the same id, and any change to the
// mode, the patterns or max_age gives a new one, so an operator can
// publish
//
//	_mta-sts.example.com. TXT "v=STSv1; id=<PolicyID>"
//
// and update the record whenever the policy changes.
func PolicyID(p *Policy) string {
	sum := sha256.Sum256([]byte(p.String()))
	return hex.EncodeToString(sum[:10])
}
