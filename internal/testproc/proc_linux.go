//go:build linux

package testproc

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"time"
)

// Start starts cmd in its own process group with SIGKILL as its
// parent-death signal, so that a test binary that dies without cleaning
// up takes the daemon with it. The daemon must not change its user (the
// kernel clears the signal then). The returned channel is closed once
// the child has been reaped.
func Start(cmd *exec.Cmd) (<-chan struct{}, error) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	return StartLocked(cmd)
}

// StartWithDeathSignal starts cmd in the test's process group with sig
// as its parent-death signal: for a wrapper that must be told to stop
// its own children (Postfix's master, which makes its own session).
func StartWithDeathSignal(cmd *exec.Cmd, sig syscall.Signal) (<-chan struct{}, error) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: sig}
	return StartLocked(cmd)
}

// StartLocked starts cmd as its SysProcAttr says (the caller sets
// Pdeathsig, and Credential or Setpgid if it needs them), forking and
// waiting on one locked OS thread that lives as long as the child: the
// death signal fires when the thread that forked the child ends. The
// returned channel is closed once the child has been reaped;
// cmd.ProcessState then tells how it ended.
func StartLocked(cmd *exec.Cmd) (<-chan struct{}, error) {
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

// GroupMembers lists the live (non-zombie) processes whose process group
// is pgid.
func GroupMembers(pgid int) ([]int, error) {
	stats, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	var pids []int
	for _, p := range stats {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // the process ended meanwhile
		}
		// pid (comm) state ppid pgrp ...; comm may contain anything,
		// so split after the last ')'.
		end := bytes.LastIndexByte(b, ')')
		if end < 0 {
			continue
		}
		f := bytes.Fields(b[end+1:])
		if len(f) < 3 || string(f[0]) == "Z" || string(f[0]) == "X" {
			continue
		}
		if g, err := strconv.Atoi(string(f[2])); err == nil && g == pgid {
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
			pids = append(pids, pid)
		}
	}
	return pids, nil
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
