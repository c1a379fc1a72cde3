//go:build !linux

package testproc

import (
	"errors"
	"os/exec"
	"syscall"
	"time"
)

var errNotLinux = errors.New("testproc: needs Linux")

// Start fails on these systems.
func Start(*exec.Cmd) (<-chan struct{}, error) { return nil, errNotLinux }

// StartLocked fails on these systems.
func StartLocked(*exec.Cmd) (<-chan struct{}, error) { return nil, errNotLinux }

// StartWithDeathSignal fails on these systems.
func StartWithDeathSignal(*exec.Cmd, syscall.Signal) (<-chan struct{}, error) {
	return nil, errNotLinux
}

// GroupMembers fails on these systems.
func GroupMembers(int) ([]int, error) { return nil, errNotLinux }

// KillGroup does nothing on these systems.
func KillGroup(int, syscall.Signal) {}

// Supported reports that these systems cannot run the harnesses.
func Supported() error { return errNotLinux }

// Stop does nothing on these systems.
func Stop(string, int, <-chan struct{}, time.Duration) error { return errNotLinux }
