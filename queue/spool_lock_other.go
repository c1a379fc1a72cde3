//go:build !unix

package queue

import (
	"errors"
	"os"
)

// ErrSpoolBusy is returned by OpenSpool when another process has the spool open.
var ErrSpoolBusy = errors.New("queue: spool in use by another process")

// lockDir does nothing where flock is not available.
func lockDir(string) (*os.File, error) { return nil, nil }
