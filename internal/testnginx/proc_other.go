//go:build !linux

package testnginx

import (
	"errors"
	"os/exec"
	"syscall"
)

// Available fails on these systems, so none of this is reached.

var errNotLinux = errors.New("testnginx: needs Linux")

func startDaemon(*exec.Cmd) (<-chan struct{}, error) { return nil, errNotLinux }

func killGroup(int, syscall.Signal) {}

func supported() error { return errNotLinux }
