package relaymaps_test

import (
	"context"
	"fmt"

	"github.com/mxkit/mxkit/relaymaps"
)

func ExampleOpen_cidr() {
	m, err := relaymaps.Open("cidr:{ {192.168.1.1 OK}, {192.168.0.0/16 REJECT}, {[2001:db8::]/32 REJECT ipv6} }", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	for _, ip := range []string{"192.168.1.1", "192.168.2.3", "2001:db8::25", "10.0.0.1", "mail.example.com"} {
		v, found, err := m.Lookup(ctx, ip)
		fmt.Printf("%s: %q found=%v err=%v\n", ip, v, found, err)
	}

	_, err = relaymaps.Open("cidr:{ {10.0.0.1/8 REJECT} }", nil)
	fmt.Println(err)
	// Output:
	// 192.168.1.1: "OK" found=true err=<nil>
	// 192.168.2.3: "REJECT" found=true err=<nil>
	// 2001:db8::25: "REJECT ipv6" found=true err=<nil>
	// 10.0.0.1: "" found=false err=<nil>
	// mail.example.com: "" found=false err=<nil>
	// relaymaps: cidr:{...}: rule 1: host bits set in "10.0.0.1/8"
}

func ExampleDomainList_Match() {
	relayDomains, err := relaymaps.ParseDomainList("example.com, !private.example.net .example.net", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	for _, d := range []string{"example.com", "mx.example.com", "example.net", "www.example.net", "private.example.net", "example.org"} {
		ok, _ := relayDomains.Match(ctx, d)
		fmt.Println(d, ok)
	}

	// mydestination style: no implicit subdomains.
	relayDomains.ParentMatchesSubdomains = false
	ok, _ := relayDomains.Match(ctx, "mx.example.com")
	fmt.Println("mx.example.com without parent matching:", ok)
	// Output:
	// example.com true
	// mx.example.com true
	// example.net false
	// www.example.net true
	// private.example.net false
	// example.org false
	// mx.example.com without parent matching: false
}

func ExampleAccessAddressKeys() {
	for k := range relaymaps.AccessAddressKeys("User+Tag@Mail.Example.COM", "+-") {
		fmt.Printf("%-26s partial=%v\n", k.Key, k.Partial)
	}
	// Output:
	// user+tag@mail.example.com  partial=false
	// user@mail.example.com      partial=true
	// mail.example.com           partial=true
	// example.com                partial=true
	// com                        partial=true
	// user+tag@                  partial=true
	// user@                      partial=true
}

func ExampleFind() {
	relayRecipients := []relaymaps.Map{
		relaymaps.Dict{"alice@example.com": "OK"},
		relaymaps.Dict{"@catchall.example": "OK"},
	}
	ctx := context.Background()
	for _, rcpt := range []string{"alice+news@example.com", "bob@catchall.example", "bob@example.com"} {
		_, key, _, found, err := relaymaps.Find(ctx, relayRecipients, relaymaps.RecipientKeys(rcpt, "+", false))
		fmt.Printf("%s: found=%v key=%q err=%v\n", rcpt, found, key, err)
	}
	// Output:
	// alice+news@example.com: found=true key="alice@example.com" err=<nil>
	// bob@catchall.example: found=true key="@catchall.example" err=<nil>
	// bob@example.com: found=false key="" err=<nil>
}
