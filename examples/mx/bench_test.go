package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/mxkit/mxkit/internal/testpostfix"
)

// BenchmarkSMTPSource sends the same load with Postfix's smtp-source to a
// real Postfix and to this MX, side by side in one run, with the same
// main.cf (diffPolicy). Both write every message to disk before the 250:
// Postfix its queue file, this MX its spool file (fsynced, as is the
// folder). Report the ratio of the msgs/s figures of one run.
//
//	go test -run '^$' -bench SMTPSource -benchtime 3x ./examples/mx
func BenchmarkSMTPSource(b *testing.B) {
	if _, err := exec.LookPath("smtp-source"); err != nil {
		b.Skip("smtp-source (Debian package postfix) not installed")
	}
	testpostfix.Require(b)
	pf := testpostfix.Start(b, testpostfix.Options{MainCF: diffPolicy, Files: diffFiles})
	dir := b.TempDir()
	cf := "compatibility_level = 3.6\ninet_interfaces = 127.0.0.1\nsmtpd_banner = $myhostname ESMTP\nsmtpd_peername_lookup = no\n" + diffPolicy
	if err := os.WriteFile(filepath.Join(dir, "main.cf"), []byte(cf), 0o644); err != nil {
		b.Fatal(err)
	}
	for name, content := range diffFiles {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	ours, _ := startMX(b, "-config", filepath.Join(dir, "main.cf"))

	const sessions, messages = 20, 1000
	for _, target := range []struct{ name, addr string }{{"postfix", pf.Addr}, {"mxkit", ours}} {
		b.Run(target.name, func(b *testing.B) {
			for b.Loop() {
				cmd := exec.Command("smtp-source", "-s", strconv.Itoa(sessions), "-m", strconv.Itoa(messages),
					"-l", "4096", "-f", "sender@example.org", "-t", "alice@example.test", "-M", "client.example.org",
					"inet:"+target.addr)
				if out, err := cmd.CombinedOutput(); err != nil {
					b.Fatalf("smtp-source: %v\n%s", err, out)
				}
			}
			b.ReportMetric(float64(messages)*float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}
