package relaymaps_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/mxkit/mxkit/relaymaps"
)

func TestParseTransport(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string // fmt of the fields
	}{
		{"smtp:[mail.example.com]:587", "t=smtp nh=[mail.example.com]:587 host=mail.example.com port=587 br=true mx=false unix=false dsn= text= n=1"},
		{"smtp:example.com", "t=smtp nh=example.com host=example.com port= br=false mx=true unix=false dsn= text= n=1"},
		{"smtp:example.com:submission", "t=smtp nh=example.com:submission host=example.com port=submission br=false mx=true unix=false dsn= text= n=1"},
		{"relay:[primary.example]", "t=relay nh=[primary.example] host=primary.example port= br=true mx=false unix=false dsn= text= n=1"},
		{"lmtp:unix:/run/dovecot/lmtp", "t=lmtp nh=unix:/run/dovecot/lmtp host=/run/dovecot/lmtp port= br=false mx=false unix=true dsn= text= n=1"},
		{"lmtp:inet:127.0.0.1:24", "t=lmtp nh=inet:127.0.0.1:24 host=127.0.0.1 port=24 br=false mx=false unix=false dsn= text= n=1"},
		{"lmtp:[::1]:24", "t=lmtp nh=[::1]:24 host=::1 port=24 br=true mx=false unix=false dsn= text= n=1"},
		{":[10.0.0.1]", "t= nh=[10.0.0.1] host=10.0.0.1 port= br=true mx=false unix=false dsn= text= n=1"},
		{"smtp:", "t=smtp nh= host= port= br=false mx=false unix=false dsn= text= n=0"},
		{"smtp", "t=smtp nh= host= port= br=false mx=false unix=false dsn= text= n=0"},
		{":", "t= nh= host= port= br=false mx=false unix=false dsn= text= n=0"},
		{"smtp:[a.example], b.example:2525", "t=smtp nh=[a.example], b.example:2525 host=a.example port= br=true mx=false unix=false dsn= text= n=2"},
		{"error:5.1.1 no such user", "t=error nh=5.1.1 no such user host= port= br=false mx=false unix=false dsn=5.1.1 text=no such user n=0"},
		{"error:mail for this domain is not accepted", "t=error nh=mail for this domain is not accepted host= port= br=false mx=false unix=false dsn=5.0.0 text=mail for this domain is not accepted n=0"},
		{"retry:try again later", "t=retry nh=try again later host= port= br=false mx=false unix=false dsn=4.0.0 text=try again later n=0"},
		{"retry:4.3.2 maintenance", "t=retry nh=4.3.2 maintenance host= port= br=false mx=false unix=false dsn=4.3.2 text=maintenance n=0"},
		{"discard:", "t=discard nh= host= port= br=false mx=false unix=false dsn= text= n=0"},
		{"discard:spam trap", "t=discard nh=spam trap host= port= br=false mx=false unix=false dsn= text=spam trap n=0"},
		{"local:", "t=local nh= host= port= br=false mx=false unix=false dsn= text= n=0"},
		{"dovecot:some opaque text", "t=dovecot nh=some opaque text host= port= br=false mx=false unix=false dsn= text= n=0"},
		{"smtp-amavis:[127.0.0.1]:10024", "t=smtp-amavis nh=[127.0.0.1]:10024 host=127.0.0.1 port=10024 br=true mx=false unix=false dsn= text= n=1"},
	} {
		tr, err := relaymaps.ParseTransport(tc.in)
		if err != nil {
			t.Errorf("ParseTransport(%q): %v", tc.in, err)
			continue
		}
		got := fmt.Sprintf("t=%s nh=%s host=%s port=%s br=%v mx=%v unix=%v dsn=%s text=%s n=%d",
			tr.Transport, tr.Nexthop, tr.Host, tr.Port, tr.Bracketed, tr.MX, tr.Unix, tr.DSN, tr.Text, len(tr.Destinations))
		if got != tc.want {
			t.Errorf("ParseTransport(%q):\n got %s\nwant %s", tc.in, got, tc.want)
		}
	}
	tr, _ := relaymaps.ParseTransport("smtp:[a.example], b.example:2525")
	if d := tr.Destinations[1]; d != (relaymaps.Destination{Host: "b.example", Port: "2525", MX: true}) {
		t.Errorf("second destination %+v", d)
	}
}

func TestParseTransportErrors(t *testing.T) {
	for _, tc := range []struct{ in, msg string }{
		{"", `relaymaps: transport "": empty value`},
		{"smtp:[mail.example.com", `relaymaps: transport "smtp:[mail.example.com": missing "]" in "[mail.example.com"`},
		{"smtp:[h]x", `relaymaps: transport "smtp:[h]x": text after "]" in "[h]x"`},
		{"smtp:[h]:0", `relaymaps: transport "smtp:[h]:0": bad port "0" in "[h]:0"`},
		{"smtp:h:70000", `relaymaps: transport "smtp:h:70000": bad port "70000" in "h:70000"`},
		{"smtp:h:", `relaymaps: transport "smtp:h:": empty port in "h:"`},
		{"smtp:2001:db8::1", `relaymaps: transport "smtp:2001:db8::1": IPv6 address "2001:db8::1" must be in brackets`},
		{"smtp:[]", `relaymaps: transport "smtp:[]": empty host in "[]"`},
		{"smtp:a,,b", `relaymaps: transport "smtp:a,,b": empty destination in nexthop list`},
		{"lmtp:unix:", `relaymaps: transport "lmtp:unix:": empty path after "unix:"`},
		{"[10.0.0.1]", `relaymaps: transport "[10.0.0.1]": bad transport name "[10.0.0.1]" (expected "transport:nexthop")`},
	} {
		_, err := relaymaps.ParseTransport(tc.in)
		if err == nil || err.Error() != tc.msg || !errors.Is(err, relaymaps.ErrConfig) {
			t.Errorf("ParseTransport(%q) error:\n got %v\nwant %s", tc.in, err, tc.msg)
		}
	}
}

func TestTransportKeys(t *testing.T) {
	for _, tc := range []struct {
		addr   string
		parent bool
		want   string
	}{
		{"User+Tag@Mail.Example.COM", false, "user+tag@mail.example.com user@mail.example.com* mail.example.com .example.com* .com* *"},
		{"user@mail.example.com", true, "user@mail.example.com mail.example.com example.com* com* *"},
		{"user@[192.0.2.1]", false, "user@[192.0.2.1] [192.0.2.1] *"},
		{"user", false, "user *"},
		{"", false, "*"},
	} {
		if got := keyList(relaymaps.TransportKeys(tc.addr, "+", tc.parent)); got != tc.want {
			t.Errorf("TransportKeys(%q, %v):\n got %s\nwant %s", tc.addr, tc.parent, got, tc.want)
		}
	}
}
