package deliver

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/mxkit/mxkit/queue"
)

func TestErrorRetryDiscard(t *testing.T) {
	for _, tc := range []struct {
		d    queue.Deliverer
		nh   string
		want queue.Result
	}{
		{Error{}, "5.1.1 No such user", queue.Result{Status: queue.Bounced, DSN: "5.1.1", Text: "No such user"}},
		{Error{}, "mailbox disabled", queue.Result{Status: queue.Bounced, DSN: "5.0.0", Text: "mailbox disabled"}},
		{Error{}, "4.2.1 over quota", queue.Result{Status: queue.Bounced, DSN: "5.2.1", Text: "over quota"}},
		{Error{}, "", queue.Result{Status: queue.Bounced, DSN: "5.0.0", Text: "no reason given"}},
		{Error{}, "5.1.1x not a code", queue.Result{Status: queue.Bounced, DSN: "5.0.0", Text: "5.1.1x not a code"}},
		{Retry{}, "4.3.2 try later", queue.Result{Status: queue.Deferred, DSN: "4.3.2", Text: "try later"}},
		{Retry{}, "maintenance", queue.Result{Status: queue.Deferred, DSN: "4.0.0", Text: "maintenance"}},
		{Retry{}, "5.7.1 no", queue.Result{Status: queue.Deferred, DSN: "4.7.1", Text: "no"}},
		{Discard{}, "spam", queue.Result{Status: queue.Delivered, DSN: "2.0.0", Text: "discarded: spam"}},
		{Discard{}, "2.6.0 filtered", queue.Result{Status: queue.Delivered, DSN: "2.6.0", Text: "discarded: filtered"}},
		{Discard{}, "", queue.Result{Status: queue.Delivered, DSN: "2.0.0", Text: "discarded"}},
	} {
		d := msg(queue.Route{Transport: "x", Nexthop: tc.nh}, "a@example.org", "x\r\n", "b@example.test", "c@example.test")
		wantResults(t, tc.d.Deliver(context.Background(), d), []queue.Result{tc.want, tc.want})
	}
}

func TestParseNexthop(t *testing.T) {
	for _, tc := range []struct {
		nh   string
		lmtp bool
		want string // hosts as "network addr name remote display;"
		err  string
	}{
		{"[127.0.0.1]", false, "tcp 127.0.0.1:25 [127.0.0.1] [127.0.0.1]:25;", ""},
		{"[mail.example.com]:587", false, "tcp mail.example.com:587 mail.example.com [mail.example.com]:587;", ""},
		{"[mail.example.com]:smtp", false, "tcp mail.example.com:smtp mail.example.com [mail.example.com]:smtp;", ""},
		{"[ipv6:2001:db8::1]:25", false, "tcp [2001:db8::1]:25 [2001:db8::1] [2001:db8::1]:25;", ""},
		{"[2001:db8::1]", false, "tcp [2001:db8::1]:25 [2001:db8::1] [2001:db8::1]:25;", ""},
		{"[a.example], [b.example]:26", false, "tcp a.example:25 a.example [a.example]:25;tcp b.example:26 b.example [b.example]:26;", ""},
		{"example.com", false, "", `nexthop "example.com": MX lookup needed`},
		{"[a], b", false, "", `nexthop "b": MX lookup needed`},
		{"", false, "", "empty nexthop: MX lookup needed"},
		{"[a]x", false, "", `bad nexthop "[a]x": text after "]"`},
		{"[a", false, "", `bad nexthop "[a": missing closing bracket`},
		{"[a]:0", false, "", `bad nexthop "[a]:0": bad port "0"`},
		{"[a]:", false, "", `bad nexthop "[a]:": empty port`},
		{"[]", false, "", `bad nexthop "[]": empty host`},
		{"[ipv6:1.2.3.4]", false, "", `bad nexthop "[ipv6:1.2.3.4]": bad IPv6 address "1.2.3.4"`},
		{"[a b]", false, "", `bad nexthop "[a b]": bad host "a b"`},
		{"[a],", false, "", `bad nexthop "[a],": empty destination`},
		{"unix:/run/x", false, "", `bad nexthop "unix:/run/x": unix: destinations are for lmtp`},
		{"unix:/run/dovecot/lmtp", true, "unix /run/dovecot/lmtp /run/dovecot/lmtp /run/dovecot/lmtp;", ""},
		{"UNIX:/run/l", true, "unix /run/l /run/l /run/l;", ""},
		{"inet:127.0.0.1:24", true, "tcp 127.0.0.1:24 [127.0.0.1] [127.0.0.1]:24;", ""},
		{"inet:[::1]:2424", true, "tcp [::1]:2424 [::1] [::1]:2424;", ""},
		{"mailstore.example", true, "tcp mailstore.example:24 mailstore.example [mailstore.example]:24;", ""},
		{"mailstore.example:10024", true, "tcp mailstore.example:10024 mailstore.example [mailstore.example]:10024;", ""},
		{"::1", true, "", `bad nexthop "::1": an IPv6 address must be in brackets`},
		{"unix:", true, "", `bad nexthop "unix:": bad socket path`},
		{"inet:", true, "", `bad nexthop "inet:": empty host after "inet:"`},
		{"", true, "", "empty lmtp nexthop"},
		{"[fe80::1%eth0]", false, "", `bad nexthop "[fe80::1%eth0]": bad host "fe80::1%eth0"`},
	} {
		hosts, err := ParseNexthop(tc.nh, tc.lmtp)
		var b strings.Builder
		for _, h := range hosts {
			b.WriteString(h.Network + " " + h.Addr + " " + h.Remote() + " " + h.String() + ";")
		}
		errText := ""
		if err != nil {
			errText = err.Error()
		}
		if b.String() != tc.want || errText != tc.err {
			t.Errorf("ParseNexthop(%q, %v) = %q, %q; want %q, %q", tc.nh, tc.lmtp, b.String(), errText, tc.want, tc.err)
		}
	}
}

func FuzzParseNexthop(f *testing.F) {
	for _, s := range []string{"[127.0.0.1]:25", "[ipv6:::1]", "unix:/x", "inet:h:24", "a,b", "[a]:smtp, [b]"} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, nh string, lmtp bool) {
		hosts, err := ParseNexthop(nh, lmtp)
		if err != nil {
			if hosts != nil {
				t.Fatal("hosts with an error")
			}
			return
		}
		if len(hosts) == 0 {
			t.Fatal("no hosts and no error")
		}
		for _, h := range hosts {
			switch h.Network {
			case "unix":
				if !lmtp || h.Addr == "" || h.Addr != h.Name {
					t.Fatalf("bad unix host %+v", h)
				}
			case "tcp":
				host, p, err := net.SplitHostPort(h.Addr)
				if err != nil || host != h.Name || checkPort(p) != nil || strings.ContainsAny(host, " \t\r\n/[]@") {
					t.Fatalf("bad tcp host %+v: %v", h, err)
				}
			default:
				t.Fatalf("bad network %+v", h)
			}
		}
	})
}
