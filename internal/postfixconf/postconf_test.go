package postfixconf

// Differential tests against the real postconf(1). They run when Postfix
// is installed and its version is the one zdefaults.go was made from, and
// skip otherwise.

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mxkit/mxkit/internal/testproc"
)

// postconfDir returns a directory with the given main.cf and an empty
// master.cf. Without a usable postconf the test skips, or fails under
// CI=true (testproc.Require); it skips when the installed Postfix is not
// the version the defaults were generated from.
func postconfDir(t *testing.T, mainCF string) string {
	t.Helper()
	_, err := exec.LookPath("postconf")
	testproc.Require(t, "postconf(1)", err)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.cf"), []byte(mainCF), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "master.cf"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// Postfix re-reads a main.cf modified in the last second until it
	// "cools down" (dict_load_file_xt), which costs up to two seconds.
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(filepath.Join(dir, "main.cf"), old, old); err != nil {
		t.Fatal(err)
	}
	if v, err := installedPostfix(dir); err != nil {
		testproc.Require(t, "a working postconf -d mail_version", err)
	} else if v != postconfVersion {
		t.Skipf("installed Postfix is %s, defaults were generated from %s", v, postconfVersion)
	}
	return dir
}

// installedPostfix returns the version of the installed Postfix, asking
// postconf once.
var installedPostfix = func() func(dir string) (string, error) {
	var (
		once    sync.Once
		version string
		err     error
	)
	return func(dir string) (string, error) {
		once.Do(func() {
			var out []byte
			out, err = exec.Command("postconf", "-c", dir, "-h", "-d", "mail_version").Output()
			version = strings.TrimSpace(string(out))
		})
		return version, err
	}
}()

// runPostconf runs postconf -c dir with args and returns its "name = value"
// lines as a map.
func runPostconf(t *testing.T, dir string, args ...string) map[string]string {
	t.Helper()
	cmd := exec.Command("postconf", append([]string{"-c", dir}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("postconf %v: %v\n%s", args, err, stderr.String())
	}
	m := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " =")
		if !ok {
			t.Fatalf("unexpected postconf output line %q", sc.Text())
		}
		m[name] = strings.TrimPrefix(value, " ")
	}
	return m
}

func TestDefaultsMatchPostconf(t *testing.T) {
	dir := postconfDir(t, "")
	want := runPostconf(t, dir, "-d")
	for name, v := range want {
		if name == "myhostname" || name == "mydomain" || name == "mynetworks" ||
			name == "process_id" || name == "process_name" {
			continue
		}
		got, ok := postconfDefaults[name]
		if !ok {
			t.Errorf("postconf -d has %s = %q, missing from postconfDefaults", name, v)
			continue
		}
		if got != v {
			t.Errorf("default %s = %q, postconf -d says %q", name, got, v)
		}
	}
	for name := range postconfDefaults {
		if _, ok := want[name]; !ok {
			t.Errorf("postconfDefaults has %s, postconf -d does not", name)
		}
	}
}

var spaces = regexp.MustCompile(`\s+`)

// TestExpandMatchesPostconf compares Get with "postconf -x" for every
// parameter postconf knows, on the seed main.cf and on small files at
// several compatibility levels. postconf prints values with whitespace
// runs folded to one space, so the comparison does the same.
func TestExpandMatchesPostconf(t *testing.T) {
	seed, err := os.ReadFile("testdata/seed-main.cf")
	if err != nil {
		t.Fatal(err)
	}
	host := "myhostname = mx.example.com\nmydomain = example.com\nmynetworks = 127.0.0.0/8\n"
	cases := map[string]string{
		"seed":     string(seed),
		"compat0":  host,
		"compat2":  host + "compatibility_level = 2\n",
		"compat36": host + "compatibility_level = 3.6\n",
		"exprs": host + `compatibility_level = 3.6
smtpd_banner = $myhostname ESMTP ${mail_name?{$mail_name}:{none}} ${{$compatibility_level} >=level {3} ? {new} : {old}}
smtpd_reject_footer = \c. See http://$myhostname/$client_address
relay_domains = ${{1} < {10} ? {$mydomain} : {}}, ${undefined_x:fallback}, $$literal
smtpd_helo_restrictions = ${smtpd_helo_required?{reject_invalid_helo_hostname}}
    $(mydestination)
`,
	}
	for label, mainCF := range cases {
		t.Run(label, func(t *testing.T) {
			dir := postconfDir(t, mainCF)
			want := runPostconf(t, dir, "-x")
			c, err := ParseFile(filepath.Join(dir, "main.cf"))
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for name, w := range want {
				if _, over := defaultOverrides[name]; over {
					// Our default differs on purpose (newer Postfix, or
					// host-dependent); compare only when main.cf sets it.
					if _, set := c.Param(name); !set {
						continue
					}
				}
				got, err := c.Get(name)
				if err != nil {
					t.Errorf("Get(%s): %v", name, err)
					continue
				}
				got = strings.TrimSpace(spaces.ReplaceAllString(got, " "))
				if got != w {
					t.Errorf("%s: Get = %q, postconf -x = %q", name, got, w)
				}
				n++
			}
			if n < 800 {
				t.Errorf("compared only %d parameters", n)
			}
		})
	}
}
