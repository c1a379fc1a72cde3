//go:build linux

package testnginx

import (
	"errors"
	"os/exec"
	"runtime"
	"syscall"
)

// startDaemon starts cmd in its own process group with SIGKILL as its
// parent-death signal, so that a test binary that dies without cleaning
// up takes the daemon with it. nginx runs with "master_process off", a
// single process that never changes its user, so the kernel keeps the
// signal. The death signal fires when the OS thread that forked the child
// ends, so the fork and the wait happen on one locked thread that lives
// as long as the child. The returned channel is closed once the child has
// been reaped.
func startDaemon(cmd *exec.Cmd) (<-chan struct{}, error) {
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

// killGroup sends sig to the process group that pid leads.
func killGroup(pid int, sig syscall.Signal) {
	if err := syscall.Kill(-pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		_ = syscall.Kill(pid, sig)
	}
}

func supported() error { return nil }
