package relaymaps_test

import (
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mxkit/mxkit/internal/netstring"
	"github.com/mxkit/mxkit/relaymaps"
)

var smSpecialKeys = map[string]bool{"notfound": true, "empty": true, "temp": true, "perm": true,
	"plain": true, "slow": true, "panic": true, "huge": true}

// FuzzSocketmapServer sends arbitrary bytes to a SocketmapServer and
// checks that it answers exactly the well-formed requests before the first
// bad one, in order, each with a valid reply, then closes the connection.
func FuzzSocketmapServer(f *testing.F) {
	for _, s := range []string{
		"9:test abc,",
		"13:test notfound,9:test temp,9:test perm,",
		"6:nosuch,4:test,0:,",
		"9:test abc,x",
		"65:test " + strings.Repeat("k", 59) + ",",
		"3:abc",
		"10:test panic,",
	} {
		f.Add([]byte(s))
	}
	const maxRequest = 64
	srv := &relaymaps.SocketmapServer{
		Maps:       map[string]relaymaps.Map{"test": smTestMap},
		MaxRequest: maxRequest,
		Logger:     smQuiet,
		// Keep "test slow" short.
		LookupTimeout: time.Millisecond,
	}
	addr := smServe(f, srv)
	f.Fuzz(func(t *testing.T, in []byte) {
		var want []string
		for rest := in; ; {
			req, next, err := netstring.Decode(rest, maxRequest)
			if err != nil {
				break
			}
			want = append(want, string(req))
			rest = next
		}
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		go func() {
			c.Write(in)
			c.(*net.TCPConn).CloseWrite()
		}()
		r := netstring.NewReader(c, 1<<20)
		for i, req := range want {
			reply, err := r.Next()
			if err != nil {
				t.Fatalf("request %d %q: no reply: %v", i, req, err)
			}
			status, _, _ := strings.Cut(string(reply), " ")
			switch status {
			case "OK", "NOTFOUND", "TEMP", "TIMEOUT", "PERM":
			default:
				t.Fatalf("request %q: reply %q", req, reply)
			}
			name, key, ok := strings.Cut(req, " ")
			if ok && name == "test" && !smSpecialKeys[key] && string(reply) != "OK value of "+key {
				t.Fatalf("request %q: reply %q", req, reply)
			}
		}
		if reply, err := r.Next(); err != io.EOF {
			t.Fatalf("after %d replies: %q, %v; want EOF", len(want), reply, err)
		}
	})
}
