package queue

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// File is the part of *os.File the spool uses.
type File interface {
	io.ReadWriteCloser
	io.Seeker
	Sync() error
}

// FS is the file system the spool works on. OSFS is the default; tests
// wrap it to inject faults (ENOSPC on Write, EIO on Sync, a "crash" that
// fails every operation after the n-th).
type FS interface {
	OpenFile(name string, flag int, perm fs.FileMode) (File, error)
	Rename(oldpath, newpath string) error
	Remove(name string) error
	ReadDir(name string) ([]fs.DirEntry, error)
	MkdirAll(name string, perm fs.FileMode) error
}

// OSFS is the operating system's file system.
type OSFS struct{}

// OpenFile calls os.OpenFile.
func (OSFS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	return os.OpenFile(name, flag, perm)
}

// Rename calls os.Rename.
func (OSFS) Rename(oldpath, newpath string) error { return os.Rename(oldpath, newpath) }

// Remove calls os.Remove.
func (OSFS) Remove(name string) error { return os.Remove(name) }

// ReadDir calls os.ReadDir.
func (OSFS) ReadDir(name string) ([]fs.DirEntry, error) { return os.ReadDir(name) }

// MkdirAll calls os.MkdirAll.
func (OSFS) MkdirAll(name string, perm fs.FileMode) error { return os.MkdirAll(name, perm) }

// SpoolOptions configures OpenSpool. The zero value is ready to use.
type SpoolOptions struct {
	FS     FS           // nil: OSFS
	Logger *slog.Logger // nil: slog.Default()
	// FileSync makes each Put fsync its message file before the shared
	// directory fsync. By default, where the FS can flush a whole file
	// system at once (a SyncFSer: OSFS on Linux, syncfs(2)), Puts write
	// their files without fsync and one syncfs per group of concurrent
	// writers makes them and their names durable before any of them
	// returns: one flush for many messages instead of one per message.
	// Set FileSync when other programs write heavily to the same file
	// system (their data is flushed too, which a syncfs then waits for).
	FileSync bool
}

// SyncFSer is an FS that can flush the whole file system holding a
// directory at once.
type SyncFSer interface {
	SyncFS(dir string) error
}

// SpoolStats counts the spool's work since OpenSpool.
type SpoolStats struct {
	Puts      uint64 // successful Puts
	FileSyncs uint64 // fsyncs of message and envelope files
	DirSyncs  uint64 // fsyncs of the msg directory (shared by concurrent writers)
}

// Spool is the local-disk Store. Layout under its directory:
//
//	tmp/         files being written; removed at open (never delivered)
//	msg/ID.msg   a message as Put stored it: the line
//	             "mxkit-spool 1 ENVLEN BODYLEN", the envelope (ENVLEN bytes
//	             of JSON, a Message), then the content as received
//	msg/ID.env   the envelope once Update has changed it (JSON)
//	quarantine/  files found at open that do not parse, kept for a human
//	lock         flock(2)ed while the spool is open: one process per spool
//
// A message exists once msg/ID.msg is in place: Put writes one file,
// renames it into msg/ and, before it returns, makes both durable: with
// one syncfs(2) of the file system shared by concurrent Puts where the FS
// allows it (SpoolOptions.FileSync), else with an fsync of the file and
// a directory fsync shared by concurrent Puts. Delete removes msg/ID.msg
// first, then msg/ID.env.
type Spool struct {
	dir, tmp, msg, quar string
	fs                  FS
	log                 *slog.Logger

	mu     sync.RWMutex
	index  map[string]*Message // envelopes of all stored messages
	hasEnv map[string]bool     // messages with an msg/ID.env (updated since Put)
	// idLocks serialise Update and Delete per message (striped by ID) so
	// the file and the index change in the same order without holding mu
	// across an fsync.
	idLocks lockStripes

	// syncfs, when set, makes a group commit one syncfs(2) of the file
	// system instead of a directory fsync, and Put skips its file fsync.
	syncfs SyncFSer
	// group commit of directory fsyncs
	gmu     sync.Mutex
	gcond   *sync.Cond
	pending *commitBatch
	closed  bool
	stopped chan struct{}

	puts, fileSyncs, dirSyncs atomic.Uint64

	lock *os.File // dir/lock, held (flock) while open

	deleted               atomic.Bool // Deletes since the last directory fsync
	lazyStop, lazyStopped chan struct{}
	lazyOnce              sync.Once
}

type commitBatch struct {
	done chan struct{}
	err  error
}

var _ Store = (*Spool)(nil)

// OpenSpool opens (creating if needed) the spool in dir and recovers what a
// crash left behind: files in tmp/ are removed, a body without an envelope
// is removed (its Put never returned nil), an envelope without a body or one
// that does not parse is moved to quarantine/. Each such action is logged
// at warning level. Everything else is loaded into the in-memory index.
func OpenSpool(dir string, opts SpoolOptions) (*Spool, error) {
	s := &Spool{
		dir:     dir,
		tmp:     filepath.Join(dir, "tmp"),
		msg:     filepath.Join(dir, "msg"),
		quar:    filepath.Join(dir, "quarantine"),
		fs:      opts.FS,
		log:     opts.Logger,
		index:   make(map[string]*Message),
		hasEnv:  make(map[string]bool),
		stopped: make(chan struct{}),

		lazyStop:    make(chan struct{}),
		lazyStopped: make(chan struct{}),
	}
	if s.fs == nil {
		s.fs = OSFS{}
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.gcond = sync.NewCond(&s.gmu)
	for _, d := range []string{s.tmp, s.msg, s.quar} {
		if err := s.fs.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("queue: spool %s: %w", dir, err)
		}
	}
	if sf, ok := s.fs.(SyncFSer); ok && !opts.FileSync {
		if err := sf.SyncFS(s.msg); err == nil {
			s.syncfs = sf
		} else if !errors.Is(err, errors.ErrUnsupported) {
			s.log.Warn("queue: syncfs failed; fsyncing each message file instead", "dir", dir, "err", err)
		}
	}
	if _, real := s.fs.(OSFS); real {
		l, err := lockDir(dir)
		if err != nil {
			return nil, err
		}
		s.lock = l
	}
	if err := s.recover(); err != nil {
		if s.lock != nil {
			s.lock.Close()
		}
		return nil, err
	}
	go s.commitLoop()
	go s.lazyLoop()
	return s, nil
}

func (s *Spool) recover() error {
	tmps, err := s.fs.ReadDir(s.tmp)
	if err != nil {
		return fmt.Errorf("queue: spool %s: %w", s.dir, err)
	}
	for _, e := range tmps {
		p := filepath.Join(s.tmp, e.Name())
		s.log.Warn("queue: removing unfinished spool file", "path", p)
		if err := s.fs.Remove(p); err != nil {
			return fmt.Errorf("queue: spool recovery: %w", err)
		}
	}
	ents, err := s.fs.ReadDir(s.msg)
	if err != nil {
		return fmt.Errorf("queue: spool %s: %w", s.dir, err)
	}
	var msgs []string
	envs := map[string]bool{}
	for _, e := range ents {
		name := e.Name()
		switch {
		case strings.HasSuffix(name, ".msg"):
			msgs = append(msgs, strings.TrimSuffix(name, ".msg"))
		case strings.HasSuffix(name, ".env"):
			envs[strings.TrimSuffix(name, ".env")] = true
		default:
			s.log.Warn("queue: ignoring unknown file in spool", "path", filepath.Join(s.msg, name))
		}
	}
	changed := false
	for _, id := range msgs {
		m, err := s.readMessage(id)
		if err == nil && envs[id] {
			var upd *Message
			if upd, err = s.readEnvelope(s.envPath(id)); err == nil {
				upd.Size = m.Size
				m = upd
			}
		}
		if err == nil && m.ID != id {
			err = fmt.Errorf("envelope ID %q does not match file name", m.ID)
		}
		if err != nil {
			s.log.Warn("queue: quarantining message", "path", s.msgPath(id), "to", s.quar, "err", err)
			if rerr := s.fs.Rename(s.msgPath(id), filepath.Join(s.quar, id+".msg")); rerr != nil {
				return fmt.Errorf("queue: spool recovery: %w", rerr)
			}
			if envs[id] {
				if rerr := s.fs.Rename(s.envPath(id), filepath.Join(s.quar, id+".env")); rerr != nil {
					return fmt.Errorf("queue: spool recovery: %w", rerr)
				}
			}
			delete(envs, id)
			changed = true
			continue
		}
		s.index[id] = m
		if envs[id] {
			s.hasEnv[id] = true
		}
		delete(envs, id)
	}
	// An envelope without its message is what an interrupted Delete
	// leaves (the message file goes first).
	for id := range envs {
		p := s.envPath(id)
		s.log.Warn("queue: removing envelope of a deleted message", "path", p)
		if err := s.fs.Remove(p); err != nil {
			return fmt.Errorf("queue: spool recovery: %w", err)
		}
		changed = true
	}
	if changed {
		if err := s.syncDirNow(s.msg); err != nil {
			return fmt.Errorf("queue: spool recovery: %w", err)
		}
		if err := s.syncDirNow(s.quar); err != nil {
			return fmt.Errorf("queue: spool recovery: %w", err)
		}
	}
	return nil
}

// spoolHeader is the first line of a message file: format version,
// envelope length, content length; fixed width, so Put can write it
// before it knows the lengths and rewrite it in place.
const (
	spoolHeaderFormat = "mxkit-spool 1 %010d %020d\n"
	spoolHeaderLen    = len("mxkit-spool 1 ") + 10 + 1 + 20 + 1
)

// readHeader reads the header line of a message file.
func readHeader(f io.Reader, path string) (envLen, bodyLen int64, err error) {
	var hdr [spoolHeaderLen]byte
	if _, err := io.ReadFull(f, hdr[:]); err != nil {
		return 0, 0, fmt.Errorf("%s: header: %w", path, err)
	}
	var v int
	if n, err := fmt.Sscanf(string(hdr[:]), "mxkit-spool %d %d %d\n", &v, &envLen, &bodyLen); err != nil || n != 3 || v != 1 || envLen <= 0 || bodyLen < 0 {
		return 0, 0, fmt.Errorf("%s: not a spool message file (header %q)", path, hdr[:])
	}
	return envLen, bodyLen, nil
}

// readMessage reads the envelope stored in msg/ID.msg and sets its Size.
func (s *Spool) readMessage(id string) (*Message, error) {
	path := s.msgPath(id)
	f, err := s.fs.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	envLen, bodyLen, err := readHeader(f, path)
	if err != nil {
		return nil, err
	}
	if envLen > 64<<20 {
		return nil, fmt.Errorf("%s: envelope of %d bytes", path, envLen)
	}
	b := make([]byte, envLen)
	if _, err := io.ReadFull(f, b); err != nil {
		return nil, fmt.Errorf("%s: envelope: %w", path, err)
	}
	end, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if want := int64(spoolHeaderLen) + envLen + bodyLen; end != want {
		return nil, fmt.Errorf("%s: file is %d bytes, header says %d (truncated or damaged)", path, end, want)
	}
	m, err := decodeEnvelope(path, b)
	if err != nil {
		return nil, err
	}
	m.Size = bodyLen
	return m, nil
}

func (s *Spool) readEnvelope(path string) (*Message, error) {
	f, err := s.fs.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, err
	}
	return decodeEnvelope(path, b)
}

func decodeEnvelope(path string, b []byte) (*Message, error) {
	var m Message
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if m.Version < 1 || m.Version > MessageVersion {
		return nil, fmt.Errorf("%s: unsupported envelope version %d", path, m.Version)
	}
	return &m, nil
}

func (s *Spool) msgPath(id string) string { return filepath.Join(s.msg, id+".msg") }
func (s *Spool) envPath(id string) string { return filepath.Join(s.msg, id+".env") }

// Stats returns counters since OpenSpool.
func (s *Spool) Stats() SpoolStats {
	return SpoolStats{Puts: s.puts.Load(), FileSyncs: s.fileSyncs.Load(), DirSyncs: s.dirSyncs.Load()}
}

// Dir returns the spool directory.
func (s *Spool) Dir() string { return s.dir }

// Len returns the number of stored messages, held ones included.
func (s *Spool) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.index)
}

// Close stops the committer. Operations after Close return ErrClosed.
func (s *Spool) Close() error {
	s.lazyOnce.Do(func() {
		close(s.lazyStop)
		<-s.lazyStopped
		if s.deleted.Swap(false) {
			if err := s.commit(); err != nil {
				s.log.Error("queue: spool directory fsync after deletes failed", "err", err)
			}
		}
	})
	s.gmu.Lock()
	if !s.closed {
		s.closed = true
		s.gcond.Broadcast()
	}
	s.gmu.Unlock()
	<-s.stopped
	if s.lock != nil {
		s.lock.Close()
		s.lock = nil
	}
	return nil
}

// commitLoop fsyncs the msg directory for every batch of waiting writers:
// writers that arrive while a sync runs share the next one.
func (s *Spool) commitLoop() {
	defer close(s.stopped)
	for {
		s.gmu.Lock()
		for s.pending == nil && !s.closed {
			s.gcond.Wait()
		}
		b := s.pending
		s.pending = nil
		s.gmu.Unlock()
		if b == nil {
			return // closed and nothing left
		}
		s.deleted.Store(false) // this fsync covers the Deletes so far
		if s.syncfs != nil {
			s.dirSyncs.Add(1)
			if b.err = s.syncfs.SyncFS(s.msg); b.err != nil {
				b.err = fmt.Errorf("syncfs %s: %w", s.msg, b.err)
			}
		} else {
			b.err = s.syncDirNow(s.msg)
		}
		close(b.done)
	}
}

// commit waits until a directory fsync that started after the call has finished.
func (s *Spool) commit() error {
	s.gmu.Lock()
	if s.closed {
		s.gmu.Unlock()
		return ErrClosed
	}
	if s.pending == nil {
		s.pending = &commitBatch{done: make(chan struct{})}
		s.gcond.Signal()
	}
	b := s.pending
	s.gmu.Unlock()
	<-b.done // not abandoned on ctx cancel: the caller must learn whether the change is durable
	return b.err
}

func (s *Spool) syncDirNow(dir string) error {
	d, err := s.fs.OpenFile(dir, os.O_RDONLY, 0)
	if err != nil {
		return err
	}
	s.dirSyncs.Add(1)
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("fsync %s: %w", dir, err)
	}
	return nil
}

func (s *Spool) isClosed() bool {
	s.gmu.Lock()
	defer s.gmu.Unlock()
	return s.closed
}

// createSynced creates the file path, lets write fill it, then fsyncs
// and closes it, and returns what write returned. On error the file is
// removed.
func (s *Spool) createSynced(path string, write func(f File) (int64, error)) (n int64, err error) {
	return s.create(path, true, write)
}

// create is createSynced, without the fsync when sync is false (the
// group commit's syncfs makes the file durable).
func (s *Spool) create(path string, sync bool, write func(f File) (int64, error)) (n int64, err error) {
	f, err := s.fs.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return 0, err
	}
	closed := false
	defer func() {
		if err != nil {
			if !closed {
				f.Close()
			}
			_ = s.fs.Remove(path)
		}
	}()
	if n, err = write(f); err != nil {
		return n, fmt.Errorf("write %s: %w", path, err)
	}
	if sync {
		s.fileSyncs.Add(1)
		if err = f.Sync(); err != nil {
			return n, fmt.Errorf("fsync %s: %w", path, err)
		}
	}
	closed = true
	if err = f.Close(); err != nil {
		return n, fmt.Errorf("close %s: %w", path, err)
	}
	return n, nil
}

// writeFile writes the content of r to a new file at path and fsyncs it.
// On error the file is removed.
func (s *Spool) writeFile(path string, r io.Reader) (int64, error) {
	return s.createSynced(path, func(f File) (int64, error) { return io.Copy(f, r) })
}

// writeMessage writes a message file (header, envelope, content read
// from body) at path and fsyncs it. It returns the content length. On
// error the file is removed.
func (s *Spool) writeMessage(path string, env []byte, body io.Reader) (int64, error) {
	return s.create(path, s.syncfs == nil, func(f File) (int64, error) {
		bw := bufio.NewWriterSize(f, 64<<10)
		fmt.Fprintf(bw, spoolHeaderFormat, len(env), 0)
		bw.Write(env)
		n, err := io.Copy(bw, body)
		if err == nil {
			err = bw.Flush()
		}
		if err != nil {
			return n, err
		}
		// The content length is known now: rewrite the fixed-width header.
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return n, err
		}
		_, err = fmt.Fprintf(f, spoolHeaderFormat, len(env), n)
		return n, err
	})
}

func encodeEnvelope(m *Message) ([]byte, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// Put implements Store. The body and the envelope are written to tmp/,
// renamed into msg/, and made durable (syncfs, or file and directory
// fsyncs; see Spool) before Put returns.
func (s *Spool) Put(ctx context.Context, m *Message, body io.Reader) (err error) {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.isClosed() {
		return ErrClosed
	}
	if m.ID == "" {
		m.ID = NewID()
	} else if !ValidID(m.ID) {
		return fmt.Errorf("queue: invalid message ID %q", m.ID)
	}
	s.mu.RLock()
	_, dup := s.index[m.ID]
	s.mu.RUnlock()
	if dup {
		return fmt.Errorf("queue: message %s already exists", m.ID)
	}
	m.Version = MessageVersion
	defer func() {
		if err != nil {
			err = fmt.Errorf("queue: put %s: %w", m.ID, err)
		}
	}()
	c := m.Clone()
	c.Size = 0 // the header has the content length
	env, err := encodeEnvelope(c)
	if err != nil {
		return err
	}
	tmp := filepath.Join(s.tmp, m.ID+".msg")
	n, err := s.writeMessage(tmp, env, body)
	if err != nil {
		return err
	}
	m.Size, c.Size = n, n
	if err := s.fs.Rename(tmp, s.msgPath(m.ID)); err != nil {
		_ = s.fs.Remove(tmp)
		return err
	}
	if err := s.commit(); err != nil {
		// Not durable: undo. If the machine crashes before the removal
		// reaches the disk the message may reappear at open although the
		// client got a 4xx: a possible duplicate, never a loss.
		_ = s.fs.Remove(s.msgPath(m.ID))
		return err
	}
	s.mu.Lock()
	s.index[m.ID] = c
	s.mu.Unlock()
	s.puts.Add(1)
	return nil
}

// Due implements Store.
func (s *Spool) Due(ctx context.Context, now time.Time, limit int) ([]*Message, error) {
	return s.DueSkip(ctx, now, limit, nil)
}

// DueSkip implements DueSkipper. With a limit it keeps the earliest
// messages in a bounded heap: O(n log limit) for n stored messages.
func (s *Spool) DueSkip(ctx context.Context, now time.Time, limit int, skip func(id string) bool) ([]*Message, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	less := func(a, b *Message) bool {
		if c := a.NextAttempt.Compare(b.NextAttempt); c != 0 {
			return c < 0
		}
		return a.ID < b.ID
	}
	s.mu.RLock()
	var due []*Message
	for _, m := range s.index {
		if m.Hold || m.NextAttempt.After(now) || (skip != nil && skip(m.ID)) {
			continue
		}
		if limit <= 0 || len(due) < limit {
			due = append(due, m)
			if limit > 0 && len(due) == limit {
				heapify(due, less)
			}
			continue
		}
		// due is a max-heap of the limit earliest so far.
		if less(m, due[0]) {
			due[0] = m
			siftDown(due, 0, less)
		}
	}
	s.mu.RUnlock()
	slices.SortFunc(due, func(a, b *Message) int {
		if less(a, b) {
			return -1
		}
		if less(b, a) {
			return 1
		}
		return 0
	})
	out := make([]*Message, len(due))
	for i, m := range due {
		out[i] = m.Clone()
	}
	return out, nil
}

// heapify makes h a max-heap by less.
func heapify(h []*Message, less func(a, b *Message) bool) {
	for i := len(h)/2 - 1; i >= 0; i-- {
		siftDown(h, i, less)
	}
}

func siftDown(h []*Message, i int, less func(a, b *Message) bool) {
	for {
		l, big := 2*i+1, i
		if l < len(h) && less(h[big], h[l]) {
			big = l
		}
		if r := l + 1; r < len(h) && less(h[big], h[r]) {
			big = r
		}
		if big == i {
			return
		}
		h[i], h[big] = h[big], h[i]
		i = big
	}
}

// List implements Store.
func (s *Spool) List(ctx context.Context) ([]*Message, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	out := make([]*Message, 0, len(s.index))
	for _, m := range s.index {
		out = append(out, m.Clone())
	}
	s.mu.RUnlock()
	slices.SortFunc(out, func(a, b *Message) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// Get implements Store.
func (s *Spool) Get(ctx context.Context, id string) (*Message, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	m, ok := s.index[id]
	if !ok {
		return nil, fmt.Errorf("queue: %s: %w", id, ErrNotFound)
	}
	return m.Clone(), nil
}

// Reschedule implements Rescheduler. A change of Hold is written as
// Update writes; a change of NextAttempt alone (a flush) stays in memory:
// after a restart the message keeps its stored next attempt, which loses
// nothing, and a flush of a large queue costs no disk writes.
func (s *Spool) Reschedule(ctx context.Context, id string, hold bool, next time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	l := s.idLock(id)
	l.Lock()
	s.mu.Lock()
	m, ok := s.index[id]
	if ok && m.Hold == hold {
		c := m.Clone()
		c.NextAttempt = next
		s.index[id] = c
		s.mu.Unlock()
		l.Unlock()
		return nil
	}
	s.mu.Unlock()
	l.Unlock()
	if !ok {
		return fmt.Errorf("queue: reschedule %s: %w", id, ErrNotFound)
	}
	c := m.Clone()
	c.Hold, c.NextAttempt = hold, next
	return s.Update(ctx, c)
}

// Update implements Store: the envelope is written to tmp/, fsynced,
// renamed over the old one, and the directory is fsynced.
func (s *Spool) Update(ctx context.Context, m *Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.isClosed() {
		return ErrClosed
	}
	l := s.idLock(m.ID)
	l.Lock()
	defer l.Unlock()
	s.mu.RLock()
	old, ok := s.index[m.ID]
	s.mu.RUnlock()
	if !ok {
		return fmt.Errorf("queue: update %s: %w", m.ID, ErrNotFound)
	}
	c := m.Clone()
	c.Version = MessageVersion
	c.Size = old.Size
	env, err := encodeEnvelope(c)
	if err != nil {
		return fmt.Errorf("queue: update %s: %w", m.ID, err)
	}
	tmp := filepath.Join(s.tmp, m.ID+".env.upd")
	if _, err := s.writeFile(tmp, bytes.NewReader(env)); err != nil {
		return fmt.Errorf("queue: update %s: %w", m.ID, err)
	}
	if err := s.fs.Rename(tmp, s.envPath(m.ID)); err != nil {
		_ = s.fs.Remove(tmp)
		return fmt.Errorf("queue: update %s: %w", m.ID, err)
	}
	if err := s.commit(); err != nil {
		// The new envelope is in place but perhaps not durable; keep the
		// index in step with the file, report the error.
		s.setIndex(c)
		return fmt.Errorf("queue: update %s: %w", m.ID, err)
	}
	s.setIndex(c)
	return nil
}

func (s *Spool) setIndex(m *Message) {
	s.mu.Lock()
	s.index[m.ID] = m
	s.hasEnv[m.ID] = true
	s.mu.Unlock()
}

func (s *Spool) idLock(id string) *sync.Mutex { return s.idLocks.of(id) }

// lockStripes are mutexes chosen by message ID (FNV-1a), so that
// operations on one message are serialised without one lock for all.
type lockStripes [64]sync.Mutex

func (l *lockStripes) of(id string) *sync.Mutex {
	h := uint32(2166136261)
	for i := 0; i < len(id); i++ {
		h = (h ^ uint32(id[i])) * 16777619
	}
	return &l[h%uint32(len(l))]
}

// Body implements Store.
func (s *Spool) Body(ctx context.Context, id string) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	_, ok := s.index[id]
	s.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("queue: body %s: %w", id, ErrNotFound)
	}
	path := s.msgPath(id)
	f, err := s.fs.OpenFile(path, os.O_RDONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("queue: body %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("queue: body %s: %w", id, err)
	}
	envLen, bodyLen, err := readHeader(f, path)
	if err == nil {
		_, err = f.Seek(int64(spoolHeaderLen)+envLen, io.SeekStart)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("queue: body %s: %w", id, err)
	}
	return bodyReader{io.LimitReader(f, bodyLen), f}, nil
}

type bodyReader struct {
	io.Reader
	io.Closer
}

// Delete implements Store: the envelope is removed first, then the body,
// then the directory is fsynced.
func (s *Spool) Delete(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.isClosed() {
		return ErrClosed
	}
	l := s.idLock(id)
	l.Lock()
	defer l.Unlock()
	s.mu.RLock()
	_, ok := s.index[id]
	s.mu.RUnlock()
	if !ok {
		return fmt.Errorf("queue: delete %s: %w", id, ErrNotFound)
	}
	if err := s.fs.Remove(s.msgPath(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("queue: delete %s: %w", id, err)
	}
	s.mu.Lock()
	delete(s.index, id)
	env := s.hasEnv[id]
	delete(s.hasEnv, id)
	s.mu.Unlock()
	// A failure here leaves an envelope without message, removed at next open.
	if env {
		if err := s.fs.Remove(s.envPath(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("queue: delete %s: %w", id, err)
		}
	}
	// The removal reaches the disk with the next directory fsync: a
	// Put's or Update's, or the lazy one within LazyDeleteSync. A crash
	// before that may bring a delivered message back (delivered twice,
	// never lost), as Postfix's unlink of a delivered queue file may.
	s.deleted.Store(true)
	return nil
}

// LazyDeleteSync bounds how long a Delete may wait for a directory fsync.
const LazyDeleteSync = 200 * time.Millisecond

// lazyLoop fsyncs the directory after Deletes that no other commit covered.
func (s *Spool) lazyLoop() {
	defer close(s.lazyStopped)
	t := time.NewTicker(LazyDeleteSync)
	defer t.Stop()
	for {
		select {
		case <-s.lazyStop:
			return
		case <-t.C:
		}
		if s.deleted.Swap(false) {
			if err := s.commit(); err != nil && !errors.Is(err, ErrClosed) {
				s.log.Error("queue: spool directory fsync after deletes failed", "err", err)
			}
		}
	}
}
