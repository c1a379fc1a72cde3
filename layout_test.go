package mxkit_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/mxkit/mxkit/"

// rooms states the import arrows of docs/design.md: for each package (or
// package tree, written "dir/..."), the mxkit packages its non-test files
// may import besides internal/ leaves. The most specific entry applies.
// A package that is in no entry fails the test: a new room states its
// arrows here.
var rooms = map[string][]string{
	"":                       {}, // the root doc package
	"dnsres":                 {},
	"dane":                   {"dnsres"},
	"mtasts":                 {"dnsres"},
	"tlspolicy":              {"dnsres", "dane", "mtasts", "relaymaps", "tlspolicy/tlsrpt"},
	"tlspolicy/tlsrpt":       {"dnsres", "mtasts"},
	"tlspolicy/tlsrpt/...":   {"tlspolicy/tlsrpt", "queue"},
	"relaymaps/...":          {"relaymaps"},
	"smtppolicy/...":         {"dnsres", "relaymaps", "smtppolicy/..."},
	"smtppolicy/postfix":     {"*"},
	"queue/postfix":          {"*"},
	"internal/pfbuild":       {"relaymaps"},
	"queue/...":              {"queue"},
	"queue/deliver":          {"queue", "tlspolicy", "tlspolicy/tlsrpt", "dane", "mtasts", "dnsres"},
	"internal/...":           {"internal/..."},
	"examples/...":           {"*"},
	"smtppolicy/gosmtp":      {"smtppolicy", "smtppolicy/smtpcmd", "dnsres"},
	"smtppolicy/smtpcmd":     {"smtppolicy"},
	"smtppolicy/policyproto": {"smtppolicy"},
}

// mainCF is the optional main.cf layer: its packages import each other
// (and anything else); only they and the examples import them.
var mainCF = map[string]bool{
	"smtppolicy/postfix":   true,
	"queue/postfix":        true,
	"internal/postfixconf": true,
	"internal/pfbuild":     true,
}

// TestImportArrows checks that packages import only downward: dane and
// mtasts know nothing of smtppolicy, the queue nothing of tables, relaymaps
// nothing of sessions, and nothing of the core imports the optional main.cf
// layer (mainCF) or an example.
func TestImportArrows(t *testing.T) {
	imports := map[string][]string{} // package dir → mxkit imports
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); path != "." && (strings.HasPrefix(n, ".") || n == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		dir := filepath.ToSlash(filepath.Dir(path))
		if dir == "." {
			dir = ""
		}
		if _, ok := imports[dir]; !ok {
			imports[dir] = nil
		}
		for _, spec := range f.Imports {
			p, _ := strconv.Unquote(spec.Path.Value)
			if rest, ok := strings.CutPrefix(p, module); ok && !slices.Contains(imports[dir], rest) {
				imports[dir] = append(imports[dir], rest)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(imports) < 10 {
		t.Fatalf("found only %d packages: not run from the module root?", len(imports))
	}
	for dir, deps := range imports {
		allowed, ok := room(dir)
		if !ok {
			t.Errorf("%s: no entry in rooms: state its import arrows", orRoot(dir))
			continue
		}
		for _, dep := range deps {
			switch {
			case strings.HasPrefix(dep, "examples/"):
				t.Errorf("%s imports %s: nothing imports an example", orRoot(dir), dep)
			case mainCF[dep] && !mainCF[dir] && !strings.HasPrefix(dir, "examples/"):
				t.Errorf("%s imports %s: the main.cf layer is optional, nothing of the core imports it", orRoot(dir), dep)
			case strings.HasPrefix(dep, "internal/") && !strings.HasPrefix(dep, "internal/test"):
				// Leaf helpers serve every room.
			case !permits(allowed, dep):
				t.Errorf("%s imports %s: not among its arrows %q", orRoot(dir), dep, allowed)
			}
		}
	}
}

func orRoot(dir string) string {
	if dir == "" {
		return "the root package"
	}
	return dir
}

// room returns the most specific entry of rooms for dir.
func room(dir string) ([]string, bool) {
	if a, ok := rooms[dir]; ok {
		return a, true
	}
	for d := dir; d != "." && d != ""; d = filepath.ToSlash(filepath.Dir(d)) {
		if a, ok := rooms[d+"/..."]; ok {
			return a, true
		}
	}
	return nil, false
}

func permits(allowed []string, dep string) bool {
	for _, a := range allowed {
		if a == "*" || a == dep || (strings.HasSuffix(a, "/...") && (dep == strings.TrimSuffix(a, "/...") || strings.HasPrefix(dep, strings.TrimSuffix(a, "...")))) {
			return true
		}
	}
	return false
}
