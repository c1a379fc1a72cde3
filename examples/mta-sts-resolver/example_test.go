package main

import (
	"fmt"

	"github.com/mxkit/mxkit/mtasts"
)

func ExampleParseConfig() {
	c, err := ParseConfig("mta-sts-daemon.yml", []byte(`
port: 8461
resolver: 127.0.0.1
zones:
  rpt:
    tlsrpt: true
    dane_first: false
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(c.Host, c.Port, c.Cache.Type, c.CacheGrace)
	fmt.Printf("%+v\n", c.Zones["rpt"])
	_, err = ParseConfig("mta-sts-daemon.yml", []byte("cache:\n  type: redis\n"))
	fmt.Println(err)
	// Output:
	// 127.0.0.1 8461 internal 1m0s
	// {StrictTesting:false Timeout:4s RequireSNI:true TLSRPT:true DaneFirst:false}
	// mta-sts-daemon.yml:2: cache type "redis" is not supported by this daemon: use internal, sqlite, postgres or file
}

func Example_policyValue() {
	p, _ := mtasts.ParsePolicy("version: STSv1\nmode: enforce\nmx: mail.example.com\nmx: *.mx.example.net\nmax_age: 86400\n")
	fmt.Println(policyValue("example.com", p, Zone{RequireSNI: true}))
	fmt.Println(policyValue("example.com", p, Zone{TLSRPT: true}))
	// Output:
	// secure match=mail.example.com:.mx.example.net servername=hostname
	// secure match=mail.example.com:.mx.example.net policy_type=sts policy_domain=example.com mx_host_pattern=mail.example.com mx_host_pattern=*.mx.example.net
}
