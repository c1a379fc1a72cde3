package relaymaps_test

import (
	"context"
	"fmt"
	"net"

	"github.com/mxkit/mxkit/relaymaps"
)

func ExampleSocketmapServer() {
	// Serve a table to Postfix (or any socketmap client) on loopback:
	// main.cf: relay_domains = socketmap:inet:127.0.0.1:PORT:relay
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	srv := &relaymaps.SocketmapServer{Maps: map[string]relaymaps.Map{
		"relay": relaymaps.Dict{"example.com": "OK", "example.net": ""},
	}}
	go srv.Serve(l)
	defer srv.Shutdown(context.Background())

	// Query it with our client, as Postfix would.
	m, err := relaymaps.Open("socketmap:inet:"+l.Addr().String()+":relay", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.(relaymaps.Closer).Close()
	ctx := context.Background()
	for _, key := range []string{"EXAMPLE.COM", "example.net", "example.org"} {
		v, found, err := m.Lookup(ctx, key)
		fmt.Printf("%s: %q found=%v err=%v\n", key, v, found, err)
	}
	// Output:
	// EXAMPLE.COM: "OK" found=true err=<nil>
	// example.net: "" found=true err=<nil>
	// example.org: "" found=false err=<nil>
}
