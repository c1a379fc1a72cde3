package queue_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mxkit/mxkit/queue"
	"github.com/mxkit/mxkit/queue/queuetest"
)

var quiet = slog.New(slog.DiscardHandler)

func openSpool(t testing.TB, dir string, fsys queue.FS) *queue.Spool {
	t.Helper()
	return openSpoolOpts(t, dir, queue.SpoolOptions{FS: fsys})
}

func openSpoolOpts(t testing.TB, dir string, opts queue.SpoolOptions) *queue.Spool {
	t.Helper()
	opts.Logger = quiet
	s, err := queue.OpenSpool(dir, opts)
	if err != nil {
		t.Fatalf("OpenSpool: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestSpoolConformance(t *testing.T) {
	queuetest.Run(t, queuetest.Suite{
		New: func(t *testing.T) queue.Store { return openSpool(t, t.TempDir(), nil) },
		Reopen: func(t *testing.T, st queue.Store) queue.Store {
			sp := st.(*queue.Spool)
			sp.Close()
			return openSpool(t, sp.Dir(), nil)
		},
	})
}

// faultFS wraps OSFS and fails operations chosen by fail.
type faultFS struct {
	queue.OSFS
	// fail is called before each operation with its name ("open", "write",
	// "sync", "rename", "remove") and path; a non-nil result fails it.
	fail func(op, path string) error
}

func (f *faultFS) check(op, path string) error {
	if f.fail == nil {
		return nil
	}
	if err := f.fail(op, path); err != nil {
		return &fs.PathError{Op: op, Path: path, Err: err}
	}
	return nil
}

func (f *faultFS) OpenFile(name string, flag int, perm fs.FileMode) (queue.File, error) {
	if err := f.check("open", name); err != nil {
		return nil, err
	}
	file, err := f.OSFS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &faultFile{File: file, fs: f, name: name}, nil
}

// SyncFS is the group commit's syncfs(2) (op "sync" on the msg directory).
func (f *faultFS) SyncFS(dir string) error {
	if err := f.check("sync", dir); err != nil {
		return err
	}
	return f.OSFS.SyncFS(dir)
}

// commitModes are the spool's two ways of making a Put durable.
var commitModes = []struct {
	name     string
	fileSync bool
}{{"fsync", true}, {"syncfs", false}}

func (f *faultFS) Rename(o, n string) error {
	if err := f.check("rename", n); err != nil {
		return err
	}
	return f.OSFS.Rename(o, n)
}

func (f *faultFS) Remove(name string) error {
	if err := f.check("remove", name); err != nil {
		return err
	}
	return f.OSFS.Remove(name)
}

type faultFile struct {
	queue.File
	fs   *faultFS
	name string
}

func (f *faultFile) Write(p []byte) (int, error) {
	if err := f.fs.check("write", f.name); err != nil {
		return 0, err
	}
	return f.File.Write(p)
}

func (f *faultFile) Sync() error {
	if err := f.fs.check("sync", f.name); err != nil {
		return err
	}
	return f.File.Sync()
}

func newMsg(sender string) *queue.Message {
	return &queue.Message{Sender: sender, Recipients: []queue.Recipient{{Addr: "rcpt@example.test"}}}
}

// listFiles returns the names of all files under dir, relative.
func listFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if rel, _ := filepath.Rel(dir, p); !d.IsDir() && rel != "lock" {
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

func TestSpoolFaults(t *testing.T) {
	cases := []struct {
		name, op, path string
		errno          syscall.Errno
	}{
		{"ENOSPC writing message", "write", ".msg", syscall.ENOSPC},
		{"EIO on message fsync", "sync", ".msg", syscall.EIO},
		{"EIO on directory fsync", "sync", "/msg", syscall.EIO},
		{"ENOSPC creating file", "open", "tmp/", syscall.ENOSPC},
		{"EIO on rename", "rename", "/msg/", syscall.EIO},
	}
	for _, mode := range commitModes {
		for _, tc := range cases {
			if !mode.fileSync && tc.name == "EIO on message fsync" {
				continue // no file fsync: the group's syncfs covers the file
			}
			t.Run(mode.name+"/"+tc.name, func(t *testing.T) {
				dir := t.TempDir()
				ffs := &faultFS{}
				s := openSpoolOpts(t, dir, queue.SpoolOptions{FS: ffs, FileSync: mode.fileSync})
				ctx := context.Background()
				old := newMsg("old")
				if err := s.Put(ctx, old, strings.NewReader("old body\r\n")); err != nil {
					t.Fatal(err)
				}
				before := listFiles(t, dir)
				var armed atomic.Bool
				armed.Store(true)
				ffs.fail = func(op, path string) error {
					rel := strings.TrimPrefix(filepath.ToSlash(path), filepath.ToSlash(dir))
					if armed.Load() && op == tc.op && strings.Contains(rel, tc.path) {
						return tc.errno
					}
					return nil
				}
				m := newMsg("new")
				m.ID = "failing"
				err := s.Put(ctx, m, strings.NewReader("new body\r\n"))
				if !errors.Is(err, tc.errno) {
					t.Fatalf("Put error = %v, want %v", err, tc.errno)
				}
				if !strings.HasPrefix(err.Error(), "queue: put failing: ") {
					t.Errorf("error text %q lacks prefix", err)
				}
				armed.Store(false)
				if got := listFiles(t, dir); !slices.Equal(got, before) {
					t.Errorf("files after failed Put = %v, want %v", got, before)
				}
				due, _ := s.Due(ctx, time.Now(), 0)
				if len(due) != 1 || due[0].ID != old.ID {
					t.Fatalf("Due after failed Put = %v, want only %s", due, old.ID)
				}
				if _, err := s.Body(ctx, "failing"); !errors.Is(err, queue.ErrNotFound) {
					t.Errorf("Body(failing) err = %v", err)
				}
				// The store still works and the old message is intact.
				if err := s.Put(ctx, newMsg("after"), strings.NewReader("x")); err != nil {
					t.Fatalf("Put after fault: %v", err)
				}
				s.Close()
				s2 := openSpool(t, dir, nil)
				if n := s2.Len(); n != 2 {
					t.Errorf("after reopen %d messages, want 2", n)
				}
				rc, err := s2.Body(ctx, old.ID)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(rc)
				rc.Close()
				if string(b) != "old body\r\n" {
					t.Errorf("old body = %q", b)
				}
			})
		}
	}
}

var errCrash = errors.New("simulated crash")

// TestSpoolCrashEveryStep kills the writer (every file operation fails from
// then on, no cleanup reaches the disk) after each possible number of
// operations in a Put, then reopens the spool: every acknowledged message
// is present byte-exact, and the interrupted one is either absent or
// complete, never partial.
func TestSpoolCrashEveryStep(t *testing.T) {
	for _, mode := range commitModes {
		t.Run(mode.name, func(t *testing.T) { testSpoolCrashEveryStep(t, mode.fileSync) })
	}
}

func testSpoolCrashEveryStep(t *testing.T, fileSync bool) {
	ctx := context.Background()
	for step := 0; ; step++ {
		dir := t.TempDir()
		var ops atomic.Int64
		var dead atomic.Bool
		ffs := &faultFS{}
		s := openSpoolOpts(t, dir, queue.SpoolOptions{FS: ffs, FileSync: fileSync})
		acked := map[string]string{}
		for i := range 3 {
			m := newMsg(fmt.Sprintf("acked%d", i))
			body := fmt.Sprintf("acked body %d\r\n", i)
			if err := s.Put(ctx, m, strings.NewReader(body)); err != nil {
				t.Fatal(err)
			}
			acked[m.ID] = body
		}
		ffs.fail = func(op, path string) error {
			if dead.Load() || ops.Add(1) > int64(step) {
				dead.Store(true)
				return errCrash
			}
			return nil
		}
		victim := newMsg("victim")
		victim.ID = "victim"
		const victimBody = "victim body\r\nwith two lines\r\n"
		err := s.Put(ctx, victim, strings.NewReader(victimBody))
		s.Close()
		if err == nil {
			if !dead.Load() {
				// Put completed within step operations: every crash point covered.
				if min := map[bool]int{true: 5, false: 4}[fileSync]; step < min {
					t.Fatalf("Put finished after only %d operations", step)
				}
				t.Logf("Put needs %d file operations; crashed after each of 0..%d", step, step-1)
				acked[victim.ID] = victimBody
				checkSpool(t, dir, acked, "")
				return
			}
			t.Fatalf("step %d: Put returned nil although an operation failed", step)
		}
		if !errors.Is(err, errCrash) {
			t.Fatalf("step %d: Put error = %v", step, err)
		}
		checkSpool(t, dir, acked, victimBody)
	}
}

// checkSpool reopens dir and checks that it holds exactly acked, plus
// possibly "victim" with exactly victimBody.
func checkSpool(t *testing.T, dir string, acked map[string]string, victimBody string) {
	t.Helper()
	ctx := context.Background()
	s := openSpool(t, dir, nil)
	defer s.Close()
	due, err := s.Due(ctx, time.Now().Add(time.Hour), 0)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, m := range due {
		seen[m.ID] = true
		want, ok := acked[m.ID]
		if !ok && m.ID == "victim" {
			want, ok = victimBody, true
		}
		if !ok {
			t.Errorf("unexpected message %s", m.ID)
			continue
		}
		rc, err := s.Body(ctx, m.ID)
		if err != nil {
			t.Fatalf("Body(%s): %v", m.ID, err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		if string(b) != want || m.Size != int64(len(want)) {
			t.Errorf("%s: partial message: body %q size %d", m.ID, b, m.Size)
		}
	}
	for id := range acked {
		if !seen[id] {
			t.Errorf("acknowledged message %s lost", id)
		}
	}
	if tmp, _ := os.ReadDir(filepath.Join(dir, "tmp")); len(tmp) != 0 {
		t.Errorf("tmp/ not cleaned: %d entries", len(tmp))
	}
}

func TestSpoolRecovery(t *testing.T) {
	dir := t.TempDir()
	s := openSpool(t, dir, nil)
	ctx := context.Background()
	keep := newMsg("keep")
	if err := s.Put(ctx, keep, strings.NewReader("k")); err != nil {
		t.Fatal(err)
	}
	s.Close()
	write := func(rel, content string) {
		if err := os.WriteFile(filepath.Join(dir, rel), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	msgFile := func(env, body string) string {
		return fmt.Sprintf("mxkit-spool 1 %010d %020d\n", len(env), len(body)) + env + body
	}
	write("tmp/x.msg", "partial")
	write("tmp/y.env.upd", "{")
	// An envelope left by an interrupted Delete (the message file goes first).
	write("msg/deleted.env", `{"v":1,"id":"deleted","sender":"","arrival":"2026-01-01T00:00:00Z","size":0,"rcpts":[]}`)
	write("msg/bad.msg", "this is not a spool message file, only some text that is long enough")
	write("msg/cut.msg", msgFile(`{"v":1,"id":"cut","sender":"","arrival":"2026-01-01T00:00:00Z","size":0,"rcpts":[]}`, "a body cut short")[:130])
	write("msg/badenv.msg", msgFile("{not json", "body"))
	write("msg/future.msg", msgFile(`{"v":99,"id":"future"}`, ""))
	write("msg/short.msg", msgFile(`{"v":1,"id":"short","sender":"","arrival":"2026-01-01T00:00:00Z","size":0,"rcpts":[]}`, "body")[:60])
	write("msg/upd.msg", msgFile(`{"v":1,"id":"upd","sender":"a@example.org","arrival":"2026-01-01T00:00:00Z","size":0,"rcpts":[]}`, "hello"))
	write("msg/upd.env", `{"v":1,"id":"upd","sender":"a@example.org","arrival":"2026-01-01T00:00:00Z","size":0,"rcpts":[],"hold":true}`)

	var logs bytes.Buffer
	s2, err := queue.OpenSpool(dir, queue.SpoolOptions{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	due, _ := s2.Due(ctx, time.Now(), 0)
	if len(due) != 1 || due[0].ID != keep.ID {
		t.Errorf("Due after recovery = %d messages, want only %s", len(due), keep.ID)
	}
	// The updated envelope wins over the one in the message file; the
	// size comes from the message file.
	if m, err := s2.Get(ctx, "upd"); err != nil || !m.Hold || m.Size != 5 {
		t.Errorf("upd after recovery = %+v, %v; want held, size 5", m, err)
	}
	if rc, err := s2.Body(ctx, "upd"); err != nil {
		t.Errorf("Body(upd): %v", err)
	} else {
		b, _ := io.ReadAll(rc)
		rc.Close()
		if string(b) != "hello" {
			t.Errorf("Body(upd) = %q", b)
		}
	}
	want := []string{
		"msg/" + keep.ID + ".msg", "msg/upd.msg", "msg/upd.env",
		"quarantine/bad.msg", "quarantine/badenv.msg", "quarantine/cut.msg", "quarantine/future.msg", "quarantine/short.msg",
	}
	slices.Sort(want)
	if got := listFiles(t, dir); !slices.Equal(got, want) {
		t.Errorf("files after recovery:\n got %v\nwant %v", got, want)
	}
	for _, w := range []string{"removing unfinished spool file", "removing envelope of a deleted message", "not a spool message file", "unsupported envelope version 99", "unexpected EOF", "truncated or damaged"} {
		if !strings.Contains(logs.String(), w) {
			t.Errorf("log lacks %q:\n%s", w, logs.String())
		}
	}
}

func TestSpoolLockedToOneProcess(t *testing.T) {
	dir := t.TempDir()
	s := openSpool(t, dir, nil)
	if _, err := queue.OpenSpool(dir, queue.SpoolOptions{}); !errors.Is(err, queue.ErrSpoolBusy) {
		t.Fatalf("second OpenSpool: err = %v, want ErrSpoolBusy", err)
	}
	s.Close()
	s2, err := queue.OpenSpool(dir, queue.SpoolOptions{})
	if err != nil {
		t.Fatalf("OpenSpool after Close: %v", err)
	}
	s2.Close()
}

func TestSpoolGroupCommit(t *testing.T) {
	for _, mode := range commitModes {
		t.Run(mode.name, func(t *testing.T) {
			// Structural check, not timing: with a slow commit (directory
			// fsync or syncfs), 20 concurrent Puts share fewer commits
			// than Puts.
			var gate sync.Mutex
			ffs := &faultFS{fail: func(op, path string) error {
				if op == "sync" && filepath.Base(path) == "msg" {
					gate.Lock()
					time.Sleep(5 * time.Millisecond) // widen the window so writers pile up
					gate.Unlock()
				}
				return nil
			}}
			s := openSpoolOpts(t, t.TempDir(), queue.SpoolOptions{FS: ffs, FileSync: mode.fileSync})
			var wg sync.WaitGroup
			for range 20 {
				wg.Go(func() {
					if err := s.Put(context.Background(), newMsg("g"), strings.NewReader("x")); err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			st := s.Stats()
			if st.Puts != 20 || st.DirSyncs >= 20 || st.DirSyncs == 0 {
				t.Errorf("stats %+v: want 20 puts sharing fewer than 20 commits", st)
			}
			want := uint64(0) // syncfs: no file fsync
			if mode.fileSync {
				want = 20 // one message file per Put
			}
			if st.FileSyncs != want {
				t.Errorf("file fsyncs = %d, want %d", st.FileSyncs, want)
			}
		})
	}
}

func TestSpoolInvalidAndDuplicateID(t *testing.T) {
	s := openSpool(t, t.TempDir(), nil)
	ctx := context.Background()
	m := newMsg("x")
	m.ID = "../etc"
	if err := s.Put(ctx, m, strings.NewReader("x")); err == nil || err.Error() != `queue: invalid message ID "../etc"` {
		t.Errorf("Put with bad ID: %v", err)
	}
	m.ID = "dup"
	if err := s.Put(ctx, m, strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, m, strings.NewReader("y")); err == nil || err.Error() != "queue: message dup already exists" {
		t.Errorf("duplicate Put: %v", err)
	}
	s.Close()
	if err := s.Put(ctx, newMsg("z"), strings.NewReader("x")); !errors.Is(err, queue.ErrClosed) {
		t.Errorf("Put after Close: %v", err)
	}
}

func benchmarkPut(b *testing.B, writers int, fileSync bool) {
	s := openSpoolOpts(b, b.TempDir(), queue.SpoolOptions{FileSync: fileSync})
	body := strings.Repeat("Subject: bench\r\n\r\n"+strings.Repeat("x", 70)+"\r\n", 50) // ~4.5 kB
	ctx := context.Background()
	b.SetParallelism(max(1, writers/max(1, runtimeProcs())))
	start := time.Now()
	if writers == 1 {
		for b.Loop() {
			if err := s.Put(ctx, newMsg("b"), strings.NewReader(body)); err != nil {
				b.Fatal(err)
			}
		}
	} else {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := s.Put(ctx, newMsg("b"), strings.NewReader(body)); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	el := time.Since(start)
	st := s.Stats()
	if st.Puts > 0 {
		b.ReportMetric(float64(st.Puts)/el.Seconds(), "puts/s")
		b.ReportMetric(float64(st.DirSyncs)/float64(st.Puts), "dirfsyncs/put")
		b.ReportMetric(float64(st.FileSyncs+st.DirSyncs)/float64(st.Puts), "fsyncs/put")
	}
}

// BenchmarkSpoolPut: one writer and 50, each with the default commit
// (syncfs per group of writers, where the file system allows it) and with
// SpoolOptions.FileSync (an fsync per file, a directory fsync per group).
func BenchmarkSpoolPut(b *testing.B) {
	for _, mode := range commitModes {
		for _, w := range []int{1, 10, 50} {
			b.Run(fmt.Sprintf("%s/writers=%d", mode.name, w), func(b *testing.B) { benchmarkPut(b, w, mode.fileSync) })
		}
	}
}

// noSyncFS skips fsyncs: for filling a spool fast in benchmarks only.
type noSyncFS struct{ queue.OSFS }

func (f noSyncFS) OpenFile(name string, flag int, perm fs.FileMode) (queue.File, error) {
	file, err := f.OSFS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return noSyncFile{file}, nil
}

// SyncFS skips the group commit's syncfs too.
func (noSyncFS) SyncFS(string) error { return nil }

type noSyncFile struct{ queue.File }

func (noSyncFile) Sync() error { return nil }

// BenchmarkSpoolMemoryPerMessage reports the heap the spool's index needs
// per queued message (a typical envelope: sender, two recipients with
// DSN parameters, one of them deferred with a reply), measured after
// reopening a spool of 20,000 messages.
//
//	go test -run '^$' -bench SpoolMemory -benchtime 1x ./queue
func BenchmarkSpoolMemoryPerMessage(b *testing.B) {
	const n = 20000
	dir := b.TempDir()
	s := openSpool(b, dir, noSyncFS{})
	ctx := context.Background()
	for i := range n {
		m := &queue.Message{
			Sender: fmt.Sprintf("sender%d@example.org", i), Arrival: time.Now(), EnvID: "abc123",
			Client: queue.Client{Helo: "client.example.org", Name: "client.example.org", Addr: "192.0.2.1", Protocol: "ESMTP"},
			Recipients: []queue.Recipient{
				{Addr: fmt.Sprintf("user%d@example.test", i), Notify: queue.NotifyFailure | queue.NotifyDelay, ORCPT: "rfc822;info@example.test"},
				{Addr: "bob@example.test", Status: queue.Deferred, Reply: "450 4.2.0 <bob@example.test>: Recipient address rejected: Greylisted", DSNCode: "4.2.0", Remote: "mx.example.test", FromRemote: true, Attempts: 1},
			},
		}
		if err := s.Put(ctx, m, strings.NewReader("Subject: x\r\n\r\nbody\r\n")); err != nil {
			b.Fatal(err)
		}
	}
	s.Close()
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		s2, err := queue.OpenSpool(dir, queue.SpoolOptions{Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		if s2.Len() != n {
			b.Fatalf("reopened spool has %d messages", s2.Len())
		}
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "heapB/msg")
		s2.Close()
	}
}

// TestSpoolDueSkip checks the bounded-heap selection of DueSkip against
// sorting everything.
func TestSpoolDueSkip(t *testing.T) {
	s := openSpool(t, t.TempDir(), noSyncFS{})
	ctx := context.Background()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 300 {
		m := newMsg("d")
		m.ID = fmt.Sprintf("m%03d", i)
		m.NextAttempt = base.Add(time.Duration((i*7919)%97) * time.Minute) // ties included
		m.Hold = i%13 == 0
		if err := s.Put(ctx, m, strings.NewReader("x")); err != nil {
			t.Fatal(err)
		}
	}
	now := base.Add(60 * time.Minute)
	skip := func(id string) bool { return id[len(id)-1] == '7' }
	all, err := s.DueSkip(ctx, now, 0, skip)
	if err != nil {
		t.Fatal(err)
	}
	for _, limit := range []int{1, 2, 10, 57, len(all), len(all) + 5} {
		got, err := s.DueSkip(ctx, now, limit, skip)
		if err != nil {
			t.Fatal(err)
		}
		want := all[:min(limit, len(all))]
		if len(got) != len(want) {
			t.Fatalf("limit %d: %d messages, want %d", limit, len(got), len(want))
		}
		for i := range got {
			if got[i].ID != want[i].ID {
				t.Fatalf("limit %d: position %d is %s, want %s", limit, i, got[i].ID, want[i].ID)
			}
		}
	}
	for i, m := range all {
		if m.Hold || m.NextAttempt.After(now) || skip(m.ID) {
			t.Fatalf("DueSkip returned %s (hold %v, next %v)", m.ID, m.Hold, m.NextAttempt)
		}
		if i > 0 && (all[i-1].NextAttempt.After(m.NextAttempt) || all[i-1].NextAttempt.Equal(m.NextAttempt) && all[i-1].ID > m.ID) {
			t.Fatalf("not in order at %d", i)
		}
	}
}
