package testpostfix

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mxkit/mxkit/internal/smtpdialog"
	"github.com/mxkit/mxkit/internal/testproc"
)

// dialogue runs script against inst from local and returns the replies
// in wire form, failing the test (with the Postfix log) on error.
func dialogue(t *testing.T, inst *Instance, local string, script ...string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	replies, err := smtpdialog.Run(ctx, inst.Addr, local, script)
	if err != nil {
		t.Fatalf("dialogue from %s: %v\nreplies so far: %v", local, err, replies)
	}
	out := make([]string, len(replies))
	for i, r := range replies {
		out[i] = r.String()
	}
	return out
}

// waitLog waits until the instance's log contains want.
func waitLog(t *testing.T, inst *Instance, want string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(inst.Log(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("the Postfix log never showed %q", want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

const relayMainCF = `smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
mynetworks = 127.0.0.1/32
relay_domains = example.test
`

func TestRelayAccess(t *testing.T) {
	t.Parallel()
	begin := time.Now()
	inst := Start(t, Options{MainCF: relayMainCF})
	t.Logf("Start took %v (Postfix %s on %s)", time.Since(begin), inst.Version, inst.Addr)

	got := dialogue(t, inst, "127.0.0.2",
		"HELO client.example",
		"MAIL FROM:<s@sender.example>",
		"RCPT TO:<u@elsewhere.example>",
		"RCPT TO:<u@example.test>",
		"QUIT")
	want := []string{
		"220 mx.example.test ESMTP",
		"250 mx.example.test",
		"250 2.1.0 Ok",
		"554 5.7.1 <u@elsewhere.example>: Relay access denied",
		"250 2.1.5 Ok",
		"221 2.0.0 Bye",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("from 127.0.0.2:\n got %q\nwant %q", got, want)
	}

	// 127.0.0.1 is in mynetworks: relaying is allowed.
	got = dialogue(t, inst, "127.0.0.1",
		"HELO client.example", "MAIL FROM:<s@sender.example>", "RCPT TO:<u@elsewhere.example>", "QUIT")
	if got[3] != "250 2.1.5 Ok" {
		t.Errorf("from 127.0.0.1: RCPT got %q, want 250 2.1.5 Ok", got[3])
	}
	waitLog(t, inst, "NOQUEUE: reject: RCPT from unknown[127.0.0.2]: 554 5.7.1 <u@elsewhere.example>: Relay access denied;")

	if v, err := inst.Postconf("-h", "relay_domains", "smtpd_banner"); err != nil || v != "example.test\n$myhostname ESMTP" {
		t.Errorf("Postconf = %q, %v", v, err)
	}
}

func TestAcceptedMailIsDiscarded(t *testing.T) {
	t.Parallel()
	inst := Start(t, Options{MainCF: relayMainCF})
	got := dialogue(t, inst, "127.0.0.3",
		"EHLO client.example",
		"MAIL FROM:<s@sender.example>",
		"RCPT TO:<u@example.test>",
		"DATA",
		"DATA-BODY:Subject: test\n\n.leading dot\nbody\n",
		"QUIT")
	ehlo := strings.Split(got[1], "\n")
	if ehlo[0] != "250-mx.example.test" || !strings.HasPrefix(ehlo[len(ehlo)-1], "250 ") {
		t.Errorf("EHLO reply %q", got[1])
	}
	if got[4] != "354 End data with <CR><LF>.<CR><LF>" {
		t.Errorf("DATA reply %q", got[4])
	}
	queued, ok := strings.CutPrefix(got[5], "250 2.0.0 Ok: queued as ")
	if !ok || queued == "" {
		t.Fatalf("end-of-data reply %q", got[5])
	}
	// qmgr hands the message to the discard transport: nothing leaves.
	waitLog(t, inst, queued+": to=<u@example.test>, relay=none")
	if log := inst.Log(); !strings.Contains(log, "status=sent (example.test)") {
		t.Errorf("no discard delivery in the log:\n%s", log)
	}
}

func TestFilesAndPostmap(t *testing.T) {
	t.Parallel()
	Require(t)
	cdb := os.Getenv("CI") == "true" // CI installs postfix-cdb
	if !cdb {
		if m, err := postconfMaps(); err == nil && strings.Contains(m, "\ncdb\n") {
			cdb = true
		}
	}
	relayType := "hash"
	if cdb {
		relayType = "cdb"
	}
	inst := Start(t, Options{
		MainCF: `virtual_alias_domains = virt.example
virtual_alias_maps = hash:$config_directory/virtual
relay_domains = relay.example
relay_recipient_maps = ` + relayType + `:$config_directory/maps/relay_recipients
smtpd_relay_restrictions = reject_unauth_destination
`,
		Files: map[string]string{
			"virtual":               "known@virt.example u@mx.example.test\n",
			"maps/relay_recipients": "ok@relay.example x\n",
		},
		Postmap: []string{"virtual", relayType + ":maps/relay_recipients"},
		Listen:  "127.0.0.9:0",
	})
	if !strings.HasPrefix(inst.Addr, "127.0.0.9:") {
		t.Errorf("Addr = %q, want 127.0.0.9:port", inst.Addr)
	}
	got := dialogue(t, inst, "127.0.0.2",
		"HELO c.example", "MAIL FROM:<>",
		"RCPT TO:<known@virt.example>",
		"RCPT TO:<nobody@virt.example>",
		"RCPT TO:<ok@relay.example>",
		"RCPT TO:<nobody@relay.example>",
		"QUIT")
	want := []string{
		"250 2.1.5 Ok",
		"550 5.1.1 <nobody@virt.example>: Recipient address rejected: User unknown in virtual alias table",
		"250 2.1.5 Ok",
		"550 5.1.1 <nobody@relay.example>: Recipient address rejected: User unknown in relay recipient table",
	}
	if !reflect.DeepEqual(got[3:7], want) {
		t.Errorf("RCPT replies (relay table type %s):\n got %q\nwant %q", relayType, got[3:7], want)
	}
}

// postconfMaps lists the map types this Postfix supports.
func postconfMaps() (string, error) {
	dir, err := os.MkdirTemp("", "testpostfix-maps-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	if err := writeFile(dir+"/main.cf", ""); err != nil { // backdated: no cool-down wait
		return "", err
	}
	b, _ := probeOnce()
	out, err := exec.Command(b.postconf, "-c", dir, "-m").Output()
	return "\n" + string(out), err
}

func TestIPv6(t *testing.T) {
	t.Parallel()
	Require(t)
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	}
	ln.Close()
	inst := Start(t, Options{Listen: "[::1]:0", MainCF: relayMainCF})
	if !strings.HasPrefix(inst.Addr, "[::1]:") {
		t.Errorf("Addr = %q", inst.Addr)
	}
	got := dialogue(t, inst, "::1", "HELO c.example", "MAIL FROM:<>", "RCPT TO:<u@elsewhere.example>", "QUIT")
	if got[3] != "554 5.7.1 <u@elsewhere.example>: Relay access denied" {
		t.Errorf("RCPT from ::1 (not in mynetworks 127.0.0.1/32) got %q", got[3])
	}
}

func TestStopLeavesNothing(t *testing.T) {
	t.Parallel()
	inst := Start(t, Options{})
	pid := inst.masterPID
	// Make smtpd, anvil, proxymap... exist.
	dialogue(t, inst, "127.0.0.4", "HELO c.example", "QUIT")
	if left, err := testproc.GroupMembers(pid); err != nil || len(left) < 2 {
		t.Fatalf("before Stop: processes %v, %v; want master and children", left, err)
	}
	inst.Stop()
	if left, err := testproc.GroupMembers(pid); err != nil || len(left) != 0 {
		t.Errorf("after Stop: processes %v left, %v", left, err)
	}
	if _, err := os.Stat(inst.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Dir %s still there: %v", inst.Dir, err)
	}
	if !strings.Contains(inst.Log(), "postfix/master[") {
		t.Errorf("Log after Stop lost the log: %q", inst.Log())
	}
	inst.Stop() // idempotent
	if _, err := net.DialTimeout("tcp", inst.Addr, time.Second); err == nil {
		t.Errorf("%s still accepts connections", inst.Addr)
	}
}

func TestStartFailsOnBadConfig(t *testing.T) {
	t.Parallel()
	Require(t)
	b, _ := probeOnce()
	_, err := start(b, Options{MainCF: "smtpd_client_connection_count_limit = many\n"})
	if err == nil {
		t.Fatal("start succeeded with a bad smtpd setting")
	}
	for _, want := range []string{
		"testpostfix: smtpd did not greet",
		"fatal: bad numerical configuration: smtpd_client_connection_count_limit = many",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

func TestStartFailsOnTakenPort(t *testing.T) {
	t.Parallel()
	Require(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	b, _ := probeOnce()
	_, err = start(b, Options{Listen: ln.Addr().String()})
	if err == nil {
		t.Fatal("start succeeded on a port in use")
	}
	if !errors.Is(err, errPortInUse) {
		t.Errorf("error is not errPortInUse: %v", err)
	}
	for _, want := range []string{"master exited during start-up", "address already in use"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

// TestResolvConf: with Options.ResolvConf, master (and so every process
// it starts) sees the given resolv.conf, and the machine's stays as it
// was.
func TestResolvConf(t *testing.T) {
	t.Parallel()
	before, err := os.ReadFile("/etc/resolv.conf")
	if err != nil {
		t.Skipf("no /etc/resolv.conf: %v", err)
	}
	const text = "nameserver 127.0.25.53\noptions trust-ad\n"
	inst := Start(t, Options{ResolvConf: text})
	got, err := os.ReadFile("/proc/" + strconv.Itoa(inst.masterPID) + "/root/etc/resolv.conf")
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != text {
		t.Errorf("master's /etc/resolv.conf is %q, want %q", got, text)
	}
	if after, _ := os.ReadFile("/etc/resolv.conf"); string(after) != string(before) {
		t.Errorf("the machine's /etc/resolv.conf changed to %q", after)
	}
	// The instance still works: smtpd answers.
	if r := dialogue(t, inst, "127.0.0.1", "QUIT"); len(r) != 2 || !strings.HasPrefix(r[1], "221 ") {
		t.Errorf("replies %q", r)
	}
}
