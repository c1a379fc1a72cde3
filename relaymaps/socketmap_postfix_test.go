package relaymaps_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mxkit/mxkit/internal/testpostfix"
	"github.com/mxkit/mxkit/relaymaps"
)

// TestSocketmapPostfix asks our server with Postfix's own socketmap
// client: "postmap -q KEY socketmap:...". postmap needs a configuration
// directory with a main.cf (an empty one will do; without one, and
// without /etc/postfix/main.cf, it stops with "fatal: open
// .../main.cf"), so the test passes "-c" and a temporary directory.
//
// What postmap does with each answer (Postfix 3.7):
//   - OK value: prints "value\n", exit status 0;
//   - NOTFOUND: prints nothing, exit status 1;
//   - TEMP, PERM (and an unknown map name, answered PERM): prints nothing
//     on stdout, warns "socketmap server temporary|permanent error:
//     REASON" and stops with "fatal: table SPEC: query error", exit
//     status 1 (after Postfix's one-second pause for fatal errors).
func TestSocketmapPostfix(t *testing.T) {
	testpostfix.Require(t)
	postmap, err := exec.LookPath("postmap")
	if err != nil {
		postmap = "/usr/sbin/postmap"
	}
	cfdir := t.TempDir()
	if err := os.WriteFile(filepath.Join(cfdir, "main.cf"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	maps := map[string]relaymaps.Map{
		"test": relaymaps.MapFunc(func(ctx context.Context, key string) (string, bool, error) {
			switch key {
			case "notfound":
				return "", false, nil
			case "temp":
				return "", false, &relaymaps.LookupError{Table: "mysql:relay.cf", Key: key, Kind: relaymaps.ErrTemporary, Err: errors.New("db down")}
			case "perm":
				return "", false, &relaymaps.LookupError{Table: "mysql:relay.cf", Key: key, Kind: relaymaps.ErrConfig, Err: errors.New("bad query")}
			}
			return "value of " + key, true, nil
		}),
		"domains": relaymaps.Dict{"example.com": "OK", "example.net": "relay:[mx.example.net]:25"},
	}

	inet := smServe(t, &relaymaps.SocketmapServer{Maps: maps})
	sock := filepath.Join(t.TempDir(), "sm.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	unixSrv := &relaymaps.SocketmapServer{Maps: maps, Logger: smQuiet}
	go unixSrv.Serve(l)
	t.Cleanup(func() { unixSrv.Close() })

	type result struct {
		status         int
		stdout, stderr string // stderr: substrings, separated by "|"
	}
	cases := []struct {
		name, spec, key string
		want            result
	}{
		{"found", "inet:" + inet + ":test", "Mixed Case", result{0, "value of Mixed Case\n", ""}},
		{"found-dict", "inet:" + inet + ":domains", "EXAMPLE.NET", result{0, "relay:[mx.example.net]:25\n", ""}},
		{"notfound", "inet:" + inet + ":test", "notfound", result{1, "", ""}},
		{"temp", "inet:" + inet + ":test", "temp", result{1, "",
			`socketmap server temporary error: mysql:relay.cf: lookup "temp": temporary lookup failure: db down|fatal: table socketmap:inet:` + inet + `:test: query error`}},
		{"perm", "inet:" + inet + ":test", "perm", result{1, "",
			`socketmap server permanent error: mysql:relay.cf: lookup "perm": table configuration error: bad query|fatal: table socketmap:inet:` + inet + `:test: query error`}},
		{"unknown-map", "inet:" + inet + ":nosuch", "x", result{1, "",
			`socketmap server permanent error: unknown map nosuch|fatal: table socketmap:inet:` + inet + `:nosuch: query error`}},
		{"unix-found", "unix:" + sock + ":domains", "example.com", result{0, "OK\n", ""}},
		{"unix-notfound", "unix:" + sock + ":domains", "example.org", result{1, "", ""}},
		{"unix-perm", "unix:" + sock + ":test", "perm", result{1, "",
			`socketmap server permanent error: mysql:relay.cf: lookup "perm": table configuration error: bad query|fatal: table socketmap:unix:` + sock + `:test: query error`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel() // postmap pauses a second before a fatal exit
			var stdout, stderr bytes.Buffer
			cmd := exec.Command(postmap, "-c", cfdir, "-q", tc.key, "socketmap:"+tc.spec)
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			status := 0
			if ee, ok := err.(*exec.ExitError); ok {
				status = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if status != tc.want.status || stdout.String() != tc.want.stdout {
				t.Errorf("postmap -q %q socketmap:%s: status %d, stdout %q; want %d, %q (stderr %q)",
					tc.key, tc.spec, status, stdout.String(), tc.want.status, tc.want.stdout, stderr.String())
			}
			if tc.want.stderr == "" {
				if stderr.Len() != 0 {
					t.Errorf("stderr %q, want nothing", stderr.String())
				}
				return
			}
			for _, s := range strings.Split(tc.want.stderr, "|") {
				if !strings.Contains(stderr.String(), s) {
					t.Errorf("stderr %q lacks %q", stderr.String(), s)
				}
			}
		})
	}
}
