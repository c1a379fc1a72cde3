//go:build linux

package testproc

import (
	"errors"
	"os/exec"
	"runtime"
	"syscall"
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
