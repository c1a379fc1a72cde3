package policyproto

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mxkit/mxkit/internal/testproc"
	"github.com/mxkit/mxkit/smtppolicy"
	"github.com/mxkit/mxkit/smtppolicy/smtppolicytest"
)

// startPostgrey runs Debian's postgrey on a loopback port with a fresh
// database and returns its endpoint. It skips the test when postgrey is
// not installed, and fails it when CI=true.
func startPostgrey(t *testing.T, args ...string) string {
	t.Helper()
	bin, err := exec.LookPath("postgrey")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/postgrey"); serr == nil {
			bin, err = "/usr/sbin/postgrey", nil
		}
	}
	testproc.Require(t, "postgrey (apt-get install postgrey)", err)
	dir := t.TempDir()
	// postgrey runs as its own user: it must reach the database folder.
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	db := dir + "/db"
	if err := os.Mkdir(db, 0o700); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		// postgrey drops root for its own user; the database must be
		// that user's.
		u, err := user.Lookup("postgrey")
		if err != nil {
			t.Fatalf("running as root, postgrey needs its user: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(db, uid, gid); err != nil {
			t.Fatal(err)
		}
	} else {
		u, err := user.Current()
		if err != nil {
			t.Fatal(err)
		}
		g, err := user.LookupGroupId(u.Gid)
		if err != nil {
			t.Fatal(err)
		}
		args = append(args, "--user="+u.Username, "--group="+g.Name)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	cmd := exec.Command(bin, append([]string{"--inet=" + addr, "--dbdir=" + db, "--pidfile=" + dir + "/pid"}, args...)...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("postgrey output:\n%s", out.String())
		}
	})
	for deadline := time.Now().Add(20 * time.Second); ; {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return "inet:" + addr
		}
		select {
		case <-exited:
			t.Fatalf("postgrey exited: %s", out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("postgrey does not listen on %s: %v\n%s", addr, err, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Our check_policy_service against postgrey: a new triplet is greylisted
// (DEFER_IF_PERMIT, a 450 since nothing rejects it for good); after the
// delay the retry passes with postgrey's PREPEND header recorded on the
// State.
func TestPostgrey(t *testing.T) {
	endpoint := startPostgrey(t, "--delay=1", "--auto-whitelist-clients=0")
	p := policyFor(t, "reject_unauth_destination, check_policy_service "+endpoint, nil)

	session := func() (*smtppolicy.Session, *smtppolicy.Reply) {
		st := smtppolicytest.NewState("192.0.2.77", smtppolicytest.WithHelo("client.example"))
		s := p.NewSession(&st)
		ctx := context.Background()
		s.Helo(ctx, "client.example", true)
		if r := s.Mail(ctx, "a@example.org", 0); r != nil {
			t.Fatal(r)
		}
		return s, s.Rcpt(ctx, "b@example.com")
	}
	_, r := session()
	// postgrey sends "DEFER_IF_PERMIT 4.2.0 Greylisted, ..." to clients
	// that send etrn_domain (Postfix 2.3 and later, and ours).
	const want = "450 4.2.0 <b@example.com>: Recipient address rejected: Greylisted, see http://postgrey.schweikert.ch/help/example.com.html"
	if r == nil || r.String() != want {
		t.Fatalf("first attempt: %v\nwant %s", r, want)
	}
	time.Sleep(2100 * time.Millisecond) // postgrey counts whole seconds
	s, r := session()
	if r != nil {
		t.Fatalf("retry after the delay: %v", r)
	}
	pre := s.State().Prepend
	if len(pre) != 1 || !strings.HasPrefix(pre[0], "X-Greylist: delayed ") || !strings.Contains(pre[0], " seconds by postgrey-") {
		t.Fatalf("Prepend %q, want postgrey's X-Greylist header", pre)
	}
}
