package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/emersion/go-smtp"
)

// spool is the application backend of the example: each accepted message
// becomes one file in dir, with the envelope in X-Envelope-* headers. The
// file is written under tmp/, synced, renamed into new/ and the folder
// synced before Data returns, so a message that got 250 survives a crash.
type spool struct{ dir string }

func openSpool(dir string) (*spool, error) {
	for _, sub := range []string{"tmp", "new"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o750); err != nil {
			return nil, fmt.Errorf("spool: %w", err)
		}
	}
	return &spool{dir: dir}, nil
}

func (sp *spool) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &spoolSession{sp: sp, client: c.Conn().RemoteAddr().String(), helo: c.Hostname()}, nil
}

type spoolSession struct {
	sp           *spool
	client, helo string
	from         string
	to           []string
	id           string
}

func (s *spoolSession) Reset()        { s.from, s.to = "", nil }
func (s *spoolSession) Logout() error { return nil }

func (s *spoolSession) Mail(from string, _ *smtp.MailOptions) error {
	s.from = from
	return nil
}

func (s *spoolSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}

// QueueID names the last message accepted, for "250 2.0.0 Ok: queued as ID".
func (s *spoolSession) QueueID() string { return s.id }

func (s *spoolSession) Data(r io.Reader) error {
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	id := strings.ToUpper(fmt.Sprintf("%X%s", time.Now().UnixMicro(), hex.EncodeToString(rnd[:])))
	tmp := filepath.Join(s.sp.dir, "tmp", id)
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o640)
	if err != nil {
		return tempFail(err)
	}
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	hdr := fmt.Sprintf("X-Envelope-From: <%s>\r\nX-Envelope-To: %s\r\nReceived: from %s (%s)\r\n\tby mxkit example; %s\r\n",
		s.from, "<"+strings.Join(s.to, ">, <")+">", s.helo, s.client, time.Now().Format(time.RFC1123Z))
	if _, err := io.WriteString(f, hdr); err != nil {
		return tempFail(err)
	}
	if _, err := io.Copy(f, r); err != nil {
		return tempFail(err)
	}
	if err := f.Sync(); err != nil {
		return tempFail(err)
	}
	if err := f.Close(); err != nil {
		return tempFail(err)
	}
	if err := os.Rename(tmp, filepath.Join(s.sp.dir, "new", id)); err != nil {
		return tempFail(err)
	}
	if err := syncDir(filepath.Join(s.sp.dir, "new")); err != nil {
		return tempFail(err)
	}
	ok = true
	s.id = id
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// tempFail answers a local storage problem as Postfix does, with
// 451 4.3.0 and never a 5xx: the client keeps the message and retries. The
// cause is logged, not sent.
func tempFail(err error) error {
	slog.Error("spool: write failed", "error", err)
	return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Error: queue file write error"}
}
