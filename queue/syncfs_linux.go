package queue

import (
	"os"

	"golang.org/x/sys/unix"
)

// SyncFS flushes the whole file system that holds dir to stable storage
// with syncfs(2): every file written and every name changed before the
// call, by any process, is durable when it returns. Since Linux 5.8 it
// reports writeback errors of the file system.
func (OSFS) SyncFS(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return unix.Syncfs(int(f.Fd()))
}
