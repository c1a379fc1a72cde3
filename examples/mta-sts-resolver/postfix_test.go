package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/mxkit/mxkit/internal/testpostfix"
)

// TestPostmap asks the daemon with Postfix's own socketmap client,
// "postmap -q KEY socketmap:inet:ADDR:postfix", and checks the reference
// answers of postfix-mta-sts-resolver (postmap prints the value after
// "OK "; NOTFOUND prints nothing and exits 1).
func TestPostmap(t *testing.T) {
	testpostfix.Require(t)
	postmap, err := exec.LookPath("postmap")
	if err != nil {
		postmap = "/usr/sbin/postmap"
	}
	cfdir := t.TempDir()
	if err := os.WriteFile(filepath.Join(cfdir, "main.cf"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	e := start(t, "")
	for _, tc := range []struct {
		name, key string
		status    int
		stdout    string
	}{
		{"postfix", "good.loc", 0, "secure match=mail.loc servername=hostname\n"},
		{"postfix", "[good.loc]:25", 0, "secure match=mail.loc servername=hostname\n"},
		{"postfix", ".good.loc", 1, ""},
		{"postfix", "[1.2.3.4]", 1, ""},
		{"postfix", "testing.loc", 1, ""},
		{"strict", "testing.loc", 0, "secure match=mail.loc servername=hostname\n"},
		{"postfix", "none.loc", 1, ""},
		{"postfix", "nopolicy.loc", 1, ""},
		{"postfix", "dane.loc", 0, "dane-only\n"},
	} {
		var stdout, stderr bytes.Buffer
		cmd := exec.CommandContext(context.Background(), postmap, "-c", cfdir, "-q", tc.key, "socketmap:inet:"+e.addr+":"+tc.name)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		status := 0
		if ee, ok := err.(*exec.ExitError); ok {
			status = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if status != tc.status || stdout.String() != tc.stdout {
			t.Errorf("postmap -q %q (%s): status %d, %q; want %d, %q (stderr %q)",
				tc.key, tc.name, status, stdout.String(), tc.status, tc.stdout, stderr.String())
		}
	}
}
