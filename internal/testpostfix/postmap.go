package testpostfix

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// Postmap runs "postmap -q KEY TABLE", Postfix's own lookup client, with an
// empty configuration directory (postmap needs one; the system's
// /etc/postfix/main.cf may not exist), and returns its exit status and
// output. It fails the test when postmap cannot be run at all; call
// Require first.
func Postmap(t testing.TB, key, table string) (status int, stdout, stderr string) {
	t.Helper()
	dir := t.TempDir()
	cf := filepath.Join(dir, "main.cf")
	if err := os.WriteFile(cf, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// Postfix waits for a main.cf changed in the last second or so to
	// settle; date it an hour back.
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(cf, old, old); err != nil {
		t.Fatal(err)
	}
	bin, err := exec.LookPath("postmap")
	if err != nil {
		bin = "/usr/sbin/postmap"
	}
	var out, errOut bytes.Buffer
	cmd := exec.Command(bin, "-c", dir, "-q", key, table)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		status = ee.ExitCode()
	case err != nil:
		t.Fatalf("postmap: %v", err)
	}
	return status, out.String(), errOut.String()
}
