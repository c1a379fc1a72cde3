package main

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mxkit/mxkit/internal/smtpdialog"
	"github.com/mxkit/mxkit/queue"
)

// faultFS fails the spool's writes with ENOSPC or its fsyncs with EIO
// while the corresponding switch is on.
type faultFS struct {
	queue.OSFS
	full, badSync atomic.Bool
}

func (f *faultFS) OpenFile(name string, flag int, perm fs.FileMode) (queue.File, error) {
	file, err := f.OSFS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &faultFile{File: file, fs: f}, nil
}

// SyncFS is the spool's group commit (syncfs): it fails like an fsync.
func (f *faultFS) SyncFS(dir string) error {
	if f.badSync.Load() {
		return &fs.PathError{Op: "syncfs", Path: dir, Err: syscall.EIO}
	}
	return f.OSFS.SyncFS(dir)
}

type faultFile struct {
	queue.File
	fs *faultFS
}

func (f *faultFile) Write(p []byte) (int, error) {
	if f.fs.full.Load() {
		return 0, syscall.ENOSPC
	}
	return f.File.Write(p)
}

func (f *faultFile) Sync() error {
	if f.fs.badSync.Load() {
		return syscall.EIO
	}
	return f.File.Sync()
}

const faultConfig = crashConfig + "transport_maps = inline:{ example.test=maildir:mailboxes, parked@example.test=lmtp:inet:127.0.0.1:1 }\n"

func dataReply(t *testing.T, addr, to, subject string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	replies, err := smtpdialog.Run(ctx, addr, "127.0.0.1", []string{
		"EHLO client.example.org",
		"MAIL FROM:<sender@example.org>",
		"RCPT TO:<" + to + ">",
		"DATA",
		"DATA-BODY:Subject: " + subject + "\r\n\r\nbody\r\n",
		"QUIT",
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(replies) < 6 {
		t.Fatalf("replies: %v", replies)
	}
	return replies[5].String()
}

// TestSpoolFaultsGive4xx: a full disk and failing fsyncs on the spool are
// answered with 451 4.3.0 at the end of DATA, and nothing accepted before
// is lost: a delivered message stays delivered, a queued one stays queued
// (also across a restart), and mail flows again once the fault is gone.
func TestSpoolFaultsGive4xx(t *testing.T) {
	ffs := &faultFS{}
	spoolFS = ffs
	t.Cleanup(func() { spoolFS = nil })
	spool := t.TempDir()
	addr, stop := runMX(t, "-spool", spool, "-config", writeConfig(t, faultConfig))

	if got := dataReply(t, addr, "alice@example.test", "before"); !strings.HasPrefix(got, "250 2.0.0 Ok: queued as ") {
		t.Fatalf("before the fault: %q", got)
	}
	parked := dataReply(t, addr, "parked@example.test", "parked")
	if !strings.HasPrefix(parked, "250 2.0.0 Ok: queued as ") {
		t.Fatalf("parked message: %q", parked)
	}
	parkedID := strings.TrimPrefix(parked, "250 2.0.0 Ok: queued as ")

	ffs.full.Store(true)
	if got := dataReply(t, addr, "alice@example.test", "disk full"); got != "451 4.3.0 Error: queue file write error" {
		t.Errorf("disk full: %q, want 451 4.3.0 Error: queue file write error", got)
	}
	ffs.full.Store(false)
	ffs.badSync.Store(true)
	if got := dataReply(t, addr, "alice@example.test", "fsync fails"); got != "451 4.3.0 Error: queue file write error" {
		t.Errorf("fsync failure: %q, want 451 4.3.0 Error: queue file write error", got)
	}
	ffs.badSync.Store(false)
	if got := dataReply(t, addr, "alice@example.test", "after"); !strings.HasPrefix(got, "250 2.0.0 Ok: queued as ") {
		t.Errorf("after the fault: %q", got)
	}
	newDir := filepath.Join(spool, "mailboxes", "example.test", "alice", "new")
	var subjects []string
	for deadline := time.Now().Add(10 * time.Second); len(subjects) < 2 && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		subjects = nil
		files, _ := os.ReadDir(newDir)
		for _, f := range files {
			b, _ := os.ReadFile(filepath.Join(newDir, f.Name()))
			if i := strings.Index(string(b), "Subject: "); i >= 0 {
				subjects = append(subjects, strings.SplitN(string(b[i+9:]), "\n", 2)[0])
			}
		}
	}
	if strings.Join(subjects, ",") != "before,after" && strings.Join(subjects, ",") != "after,before" {
		t.Errorf("delivered subjects = %q, want before and after only", subjects)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	// After a restart the parked message is still queued, and nothing
	// of the refused ones is.
	sp, err := queue.OpenSpool(spool, queue.SpoolOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	ms, _ := sp.List(context.Background())
	if len(ms) != 1 || ms[0].ID != parkedID {
		var ids []string
		for _, m := range ms {
			ids = append(ids, m.ID)
		}
		t.Errorf("queue after restart = %v, want only %s", ids, parkedID)
	}
	if tmp, _ := os.ReadDir(filepath.Join(spool, "tmp")); len(tmp) != 0 {
		t.Errorf("%d files left in tmp/", len(tmp))
	}
}

// TestInsufficientStorage: with the queue's file system nearly full, MAIL
// is answered 452 4.3.1 (Postfix's reply), and a SIZE larger than half
// the free space is refused too.
func TestInsufficientStorage(t *testing.T) {
	var free atomic.Int64
	free.Store(10000000)
	old := freeSpace
	freeSpace = func(string) (int64, error) { return free.Load(), nil }
	t.Cleanup(func() { freeSpace = old })
	addr, _ := startMX(t, "-config", writeConfig(t, crashConfig+"queue_minfree = 1000000\n"))
	mail := func(arg string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		r, err := smtpdialog.Run(ctx, addr, "127.0.0.1", []string{"EHLO client.example.org", "MAIL FROM:<s@example.org>" + arg, "QUIT"})
		if err != nil || len(r) < 3 {
			t.Fatalf("dialogue: %v %v", r, err)
		}
		return r[2].String()
	}
	if got := mail(""); got != "250 2.1.0 Ok" {
		t.Errorf("plenty of space: %q", got)
	}
	if got := mail(" SIZE=6000000"); got != "452 4.3.1 Insufficient system storage" {
		t.Errorf("SIZE above half the free space: %q", got)
	}
	free.Store(1500000)
	if got := mail(" SIZE=600000"); got != "452 4.3.1 Insufficient system storage" {
		t.Errorf("below queue_minfree after the message: %q", got)
	}
	if got := mail(" SIZE=400000"); got != "250 2.1.0 Ok" {
		t.Errorf("room for the message and queue_minfree: %q", got)
	}
}
