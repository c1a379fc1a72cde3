package postfixconf_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/mxkit/mxkit/internal/postfixconf"
)

func ExampleParse() {
	const mainCF = `# An MX that relays for one domain.
compatibility_level = 3.6
myhostname = mx.example.net
mydomain = example.net

relay_domains = $mydomain
smtpd_relay_restrictions =
    permit_mynetworks
    # temporarily off: check_policy_service unix:private/policy
    reject_unauth_destination
`
	c, err := postfixconf.Parse(strings.NewReader(mainCF), "main.cf")
	if err != nil {
		fmt.Println(err)
		return
	}
	p, _ := c.Param("smtpd_relay_restrictions")
	fmt.Printf("%s:%d: %s = %q\n", p.File, p.Line, p.Name, p.Raw)
	fmt.Println(c.Names())

	_, err = postfixconf.Parse(strings.NewReader("mydomain example.net\n"), "main.cf")
	fmt.Println(err)
	// Output:
	// main.cf:7: smtpd_relay_restrictions = "permit_mynetworks    reject_unauth_destination"
	// [compatibility_level myhostname mydomain relay_domains smtpd_relay_restrictions]
	// main.cf:1: missing '=' after parameter name: "mydomain example.net"
}

func ExampleConfig_Get() {
	c, err := postfixconf.Parse(strings.NewReader(`
myhostname = mx.${mydomain}
mydomain = example.net
smtpd_banner = $myhostname ESMTP ${soft_bounce?{(testing)}}
`), "main.cf")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, name := range []string{"smtpd_banner", "myorigin", "mydestination", "relay_domains"} {
		v, err := c.Get(name)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%s = %s\n", name, v)
	}
	c.Set("compatibility_level", "3.6")
	v, _ := c.Get("relay_domains")
	fmt.Printf("at level 3.6: relay_domains = %q\n", v)
	// Output:
	// smtpd_banner = mx.example.net ESMTP (testing)
	// myorigin = mx.example.net
	// mydestination = mx.example.net, localhost.example.net, localhost
	// relay_domains = mx.example.net, localhost.example.net, localhost
	// at level 3.6: relay_domains = ""
}

func ExampleSplitList() {
	list := "permit_mynetworks, check_policy_service { inet:127.0.0.1:9998, timeout=10s },\n reject_unauth_destination inline:{ a=1, b=2 }"
	for _, e := range postfixconf.SplitList(list) {
		fmt.Printf("%q\n", e)
	}
	// Output:
	// "permit_mynetworks"
	// "check_policy_service"
	// "{ inet:127.0.0.1:9998, timeout=10s }"
	// "reject_unauth_destination"
	// "inline:{ a=1, b=2 }"
}

func ExampleParseTableSpec() {
	for _, s := range []string{"socketmap:inet:127.0.0.1:8461:postfix", "cidr:/etc/postfix/mynetworks.cidr", "reject"} {
		typ, name, err := postfixconf.ParseTableSpec(s)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Printf("type %q name %q\n", typ, name)
	}
	// Output:
	// type "socketmap" name "inet:127.0.0.1:8461:postfix"
	// type "cidr" name "/etc/postfix/mynetworks.cidr"
	// table "reject": want type:name
}

func ExampleClassify() {
	for _, name := range []string{"biff", "queue_directory", "smtpd_relay_restrictions", "smtp_tls_security_level"} {
		kind := postfixconf.Classify(name)
		if kind == postfixconf.KindMachinery {
			fmt.Printf("%s: ignored (%s)\n", name, postfixconf.IgnoredParams[name])
			continue
		}
		fmt.Printf("%s: %s\n", name, kind)
	}
	// Output:
	// biff: ignored (local(8) delivery agent)
	// queue_directory: ignored (install paths and files)
	// smtpd_relay_restrictions: other
	// smtp_tls_security_level: other
}

func BenchmarkParseFile(b *testing.B) {
	for b.Loop() {
		if _, err := postfixconf.ParseFile("testdata/seed-main.cf"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGet(b *testing.B) {
	c, err := postfixconf.ParseFile("testdata/seed-main.cf")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := c.Get("smtpd_tls_mandatory_exclude_ciphers"); err != nil {
			b.Fatal(err)
		}
		if _, err := c.Get("smtpd_relay_before_recipient_restrictions"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSplitList(b *testing.B) {
	s := "permit_mynetworks, check_policy_service { inet:127.0.0.1:9998, timeout=10s }, reject_unauth_destination inline:{ a=1, b=2 }"
	for b.Loop() {
		postfixconf.SplitList(s)
	}
}
