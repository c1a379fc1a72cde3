//go:build unix

package queue

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// ErrSpoolBusy is returned by OpenSpool when another process has the spool open.
var ErrSpoolBusy = errors.New("queue: spool in use by another process")

// lockDir takes an exclusive lock on dir/lock for the life of the
// process's open spool: two processes working on one spool would deliver
// each message twice.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("queue: spool %s: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s", ErrSpoolBusy, dir)
		}
		return nil, fmt.Errorf("queue: spool %s: lock: %w", dir, err)
	}
	return f, nil
}
