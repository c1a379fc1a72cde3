//go:build !linux

package queue

import "errors"

// SyncFS is not available here: the spool fsyncs each file.
func (OSFS) SyncFS(string) error { return errors.ErrUnsupported }
