package testpostfix_test

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/mxkit/mxkit/internal/testpostfix"
)

// The main.cf an instance gets: the harness's base settings, except those
// the test's MainCF replaces, then the test's lines.
func ExampleRenderMainCF() {
	mainCF, err := testpostfix.RenderMainCF("/tmp/testpostfix-1", netip.MustParseAddr("127.0.0.1"),
		"mynetworks = 127.0.0.0/8\nrelay_domains = example.test\n")
	if err != nil {
		panic(err)
	}
	fmt.Print(mainCF)
	// Output:
	// # Written by internal/testpostfix.
	// queue_directory = /tmp/testpostfix-1/queue
	// data_directory = /tmp/testpostfix-1/data
	// maillog_file = /tmp/testpostfix-1/maillog
	// maillog_file_prefixes = /tmp/testpostfix-1
	// inet_interfaces = 127.0.0.1
	// proxy_interfaces =
	// inet_protocols = ipv4
	// compatibility_level = 3.6
	// myhostname = mx.example.test
	// smtpd_banner = $myhostname ESMTP
	// smtpd_peername_lookup = no
	// alias_maps =
	// alias_database =
	// default_transport = discard
	// relay_transport = discard
	// local_transport = discard
	// virtual_transport = discard
	// biff = no
	// readme_directory = no
	// # Options.MainCF:
	// mynetworks = 127.0.0.0/8
	// relay_domains = example.test
}

func ExampleRenderMasterCF() {
	masterCF := testpostfix.RenderMasterCF(netip.MustParseAddrPort("127.0.0.1:10025"), "")
	for _, line := range strings.SplitN(masterCF, "\n", 4)[:3] {
		fmt.Println(line)
	}
	// Output:
	// # Written by internal/testpostfix.
	// 127.0.0.1:10025 inet n - n - - smtpd
	// cleanup    unix  n  -  n  -     0  cleanup
}
