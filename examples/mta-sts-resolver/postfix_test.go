package main

import (
	"testing"

	"github.com/mxkit/mxkit/internal/testpostfix"
)

// TestPostmap asks the daemon with Postfix's own socketmap client,
// "postmap -q KEY socketmap:inet:ADDR:postfix", and checks the reference
// answers of postfix-mta-sts-resolver (postmap prints the value after
// "OK "; NOTFOUND prints nothing and exits 1).
func TestPostmap(t *testing.T) {
	testpostfix.Require(t)
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
		status, stdout, stderr := testpostfix.Postmap(t, tc.key, "socketmap:inet:"+e.addr+":"+tc.name)
		if status != tc.status || stdout != tc.stdout {
			t.Errorf("postmap -q %q (%s): status %d, %q; want %d, %q (stderr %q)",
				tc.key, tc.name, status, stdout, tc.status, tc.stdout, stderr)
		}
	}
}
