package testpostfix

import (
	"bufio"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mxkit/mxkit/internal/testproc"
)

// Sink is a running smtp-sink(1), Postfix's test SMTP/LMTP server.
type Sink struct {
	// Addr is the host:port it listens on.
	Addr string
	// Dir receives one file per mail transaction when SinkOptions.Dump
	// is set (smtp-sink -d).
	Dir string
}

// SinkOptions configures StartSink.
type SinkOptions struct {
	LMTP bool // -L: speak LMTP
	Dump bool // -d: dump each transaction into a file under Sink.Dir
	// DumpDir, when set, is Sink.Dir (Dump is implied): a benchmark puts
	// it on tmpfs so that the sink's writes do not load the disk the
	// MTAs under test write their queues to.
	DumpDir string
	Args    []string // more smtp-sink options, e.g. "-r", "RCPT"
}

// RequireSink skips the test when smtp-sink is missing, failing it when
// CI is "true".
func RequireSink(t testing.TB) string {
	t.Helper()
	p, err := lookSbin("smtp-sink")
	testproc.Require(t, "smtp-sink", err)
	return p
}

// StartSink runs smtp-sink on a free 127.0.0.1 port until the test ends.
func StartSink(t testing.TB, opts SinkOptions) *Sink {
	t.Helper()
	bin := RequireSink(t)
	testproc.Require(t, "process control for smtp-sink", testproc.Supported())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s := &Sink{Addr: addr}
	var args []string
	if opts.LMTP {
		args = append(args, "-L")
	}
	if opts.Dump || opts.DumpDir != "" {
		s.Dir = opts.DumpDir
		if s.Dir == "" {
			s.Dir = t.TempDir()
		}
		args = append(args, "-d", filepath.Join(s.Dir, "%H%M%S."))
	}
	if os.Geteuid() == 0 {
		// smtp-sink refuses to run as root without -u; "-u root" keeps
		// the credentials, so the parent-death signal stays armed and
		// the dump files are written as root.
		args = append(args, "-u", "root")
	}
	args = append(args, opts.Args...)
	args = append(args, "inet:"+addr, "100")
	cmd := exec.Command(bin, args...)
	out, err := os.CreateTemp(t.TempDir(), "sink-log")
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	exited, err := testproc.Start(cmd)
	if err != nil {
		t.Fatalf("smtp-sink: %v", err)
	}
	t.Cleanup(func() {
		_ = testproc.Stop("smtp-sink", cmd.Process.Pid, exited, 5*time.Second)
		out.Close()
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			line, _ := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if strings.HasPrefix(line, "220") {
				return s
			}
		}
		select {
		case <-exited:
			log, _ := os.ReadFile(out.Name())
			t.Fatalf("smtp-sink exited: %s", log)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("smtp-sink on %s did not answer", addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Messages returns the content of the transactions dumped so far.
func (s *Sink) Messages(t testing.TB) []string {
	t.Helper()
	var out []string
	_ = filepath.WalkDir(s.Dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if b, err := os.ReadFile(p); err == nil {
				out = append(out, string(b))
			}
		}
		return nil
	})
	return out
}
