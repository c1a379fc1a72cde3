package relaymaps_test

import (
	"context"
	"fmt"

	"github.com/mxkit/mxkit/relaymaps"
)

func ExampleOpen_regexp() {
	m, err := relaymaps.Open(`regexp:{ {/^postmaster@/ OK}, {/^(.*)-outgoing@(.*)$/!/^owner-/ 550 Use ${1}@${2} instead}, {/^Exact$/i case-sensitive} }`, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	for _, key := range []string{"Postmaster@example.com", "list-outgoing@example.com", "owner-list-outgoing@example.com", "Exact", "exact"} {
		v, found, _ := m.Lookup(ctx, key)
		fmt.Printf("%s: %q %v\n", key, v, found)
	}
	// Output:
	// Postmaster@example.com: "OK" true
	// list-outgoing@example.com: "550 Use list@example.com instead" true
	// owner-list-outgoing@example.com: "" false
	// Exact: "case-sensitive" true
	// exact: "" false
}

func ExampleParseTransport() {
	for _, v := range []string{"relay:[primary.example]:25", "lmtp:unix:/run/dovecot/lmtp", "error:5.1.1 mailbox unavailable"} {
		t, err := relaymaps.ParseTransport(v)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Printf("%s: transport=%s host=%s port=%q mx=%v unix=%v dsn=%q text=%q\n", v, t.Transport, t.Host, t.Port, t.MX, t.Unix, t.DSN, t.Text)
	}
	for k := range relaymaps.TransportKeys("user+tag@mail.example.com", "+", false) {
		fmt.Print(k.Key, " ")
	}
	fmt.Println()
	// Output:
	// relay:[primary.example]:25: transport=relay host=primary.example port="25" mx=false unix=false dsn="" text=""
	// lmtp:unix:/run/dovecot/lmtp: transport=lmtp host=/run/dovecot/lmtp port="" mx=false unix=true dsn="" text=""
	// error:5.1.1 mailbox unavailable: transport=error host= port="" mx=false unix=false dsn="5.1.1" text="mailbox unavailable"
	// user+tag@mail.example.com user@mail.example.com mail.example.com .example.com .com *
}

func ExampleParseTLSPolicy() {
	p, err := relaymaps.ParseTLSPolicy("secure match=nexthop:dot-nexthop { protocols = >=TLSv1.2 }")
	fmt.Println(p.Level, p.Match, p.Protocols, err)
	_, err = relaymaps.ParseTLSPolicy("encrypt match=nexthop")
	fmt.Println(err)
	// Output:
	// secure [nexthop dot-nexthop] >=TLSv1.2 <nil>
	// relaymaps: TLS policy "encrypt match=nexthop": attribute "match" invalid at security level "encrypt"
}

func ExampleExpandVirtual() {
	virtual := relaymaps.Dict{
		"sales@example.com": "alice@example.net, bob@example.org",
		"@old.example":      "@example.com",
	}
	ctx := context.Background()
	for _, addr := range []string{"sales+q3@old.example", "nobody@example.com"} {
		out, err := relaymaps.ExpandVirtual(ctx, []relaymaps.Map{virtual}, addr, relaymaps.VirtualOptions{Delimiters: "+"})
		fmt.Println(addr, "->", out, err)
	}
	// Output:
	// sales+q3@old.example -> [alice+q3@example.net bob+q3@example.org] <nil>
	// nobody@example.com -> [nobody@example.com] <nil>
}

func ExampleNewCache() {
	db := relaymaps.MapFunc(func(_ context.Context, key string) (string, bool, error) {
		fmt.Println("database asked for", key)
		return "OK", true, nil
	})
	c := relaymaps.NewCache(db, relaymaps.CacheOptions{})
	for range 3 {
		v, _, _ := c.Lookup(context.Background(), "user@example.com")
		fmt.Println(v)
	}
	fmt.Printf("%+v\n", c.Stats())
	// Output:
	// database asked for user@example.com
	// OK
	// OK
	// OK
	// {Hits:2 Misses:1 Coalesced:0 Errors:0 Evictions:0 Entries:1}
}
