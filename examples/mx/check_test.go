package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mxkit/mxkit/internal/testdns"
	"github.com/mxkit/mxkit/internal/testproc"
)

// mxCheck runs "mx check" with args (and an in-process DNS server: the
// loader makes a resolver, check never asks it).
func mxCheck(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	args = append([]string{"-resolver", testdns.Start(t, testdns.Zone{}).Addr}, args...)
	err := checkCommand(args, &out, &errOut)
	t.Logf("mx check %s:\n%s%s", strings.Join(args, " "), out.String(), errOut.String())
	return out.String(), err
}

// checkLine is the grammar of every line check prints.
var checkLine = regexp.MustCompile(`^(\S[^:]*:\d+: [a-z0-9_]+: (honoured|ignored: .+|refused: .+|unchecked)|note: .+|\S[^:]*: \d+ parameters: \d+ honoured, \d+ ignored, \d+ refused(, \d+ unchecked)?)$`)

func checkLines(t *testing.T, out string) []string {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	for _, l := range lines {
		if !checkLine.MatchString(l) {
			t.Errorf("line not in check's format: %q", l)
		}
	}
	return lines
}

func TestCheckBuiltIn(t *testing.T) {
	out, err := mxCheck(t)
	if err != nil {
		t.Fatalf("check of the built-in configuration: %v", err)
	}
	lines := checkLines(t, out)
	if want := "built-in main.cf: 24 parameters: 24 honoured, 0 ignored, 0 refused"; lines[len(lines)-1] != want {
		t.Errorf("summary %q, want %q", lines[len(lines)-1], want)
	}
	if !hasLine(lines, "built-in main.cf:45: transport_maps: honoured") {
		t.Error("transport_maps not reported as honoured at line 45")
	}
}

func TestCheckBackupMX(t *testing.T) {
	out, err := mxCheck(t, "-config", "backup-mx.cf")
	if err != nil {
		t.Fatalf("check of backup-mx.cf: %v", err)
	}
	checkLines(t, out)
}

// TestCheckRefusals: every refusal is reported with file:line, not just
// the first; ignored parameters say why; the exit is an error.
func TestCheckRefusals(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "main.cf")
	mainCF := strings.Join([]string{
		"myhostname = mx.example.test",                               // 1
		"biff = no",                                                  // 2
		"smtpd_milters = inet:127.0.0.1:8891",                        // 3
		"smtp_client_restrictions =",                                 // 4
		"    permit_mynetworks",                                      // 5
		"relay_domains = example.test",                               // 6
		"smtpd_sasl_auth_enable = yes",                               // 7
		"virtual_alias_maps = hash:" + filepath.Join(dir, "missing"), // 8
		"header_checks = regexp:/dev/null",                           // 9
		"compatibility_level = 3.6",                                  // 10
	}, "\n") + "\n"
	if err := os.WriteFile(path, []byte(mainCF), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := mxCheck(t, "-config", path)
	if !errors.Is(err, errRefused) {
		t.Fatalf("check = %v, want errRefused", err)
	}
	lines := checkLines(t, out)
	for _, want := range []string{
		path + ":1: myhostname: honoured",
		path + ":2: biff: ignored: Postfix machinery: local(8) delivery agent",
		path + ":3: smtpd_milters: refused: milters are not supported by mxkit",
		path + ":4: smtp_client_restrictions: refused: not a Postfix parameter (misspelt? did you mean smtpd_client_restrictions?)",
		path + ":6: relay_domains: honoured",
		path + ":7: smtpd_sasl_auth_enable: refused: SASL authentication",
		path + ":8: virtual_alias_maps: refused: relaymaps: hash:",
		path + ":9: header_checks: ignored: content filtering is not implemented; headers pass",
		"note: the loader stops at the first refusal; check ran it 5 times",
		path + ": 9 parameters: 3 honoured, 2 ignored, 4 refused",
	} {
		if !prefixed(lines, want) {
			t.Errorf("no line starts with %q", want)
		}
	}
}

func TestCheckSyntaxErrors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "main.cf")
	if err := os.WriteFile(path, []byte("myhostname = mx.example.test\nthis is no parameter\nmore nonsense\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := mxCheck(t, "-config", path)
	if !errors.Is(err, errRefused) {
		t.Fatalf("check = %v, want errRefused", err)
	}
	lines := checkLines(t, out)
	for _, want := range []string{path + ":2: syntax: refused: ", path + ":3: syntax: refused: ", "note: main.cf has syntax errors"} {
		if !prefixed(lines, want) {
			t.Errorf("no line starts with %q", want)
		}
	}
}

func hasLine(lines []string, want string) bool {
	for _, l := range lines {
		if l == want {
			return true
		}
	}
	return false
}

func prefixed(lines []string, want string) bool {
	for _, l := range lines {
		if strings.HasPrefix(l, want) {
			return true
		}
	}
	return false
}

// TestPostconfMatchesPostfix compares "mx postconf -n" and "mx postconf
// name..." with the real postconf(1) on the same main.cf.
func TestPostconfMatchesPostfix(t *testing.T) {
	_, err := exec.LookPath("postconf")
	testproc.Require(t, "postconf(1)", err)
	seed, err := os.ReadFile("../../internal/postfixconf/testdata/seed-main.cf")
	if err != nil {
		t.Fatal(err)
	}
	mainCFs := map[string]string{
		"default": defaultConfig,
		"seed":    string(seed),
		"odd": "mydestination =\nmynetworks = 127.0.0.1/32\t[::1]/128 ,  10.0.0.0/8\ncustom = x   y\n" +
			"relay_domains = $custom, $mydomain\nmydomain = example.test\nsmtpd_banner = $myhostname   ESMTP  \"q   t\"  {  a  b  }\n" +
			"smtpd_client_restrictions =\n  permit_mynetworks,\n\n  # a comment\n\treject\nunused_one = 1\nmyhostname = a.test\nmyhostname = b.test\n",
	}
	if b, err := os.ReadFile("backup-mx.cf"); err == nil {
		mainCFs["backup-mx"] = string(b)
	}
	for name, text := range mainCFs {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "main.cf")
			if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "master.cf"), nil, 0o644); err != nil {
				t.Fatal(err)
			}
			// Postfix re-reads a main.cf modified in the last second.
			old := time.Now().Add(-time.Hour)
			if err := os.Chtimes(path, old, old); err != nil {
				t.Fatal(err)
			}
			for _, args := range [][]string{
				{"-n"},
				{"relay_domains", "mynetworks", "smtpd_banner", "smtpd_client_restrictions", "config_directory", "mydestination"},
				{"-x", "relay_domains", "mydestination", "smtpd_relay_restrictions", "virtual_alias_domains"},
			} {
				real, err := exec.Command("postconf", append([]string{"-c", dir}, args...)...).Output()
				if err != nil {
					t.Fatalf("postconf %s: %v", strings.Join(args, " "), err)
				}
				var ours, stderr bytes.Buffer
				if err := postconfCommand(append([]string{"-config", path}, args...), &ours, &stderr); err != nil {
					t.Fatalf("mx postconf %s: %v", strings.Join(args, " "), err)
				}
				if ours.String() != string(real) {
					t.Errorf("mx postconf %s:\n%s\npostconf %[1]s:\n%[3]s", strings.Join(args, " "), ours.String(), real)
				}
			}
		})
	}
}

// TestCheckStopsAtDefault: a refusal that no line of the file can be
// blamed for stops the re-runs, and check says so.
func TestCheckStopsAtDefault(t *testing.T) {
	path := filepath.Join(t.TempDir(), "main.cf")
	if err := os.WriteFile(path, []byte("myhostname = mx.example.test\nsmtpd_milters = inet:127.0.0.1:8891\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := mxCheck(t, "-config", path)
	if !errors.Is(err, errRefused) {
		t.Fatalf("check = %v, want errRefused", err)
	}
	lines := checkLines(t, out)
	for _, want := range []string{
		path + ":1: myhostname: unchecked",
		path + ":2: smtpd_milters: refused: milters are not supported",
		"note: " + path + ": the loader stopped at smtpd_relay_restrictions (not set in the file): ",
		path + ": 2 parameters: 0 honoured, 0 ignored, 1 refused, 1 unchecked",
	} {
		if !prefixed(lines, want) {
			t.Errorf("no line starts with %q", want)
		}
	}
}
