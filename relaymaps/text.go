package relaymaps

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// textTypes are the table types served from a key/value source text file.
// Postfix builds hash, btree, lmdb, cdb and dbm tables from such a file
// with postmap(1); this package reads the source file itself and never the
// binary database.
var textTypes = []string{"texthash", "hash", "btree", "lmdb", "cdb", "dbm"}

// TextTable is a fixed table read from a Postfix access(5)/virtual(5)
// style source file: "key whitespace value" lines, '#' comment lines,
// blank lines ignored, and lines that start with whitespace continuing the
// previous line. Keys are folded to lower case. A key without a value is an
// error naming file and line. For a duplicate key the first entry is kept
// and a warning is logged, as postmap(1) and texthash do.
//
// The table reloads itself when its file changes: at most once per
// OpenOptions.CheckInterval (default one second), a lookup stats the file,
// and if its modification time, size or identity changed, that lookup
// re-reads and swaps in the new contents atomically; concurrent lookups keep
// using the old contents meanwhile. A file that fails to parse (or
// disappears) keeps the old contents, and the error ("relaymaps:
// /path:LINE: message") goes to the logger and to OpenOptions.OnReload.
// Reload reloads on demand.
type TextTable struct {
	name     string
	path     string
	logger   *slog.Logger
	interval time.Duration // < 0: no automatic reload
	onReload func(string, error)

	data      atomic.Pointer[textData]
	lastCheck atomic.Int64
	closed    atomic.Bool

	mu         sync.Mutex  // serializes loads; guards the fields below
	bad        os.FileInfo // version of the file that failed to load
	statFailed bool
}

type textData struct {
	m    map[string]string
	info os.FileInfo
}

func textOpener(typ string) func(string, *OpenOptions) (Map, error) {
	return func(name string, opts *OpenOptions) (Map, error) {
		return OpenTextTable(typ, name, opts)
	}
}

// OpenTextTable reads the source text file name (resolved against
// opts.BaseDir) and returns the table; typ only sets its Name
// ("hash:/etc/postfix/access").
func OpenTextTable(typ, name string, opts *OpenOptions) (*TextTable, error) {
	if name == "" {
		return nil, &SyntaxError{Msg: fmt.Sprintf("bad table spec %q: missing file name", typ+":")}
	}
	t := &TextTable{
		name:     typ + ":" + name,
		path:     opts.ResolvePath(name),
		logger:   opts.logger(),
		interval: time.Second,
	}
	if opts != nil {
		t.onReload = opts.OnReload
		if opts.CheckInterval != 0 {
			t.interval = opts.CheckInterval
		}
	}
	fi, err := statFile(t.path)
	if err != nil {
		return nil, &configError{msg: "relaymaps: " + t.name, err: err}
	}
	if err := t.load(fi); err != nil {
		return nil, err
	}
	t.lastCheck.Store(time.Now().UnixNano())
	return t, nil
}

// load reads and parses the file; fi is its state before reading.
func (t *TextTable) load(fi os.FileInfo) error {
	data, err := readFile(t.path)
	if err != nil {
		return &configError{msg: "relaymaps: " + t.name, err: err}
	}
	m, err := parseText(t.path, string(data), t.logger)
	if err != nil {
		return err
	}
	t.data.Store(&textData{m: m, info: fi})
	return nil
}

// parseText parses access(5)-style source text.
func parseText(file, text string, log *slog.Logger) (map[string]string, error) {
	lines, bad, msg := logicalLines(text)
	if msg != "" {
		return nil, &SyntaxError{File: file, Line: bad, Msg: msg}
	}
	m := make(map[string]string, len(lines))
	var first map[string]int
	for _, ll := range lines {
		k, v := splitKeyValue(ll.text)
		if v == "" {
			return nil, &SyntaxError{File: file, Line: ll.line,
				Msg: fmt.Sprintf("key %q has no value (expected \"key whitespace value\")", k)}
		}
		if strings.HasSuffix(k, ":") && log != nil {
			log.Warn(fmt.Sprintf("relaymaps: %s:%d: record is in \"key: value\" format; is this an alias file?", file, ll.line))
		}
		k = Fold(k)
		if _, dup := m[k]; dup {
			if log != nil {
				log.Warn(fmt.Sprintf("relaymaps: %s:%d: duplicate entry %q ignored; keeping the one from line %d", file, ll.line, k, first[k]))
			}
			continue
		}
		m[k] = v
		if first == nil {
			first = make(map[string]int, len(lines))
		}
		first[k] = ll.line
	}
	return m, nil
}

// Lookup returns the value for the folded key. It may first reload the
// file (see TextTable).
func (t *TextTable) Lookup(_ context.Context, key string) (string, bool, error) {
	if t.interval > 0 {
		t.maybeReload()
	}
	v, ok := t.data.Load().m[Fold(key)]
	return v, ok, nil
}

func (t *TextTable) maybeReload() {
	now := time.Now().UnixNano()
	last := t.lastCheck.Load()
	if now-last < int64(t.interval) || !t.lastCheck.CompareAndSwap(last, now) || t.closed.Load() {
		return
	}
	if !t.mu.TryLock() {
		return
	}
	defer t.mu.Unlock()
	fi, err := statFile(t.path)
	if err != nil {
		if !t.statFailed {
			t.statFailed = true
			t.report(&configError{msg: "relaymaps: " + t.name, err: err})
		}
		return
	}
	t.statFailed = false
	if sameVersion(t.data.Load().info, fi) || (t.bad != nil && sameVersion(t.bad, fi)) {
		return
	}
	if err := t.load(fi); err != nil {
		t.bad = fi
		t.report(err)
		return
	}
	t.bad = nil
	t.report(nil)
}

func (t *TextTable) report(err error) {
	if err != nil {
		t.logger.Warn("relaymaps: reload failed; keeping the previous contents", "table", t.name, "error", err.Error())
	} else {
		t.logger.Info("relaymaps: table reloaded", "table", t.name)
	}
	if t.onReload != nil {
		t.onReload(t.name, err)
	}
}

func sameVersion(a, b os.FileInfo) bool {
	return a.ModTime().Equal(b.ModTime()) && a.Size() == b.Size() && os.SameFile(a, b)
}

// Reload re-reads the file now, whether or not it changed. On error the
// table keeps its previous contents and Reload returns the error (a
// *SyntaxError naming file and line for bad input).
func (t *TextTable) Reload() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	fi, err := statFile(t.path)
	if err != nil {
		return &configError{msg: "relaymaps: " + t.name, err: err}
	}
	if err := t.load(fi); err != nil {
		return err
	}
	t.bad, t.statFailed = nil, false
	return nil
}

// Len returns the number of keys currently loaded.
func (t *TextTable) Len() int { return len(t.data.Load().m) }

// FixedKeys reports true.
func (*TextTable) FixedKeys() bool { return true }

// Name returns the table's spec, e.g. "hash:/etc/postfix/access".
func (t *TextTable) Name() string { return t.name }

// Path returns the file the table reads.
func (t *TextTable) Path() string { return t.path }

// Close stops automatic reloading. Lookups keep answering from the last
// contents loaded.
func (t *TextTable) Close() error {
	t.closed.Store(true)
	return nil
}
