package deliver

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/mxkit/mxkit/queue"
)

// Maildir is the maildir: transport, a small virtual(8): the nexthop is a
// base folder, and each recipient's copy goes to the Maildir
// BASE/<domain>/<localpart>/ (both lower-cased), created with its tmp,
// new and cur folders when missing. The copy starts with
// "Return-Path: <sender>" and "Delivered-To: <recipient>" and has the
// stored content with LF line endings, as Postfix writes mailbox files.
//
// A recipient is Delivered only after its file was written, fsynced and
// renamed into new/ and new/ was fsynced. Local parts or domains that
// could leave the base (empty, containing '/', NUL or "..", or starting
// with '.') bounce with 5.1.3; a message that already has a
// "Delivered-To:" header for the recipient bounces with 5.4.6 (mail
// forwarding loop, as virtual(8)); disk errors defer with 4.3.0.
type Maildir struct {
	// Hostname is the host part of file names; empty means os.Hostname().
	Hostname string
	// Logger receives one record per recipient; nil means slog.Default().
	Logger *slog.Logger
}

var _ queue.Deliverer = Maildir{}

// Deliver implements queue.Deliverer.
func (md Maildir) Deliver(ctx context.Context, d *queue.Delivery) []queue.Result {
	base := d.Route.Nexthop
	res := make([]queue.Result, len(d.Rcpts))
	start := time.Now()
	for k, ri := range d.Rcpts {
		addr := d.Message.Recipients[ri].Addr
		if base == "" {
			res[k] = queue.Deferf("4.3.5", "maildir: empty base folder in route %s", d.Route)
		} else {
			res[k] = md.deliverOne(ctx, d, base, addr)
		}
		l := md.Logger
		if l == nil {
			l = slog.Default()
		}
		delay, delays := "", ""
		if !d.Message.Arrival.IsZero() {
			now := time.Now()
			delay = strconv.FormatFloat(now.Sub(d.Message.Arrival).Seconds(), 'f', 2, 64)
			delays = formatDelays(start.Sub(d.Message.Arrival), 0, 0, now.Sub(start))
		}
		l.Info("maildir: delivery", "id", d.Message.ID, "to", addr, "orig_to", origTo(d.Message.Recipients[ri]), "status", res[k].Status.String(), "dsn", res[k].DSN, "text", res[k].Text,
			"delay", delay, "delays", delays)
	}
	return res
}

// MaildirPath returns the Maildir folder of addr under base, or an error
// for an address that cannot be stored safely.
func MaildirPath(base, addr string) (string, error) {
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return "", fmt.Errorf("address %q has no domain", addr)
	}
	local, domain := strings.ToLower(addr[:at]), strings.ToLower(addr[at+1:])
	for _, p := range []struct{ what, s string }{{"local part", local}, {"domain", domain}} {
		switch {
		case p.s == "":
			return "", fmt.Errorf("empty %s in %q", p.what, addr)
		case strings.ContainsAny(p.s, "/\x00"), strings.Contains(p.s, ".."), p.s[0] == '.':
			return "", fmt.Errorf("unsafe %s %q", p.what, p.s)
		}
	}
	return filepath.Join(base, domain, local), nil
}

func (md Maildir) deliverOne(ctx context.Context, d *queue.Delivery, base, addr string) queue.Result {
	dir, err := MaildirPath(base, addr)
	if err != nil {
		return queue.Result{Status: queue.Bounced, DSN: "5.1.3", Text: "maildir: bad recipient address: " + err.Error()}
	}
	if err := ctx.Err(); err != nil {
		return queue.Deferf("4.3.0", "maildir delivery interrupted: %v", err)
	}
	if err := makeMaildir(dir); err != nil {
		return queue.Deferf("4.3.0", "maildir delivery failed: %v", err)
	}
	name := uniqueName(md.Hostname)
	tmp := filepath.Join(dir, "tmp", name)
	loop, err := writeMaildirFile(ctx, tmp, d, addr)
	if err != nil || loop {
		_ = os.Remove(tmp)
		if loop {
			return queue.Result{Status: queue.Bounced, DSN: "5.4.6", Text: "mail forwarding loop for " + addr}
		}
		return queue.Deferf("4.3.0", "maildir delivery failed: %v", err)
	}
	newDir := filepath.Join(dir, "new")
	if err := os.Rename(tmp, filepath.Join(newDir, name)); err != nil {
		_ = os.Remove(tmp)
		return queue.Deferf("4.3.0", "maildir delivery failed: %v", err)
	}
	if err := syncDir(newDir); err != nil {
		return queue.Deferf("4.3.0", "maildir delivery failed: %v", err)
	}
	return queue.Result{Status: queue.Delivered, DSN: "2.0.0", Text: "delivered to maildir " + dir}
}

// makeMaildir creates dir with tmp, new and cur when missing, fsyncing the
// parent of each folder it creates.
func makeMaildir(dir string) error {
	if fi, err := os.Stat(filepath.Join(dir, "new")); err == nil && fi.IsDir() {
		if _, err := os.Stat(filepath.Join(dir, "tmp")); err == nil {
			return nil
		}
	}
	var create func(p string) error
	create = func(p string) error {
		fi, err := os.Stat(p)
		if err == nil {
			if !fi.IsDir() {
				return fmt.Errorf("%s: not a directory", p)
			}
			return nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		parent := filepath.Dir(p)
		if parent != p {
			if err := create(parent); err != nil {
				return err
			}
		}
		if err := os.Mkdir(p, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
		return syncDir(parent)
	}
	for _, sub := range []string{"cur", "new", "tmp"} {
		if err := create(filepath.Join(dir, sub)); err != nil {
			return err
		}
	}
	return nil
}

// writeMaildirFile writes the recipient's copy to path and fsyncs it.
// loop reports a Delivered-To header equal to addr (nothing useful is
// then left in the file).
func writeMaildirFile(ctx context.Context, path string, d *queue.Delivery, addr string) (loop bool, err error) {
	rc, err := d.Open(ctx)
	if err != nil {
		return false, fmt.Errorf("read message: %w", err)
	}
	defer rc.Close()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return false, err
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}()
	w := bufio.NewWriterSize(f, 64*1024)
	fmt.Fprintf(w, "Return-Path: <%s>\nDelivered-To: %s\n", d.Message.Sender, addr)
	br := bufio.NewReaderSize(rc, 64*1024)
	inHeader := true
	var line []byte
	for {
		chunk, rerr := br.ReadSlice('\n')
		line = append(line[:0], chunk...)
		for rerr == bufio.ErrBufferFull {
			chunk, rerr = br.ReadSlice('\n')
			line = append(line, chunk...)
		}
		if rerr != nil && rerr != io.EOF {
			return false, fmt.Errorf("read message: %w", rerr)
		}
		if inHeader {
			trimmed := bytes.TrimRight(line, "\r\n")
			if len(trimmed) == 0 {
				inHeader = false
			} else if name, val, ok := bytes.Cut(trimmed, []byte(":")); ok &&
				strings.EqualFold(string(name), "Delivered-To") && strings.EqualFold(strings.TrimSpace(string(val)), addr) {
				return true, nil
			}
		}
		if n := len(line); n >= 2 && line[n-2] == '\r' && line[n-1] == '\n' {
			line[n-2] = '\n'
			line = line[:n-1]
		}
		if _, err := w.Write(line); err != nil {
			return false, err
		}
		if rerr == io.EOF {
			break
		}
	}
	if err := w.Flush(); err != nil {
		return false, err
	}
	return false, f.Sync()
}

var pid = os.Getpid()

// uniqueName returns a Maildir file name: seconds.M<µs>P<pid>R<random>.host
// (the form of the Maildir specification), with '/' and ':' in the host
// name escaped as \057 and \072.
func uniqueName(host string) string {
	if host == "" {
		host = osHostname()
	}
	host = strings.NewReplacer("/", `\057`, ":", `\072`).Replace(host)
	var b [8]byte
	_, _ = rand.Read(b[:])
	now := time.Now()
	return fmt.Sprintf("%d.M%dP%dR%s.%s", now.Unix(), now.Nanosecond()/1000, pid, hex.EncodeToString(b[:]), host)
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
