package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mxkit/mxkit/internal/testdb"
)

// TestSharedPostgresQueue runs two MXs on one PostgreSQL queue
// (-queue-db): mail accepted by either is delivered exactly once, by
// whichever runner leased it, into that MX's Maildirs.
func TestSharedPostgresQueue(t *testing.T) {
	p := testdb.StartPostgres(t)
	config := writeConfig(t, crashConfig)
	var addrs, spools []string
	for range 2 {
		addr, spool := startMX(t, "-config", config, "-queue-db", p.DSN())
		addrs, spools = append(addrs, addr), append(spools, spool)
	}
	const n = 40
	for i := range n {
		if got := dataReply(t, addrs[i%2], fmt.Sprintf("user%d@example.test", i%3), fmt.Sprintf("shared-%d", i)); !strings.HasPrefix(got, "250 2.0.0 Ok: queued as ") {
			t.Fatalf("message %d: %q", i, got)
		}
	}
	count := func() map[string]int {
		got := map[string]int{}
		for _, sp := range spools {
			_ = filepath.WalkDir(filepath.Join(sp, "mailboxes"), func(path string, d os.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return nil
				}
				b, _ := os.ReadFile(path)
				if i := strings.Index(string(b), "Subject: "); i >= 0 {
					got[strings.SplitN(string(b[i+9:]), "\n", 2)[0]]++
				}
				return nil
			})
		}
		return got
	}
	var got map[string]int
	for deadline := time.Now().Add(30 * time.Second); len(got) < n; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d messages delivered", len(got), n)
		}
		got = count()
	}
	time.Sleep(200 * time.Millisecond) // a second delivery would show up now
	for subj, c := range count() {
		if c != 1 {
			t.Errorf("%s delivered %d times", subj, c)
		}
	}
}
