package testpostfix

import (
	"net/netip"
	"os"
	"reflect"
	"strings"
	"testing"
)

func TestRenderMainCFOverrides(t *testing.T) {
	got, err := RenderMainCF("/tmp/pf", netip.MustParseAddr("127.0.0.1"),
		"# comment\nmynetworks = 127.0.0.0/8\nsmtpd_banner=$myhostname ESMTP test\n  continued\n")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(got, "mynetworks =") != 1 || !strings.Contains(got, "\nmynetworks = 127.0.0.0/8\n") {
		t.Errorf("mynetworks not replaced:\n%s", got)
	}
	if strings.Contains(got, "smtpd_banner = $myhostname ESMTP\n") {
		t.Errorf("base smtpd_banner kept although overridden:\n%s", got)
	}
	for _, want := range []string{
		"queue_directory = /tmp/pf/queue\n",
		"maillog_file = /tmp/pf/maillog\n",
		"inet_interfaces = 127.0.0.1\n",
		"proxy_interfaces =\n",
		"alias_maps =\n",
		"  continued\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("main.cf lacks %q:\n%s", want, got)
		}
	}
}

func TestRenderMainCFAddresses(t *testing.T) {
	tests := []struct {
		addr string
		want []string
	}{
		{"127.0.0.5", []string{"inet_interfaces = 127.0.0.1\n", "proxy_interfaces = 127.0.0.5\n", "inet_protocols = ipv4\n"}},
		{"::1", []string{"inet_interfaces = ::1\n", "proxy_interfaces =\n", "inet_protocols = ipv4, ipv6\n", "mynetworks = 127.0.0.1/32 [::1]/128\n"}},
	}
	for _, tt := range tests {
		got, err := RenderMainCF("/d", netip.MustParseAddr(tt.addr), "")
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range tt.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: main.cf lacks %q:\n%s", tt.addr, w, got)
			}
		}
	}
}

func TestParamNamesErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"a = 1\nqueue_directory = /x\n", "testpostfix: MainCF:2: queue_directory is set by the harness and cannot be overridden"},
		{"inet_interfaces=all", "testpostfix: MainCF:1: inet_interfaces is set by the harness and cannot be overridden"},
		{"\n\nmyhostname\n", `testpostfix: MainCF:3: missing '=' after parameter name in "myhostname"`},
		{"= x", "testpostfix: MainCF:1: no parameter name before '='"},
		{"my hostname = x", `testpostfix: MainCF:1: parameter name "my hostname" contains white space`},
	}
	for _, tt := range tests {
		_, err := paramNames(tt.in)
		if err == nil || err.Error() != tt.want {
			t.Errorf("paramNames(%q) error = %v, want %q", tt.in, err, tt.want)
		}
	}
	names, err := paramNames("a = 1\r\n  b = continuation\n#c = 3\n\td = 4\ne=\n")
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]int{"a": 1, "e": 5}; !reflect.DeepEqual(names, want) {
		t.Errorf("names = %v, want %v", names, want)
	}
}

func TestParseListen(t *testing.T) {
	ok := map[string]string{
		"":                      "127.0.0.1:0",
		"127.0.0.1:0":           "127.0.0.1:0",
		"127.0.0.5:2525":        "127.0.0.5:2525",
		"127.0.0.7":             "127.0.0.7:0",
		"[::1]:0":               "[::1]:0",
		"::1":                   "[::1]:0",
		"[::1]":                 "[::1]:0",
		"[::ffff:127.0.0.2]:10": "127.0.0.2:10",
	}
	for in, want := range ok {
		got, err := parseListen(in)
		if err != nil || got.String() != want {
			t.Errorf("parseListen(%q) = %v, %v; want %s", in, got, err, want)
		}
	}
	bad := map[string]string{
		"10.0.0.1:0":     `testpostfix: Listen "10.0.0.1:0": not a loopback address`,
		"0.0.0.0:0":      `testpostfix: Listen "0.0.0.0:0": not a loopback address`,
		"127.0.0.1:25":   `testpostfix: Listen "127.0.0.1:25": port 25 is left to the system's MTA`,
		"localhost:0":    `testpostfix: Listen "localhost:0": want IP:port, e.g. 127.0.0.1:0`,
		"[fe80::1%lo]:0": `testpostfix: Listen "[fe80::1%lo]:0": zones are not supported`,
	}
	for in, want := range bad {
		if _, err := parseListen(in); err == nil || err.Error() != want {
			t.Errorf("parseListen(%q) error = %v, want %q", in, err, want)
		}
	}
}

func TestCheckFileName(t *testing.T) {
	for _, name := range []string{"virtual", "maps/relay", "a.b"} {
		if err := checkFileName(name); err != nil {
			t.Errorf("checkFileName(%q) = %v", name, err)
		}
	}
	bad := map[string]string{
		"../x":        `testpostfix: Files["../x"]: want a relative path inside the config directory`,
		"/etc/x":      `testpostfix: Files["/etc/x"]: want a relative path inside the config directory`,
		"":            `testpostfix: Files[""]: want a relative path inside the config directory`,
		"main.cf":     `testpostfix: Files["main.cf"]: use Options.MainCF`,
		"./master.cf": `testpostfix: Files["./master.cf"]: use Options.MasterCF`,
	}
	for name, want := range bad {
		if err := checkFileName(name); err == nil || err.Error() != want {
			t.Errorf("checkFileName(%q) = %v, want %q", name, err, want)
		}
	}
}

func TestPostmapArg(t *testing.T) {
	ok := map[string]string{
		"virtual":         "/cf/virtual",
		"hash:virtual":    "hash:/cf/virtual",
		"cdb:maps/relay":  "cdb:/cf/maps/relay",
		"lmdb:/abs/table": "lmdb:/abs/table",
		"/abs/plain":      "/abs/plain",
		"dir/with:colon":  "/cf/dir/with:colon",
	}
	for in, want := range ok {
		if got, err := postmapArg("/cf", in); err != nil || got != want {
			t.Errorf("postmapArg(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	bad := map[string]string{
		"hash:":     `testpostfix: Postmap "hash:": no file name`,
		"hash:../x": `testpostfix: Postmap "hash:../x": want a name inside the config directory or an absolute path`,
	}
	for in, want := range bad {
		if _, err := postmapArg("/cf", in); err == nil || err.Error() != want {
			t.Errorf("postmapArg(%q) error = %v, want %q", in, err, want)
		}
	}
}

func TestRenderMasterCF(t *testing.T) {
	got := RenderMasterCF(netip.MustParseAddrPort("[::1]:2525"), "policy unix - n n - 0 spawn\n  user=nobody argv=/bin/true")
	lines := strings.Split(got, "\n")
	if lines[1] != "[::1]:2525 inet n - n - - smtpd" {
		t.Errorf("service line = %q", lines[1])
	}
	if !strings.HasSuffix(got, "policy unix - n n - 0 spawn\n  user=nobody argv=/bin/true\n") {
		t.Errorf("extra lines not appended:\n%s", got)
	}
	for _, svc := range []string{"cleanup", "qmgr", "rewrite", "proxymap", "anvil", "postlog", "discard", "error"} {
		if !strings.Contains(got, "\n"+svc+" ") {
			t.Errorf("no %s service:\n%s", svc, got)
		}
	}
	for _, svc := range []string{"\nsmtp ", "\nrelay ", "\nlocal ", "\nvirtual ", "\nlmtp ", "pipe"} {
		if strings.Contains(got, svc) {
			t.Errorf("master.cf has a delivery service %q:\n%s", svc, got)
		}
	}
}

func TestParsePostfixFiles(t *testing.T) {
	text := `# comment
$config_directory/main.cf:f:root:-:644:p1
$data_directory:d:$mail_owner:-:700:uc
$queue_directory:d:root:-:755:uc
$queue_directory/active:d:$mail_owner:-:700:ucr
$queue_directory/maildrop:d:$mail_owner:$setgid_group:730:uc
$queue_directory/pid/master.pid:f:root:-:644
$daemon_directory/master:f:root:-:755
`
	got, err := parsePostfixFiles("postfix-files", text)
	if err != nil {
		t.Fatal(err)
	}
	want := []dirSpec{
		{"data", "", "$mail_owner", "-", 0o700},
		{"queue", "", "root", "-", 0o755},
		{"queue", "active", "$mail_owner", "-", 0o700},
		{"queue", "maildrop", "$mail_owner", "$setgid_group", 0o730},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	bad := map[string]string{
		"$queue_directory/x:d:root":             `postfix-files:1: want path:type:owner:group:mode, got "$queue_directory/x:d:root"`,
		"\n$queue_directory/x:d:root:-:799":     `postfix-files:2: bad mode "799"`,
		"$queue_directory/x:d:root:-:4755":      `postfix-files:1: bad mode "4755"`,
		"$queue_directory/../x:d:root:-:755":    `postfix-files:1: bad directory "$queue_directory/../x"`,
		"$queue_directory/x:d::-:755":           `postfix-files:1: empty owner or group`,
		"$daemon_directory/master:f:root:-:755": `postfix-files: no queue directory entries`,
	}
	for in, want := range bad {
		if _, err := parsePostfixFiles("postfix-files", in); err == nil || err.Error() != want {
			t.Errorf("parsePostfixFiles(%q) error = %v, want %q", in, err, want)
		}
	}
}

// TestInstalledPostfixFiles checks the parser against the real table.
func TestInstalledPostfixFiles(t *testing.T) {
	Require(t)
	b, _ := probeOnce()
	paths := make(map[string]os.FileMode)
	for _, d := range b.dirs {
		paths[d.path] = d.mode
	}
	for p, mode := range map[string]os.FileMode{"queue": 0o755, "queue/active": 0o700, "queue/public": 0o710, "queue/maildrop": 0o730, "queue/pid": 0o755, "data": 0o700} {
		if paths[p] != mode {
			t.Errorf("%s: mode %o, want %o (all: %v)", p, paths[p], mode, paths)
		}
	}
	if b.dirs[0].path != "data" && b.dirs[0].path != "queue" {
		t.Errorf("first directory %q is not a base directory", b.dirs[0].path)
	}
}
