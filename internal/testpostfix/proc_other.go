//go:build !linux

package testpostfix

import (
	"errors"
	"os/exec"
)

// Available fails on these systems, so none of this is reached.

var errNotLinux = errors.New("testpostfix: needs Linux")

func startWrapper(*exec.Cmd) (<-chan struct{}, error) { return nil, errNotLinux }

func groupMembers(int) ([]int, error) { return nil, errNotLinux }

func killGroup(int) error { return errNotLinux }
