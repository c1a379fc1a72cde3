package relaymaps_test

import (
	"context"
	"errors"
	"net"
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
			status, stdout, stderr := testpostfix.Postmap(t, tc.key, "socketmap:"+tc.spec)
			if status != tc.want.status || stdout != tc.want.stdout {
				t.Errorf("postmap -q %q socketmap:%s: status %d, stdout %q; want %d, %q (stderr %q)",
					tc.key, tc.spec, status, stdout, tc.want.status, tc.want.stdout, stderr)
			}
			if tc.want.stderr == "" {
				if stderr != "" {
					t.Errorf("stderr %q, want nothing", stderr)
				}
				return
			}
			for _, s := range strings.Split(tc.want.stderr, "|") {
				if !strings.Contains(stderr, s) {
					t.Errorf("stderr %q lacks %q", stderr, s)
				}
			}
		})
	}
}
