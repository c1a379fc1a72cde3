//go:build linux

package testproc

import (
	"errors"
	"fmt"
	"os/exec"
	"runtime"
	"syscall"
	"time"
)

// Start starts cmd in its own process group with SIGKILL as its
// parent-death signal, so that a test binary that dies without cleaning
// up takes the daemon with it. The daemon must not change its user (the
// kernel clears the signal then). The death signal fires when the OS
// thread that forked the child ends, so the fork and the wait happen on
// one locked thread that lives as long as the child. The returned channel
// is closed once the child has been reaped.
func Start(cmd *exec.Cmd) (<-chan struct{}, error) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	started := make(chan error, 1)
	exited := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		// No UnlockOSThread: the thread ends with this goroutine.
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		_ = cmd.Wait()
		close(exited)
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return exited, nil
}

// KillGroup sends sig to the process group that pid leads (to pid alone
// when there is no such group).
func KillGroup(pid int, sig syscall.Signal) {
	if err := syscall.Kill(-pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		_ = syscall.Kill(pid, sig)
	}
}

// Supported reports whether this system can run the harnesses.
func Supported() error { return nil }

// Stop ends a daemon started with Start: SIGTERM to its process group,
// then SIGKILL if it has not exited within timeout. exited is the channel
// Start returned; name is for the error.
func Stop(name string, pid int, exited <-chan struct{}, timeout time.Duration) error {
	select {
	case <-exited:
		return nil
	default:
	}
	KillGroup(pid, syscall.SIGTERM)
	select {
	case <-exited:
		return nil
	case <-time.After(timeout):
	}
	KillGroup(pid, syscall.SIGKILL)
	select {
	case <-exited:
		return fmt.Errorf("%s ignored SIGTERM for %v and was killed", name, timeout)
	case <-time.After(timeout):
		return fmt.Errorf("%s (pid %d) survived SIGKILL", name, pid)
	}
}
