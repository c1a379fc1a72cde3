package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mxkit/mxkit/internal/testproc"
)

// units are the systemd unit files shipped with the examples, and the
// binary each one runs.
var units = map[string]string{
	"systemd/mxkit-mx.service":                                   "/usr/local/bin/mxkit-mx",
	"../mta-sts-resolver/systemd/mxkit-mta-sts-resolver.service": "/usr/local/bin/mxkit-mta-sts-resolver",
}

// TestSystemdUnits checks the unit files with systemd-analyze verify
// (Debian's systemd package; .ci/run installs it, so CI=true requires
// it). verify wants the ExecStart binaries to exist: the copies run an
// empty script instead. Any output (an unknown key, a bad value) fails.
func TestSystemdUnits(t *testing.T) {
	sa, err := exec.LookPath("systemd-analyze")
	testproc.Require(t, "systemd-analyze (Debian package systemd)", err)
	dir := t.TempDir()
	stub := filepath.Join(dir, "stub")
	if err := os.WriteFile(stub, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	args := []string{"verify"}
	for unit, bin := range units {
		b, err := os.ReadFile(unit)
		if err != nil {
			t.Fatal(err)
		}
		text := string(b)
		for _, want := range []string{"Type=notify", "ProtectSystem=strict", "NoNewPrivileges=yes", "ExecStart=" + bin + " "} {
			if !strings.Contains(text, "\n"+want) {
				t.Errorf("%s: no line %q", unit, want)
			}
		}
		dst := filepath.Join(dir, filepath.Base(unit))
		if err := os.WriteFile(dst, []byte(strings.ReplaceAll(text, bin+" ", stub+" ")), 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, dst)
	}
	out, err := exec.Command(sa, args...).CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Errorf("systemd-analyze %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// TestSystemdUnitOrder: the MX starts after what the seed's Postfix
// starts after (the database, the spam filter, the MTA-STS resolver),
// with its spool writable under ProtectSystem=strict.
func TestSystemdUnitOrder(t *testing.T) {
	b, err := os.ReadFile("systemd/mxkit-mx.service")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"After=network-online.target mariadb.service rspamd.service mxkit-mta-sts-resolver.service",
		"Wants=network-online.target mxkit-mta-sts-resolver.service",
		"ReadWritePaths=/var/spool/mxkit",
		"ExecStart=/usr/local/bin/mxkit-mx -config /etc/mxkit/main.cf -listen :25 -spool /var/spool/mxkit",
	} {
		if !strings.Contains(string(b), "\n"+want+"\n") {
			t.Errorf("mxkit-mx.service: no line %q", want)
		}
	}
}
