package relaymaps_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mxkit/mxkit/internal/netstring"
	"github.com/mxkit/mxkit/relaymaps"
)

var smQuiet = slog.New(slog.DiscardHandler)

// smTestMap answers the keys the tests use.
var smTestMap = relaymaps.MapFunc(func(ctx context.Context, key string) (string, bool, error) {
	switch key {
	case "notfound":
		return "", false, nil
	case "empty":
		return "", true, nil
	case "temp":
		return "", false, &relaymaps.LookupError{Table: "t", Key: key, Kind: relaymaps.ErrTemporary, Err: errors.New("db down")}
	case "perm":
		return "", false, &relaymaps.LookupError{Table: "t", Key: key, Kind: relaymaps.ErrConfig, Err: errors.New("bad query")}
	case "plain":
		return "", false, errors.New("something broke")
	case "slow":
		<-ctx.Done()
		return "", false, &relaymaps.LookupError{Table: "t", Key: key, Kind: relaymaps.ErrTemporary, Err: ctx.Err()}
	case "panic":
		panic("boom")
	case "huge":
		return strings.Repeat("x", 200), true, nil
	}
	return "value of " + key, true, nil
})

// smServe starts srv on a loopback listener and returns its address.
func smServe(t testing.TB, srv *relaymaps.SocketmapServer) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if srv.Logger == nil {
		srv.Logger = smQuiet
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; err != relaymaps.ErrServerClosed {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return l.Addr().String()
}

// smRaw is a raw socketmap client connection.
type smRaw struct {
	t testing.TB
	c net.Conn
	r *netstring.Reader
}

func smDial(t testing.TB, network, addr string) *smRaw {
	t.Helper()
	c, err := net.Dial(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &smRaw{t: t, c: c, r: netstring.NewReader(c, 1<<20)}
}

func (r *smRaw) send(reqs ...string) {
	r.t.Helper()
	var b []byte
	for _, q := range reqs {
		b = netstring.Append(b, q)
	}
	if _, err := r.c.Write(b); err != nil {
		r.t.Fatal(err)
	}
}

func (r *smRaw) recv() (string, error) {
	r.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := r.r.Next()
	return string(b), err
}

func TestSocketmapServerReplies(t *testing.T) {
	srv := &relaymaps.SocketmapServer{
		Maps:          map[string]relaymaps.Map{"test": smTestMap, "Other": relaymaps.Dict{"a": "b"}},
		MaxReply:      100,
		LookupTimeout: 20 * time.Millisecond,
	}
	c := smDial(t, "tcp", smServe(t, srv))
	for _, tc := range []struct{ req, reply string }{
		{"test Found", "OK value of Found"}, // the key as received
		{"test with space", "OK value of with space"},
		{"test ", "OK value of "},
		{"test notfound", "NOTFOUND "},
		{"test empty", "OK "},
		{"test temp", `TEMP t: lookup "temp": temporary lookup failure: db down`},
		{"test perm", `PERM t: lookup "perm": table configuration error: bad query`},
		{"test plain", "TEMP something broke"},
		{"test slow", `TIMEOUT t: lookup "slow": temporary lookup failure: context deadline exceeded`},
		{"test panic", "TEMP internal error"},
		{"test huge", "TEMP reply too long"},
		{"Other A", "OK b"},
		{"other a", "PERM unknown map other"},
		{"nosuch\x01 key", "PERM unknown map nosuch?"},
		{"test", "PERM malformed request"},
		{"", "PERM malformed request"},
	} {
		c.send(tc.req)
		got, err := c.recv()
		if err != nil || got != tc.reply {
			t.Errorf("%q: reply %q, %v; want %q", tc.req, got, err, tc.reply)
		}
	}
}

// TestSocketmapServerPipelined sends many requests in one write and
// expects the replies in order.
func TestSocketmapServerPipelined(t *testing.T) {
	srv := &relaymaps.SocketmapServer{Maps: map[string]relaymaps.Map{"test": smTestMap}}
	c := smDial(t, "tcp", smServe(t, srv))
	var reqs []string
	for i := range 200 {
		reqs = append(reqs, fmt.Sprintf("test k%d", i))
	}
	reqs = append(reqs, "test notfound")
	c.send(reqs...)
	for i := range 200 {
		got, err := c.recv()
		if want := fmt.Sprintf("OK value of k%d", i); err != nil || got != want {
			t.Fatalf("reply %d: %q, %v; want %q", i, got, err, want)
		}
	}
	if got, err := c.recv(); err != nil || got != "NOTFOUND " {
		t.Fatalf("last reply %q, %v", got, err)
	}
}

// TestSocketmapServerBadInput checks that a corrupt or oversized netstring
// closes the connection after the replies to the requests before it.
func TestSocketmapServerBadInput(t *testing.T) {
	var logs bytes.Buffer
	var mu sync.Mutex
	srv := &relaymaps.SocketmapServer{
		Maps:       map[string]relaymaps.Map{"test": smTestMap},
		MaxRequest: 20,
		Logger: slog.New(slog.NewTextHandler(&smLockedWriter{w: &logs, mu: &mu}, &slog.HandlerOptions{
			ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
				if a.Key == "time" || a.Key == "remote" {
					return slog.Attr{}
				}
				return a
			}})),
	}
	addr := smServe(t, srv)
	for _, tc := range []struct{ name, input, log string }{
		{"oversized", "6:test a,21:", "netstring: too large: length 21 over the limit of 20 bytes"},
		{"corrupt", "6:test a,6:test b;", `netstring: malformed: ';' instead of ',' after 6 bytes of data`},
		{"not a netstring", "6:test a,GET / HTTP/1.0\r\n\r\n", `netstring: malformed: bad length byte 'G'`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := smDial(t, "tcp", addr)
			if _, err := io.WriteString(c.c, tc.input); err != nil {
				t.Fatal(err)
			}
			if got, err := c.recv(); err != nil || got != "OK value of a" {
				t.Fatalf("first reply %q, %v", got, err)
			}
			if got, err := c.recv(); err != io.EOF {
				t.Fatalf("after bad input: %q, %v; want EOF", got, err)
			}
			mu.Lock()
			defer mu.Unlock()
			if want := "level=WARN msg=\"socketmap bad request, closing connection\" err=\"" + strings.ReplaceAll(tc.log, `"`, `\"`) + "\"\n"; !strings.Contains(logs.String(), want) {
				t.Errorf("log %q lacks %q", logs.String(), want)
			}
		})
	}
	// A request of exactly MaxRequest bytes is fine.
	c := smDial(t, "tcp", addr)
	c.send("test " + strings.Repeat("k", 15))
	if got, err := c.recv(); err != nil || got != "OK value of "+strings.Repeat("k", 15) {
		t.Fatalf("20-byte request: %q, %v", got, err)
	}
}

type smLockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *smLockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestSocketmapServerIdleTimeout(t *testing.T) {
	srv := &relaymaps.SocketmapServer{Maps: map[string]relaymaps.Map{"test": smTestMap}, IdleTimeout: 50 * time.Millisecond}
	c := smDial(t, "tcp", smServe(t, srv))
	c.send("test a")
	if got, err := c.recv(); err != nil || got != "OK value of a" {
		t.Fatalf("reply %q, %v", got, err)
	}
	if got, err := c.recv(); err != io.EOF {
		t.Fatalf("idle connection: %q, %v; want EOF", got, err)
	}
}

// TestSocketmapServerShutdown checks a clean shutdown: idle connections
// close, a lookup in progress finishes and its reply is sent, Serve
// returns ErrServerClosed and new connections are refused.
func TestSocketmapServerShutdown(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	blocking := relaymaps.MapFunc(func(ctx context.Context, key string) (string, bool, error) {
		close(started)
		<-release
		return "late " + key, true, nil
	})
	srv := &relaymaps.SocketmapServer{Maps: map[string]relaymaps.Map{"block": blocking}, Logger: smQuiet}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	addr := l.Addr().String()

	idle := smDial(t, "tcp", addr)
	busy := smDial(t, "tcp", addr)
	busy.send("block k")
	<-started

	shut := make(chan error, 1)
	go func() { shut <- srv.Shutdown(context.Background()) }()
	if err := <-served; err != relaymaps.ErrServerClosed {
		t.Fatalf("Serve: %v", err)
	}
	if got, err := idle.recv(); err != io.EOF {
		t.Fatalf("idle connection: %q, %v; want EOF", got, err)
	}
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Fatal("new connection accepted after Shutdown")
	}
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned %v while a lookup was in progress", err)
	default:
	}
	close(release)
	if got, err := busy.recv(); err != nil || got != "OK late k" {
		t.Fatalf("in-flight reply %q, %v", got, err)
	}
	if got, err := busy.recv(); err != io.EOF {
		t.Fatalf("after in-flight reply: %q, %v; want EOF", got, err)
	}
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := srv.Serve(l); err != relaymaps.ErrServerClosed {
		t.Fatalf("Serve after Shutdown: %v", err)
	}
}

func TestSocketmapServerShutdownDeadline(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	defer close(release)
	blocking := relaymaps.MapFunc(func(ctx context.Context, key string) (string, bool, error) {
		close(started)
		<-release
		return "", false, nil
	})
	srv := &relaymaps.SocketmapServer{Maps: map[string]relaymaps.Map{"block": blocking}}
	busy := smDial(t, "tcp", smServe(t, srv))
	busy.send("block k")
	<-started
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	// Shutdown waits for the handler, which is stuck in the lookup; the
	// connection is closed under it, and release unblocks it at the end.
	errc := make(chan error, 1)
	go func() { errc <- srv.Shutdown(ctx) }()
	if got, err := busy.recv(); err != io.EOF {
		t.Fatalf("busy connection: %q, %v; want EOF", got, err)
	}
	release <- struct{}{}
	if err := <-errc; err != context.Canceled {
		t.Fatalf("Shutdown: %v, want context.Canceled", err)
	}
}

func TestParseSocketmap(t *testing.T) {
	for spec, want := range map[string][3]string{
		"socketmap:inet:127.0.0.1:8461:postfix":   {"tcp", "127.0.0.1:8461", "postfix"},
		"socketmap:inet:[::1]:8461:postfix":       {"tcp", "[::1]:8461", "postfix"},
		"socketmap:inet:mx.example:99:a:b":        {"", "", ""}, // name "b", endpoint inet:mx.example:99:a
		"socketmap:unix:/run/sts/sock:postfix":    {"unix", "/run/sts/sock", "postfix"},
		"socketmap:unix:/run/a:b/sock:x":          {"unix", "/run/a:b/sock", "x"},
		"socketmap:unix:relative/sock:x":          {"unix", "/base/relative/sock", "x"},
		"SocketMap:inet:localhost:1:Mixed_Case-1": {"tcp", "localhost:1", "Mixed_Case-1"},
	} {
		m, err := relaymaps.Open(spec, &relaymaps.OpenOptions{BaseDir: "/base"})
		if want[0] == "" {
			if err == nil {
				t.Errorf("Open(%q) succeeded", spec)
			}
			continue
		}
		if err != nil {
			t.Errorf("Open(%q): %v", spec, err)
			continue
		}
		s := m.(*relaymaps.Socketmap)
		if got := [3]string{s.Network, s.Addr, s.MapName}; got != want {
			t.Errorf("Open(%q) = %q, want %q", spec, got, want)
		}
		if relaymaps.IsFixed(m) {
			t.Errorf("%q is fixed", spec)
		}
		wantName := "socketmap:" + spec[len("socketmap:"):]
		if spec == "socketmap:unix:relative/sock:x" {
			wantName = "socketmap:unix:/base/relative/sock:x"
		}
		if got := relaymaps.NameOf(m); got != wantName {
			t.Errorf("Name() = %q, want %q", got, wantName)
		}
	}
	for spec, want := range map[string]string{
		"socketmap:":                       `relaymaps: socketmap:: need "inet:host:port:name" or "unix:/path:name"`,
		"socketmap:inet:127.0.0.1:8461":    `relaymaps: socketmap:inet:127.0.0.1:8461: bad inet endpoint "127.0.0.1": need host:port`,
		"socketmap:inet:127.0.0.1:8461:":   `relaymaps: socketmap:inet:127.0.0.1:8461:: need "inet:host:port:name" or "unix:/path:name"`,
		"socketmap:inet::8461:x":           `relaymaps: socketmap:inet::8461:x: bad inet endpoint ":8461": need host:port`,
		"socketmap:inet:mx.example:99:a:b": `relaymaps: socketmap:inet:mx.example:99:a:b: bad inet endpoint "mx.example:99:a": need host:port`,
		"socketmap:unix::x":                `relaymaps: socketmap:unix::x: empty unix socket path`,
		"socketmap:tcp:127.0.0.1:1:x":      `relaymaps: socketmap:tcp:127.0.0.1:1:x: unknown endpoint type "tcp": need "inet:" or "unix:"`,
		"socketmap:127.0.0.1:1:x":          `relaymaps: socketmap:127.0.0.1:1:x: unknown endpoint type "127.0.0.1": need "inet:" or "unix:"`,
	} {
		_, err := relaymaps.Open(spec, nil)
		if err == nil || err.Error() != want {
			t.Errorf("Open(%q) error = %v, want %q", spec, err, want)
		}
	}
}

// smFake is a scripted socketmap server: reply returns the raw bytes to
// send for a request, or nil to close the connection without answering.
type smFake struct {
	l     net.Listener
	conns atomic.Int32
	reqs  atomic.Int32
	reply func(req string, n int) []byte
}

func smStartFake(t *testing.T, reply func(req string, n int) []byte) *smFake {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &smFake{l: l, reply: reply}
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			f.conns.Add(1)
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				r := netstring.NewReader(c, 1<<20)
				for {
					req, err := r.Next()
					if err != nil {
						return
					}
					out := f.reply(string(req), int(f.reqs.Add(1)))
					if out == nil {
						return
					}
					if _, err := c.Write(out); err != nil {
						return
					}
				}
			}()
		}
	}()
	return f
}

func (f *smFake) client(t *testing.T) *relaymaps.Socketmap {
	m, err := relaymaps.Open("socketmap:inet:"+f.l.Addr().String()+":test", &relaymaps.OpenOptions{Logger: smQuiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.(relaymaps.Closer).Close() })
	return m.(*relaymaps.Socketmap)
}

func TestSocketmapClientReplies(t *testing.T) {
	f := smStartFake(t, func(req string, _ int) []byte {
		_, key, _ := strings.Cut(req, " ")
		switch key {
		case "bare-ok":
			return netstring.Encode("OK")
		case "long":
			return netstring.Encode(strings.Repeat("x", relaymaps.DefaultSocketmapMaxReply+1))
		case "max":
			return netstring.Encode("OK " + strings.Repeat("x", relaymaps.DefaultSocketmapMaxReply-3))
		case "corrupt":
			return []byte("3:OK x")
		case "bad":
			return []byte("x")
		}
		return netstring.Encode(key)
	})
	m := f.client(t)
	name := "socketmap:inet:" + f.l.Addr().String() + ":test"
	ctx := context.Background()
	for _, tc := range []struct{ key, value, err string }{
		{key: "OK value with  spaces ", value: "value with  spaces "},
		{key: "OK ", value: ""},
		{key: "bare-ok", value: ""},
		{key: "NOTFOUND "},
		{key: "NOTFOUND"},
		{key: "NOTFOUND ignored"},
		{key: "TEMP db down", err: `temporary lookup failure: socketmap server temporary error: "db down"`},
		{key: "TEMP", err: `temporary lookup failure: socketmap server temporary error`},
		{key: "TIMEOUT slow", err: `temporary lookup failure: socketmap server timeout error: "slow"`},
		{key: "PERM bad config", err: `table configuration error: socketmap server permanent error: "bad config"`},
		{key: "ok lower", err: `temporary lookup failure: socketmap server unknown error: "ok lower"`},
		{key: "", err: `temporary lookup failure: socketmap server unknown error`},
		{key: "long", err: `temporary lookup failure: bad reply: netstring: too large: length 100001 over the limit of 100000 bytes`},
		{key: "max", value: strings.Repeat("x", relaymaps.DefaultSocketmapMaxReply-3)},
		{key: "corrupt", err: `temporary lookup failure: bad reply: netstring: malformed: 'x' instead of ',' after 3 bytes of data`},
		{key: "bad", err: `temporary lookup failure: bad reply: netstring: malformed: bad length byte 'x'`},
	} {
		v, found, err := m.Lookup(ctx, tc.key)
		if tc.err != "" {
			want := fmt.Sprintf("%s: lookup %q: %s", name, tc.key, tc.err)
			if err == nil || err.Error() != want || found || v != "" {
				t.Errorf("Lookup(%.20q) = %.20q, %v, %v; want error %q", tc.key, v, found, err, want)
			}
			if wantConfig := strings.HasPrefix(tc.key, "PERM"); relaymaps.IsConfig(err) != wantConfig {
				t.Errorf("Lookup(%q): IsConfig = %v", tc.key, !wantConfig)
			}
			if !relaymaps.IsConfig(err) && !errors.Is(err, relaymaps.ErrTemporary) {
				t.Errorf("Lookup(%q): not ErrTemporary", tc.key)
			}
			continue
		}
		wantFound := strings.HasPrefix(tc.key, "OK") || tc.key == "bare-ok" || tc.key == "max"
		if err != nil || found != wantFound || v != tc.value {
			t.Errorf("Lookup(%.20q) = %.20q, %v, %v; want %.20q, %v", tc.key, v, found, err, tc.value, wantFound)
		}
	}
}

// TestSocketmapClientReuse checks that sequential lookups share one
// connection and that concurrent ones stay within MaxConns.
func TestSocketmapClientReuse(t *testing.T) {
	srv := &relaymaps.SocketmapServer{Maps: map[string]relaymaps.Map{"test": smTestMap}}
	var conns atomic.Int32
	addr := smServe(t, srv)
	m := &relaymaps.Socketmap{Network: "tcp", Addr: addr, MapName: "test", MaxConns: 3,
		Dialer: smCountingDialer{n: &conns}}
	defer m.Close()
	ctx := context.Background()
	for i := range 10 {
		k := fmt.Sprint("k", i)
		if v, found, err := m.Lookup(ctx, k); err != nil || !found || v != "value of "+k {
			t.Fatalf("Lookup(%q) = %q, %v, %v", k, v, found, err)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("%d connections for sequential lookups, want 1", n)
	}
	var wg sync.WaitGroup
	for g := range 30 {
		wg.Go(func() {
			for i := range 20 {
				k := fmt.Sprintf("g%d-%d", g, i)
				if v, found, err := m.Lookup(ctx, k); err != nil || !found || v != "value of "+k {
					t.Errorf("Lookup(%q) = %q, %v, %v", k, v, found, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if n := conns.Load(); n > 3 {
		t.Fatalf("%d connections, MaxConns is 3", n)
	}
}

type smCountingDialer struct{ n *atomic.Int32 }

func (d smCountingDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	d.n.Add(1)
	var nd net.Dialer
	return nd.DialContext(ctx, network, addr)
}

// TestSocketmapClientRetry: a server that answers one request per
// connection and then closes it; the client's second lookup finds the
// reused connection broken and retries once on a new one.
func TestSocketmapClientRetry(t *testing.T) {
	// A server that reads requests and closes without answering.
	g := smStartFake(t, func(req string, n int) []byte { return nil })
	once := smStartOneShot(t)
	m := once.client(t)
	ctx := context.Background()
	for i := range 3 {
		k := fmt.Sprint("k", i)
		if v, found, err := m.Lookup(ctx, k); err != nil || !found || v != "test "+k {
			t.Fatalf("Lookup(%q) = %q, %v, %v", k, v, found, err)
		}
	}
	if n := once.conns.Load(); n != 3 {
		t.Fatalf("%d connections, want 3", n)
	}

	// A server that never answers: retried once, then a temporary error.
	m = g.client(t)
	_, _, err := m.Lookup(ctx, "k")
	want := fmt.Sprintf(`socketmap:inet:%s:test: lookup "k": temporary lookup failure: connection closed by the server: EOF`, g.l.Addr())
	if err == nil || err.Error() != want || !errors.Is(err, relaymaps.ErrTemporary) {
		t.Fatalf("Lookup error %v, want %q", err, want)
	}
	if n := g.conns.Load(); n != 2 {
		t.Fatalf("%d connections, want 2 (one retry)", n)
	}
}

// smOneShot answers one request per connection, then closes it.
type smOneShot struct {
	l     net.Listener
	conns atomic.Int32
}

func smStartOneShot(t *testing.T) *smOneShot {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o := &smOneShot{l: l}
	done := make(chan struct{})
	t.Cleanup(func() { l.Close(); <-done })
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			o.conns.Add(1)
			req, err := netstring.NewReader(c, 1000).Next()
			if err == nil {
				c.Write(netstring.Encode("OK " + string(req)))
			}
			c.Close()
		}
	}()
	return o
}

func (o *smOneShot) client(t *testing.T) *relaymaps.Socketmap {
	m := &relaymaps.Socketmap{Network: "tcp", Addr: o.l.Addr().String(), MapName: "test", Logger: smQuiet}
	t.Cleanup(func() { m.Close() })
	return m
}

func TestSocketmapClientTimeouts(t *testing.T) {
	got := make(chan struct{}, 10)
	f := smStartFake(t, func(req string, _ int) []byte {
		got <- struct{}{}
		time.Sleep(300 * time.Millisecond)
		return netstring.Encode("OK late")
	})
	m := f.client(t)
	m.Timeout = 20 * time.Millisecond
	_, _, err := m.Lookup(context.Background(), "k")
	if !errors.Is(err, relaymaps.ErrTemporary) || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Timeout: %v", err)
	}

	m2 := f.client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, _, err = m2.Lookup(ctx, "k")
	if !errors.Is(err, relaymaps.ErrTemporary) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("context deadline: %v", err)
	}

	ctx, cancel = context.WithCancel(context.Background())
	go func() { <-got; <-got; <-got; cancel() }() // the two above, then ours
	_, _, err = m2.Lookup(ctx, "k")
	want := fmt.Sprintf(`socketmap:inet:%s:test: lookup "k": temporary lookup failure: context canceled`, f.l.Addr())
	if err == nil || err.Error() != want {
		t.Fatalf("cancel: %v, want %q", err, want)
	}
}

func TestSocketmapClientMaxQuery(t *testing.T) {
	var logs bytes.Buffer
	f := smStartFake(t, func(req string, _ int) []byte { return netstring.Encode("OK " + req) })
	m := f.client(t)
	m.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == "time" {
			return slog.Attr{}
		}
		return a
	}}))
	ctx := context.Background()
	key := strings.Repeat("k", relaymaps.DefaultSocketmapMaxQuery-len("test "))
	if v, found, err := m.Lookup(ctx, key); err != nil || !found || v != "test "+key {
		t.Fatalf("10000-byte query: %.20q, %v, %v", v, found, err)
	}
	if v, found, err := m.Lookup(ctx, key+"k"); err != nil || found || v != "" {
		t.Fatalf("10001-byte query: %.20q, %v, %v", v, found, err)
	}
	if n := f.reqs.Load(); n != 1 {
		t.Fatalf("%d requests sent, want 1", n)
	}
	want := fmt.Sprintf("level=WARN msg=\"socketmap query too long, not sent; key not found\" table=socketmap:inet:%s:test size=10001 limit=10000\n", f.l.Addr())
	if logs.String() != want {
		t.Fatalf("log %q, want %q", logs.String(), want)
	}
}

func TestSocketmapClosed(t *testing.T) {
	f := smStartFake(t, func(req string, _ int) []byte { return netstring.Encode("OK x") })
	m := f.client(t)
	if _, _, err := m.Lookup(context.Background(), "a"); err != nil {
		t.Fatal(err)
	}
	m.Close()
	_, _, err := m.Lookup(context.Background(), "a")
	if want := fmt.Sprintf(`socketmap:inet:%s:test: lookup "a": temporary lookup failure: table closed`, f.l.Addr()); err == nil || err.Error() != want {
		t.Fatalf("after Close: %v", err)
	}
}

func TestSocketmapConnectError(t *testing.T) {
	dir := t.TempDir()
	m, err := relaymaps.Open("socketmap:unix:"+filepath.Join(dir, "none")+":x", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = m.Lookup(context.Background(), "a")
	if !errors.Is(err, relaymaps.ErrTemporary) || relaymaps.IsConfig(err) || !strings.Contains(err.Error(), "connect: no such file or directory") {
		t.Fatalf("Lookup: %v", err)
	}
}

// TestSocketmapUnixRoundTrip runs our client against our server on a
// unix socket.
func TestSocketmapUnixRoundTrip(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "sm.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &relaymaps.SocketmapServer{Maps: map[string]relaymaps.Map{"test": smTestMap}, Logger: smQuiet}
	go srv.Serve(l)
	defer srv.Shutdown(context.Background())
	m, err := relaymaps.Open("socketmap:unix:sm.sock:test", &relaymaps.OpenOptions{BaseDir: filepath.Dir(sock)})
	if err != nil {
		t.Fatal(err)
	}
	defer m.(relaymaps.Closer).Close()
	ctx := context.Background()
	for key, want := range map[string]string{"Key": "value of Key", "empty": "", "notfound": "-", "temp": "temp", "perm": "perm"} {
		v, found, err := m.Lookup(ctx, key)
		switch want {
		case "-":
			if err != nil || found {
				t.Errorf("%s: %q, %v, %v", key, v, found, err)
			}
		case "temp", "perm":
			if err == nil || relaymaps.IsConfig(err) != (want == "perm") {
				t.Errorf("%s: %v", key, err)
			}
		default:
			if err != nil || !found || v != want {
				t.Errorf("%s: %q, %v, %v", key, v, found, err)
			}
		}
	}
}

// BenchmarkSocketmapServer50Conns measures the server's throughput over
// loopback with 50 client connections: each iteration sends one request
// on each connection at once and waits for the 50 replies.
func BenchmarkSocketmapServer50Conns(b *testing.B) {
	const conns = 50
	d := relaymaps.Dict{}
	for i := range 1000 {
		d[fmt.Sprintf("k%d.example.com", i)] = "OK"
	}
	addr := smServe(b, &relaymaps.SocketmapServer{Maps: map[string]relaymaps.Map{"test": d}})
	var wg sync.WaitGroup
	work := make([]chan int, conns)
	var failed atomic.Value
	for i := range conns {
		c := smDial(b, "tcp", addr)
		work[i] = make(chan int)
		go func() {
			var buf []byte
			for n := range work[i] {
				buf = netstring.Append(buf[:0], fmt.Sprintf("test k%d.example.com", n%1000))
				_, err := c.c.Write(buf)
				var reply []byte
				if err == nil {
					reply, err = c.r.Next()
				}
				if err == nil && string(reply) != "OK OK" {
					err = fmt.Errorf("reply %q", reply)
				}
				if err != nil {
					failed.CompareAndSwap(nil, err)
				}
				wg.Done()
			}
		}()
	}
	defer func() {
		for _, w := range work {
			close(w)
		}
	}()
	queries := 0
	for b.Loop() {
		wg.Add(conns)
		for i, w := range work {
			w <- queries + i
		}
		wg.Wait()
		queries += conns
	}
	if err := failed.Load(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(queries)/b.Elapsed().Seconds(), "queries/s")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkSocketmapLookup measures one client lookup's latency (request,
// server lookup in a Dict, reply) over loopback on a reused connection.
func BenchmarkSocketmapLookup(b *testing.B) {
	addr := smServe(b, &relaymaps.SocketmapServer{Maps: map[string]relaymaps.Map{"test": relaymaps.Dict{"example.com": "OK"}}})
	m := &relaymaps.Socketmap{Network: "tcp", Addr: addr, MapName: "test"}
	defer m.Close()
	ctx := context.Background()
	for b.Loop() {
		if v, found, err := m.Lookup(ctx, "example.com"); err != nil || !found || v != "OK" {
			b.Fatal(v, found, err)
		}
	}
}
