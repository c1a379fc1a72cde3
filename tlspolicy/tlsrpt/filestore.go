package tlsrpt

import (
	"bytes"
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
	"time"
)

// fileVersion is the format version of the files FileStore writes.
const fileVersion = 1

// maxFileSize bounds what FileStore reads back from one file.
const maxFileSize = 16 << 20

// FileStore is a Store in a directory, for one process: one JSON file per
// (domain, day), named 2026-03-01_example.com.json. Every change is
// written to a temporary file, synced, renamed over the old file, and the
// directory is synced, so a change is durable when the method returns nil
// and a crash leaves the old or the new file, never a torn one. Claim
// holds the store's lock while fn runs. Several processes must not share
// a directory; several MXs share the PostgreSQL store instead.
type FileStore struct {
	dir string
	log *slog.Logger

	mu     sync.Mutex
	closed bool
}

var _ Store = (*FileStore)(nil)

// OpenFileStore returns the store in dir, creating the directory (mode
// 0700) if needed and removing temporary files a crash left behind.
// logger receives warnings about files that do not parse; nil is
// slog.Default().
func OpenFileStore(dir string, logger *slog.Logger) (*FileStore, error) {
	if logger == nil {
		logger = slog.Default()
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("tlsrpt: %w", err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("tlsrpt: %w", err)
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".tmp-") {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
				return nil, fmt.Errorf("tlsrpt: %w", err)
			}
		}
	}
	return &FileStore{dir: dir, log: logger}, nil
}

// Close marks the store closed; later calls return ErrClosed.
func (s *FileStore) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	return nil
}

// fileAggregate is the JSON form of an Aggregate in a file.
type fileAggregate struct {
	Version  int            `json:"v"`
	Domain   string         `json:"domain"`
	Day      string         `json:"day"` // 2026-03-01
	Policies []PolicyCounts `json:"policies"`
	State    SendState      `json:"state,omitzero"`
}

// EncodeAggregate returns the JSON form of a that FileStore writes.
func EncodeAggregate(a *Aggregate) ([]byte, error) {
	return json.MarshalIndent(fileAggregate{
		Version: fileVersion, Domain: a.Domain, Day: a.Day.Format(time.DateOnly),
		Policies: a.Policies, State: a.State,
	}, "", "\t")
}

// DecodeAggregate parses what EncodeAggregate wrote and checks it
// (Aggregate.Check): files and database rows are outside input.
func DecodeAggregate(b []byte) (*Aggregate, error) {
	var f fileAggregate
	d := json.NewDecoder(bytes.NewReader(b))
	if err := d.Decode(&f); err != nil {
		return nil, fmt.Errorf("tlsrpt: aggregate: %w", err)
	}
	if d.More() {
		return nil, errors.New("tlsrpt: aggregate: data after the JSON object")
	}
	if f.Version != fileVersion {
		return nil, fmt.Errorf("tlsrpt: aggregate: format version %d, want %d", f.Version, fileVersion)
	}
	day, err := time.Parse(time.DateOnly, f.Day)
	if err != nil {
		return nil, fmt.Errorf("tlsrpt: aggregate: %w", err)
	}
	a := &Aggregate{Key: Key{Domain: f.Domain, Day: day}, State: f.State}
	// Merging folds duplicate policies and failures that a hand-edited
	// or corrupted file may have.
	for _, p := range f.Policies {
		a.add(p.Policy, p.Successes, p.Failures)
	}
	if err := a.Check(); err != nil {
		return nil, err
	}
	return a, nil
}

func (s *FileStore) name(k Key) string {
	return k.Day.Format(time.DateOnly) + "_" + k.Domain + ".json"
}

// parseName returns the key a file name stands for.
func parseName(name string) (Key, bool) {
	base, ok := strings.CutSuffix(name, ".json")
	if !ok {
		return Key{}, false
	}
	ds, domain, ok := strings.Cut(base, "_")
	if !ok {
		return Key{}, false
	}
	day, err := time.Parse(time.DateOnly, ds)
	if err != nil {
		return Key{}, false
	}
	if d, ok := normalizeDomain(domain); !ok || d != domain {
		return Key{}, false
	}
	return Key{Domain: domain, Day: day}, true
}

func (s *FileStore) check(ctx context.Context) error {
	if s.closed {
		return ErrClosed
	}
	return ctx.Err()
}

// read returns the aggregate of k, or nil if there is none.
func (s *FileStore) read(k Key) (*Aggregate, error) {
	path := filepath.Join(s.dir, s.name(k))
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("tlsrpt: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("tlsrpt: %s: %w", path, err)
	}
	if len(b) > maxFileSize {
		return nil, fmt.Errorf("tlsrpt: %s: larger than %d bytes", path, maxFileSize)
	}
	a, err := DecodeAggregate(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if a.Key != k {
		return nil, fmt.Errorf("tlsrpt: %s: holds %s", path, a.Key)
	}
	return a, nil
}

// write replaces the file of a durably.
func (s *FileStore) write(a *Aggregate) error {
	b, err := EncodeAggregate(a)
	if err != nil {
		return fmt.Errorf("tlsrpt: %w", err)
	}
	name := s.name(a.Key)
	tmp, err := os.CreateTemp(s.dir, ".tmp-"+name+"-")
	if err != nil {
		return fmt.Errorf("tlsrpt: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("tlsrpt: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("tlsrpt: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("tlsrpt: %w", err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(s.dir, name)); err != nil {
		return fmt.Errorf("tlsrpt: %w", err)
	}
	ok = true
	return s.syncDir()
}

func (s *FileStore) syncDir() error {
	d, err := os.Open(s.dir)
	if err != nil {
		return fmt.Errorf("tlsrpt: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("tlsrpt: sync %s: %w", s.dir, err)
	}
	return nil
}

// keys lists the keys of the files in the directory, by day and domain.
func (s *FileStore) keys() ([]Key, error) {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("tlsrpt: %w", err)
	}
	var keys []Key
	for _, e := range ents {
		if k, ok := parseName(e.Name()); ok && e.Type().IsRegular() {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, compareKey)
	return keys, nil
}

// Add implements Store.
func (s *FileStore) Add(ctx context.Context, aggs []*Aggregate) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx); err != nil {
		return err
	}
	for _, a := range aggs {
		if err := (&Aggregate{Key: a.Key}).Check(); err != nil {
			return err
		}
		b, err := s.read(a.Key)
		if err != nil {
			return err
		}
		if b == nil {
			b = &Aggregate{Key: a.Key}
		}
		b.Merge(a)
		if err := s.write(b); err != nil {
			return err
		}
	}
	return nil
}

// Unsent implements Store. A file that does not parse is logged and
// left out.
func (s *FileStore) Unsent(ctx context.Context, before time.Time) ([]Key, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	keys, err := s.keys()
	if err != nil {
		return nil, err
	}
	var out []Key
	for _, k := range keys {
		if !k.Day.Before(before) {
			continue
		}
		a, err := s.read(k)
		if err != nil {
			s.log.Warn("tlsrpt: aggregate skipped", "err", err)
			continue
		}
		if a != nil && a.State.Sent.IsZero() {
			out = append(out, k)
		}
	}
	return out, nil
}

// Claim implements Store.
func (s *FileStore) Claim(ctx context.Context, k Key, fn func(context.Context, *Aggregate) error) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx); err != nil {
		return false, err
	}
	if _, ok := normalizeDomain(k.Domain); !ok {
		return false, nil
	}
	a, err := s.read(k)
	if err != nil || a == nil || !a.State.Sent.IsZero() {
		return false, err
	}
	before := a.State
	if err := fn(ctx, a); err != nil {
		return true, err
	}
	if stateEqual(before, a.State) {
		return true, nil
	}
	return true, s.write(a)
}

func stateEqual(a, b SendState) bool {
	return a.Sent.Equal(b.Sent) && a.Attempts == b.Attempts && a.First.Equal(b.First) &&
		a.Next.Equal(b.Next) && slices.Equal(a.Done, b.Done)
}

// Prune implements Store.
func (s *FileStore) Prune(ctx context.Context, before time.Time) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx); err != nil {
		return 0, err
	}
	keys, err := s.keys()
	if err != nil {
		return 0, err
	}
	n := 0
	for _, k := range keys {
		if !k.Day.Before(before) {
			continue
		}
		if err := os.Remove(filepath.Join(s.dir, s.name(k))); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return n, fmt.Errorf("tlsrpt: %w", err)
		}
		n++
	}
	if n > 0 {
		return n, s.syncDir()
	}
	return n, nil
}
