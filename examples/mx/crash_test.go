package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// crashConfig accepts mail for example.test from loopback and delivers it
// into Maildirs under the spool folder.
const crashConfig = `
compatibility_level = 3.6
myhostname = mx.example.test
mydestination =
mynetworks = 127.0.0.0/8
inet_interfaces = 127.0.0.1
relay_domains = example.test
local_recipient_maps =
smtpd_peername_lookup = no
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
transport_maps = inline:{ example.test=maildir:mailboxes }
`

// buildDir is the folder buildMX made, removed by TestMain.
var buildDir string

// TestMain removes the binary buildMX built (about 20 MB a run).
func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// buildMX compiles the example once per test binary run.
var buildMX = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "mxkit-mx-bin")
	if err != nil {
		return "", err
	}
	buildDir = dir
	bin := filepath.Join(dir, "mx")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

func freeLoopbackPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// mxProcess is examples/mx running as a child process.
type mxProcess struct {
	cmd  *exec.Cmd
	done chan struct{}
}

func startMXProcess(t *testing.T, bin, addr, spool, config string) *mxProcess {
	t.Helper()
	cmd := exec.Command(bin, "-listen", addr, "-spool", spool, "-config", config)
	logf, err := os.OpenFile(filepath.Join(filepath.Dir(spool), "mx.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &mxProcess{cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); logf.Close(); close(p.done) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			line, _ := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if strings.HasPrefix(line, "220 ") {
				return p
			}
		}
		select {
		case <-p.done:
			log, _ := os.ReadFile(filepath.Join(filepath.Dir(spool), "mx.log"))
			t.Fatalf("mx exited at start-up:\n%s", log)
		default:
		}
		if time.Now().After(deadline) {
			p.kill()
			t.Fatal("mx did not answer within 20s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (p *mxProcess) kill() {
	_ = p.cmd.Process.Kill() // SIGKILL: no chance to clean up
	<-p.done
}

// sendOne sends message n and reports whether it got a 250 at the end of
// DATA (an error means: unknown, try again, as a real client does).
func sendOne(addr string, n int) error {
	c, err := smtp.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Hello("client.example.org"); err != nil {
		return err
	}
	if err := c.Mail("sender@example.org", nil); err != nil {
		return err
	}
	if err := c.Rcpt(fmt.Sprintf("user%d@example.test", n%7), nil); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "Message-ID: <crash-%d@client.example.org>\r\nSubject: crash test %d\r\n\r\n%s\r\n", n, n, strings.Repeat("x", 1000))
	if err := w.Close(); err != nil {
		return err
	}
	_ = c.Quit()
	return nil
}

var crashMsgID = regexp.MustCompile(`(?m)^Message-ID: <crash-(\d+)@client\.example\.org>`)

// delivered counts the deliveries of each message in the Maildirs.
func delivered(t *testing.T, root string) map[int]int {
	t.Helper()
	got := map[int]int{}
	_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Base(filepath.Dir(p)) != "new" {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil
		}
		if m := crashMsgID.FindSubmatch(b); m != nil {
			var n int
			fmt.Sscan(string(m[1]), &n)
			got[n]++
		}
		return nil
	})
	return got
}

// TestCrashLosesNothing sends mail through examples/mx (a child process)
// from 10 concurrent clients while the process is killed with SIGKILL
// again and again and restarted on the same spool. Every message that got
// a 250 must be delivered after the last restart; duplicates can come only
// from deliveries (or 250 replies) in flight at a kill.
func TestCrashLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test: builds and kills the example repeatedly")
	}
	bin, err := buildMX()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	config := writeConfig(t, crashConfig)
	spool := filepath.Join(dir, "spool")
	addr := freeLoopbackPort(t)

	const total, clients, kills = 1500, 10, 8
	var acked [total]atomic.Bool
	var next atomic.Int64
	var retries atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for {
				n := int(next.Add(1) - 1)
				if n >= total {
					return
				}
				for {
					if ctx.Err() != nil {
						return
					}
					err := sendOne(addr, n)
					if err == nil {
						acked[n].Store(true)
						break
					}
					var se *smtp.SMTPError
					if errors.As(err, &se) && se.Code >= 500 {
						t.Errorf("message %d refused: %v", n, err)
						break
					}
					retries.Add(1)
					time.Sleep(20 * time.Millisecond)
				}
			}
		})
	}
	p := startMXProcess(t, bin, addr, spool, config)
	for k := range kills {
		time.Sleep(time.Duration(150+rand.IntN(350)) * time.Millisecond)
		p.kill()
		t.Logf("kill %d: %d messages acknowledged so far", k+1, countAcked(acked[:]))
		p = startMXProcess(t, bin, addr, spool, config)
	}
	wg.Wait()
	defer p.kill()
	mailboxes := filepath.Join(spool, "mailboxes")
	deadline := time.Now().Add(60 * time.Second)
	var got map[int]int
	for {
		got = delivered(t, mailboxes)
		missing := 0
		for n := range total {
			if acked[n].Load() && got[n] == 0 {
				missing++
			}
		}
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "mx.log"))
			t.Fatalf("%d acknowledged messages never delivered (lost); log tail:\n%s", missing, tail(string(log), 3000))
		}
		time.Sleep(100 * time.Millisecond)
	}
	dups := 0
	for _, c := range got {
		if c > 1 {
			dups += c - 1
		}
	}
	t.Logf("crash test: %d messages, %d acknowledged, %d kills, %d client retries; lost 0, duplicate deliveries %d",
		total, countAcked(acked[:]), kills, retries.Load(), dups)
	if a := countAcked(acked[:]); a != total {
		t.Errorf("%d of %d messages acknowledged", a, total)
	}
	// Each kill can interrupt at most the deliveries and the DATA
	// replies in flight at that moment.
	if dups > kills*(DefaultConcurrencyBound+clients) {
		t.Errorf("%d duplicate deliveries for %d kills: more than deliveries in flight can explain", dups, kills)
	}
}

// DefaultConcurrencyBound is the most deliveries the example runs at once
// to one destination (default_destination_concurrency_limit).
const DefaultConcurrencyBound = 20

func countAcked(a []atomic.Bool) int {
	n := 0
	for i := range a {
		if a[i].Load() {
			n++
		}
	}
	return n
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
