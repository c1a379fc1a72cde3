package main

// "mx check" and "mx postconf": an operator's view of a main.cf, as
// "postfix check" and postconf(1) give it.

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/mxkit/mxkit/dnsres"
	"github.com/mxkit/mxkit/internal/postfixconf"
	qpostfix "github.com/mxkit/mxkit/queue/postfix"
	"github.com/mxkit/mxkit/smtppolicy/postfix"
)

// errRefused is checkCommand's error when main.cf has refused
// parameters: the report is printed, the exit status is 1.
var errRefused = errors.New("main.cf has refused parameters")

// mainCF is the configuration a subcommand looks at: the file's text,
// its name in positions, and the folder relative paths are against.
type mainCF struct {
	text, name, dir string
	file            bool // -config named it (not the built-in one)
}

func readMainCF(path string) (mainCF, error) {
	if path == "" {
		return mainCF{text: defaultConfig, name: "built-in main.cf", dir: "."}, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return mainCF{}, err
	}
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return mainCF{}, err
	}
	return mainCF{text: string(b), name: path, dir: dir, file: true}, nil
}

// parse parses the text as postfixconf.ParseFile does for a file (the
// file's folder is config_directory unless it sets one).
func (m mainCF) parse(text string) (*postfixconf.Config, error) {
	cfg, err := postfixconf.Parse(strings.NewReader(text), m.name)
	if err != nil {
		return nil, err
	}
	if _, set := cfg.Param("config_directory"); m.file && !set {
		cfg.Set("config_directory", m.dir)
	}
	return cfg, nil
}

// verdict is what check says about one parameter.
type verdict struct {
	pos, name string
	status    string // honoured, ignored, refused, unchecked
	detail    string
}

// checkCommand is "mx check [-config main.cf]": every parameter the file
// sets, one line each, honoured, ignored (why) or refused (the error),
// then a summary line. It returns errRefused when something is refused.
func checkCommand(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("mx check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	config := fs.String("config", "", "the main.cf to check; empty means the built-in configuration")
	resolver := fs.String("resolver", "", "DNS server (host:port) the configuration would use; empty means /etc/resolv.conf (check sends no queries)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	m, err := readMainCF(*config)
	if err != nil {
		return err
	}
	// Table warnings and the like go to stderr; the ignored-parameter
	// notes (Info) are what the report says.
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	opts := postfix.Options{Logger: logger, BaseDir: m.dir}
	if *resolver != "" {
		r, err := dnsres.New(dnsres.Options{Servers: []string{*resolver}, Logger: logger})
		if err != nil {
			return err
		}
		opts.Resolver = r
	}
	vs, note, err := check(m, &opts)
	if err != nil {
		return err
	}
	counts := map[string]int{}
	for _, v := range vs {
		counts[v.status]++
		line := v.pos + ": " + v.name + ": " + v.status
		if v.detail != "" {
			line += ": " + v.detail
		}
		fmt.Fprintln(stdout, line)
	}
	if !m.file {
		note = append(note, "the built-in configuration names no certificate: the MX makes a self-signed one in its spool folder at start and sets smtpd_tls_chain_files to it")
	}
	for _, n := range note {
		fmt.Fprintln(stdout, "note: "+n)
	}
	sum := fmt.Sprintf("%s: %d parameters: %d honoured, %d ignored, %d refused", m.name, len(vs), counts["honoured"], counts["ignored"], counts["refused"])
	if counts["unchecked"] > 0 {
		sum += fmt.Sprintf(", %d unchecked", counts["unchecked"])
	}
	fmt.Fprintln(stdout, sum)
	if counts["refused"] > 0 {
		return errRefused
	}
	return nil
}

// check runs the loader (queue/postfix's, which is smtppolicy/postfix's
// too) on the text. The loader stops at the first refusal; check then
// comments that parameter's lines out (keeping the line numbers) and runs
// it again, until it loads or a refusal cannot be set aside, so that
// every refusal it can find is reported. A syntax error stops everything
// (Postfix's parser reports all of them, and check reports them all).
func check(m mainCF, opts *postfix.Options) ([]verdict, []string, error) {
	cfg, err := m.parse(m.text)
	if err != nil {
		if syn := syntaxErrors(err); len(syn) > 0 {
			var vs []verdict
			for _, e := range syn {
				vs = append(vs, verdict{pos: fmt.Sprintf("%s:%d", e.File, e.Line), name: "syntax", status: "refused", detail: e.Msg + ": " + fmt.Sprintf("%q", e.Text)})
			}
			return vs, []string{"main.cf has syntax errors: no parameter was checked"}, nil
		}
		return nil, nil, err
	}
	names := setNames(cfg)
	refused := map[string]verdict{}
	var order []string // refused names, in the order found
	text := m.text
	var notes []string
	var ignored map[string]string
	for {
		c, err := m.parse(text)
		if err != nil {
			return nil, nil, err
		}
		o := *opts
		if len(order) > 0 {
			// The first run has said what the logger needs to hear.
			o.Logger = slog.New(slog.DiscardHandler)
		}
		if _, set := c.Param("config_directory"); m.file && !set {
			o.Overrides = map[string]string{"config_directory": m.dir}
		}
		srv, qs, err := qpostfix.Parse(strings.NewReader(text), m.name, &o)
		if err == nil {
			ignored = map[string]string{}
			for _, s := range srv.Ignored {
				n, why, _ := strings.Cut(s, " (")
				why = strings.TrimSuffix(why, ")")
				if g := postfixconf.IgnoredParams[n]; g != "" && why == "Postfix machinery" {
					why += ": " + g
				}
				ignored[n] = why
			}
			srv.Close()
			qs.Close()
			break
		}
		var ce *postfix.ConfigError
		if !errors.As(err, &ce) {
			notes = append(notes, "the loader stopped with an error that names no parameter: "+err.Error()+"; parameters not marked refused are unchecked")
			break
		}
		name, via := ce.Param, ""
		if _, set := c.Param(name); !set {
			// A default at fault is a parameter of the file that it
			// refers to: virtual_alias_domains = $virtual_alias_maps.
			if n := blame(c, name, map[string]bool{}); n != "" {
				name, via = n, fmt.Sprintf(" (as used by %s = %s, its default)", ce.Param, postfixconf.Defaults[ce.Param])
			}
		}
		p, _ := c.Param(name)
		if _, done := refused[name]; done || p.File == "" || !slices.Contains(names, name) {
			// A default or a parameter already set aside: nothing
			// more to take out of the file.
			pos := m.name
			if ce.File != "" {
				pos = fmt.Sprintf("%s:%d", ce.File, ce.Line)
			}
			notes = append(notes, fmt.Sprintf("%s: the loader stopped at %s (not set in the file): %v; parameters not marked refused are unchecked", pos, ce.Param, ce.Err))
			break
		}
		refused[name] = verdict{pos: fmt.Sprintf("%s:%d", p.File, p.Line), name: name, status: "refused", detail: ce.Err.Error() + via}
		order = append(order, name)
		text = commentOut(text, c.Definitions(name))
	}
	if len(order) > 1 {
		notes = append(notes, fmt.Sprintf("the loader stops at the first refusal; check ran it %d times, each time with the refused parameters so far commented out, so a later refusal may depend on an earlier one", len(order)+1))
	}
	var vs []verdict
	for _, n := range names {
		p, _ := cfg.Param(n)
		v := verdict{pos: fmt.Sprintf("%s:%d", p.File, p.Line), name: n}
		switch r, isRefused := refused[n]; {
		case isRefused:
			v = r
		case ignored == nil:
			v.status = "unchecked"
		case ignored[n] != "":
			v.status, v.detail = "ignored", ignored[n]
		default:
			v.status = "honoured"
		}
		vs = append(vs, v)
	}
	return vs, notes, nil
}

// blame returns the parameter set in main.cf that the default of name
// refers to, directly or through other defaults; "" if none.
func blame(c *postfixconf.Config, name string, seen map[string]bool) string {
	seen[name] = true
	for _, m := range refPattern.FindAllStringSubmatch(postfixconf.Defaults[name], -1) {
		n := m[1]
		if seen[n] {
			continue
		}
		if _, set := c.Param(n); set {
			return n
		}
		if b := blame(c, n, seen); b != "" {
			return b
		}
	}
	return ""
}

var refPattern = regexp.MustCompile(`\$[{(]?([A-Za-z0-9_]+)`)

// setNames returns the parameters the file itself sets, in file order.
func setNames(cfg *postfixconf.Config) []string {
	var out []string
	for _, n := range cfg.Names() {
		if p, _ := cfg.Param(n); p.File != "" {
			out = append(out, n)
		}
	}
	return out
}

func syntaxErrors(err error) []*postfixconf.SyntaxError {
	var out []*postfixconf.SyntaxError
	var walk func(error)
	walk = func(err error) {
		if se, ok := err.(*postfixconf.SyntaxError); ok {
			out = append(out, se)
			return
		}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
		} else if e := errors.Unwrap(err); e != nil {
			walk(e)
		}
	}
	walk(err)
	return out
}

// commentOut turns the definitions' lines (each first line and its
// continuation lines) into comments, keeping every other line number.
func commentOut(text string, defs []postfixconf.Param) string {
	lines := strings.Split(text, "\n")
	for _, d := range defs {
		i := d.Line - 1
		if i < 0 || i >= len(lines) {
			continue
		}
		lines[i] = "#" + lines[i]
		for i++; i < len(lines); i++ {
			l := lines[i]
			if l == "" || (l[0] != ' ' && l[0] != '\t' && l[0] != '#') {
				if strings.TrimSpace(l) != "" {
					break
				}
			}
			lines[i] = "#" + l
		}
	}
	return strings.Join(lines, "\n")
}

// postconfCommand is "mx postconf -n [-config main.cf]" and
// "mx postconf [-x] [-config main.cf] name...", as postconf(1) prints
// them: "name = value", the value as written with its white space
// collapsed (expanded with -x).
func postconfCommand(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("mx postconf", flag.ContinueOnError)
	fs.SetOutput(stderr)
	config := fs.String("config", "", "the main.cf; empty means the built-in configuration")
	nonDefault := fs.Bool("n", false, "print the parameters main.cf sets (postconf -n)")
	expand := fs.Bool("x", false, "expand $name in the values (postconf -x)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	m, err := readMainCF(*config)
	if err != nil {
		return err
	}
	cfg, err := m.parse(m.text)
	if err != nil {
		return err
	}
	// mxkit's own default, as the MX uses it (Postfix says "Postfix").
	if _, set := cfg.Param("mail_name"); !set {
		cfg.Set("mail_name", postfix.MailName)
	}
	value := func(name string) (string, bool, error) {
		if *expand {
			v, err := cfg.Get(name)
			_, known := postfixconf.Defaults[name]
			_, set := cfg.Param(name)
			return v, known || set, err
		}
		if p, ok := cfg.Param(name); ok {
			return p.Raw, true, nil
		}
		v, ok := postfixconf.Defaults[name]
		return v, ok, nil
	}
	var names []string
	if *nonDefault {
		if fs.NArg() > 0 {
			return fmt.Errorf("postconf -n takes no parameter names")
		}
		unused := map[string]bool{}
		for _, p := range cfg.Unused() {
			unused[p.Name] = true
			fmt.Fprintf(stderr, "mx postconf: warning: %s: unused parameter: %s=%s\n", m.name, p.Name, p.Raw)
		}
		for _, n := range cfg.Names() {
			if p, _ := cfg.Param(n); !unused[n] && (p.File != "" || n == "config_directory") {
				names = append(names, n)
			}
		}
		slices.Sort(names)
	} else {
		if fs.NArg() == 0 {
			return fmt.Errorf("usage: mx postconf -n | mx postconf [-x] name... (printing every default is postconf -d's job)")
		}
		names = fs.Args()
	}
	for _, n := range names {
		v, known, err := value(n)
		if err != nil {
			return fmt.Errorf("%s: %w", n, err)
		}
		if !known {
			fmt.Fprintf(stderr, "mx postconf: warning: %s: unknown parameter\n", n)
			continue
		}
		if v = strings.Join(strings.Fields(v), " "); v == "" {
			fmt.Fprintf(stdout, "%s =\n", n)
		} else {
			fmt.Fprintf(stdout, "%s = %s\n", n, v)
		}
	}
	return nil
}
