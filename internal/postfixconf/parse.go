package postfixconf

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// Param is one "name = value" definition.
type Param struct {
	// Name is the parameter name as written.
	Name string
	// Raw is the value as written: leading and trailing whitespace
	// removed, continuation lines joined as Postfix joins them (the line
	// break dropped, the leading whitespace of the next line kept), no
	// $name expansion.
	Raw string
	// File and Line give the position of the definition's first line.
	// Both are empty for values given with Config.Set.
	File string
	Line int
}

// position returns "file:line" or "" when p was not read from a file.
func (p Param) position() string {
	if p.File == "" && p.Line == 0 {
		return ""
	}
	return fmt.Sprintf("%s:%d", p.File, p.Line)
}

// Config is a parsed main.cf. The zero value is an empty configuration in
// which every parameter has its built-in default. A Config is safe for
// concurrent use.
type Config struct {
	mu       sync.Mutex
	params   map[string]Param   // the definition in force for each name
	defs     map[string][]Param // every definition, in file order
	order    []string           // names in order of first definition
	implicit map[string]string  // values set by ParseFile (config_directory)
	warnings []string
	warned   map[string]bool
}

// SyntaxError reports a main.cf line that is not "name = value".
type SyntaxError struct {
	File string
	Line int
	Msg  string // e.g. "missing '=' after parameter name"
	Text string // the logical line, possibly shortened
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("%s:%d: %s: %q", e.File, e.Line, e.Msg, e.Text)
}

// maxSyntaxErrors caps the number of errors one Parse reports.
const maxSyntaxErrors = 20

// ParseFile reads the main.cf file at path. As with "postconf -c DIR",
// the directory that holds the file becomes the value of
// config_directory unless the file sets config_directory itself.
func ParseFile(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("postfixconf: %w", err)
	}
	defer f.Close()
	c, err := Parse(f, path)
	if err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		dir = filepath.Dir(path)
	}
	c.implicit = map[string]string{"config_directory": dir}
	return c, nil
}

// Parse reads main.cf text from r. filename is used in positions and
// error messages ("main.cf:12: ..."). Syntax errors do not stop the
// parse: Parse reports all of them (up to 20), joined with errors.Join,
// each a *SyntaxError, and returns a nil Config.
//
// The syntax is that of postconf(5) and Postfix's readlline(3):
// a logical line starts with non-whitespace text and continues on the
// following lines that start with whitespace; empty lines, whitespace-only
// lines and lines whose first non-whitespace character is "#" are ignored
// everywhere, also between continuation lines. A "#" after other text is
// not a comment. A final "\r" on each line is dropped.
func Parse(r io.Reader, filename string) (*Config, error) {
	c := &Config{}
	br := bufio.NewReader(r)
	var (
		logical   strings.Builder
		startLine int  // line number where logical starts; 0 = none
		orphan    bool // skipping continuation lines without a start
		errs      []error
		lineno    int
	)
	flush := func() {
		if startLine == 0 {
			return
		}
		if err := c.addLine(logical.String(), filename, startLine); err != nil && len(errs) < maxSyntaxErrors {
			errs = append(errs, err)
		}
		logical.Reset()
		startLine = 0
	}
	for {
		line, err := br.ReadString('\n')
		if line == "" && err != nil {
			if err != io.EOF {
				return nil, fmt.Errorf("postfixconf: read %s: %w", filename, err)
			}
			break
		}
		lineno++
		line = strings.TrimSuffix(line, "\n")
		line = strings.TrimSuffix(line, "\r")
		trimmed := strings.TrimLeft(line, spaceChars)
		if trimmed == "" || trimmed[0] == '#' {
			continue
		}
		if len(trimmed) < len(line) { // starts with whitespace: continuation
			switch {
			case startLine != 0:
				logical.WriteString(line)
			case !orphan:
				orphan = true
				c.warn(fmt.Sprintf("%s:%d: logical line must not start with whitespace: %q (ignored)",
					filename, lineno, shorten(line)))
			}
			continue
		}
		flush()
		orphan = false
		logical.WriteString(line)
		startLine = lineno
	}
	flush()
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return c, nil
}

// spaceChars is the set of characters C isspace() accepts, as used by
// readlline(3) and split_nameval(3).
const spaceChars = " \t\n\v\f\r"

// addLine splits one logical line into name and value (split_nameval(3))
// and records the definition.
func (c *Config) addLine(text, file string, line int) error {
	s := strings.TrimLeft(text, spaceChars)
	if s == "" || s[0] == '=' {
		return &SyntaxError{File: file, Line: line, Msg: "missing parameter name", Text: shorten(text)}
	}
	end := strings.IndexAny(s, spaceChars+"=")
	if end < 0 {
		end = len(s)
	}
	name := s[:end]
	rest := strings.TrimLeft(s[end:], spaceChars)
	if rest == "" || rest[0] != '=' {
		return &SyntaxError{File: file, Line: line, Msg: "missing '=' after parameter name", Text: shorten(text)}
	}
	value := strings.Trim(rest[1:], spaceChars)
	if !validName(name) {
		c.warn(fmt.Sprintf("%s:%d: parameter name %q has characters outside [A-Za-z0-9_] and cannot be referenced with $name",
			file, line, name))
	}
	c.define(Param{Name: name, Raw: value, File: file, Line: line})
	return nil
}

// define records p as the definition in force for p.Name. The caller
// holds c.mu or has exclusive access.
func (c *Config) define(p Param) {
	if c.params == nil {
		c.params = map[string]Param{}
		c.defs = map[string][]Param{}
	}
	if old, ok := c.params[p.Name]; ok {
		if old.Raw != p.Raw && p.File != "" {
			where := old.position()
			if where == "" {
				where = "Set"
			}
			c.warnLocked(fmt.Sprintf("%s: %s overrides earlier definition at %s", p.position(), p.Name, where))
		}
	} else {
		c.order = append(c.order, p.Name)
	}
	c.params[p.Name] = p
	c.defs[p.Name] = append(c.defs[p.Name], p)
}

// shorten cuts s for use in a message.
func shorten(s string) string {
	const max = 60
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}

// validName reports whether name matches [A-Za-z0-9_]+.
func validName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		if !isNameChar(name[i]) {
			return false
		}
	}
	return true
}

func isNameChar(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '_'
}

// Param returns the definition in force for name: the last one in the
// file, or the last Set. Built-in defaults are not Params; use Get.
func (c *Config) Param(name string) (Param, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.params[name]
	return p, ok
}

// Definitions returns every definition of name in the order they were
// read or set; the last one is in force. It is how a caller finds a
// definition that a later line overrides.
func (c *Config) Definitions(name string) []Param {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Param(nil), c.defs[name]...)
}

// Names returns the names that main.cf defines (and Set added), each once,
// in the order of their first definition.
func (c *Config) Names() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.order...)
}

// Set defines name = value, overriding main.cf and the default, like
// "postconf -o name=value" or a master.cf "-o" option. value is trimmed
// of surrounding whitespace. The Param it records has no File or Line.
func (c *Config) Set(name, value string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.define(Param{Name: name, Raw: strings.Trim(value, spaceChars)})
}

// Warnings returns the problems found so far that Postfix also tolerates:
// continuation lines without a preceding line, overridden definitions,
// odd parameter names, and references to undefined parameters met by Get
// and Expand. Each warning appears once.
func (c *Config) Warnings() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.warnings...)
}

func (c *Config) warn(msg string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.warnLocked(msg)
}

func (c *Config) warnLocked(msg string) {
	if c.warned[msg] {
		return
	}
	if c.warned == nil {
		c.warned = map[string]bool{}
	}
	c.warned[msg] = true
	c.warnings = append(c.warnings, msg)
}

// Unused returns the definitions in force whose names are neither Postfix
// parameters (keys of Defaults) nor referenced as $name from any value in
// the file or in Defaults, in file order. postconf(1) warns about these as
// "unused parameter"; they are usually typos (smtp_sender_restrictions
// for smtpd_sender_restrictions). Names that only master.cf uses are
// reported too, since master.cf is not read.
func (c *Config) Unused() []Param {
	c.mu.Lock()
	defer c.mu.Unlock()
	refs := map[string]bool{}
	for _, p := range c.params {
		collectRefs(p.Raw, refs)
	}
	var out []Param
	for _, n := range c.order {
		if _, known := Defaults[n]; known || refs[n] || referencedByDefaults[n] {
			continue
		}
		out = append(out, c.params[n])
	}
	return out
}

// referencedByDefaults holds the names that built-in defaults refer to.
var referencedByDefaults = func() map[string]bool {
	refs := map[string]bool{}
	for _, v := range postconfDefaults {
		collectRefs(v, refs)
	}
	return refs
}()

// collectRefs adds to refs every name that s refers to as $name, ${name},
// $(name) or at the start of a ${name?...} or ${name:...}.
func collectRefs(s string, refs map[string]bool) {
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 >= len(s) {
			continue
		}
		j := i + 1
		switch s[j] {
		case '$':
			i = j
			continue
		case '{', '(':
			j++
			for j < len(s) && strings.IndexByte(exprSpace, s[j]) >= 0 {
				j++
			}
		}
		k := j
		for k < len(s) && isNameChar(s[k]) {
			k++
		}
		if k > j {
			refs[s[j:k]] = true
		}
	}
}
