package testdb

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mxkit/mxkit/internal/testproc"
)

// startTimeout bounds how long a server may take to accept connections.
const startTimeout = 60 * time.Second

// findBinary returns the first of names found on $PATH or in one of dirs
// (glob patterns, tried in reverse lexical order so that the highest
// version wins).
func findBinary(names []string, dirs ...string) (string, error) {
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p, nil
		}
	}
	for _, pat := range dirs {
		matches, _ := filepath.Glob(pat)
		sort.Sort(sort.Reverse(sort.StringSlice(matches)))
		for _, d := range matches {
			for _, n := range names {
				p := filepath.Join(d, n)
				if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
					return p, nil
				}
			}
		}
	}
	return "", fmt.Errorf("%s not found on $PATH or in %s", strings.Join(names, "/"), strings.Join(dirs, ", "))
}

// account is the identity a server runs as: the current user, or the
// service user when the tests run as root (PostgreSQL refuses to run as
// root, and MariaDB wants --user).
type account struct {
	uid, gid int
	name     string // "" when the server runs as the current user
}

func serviceAccount(name string) (account, error) {
	if os.Geteuid() != 0 {
		return account{uid: os.Geteuid(), gid: os.Getegid()}, nil
	}
	u, err := user.Lookup(name)
	if err != nil {
		return account{}, fmt.Errorf("running as root and no %q user to run the server as: %w", name, err)
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil {
		return account{}, fmt.Errorf("user %q: bad uid/gid %q/%q", name, u.Uid, u.Gid)
	}
	return account{uid: uid, gid: gid, name: name}, nil
}

// command returns cmd set up to run as a, in its own process group, with
// its output going to log.
func (a account) command(log *os.File, path string, args ...string) *exec.Cmd {
	cmd := exec.Command(path, args...)
	if log != nil {
		cmd.Stdout, cmd.Stderr = log, log
	}
	cmd.Env = append(os.Environ(), "LC_ALL=C", "TZ=UTC")
	attr := &syscall.SysProcAttr{Setpgid: true}
	if a.name != "" {
		attr.Credential = &syscall.Credential{Uid: uint32(a.uid), Gid: uint32(a.gid)}
	}
	cmd.SysProcAttr = attr
	return cmd
}

// tempDir creates a directory that a can use (t.TempDir's parent is not
// reachable by another user) and removes it when the test ends.
func tempDir(t testing.TB, prefix string, a account) string {
	t.Helper()
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if a.name != "" {
		if err := os.Chown(dir, a.uid, a.gid); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// process is a running server.
type process struct {
	cmd    *exec.Cmd
	exited <-chan struct{} // closed once the process has been reaped
}

// run runs cmd to completion, returning its output with an error.
func run(cmd *exec.Cmd) error {
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w\n%s", filepath.Base(cmd.Path), err, out.String())
	}
	return nil
}

// start starts cmd with a parent-death signal, so that a test binary that
// dies without cleaning up takes the server with it.
func start(cmd *exec.Cmd, deathSig syscall.Signal) (*process, error) {
	cmd.SysProcAttr.Pdeathsig = deathSig
	exited, err := testproc.StartLocked(cmd)
	if err != nil {
		return nil, err
	}
	return &process{cmd: cmd, exited: exited}, nil
}

// stop sends sig and waits for the process to end, killing its process
// group after a grace period.
func (p *process) stop(sig syscall.Signal) error {
	if p == nil {
		return nil
	}
	select {
	case <-p.exited:
		return nil
	default:
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.exited:
		return nil
	case <-time.After(30 * time.Second):
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.exited
	return errors.New("server did not stop within 30s and was killed")
}

// waitReady calls probe until it succeeds, the process exits or the
// start timeout passes.
func (p *process) waitReady(probe func() error) error {
	deadline := time.Now().Add(startTimeout)
	for {
		err := probe()
		if err == nil {
			return nil
		}
		select {
		case <-p.exited:
			return fmt.Errorf("server exited during start-up (%v); last probe: %w", p.cmd.ProcessState, err)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("server not ready after %v: %w", startTimeout, err)
		}
	}
}

// server holds what Postgres and MariaDB share.
type server struct {
	t       testing.TB
	mu      sync.Mutex
	proc    *process
	logPath string
	started time.Duration // how long the last start took
}

// StartupTime reports how long the last start took, from launching the
// server until it accepted a query.
func (s *server) StartupTime() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.started
}

// Log returns the server's log so far.
func (s *server) Log() string {
	b, _ := os.ReadFile(s.logPath)
	return string(b)
}

func (s *server) logOnFailure() {
	if s.t.Failed() {
		s.t.Logf("server log %s:\n%s", s.logPath, s.Log())
	}
}

func openLog(path string, a account) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	if a.name != "" {
		_ = f.Chown(a.uid, a.gid)
	}
	return f, nil
}
