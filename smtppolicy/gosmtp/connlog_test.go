package gosmtp

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuf is a bytes.Buffer for the sessions' goroutines to log into.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestFrontLogsConnections: one "gosmtp: connect" record per session,
// before the greeting, with the client as name[addr] and apart, and one
// "gosmtp: disconnect" at its end with the counts of commands and of
// those that succeeded (Postfix's smtpd "connect from" and "disconnect
// from" lines).
func TestFrontLogsConnections(t *testing.T) {
	var log syncBuf
	addr, _ := startFront(t, policy(), func(l *Listener) {
		l.Logger = slog.New(slog.NewTextHandler(&log, nil))
	})
	c := dial(t, addr, "127.0.0.3")
	c.reply()
	if got := log.String(); !strings.Contains(got, `msg="gosmtp: connect" client=unknown[127.0.0.3] client_name=unknown client_addr=127.0.0.3`+"\n") {
		t.Errorf("no connect record:\n%s", got)
	}
	if strings.Contains(log.String(), "disconnect") {
		t.Errorf("disconnect logged during the session:\n%s", log.String())
	}
	eq(t, c.talk("EHLO client.example.org", "MAIL FROM:<a@example.org>", "RCPT TO:<u@elsewhere.example>", "RCPT TO:<u@example.org>", "RSET", "BOGUS", "QUIT")[4:],
		"250 2.0.0 Ok", "500 5.5.2 Error: command not recognized", "221 2.0.0 Bye")
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(log.String(), "disconnect"); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no disconnect record:\n%s", log.String())
		}
	}
	if got := log.String(); !strings.Contains(got, `msg="gosmtp: disconnect" client=unknown[127.0.0.3] commands="ehlo=1 mail=1 rcpt=1/2 rset=1 quit=1 unknown=0/1 commands=5/7"`+"\n") {
		t.Errorf("disconnect record:\n%s", got)
	}
}

// TestFrontLogsLostConnection: a client that hangs up without QUIT is
// logged with its last command, as Postfix's "lost connection after MAIL
// from name[addr]".
func TestFrontLogsLostConnection(t *testing.T) {
	var log syncBuf
	addr, _ := startFront(t, policy(), func(l *Listener) {
		l.Logger = slog.New(slog.NewTextHandler(&log, nil))
	})
	c := dial(t, addr, "127.0.0.3")
	c.reply()
	c.talk("EHLO client.example.org", "MAIL FROM:<a@example.org>")
	c.c.Close()
	want := `msg="gosmtp: lost connection" after=MAIL client=unknown[127.0.0.3]` + "\n"
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(log.String(), want); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in:\n%s", want, log.String())
		}
	}
}
