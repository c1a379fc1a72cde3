package testpostfix

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mxkit/mxkit/internal/smtpdialog"
	"github.com/mxkit/mxkit/internal/testproc"
)

// Time limits.
const (
	// StartTimeout bounds the wait for the first SMTP greeting.
	StartTimeout = 30 * time.Second
	// stopTimeout bounds the wait for master and its children to exit
	// after SIGTERM before they get SIGKILL.
	stopTimeout = 10 * time.Second
	// bindRetries is how often Start picks another free port when the
	// one it picked was taken before master could bind it.
	bindRetries = 5
)

// Options describes one Postfix instance.
type Options struct {
	// MainCF holds main.cf lines appended after the harness's base
	// settings; a parameter set here replaces the base setting of the same
	// name. "$config_directory" names the instance's ConfigDir, e.g.
	// "virtual_alias_maps = hash:$config_directory/virtual".
	MainCF string
	// MasterCF holds extra master.cf lines (a policy service, say),
	// appended after the harness's services.
	MasterCF string
	// Files are written into ConfigDir before Postfix starts: name
	// (relative, subdirectories allowed) to content.
	Files map[string]string
	// Postmap lists the tables to build with postmap(1) after Files are
	// written: "type:name" or "name" (Postfix's default_database_type,
	// hash on Debian), name relative to ConfigDir or absolute. cdb needs
	// Debian's postfix-cdb package.
	Postmap []string
	// Listen is where smtpd listens: a loopback IP address and port, e.g.
	// "127.0.0.1:0" (the default; 0 picks a free port), "127.0.0.5:2525"
	// or "[::1]:0".
	Listen string
	// ResolvConf, when not empty, is the resolv.conf(5) the instance's
	// processes see: master runs in a mount namespace of its own
	// (unshare --mount, private propagation) in which a file with this
	// text is bind-mounted over /etc/resolv.conf, so that smtp(8)'s libc
	// resolver asks a test's DNS server (which must listen on port 53;
	// "options trust-ad" passes a loopback resolver's AD bit, for DANE).
	// The machine's /etc/resolv.conf is never changed. Needs unshare(1)
	// and mount(8) from util-linux.
	ResolvConf string
}

// Instance is a running Postfix.
type Instance struct {
	// Addr is the host:port smtpd listens on.
	Addr string
	// ConfigDir holds main.cf, master.cf and Options.Files.
	ConfigDir string
	// Dir is the instance's root: ConfigDir, the queue, the data
	// directory and the log are under it. It is removed by Stop.
	Dir string
	// Version is Postfix's mail_version, e.g. "3.7.11".
	Version string

	t         testing.TB
	bin       *binaries
	logPath   string
	wrapper   *exec.Cmd       // the shell that runs master
	exited    <-chan struct{} // closed when the wrapper has been reaped
	masterPID int             // also master's process group
	stopOnce  sync.Once
	finalLog  string
}

// binaries is what Available found.
type binaries struct {
	postconf, postmap, master string
	version                   string
	dirs                      []queueDir
}

// queueDir is a directory to create under an instance's Dir.
type queueDir struct {
	path     string // relative to Dir: "queue", "queue/active", "data"
	uid, gid int    // gid -1: leave as created
	mode     os.FileMode
}

var probeOnce = sync.OnceValues(probe)

// Available reports whether a real Postfix can be started here: Linux,
// root, the postfix, postconf and postmap commands, the master daemon,
// and the postfix user and postdrop group that Debian's package creates.
func Available() error {
	_, err := probeOnce()
	return err
}

// Version returns the installed Postfix's mail_version.
func Version() (string, error) {
	b, err := probeOnce()
	if err != nil {
		return "", err
	}
	return b.version, nil
}

func probe() (*binaries, error) {
	if runtime.GOOS != "linux" {
		return nil, fmt.Errorf("testpostfix: needs Linux, not %s", runtime.GOOS)
	}
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("testpostfix: Postfix's master daemon must run as root (euid is %d)", os.Geteuid())
	}
	var b binaries
	for _, p := range []struct {
		dst  *string
		name string
	}{{&b.postconf, "postconf"}, {&b.postmap, "postmap"}} {
		path, err := lookSbin(p.name)
		if err != nil {
			return nil, err
		}
		*p.dst = path
	}
	// -d: built-in defaults, readable without any main.cf.
	out, err := exec.Command(b.postconf, "-dh", "daemon_directory", "meta_directory", "mail_version").Output()
	if err != nil {
		return nil, fmt.Errorf("testpostfix: %s -dh: %w", b.postconf, err)
	}
	fields := strings.Fields(string(out))
	if len(fields) != 3 {
		return nil, fmt.Errorf("testpostfix: unexpected postconf output %q", out)
	}
	b.master, b.version = filepath.Join(fields[0], "master"), fields[2]
	if _, err := os.Stat(b.master); err != nil {
		return nil, fmt.Errorf("testpostfix: master daemon: %w", err)
	}
	filesPath := filepath.Join(fields[1], "postfix-files")
	text, err := os.ReadFile(filesPath)
	if err != nil {
		return nil, fmt.Errorf("testpostfix: %w", err)
	}
	specs, err := parsePostfixFiles(filesPath, string(text))
	if err != nil {
		return nil, fmt.Errorf("testpostfix: %w", err)
	}
	if b.dirs, err = resolveDirs(specs); err != nil {
		return nil, err
	}
	return &b, nil
}

// resolveDirs turns postfix-files entries into directories to create,
// with mail_owner = postfix and setgid_group = postdrop, the Debian
// package's (and Postfix's) defaults.
func resolveDirs(specs []dirSpec) ([]queueDir, error) {
	uid := func(name string) (int, error) {
		if name == "$mail_owner" {
			name = "postfix"
		}
		u, err := user.Lookup(name)
		if err != nil {
			return 0, fmt.Errorf("testpostfix: %w", err)
		}
		return strconv.Atoi(u.Uid)
	}
	gid := func(name string) (int, error) {
		switch name {
		case "-":
			return -1, nil
		case "$setgid_group":
			name = "postdrop"
		}
		g, err := user.LookupGroup(name)
		if err != nil {
			return 0, fmt.Errorf("testpostfix: %w", err)
		}
		return strconv.Atoi(g.Gid)
	}
	dirs := make([]queueDir, 0, len(specs))
	for _, s := range specs {
		u, err := uid(s.owner)
		if err != nil {
			return nil, err
		}
		g, err := gid(s.group)
		if err != nil {
			return nil, err
		}
		dirs = append(dirs, queueDir{path: filepath.Join(s.base, s.rel), uid: u, gid: g, mode: s.mode})
	}
	// Parents first: "queue" before "queue/active".
	slices.SortStableFunc(dirs, func(a, b queueDir) int { return strings.Count(a.path, "/") - strings.Count(b.path, "/") })
	return dirs, nil
}

// lookSbin finds a Postfix command in PATH or, since a non-login root
// shell may lack it there, in /usr/sbin.
func lookSbin(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	p := filepath.Join("/usr/sbin", name)
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("testpostfix: %s not found (install Debian's postfix package): %w", name, err)
	}
	return p, nil
}

// Require skips the test when Available fails, except when the
// environment variable CI is "true": then it fails the test, because CI
// must never skip a test against a real peer.
func Require(t testing.TB) {
	t.Helper()
	testproc.Require(t, "usable Postfix", Available())
}

// Start runs a Postfix instance for the test (calling Require first) and
// returns once smtpd has answered a connection; the instance is stopped
// by Stop, which is registered with t.Cleanup. The readiness probe is one
// connection from the listen address itself, ended with QUIT.
//
// If the test has failed by the time Stop runs, Stop logs the instance's
// log with t.Log.
func Start(t testing.TB, opts Options) *Instance {
	t.Helper()
	Require(t)
	b, _ := probeOnce()
	inst, err := start(b, opts)
	if err != nil {
		t.Fatal(err)
	}
	inst.t = t
	t.Cleanup(inst.Stop)
	return inst
}

// start does Start's work and reports failure as an error, cleaning up
// after itself.
func start(b *binaries, opts Options) (_ *Instance, err error) {
	ap, err := parseListen(opts.Listen)
	if err != nil {
		return nil, err
	}
	for name := range opts.Files {
		if err := checkFileName(name); err != nil {
			return nil, err
		}
	}
	dir, err := os.MkdirTemp("", "testpostfix-")
	if err != nil {
		return nil, fmt.Errorf("testpostfix: %w", err)
	}
	inst := &Instance{
		Dir:       dir,
		ConfigDir: filepath.Join(dir, "etc"),
		Version:   b.version,
		bin:       b,
		logPath:   filepath.Join(dir, "maillog"),
	}
	defer func() {
		if err != nil {
			_ = inst.kill()
			_ = os.RemoveAll(dir)
		}
	}()
	if err := inst.prepare(ap.Addr(), opts); err != nil {
		return nil, err
	}
	auto := ap.Port() == 0
	for attempt := 1; ; attempt++ {
		if auto {
			if ap, err = freePort(ap.Addr()); err != nil {
				return nil, err
			}
		}
		err := inst.run(ap, opts.MasterCF, opts.ResolvConf)
		if err == nil {
			return inst, nil
		}
		if !auto || attempt == bindRetries || !errors.Is(err, errPortInUse) {
			return nil, err
		}
		// Another process took the free port first: try another one.
	}
}

// prepare lays out the directories, writes the configuration and the
// tables, and creates the queue and data directories.
func (i *Instance) prepare(addr netip.Addr, opts Options) error {
	mainCF, err := RenderMainCF(i.Dir, addr, opts.MainCF)
	if err != nil {
		return err
	}
	// Postfix's daemons drop to the postfix user and must reach the
	// queue and data directories, so the root is 0755, not 0700.
	if err := os.Chmod(i.Dir, 0o755); err != nil {
		return fmt.Errorf("testpostfix: %w", err)
	}
	if err := os.Mkdir(i.ConfigDir, 0o755); err != nil {
		return fmt.Errorf("testpostfix: %w", err)
	}
	// The queue and data directories, with the owners and modes of the
	// installed postfix-files: what "postfix check" (post-install
	// create-missing) would make, without its hundreds of processes.
	for _, d := range i.bin.dirs {
		p := filepath.Join(i.Dir, d.path)
		if err := os.Mkdir(p, d.mode); err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("testpostfix: %w", err)
		}
		if err := os.Chown(p, d.uid, d.gid); err != nil {
			return fmt.Errorf("testpostfix: %w", err)
		}
		if err := os.Chmod(p, d.mode); err != nil { // not masked by umask
			return fmt.Errorf("testpostfix: %w", err)
		}
	}
	if err := writeFile(filepath.Join(i.ConfigDir, "main.cf"), mainCF); err != nil {
		return fmt.Errorf("testpostfix: %w", err)
	}
	names := make([]string, 0, len(opts.Files))
	for name := range opts.Files {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		p := filepath.Join(i.ConfigDir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("testpostfix: %w", err)
		}
		if err := writeFile(p, opts.Files[name]); err != nil {
			return fmt.Errorf("testpostfix: %w", err)
		}
	}
	for _, spec := range opts.Postmap {
		arg, err := postmapArg(i.ConfigDir, spec)
		if err != nil {
			return err
		}
		if err := runCmd(i.bin.postmap, "-c", i.ConfigDir, arg); err != nil {
			return err
		}
	}
	return nil
}

// writeFile writes a configuration file dated an hour ago. Postfix
// re-reads a main.cf (or any file it loads with dict_load_file) that
// changed in the last second or so, every 300 ms, until it has "cooled
// down": a fresh main.cf would cost each process about two seconds.
func writeFile(path, content string) error {
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		return fmt.Errorf("testpostfix: %w", err)
	}
	past := time.Now().Add(-time.Hour)
	if err := os.Chtimes(path, past, past); err != nil {
		return fmt.Errorf("testpostfix: %w", err)
	}
	return nil
}

// run writes master.cf for ap, starts master and waits for smtpd.
func (i *Instance) run(ap netip.AddrPort, masterCF, resolvConf string) error {
	i.Addr = ap.String()
	if err := writeFile(filepath.Join(i.ConfigDir, "master.cf"), RenderMasterCF(ap, masterCF)); err != nil {
		return fmt.Errorf("testpostfix: %w", err)
	}
	args := []string{"-c", wrapperScript, "testpostfix-wrapper"}
	if resolvConf != "" {
		ns, err := i.namespaceArgs(resolvConf)
		if err != nil {
			return err
		}
		args = append(args, ns...)
	}
	args = append(args, i.bin.master, "-c", i.ConfigDir)
	cmd := exec.Command("/bin/sh", args...)
	exited, err := testproc.StartWithDeathSignal(cmd, syscall.SIGTERM)
	if err != nil {
		return fmt.Errorf("testpostfix: start %s: %w", i.bin.master, err)
	}
	i.wrapper, i.exited = cmd, exited
	if err := i.waitReady(ap); err != nil {
		_ = i.kill()
		return fmt.Errorf("%w\n--- Postfix log ---\n%s", err, i.Log())
	}
	pid, err := os.ReadFile(filepath.Join(i.Dir, "queue", "pid", "master.pid"))
	if err == nil {
		i.masterPID, err = strconv.Atoi(strings.TrimSpace(string(pid)))
	}
	if err != nil {
		_ = i.kill()
		return fmt.Errorf("testpostfix: master's pid file: %w", err)
	}
	return nil
}

// namespaceScript bind-mounts its $0 over /etc/resolv.conf, then execs
// its arguments (master keeps the pid unshare started with).
const namespaceScript = `mount --bind "$0" /etc/resolv.conf && exec "$@"`

// namespaceArgs writes resolvConf to the instance's directory and
// returns the command prefix that runs master in a mount namespace of
// its own where that file is /etc/resolv.conf.
func (i *Instance) namespaceArgs(resolvConf string) ([]string, error) {
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		return nil, fmt.Errorf("testpostfix: Options.ResolvConf needs unshare(1) (Debian's util-linux): %w", err)
	}
	if _, err := exec.LookPath("mount"); err != nil {
		return nil, fmt.Errorf("testpostfix: Options.ResolvConf needs mount(8) (Debian's mount): %w", err)
	}
	if _, err := os.Stat("/etc/resolv.conf"); err != nil {
		return nil, fmt.Errorf("testpostfix: Options.ResolvConf: nothing to mount over: %w", err)
	}
	path := filepath.Join(i.Dir, "resolv.conf")
	if !strings.HasSuffix(resolvConf, "\n") {
		resolvConf += "\n"
	}
	if err := os.WriteFile(path, []byte(resolvConf), 0o644); err != nil {
		return nil, fmt.Errorf("testpostfix: %w", err)
	}
	// No --fork: unshare execs the shell, which execs master, so master
	// has the pid the wrapper waits for and signals.
	return []string{unshare, "--mount", "--propagation", "private", "/bin/sh", "-c", namespaceScript, path}, nil
}

// wrapperScript runs master (its arguments) in the background and waits
// for it. master cannot keep a parent-death signal (the kernel clears it
// when master briefly changes its effective uid), so the shell keeps it
// instead: SIGTERM, from Stop or from the kernel when the test binary
// dies, makes the shell send SIGTERM to master, which then signals its
// whole process group, as "postfix stop" would.
const wrapperScript = `trap '[ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null; wait "$pid"; exit 143' TERM
"$@" </dev/null >/dev/null 2>&1 &
pid=$!
wait "$pid"
`

// waitReady polls until smtpd sends a reply line to a connection from
// ap's own address, master exits, smtpd logs a fatal error, or
// StartTimeout passes.
func (i *Instance) waitReady(ap netip.AddrPort) error {
	deadline := time.Now().Add(StartTimeout)
	for {
		select {
		case <-i.exited:
			return i.diagnoseExit(ap)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("testpostfix: no SMTP greeting from %s within %v", i.Addr, StartTimeout)
		}
		ready, err := i.probeSMTP(ap.Addr().String())
		if ready {
			return nil
		}
		if err != nil && strings.Contains(i.Log(), "fatal:") {
			return fmt.Errorf("testpostfix: smtpd did not greet (%v) and Postfix logged a fatal error", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// diagnoseExit explains why master exited during start-up. Before master
// has read main.cf it logs to syslog, not to maillog_file, so a failure
// to bind the port, the commonest, is checked here directly.
func (i *Instance) diagnoseExit(ap netip.AddrPort) error {
	if ln, err := net.Listen("tcp", ap.String()); err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("testpostfix: master exited during start-up (%v): %w", i.wrapper.ProcessState, errPortInUse)
		}
	} else {
		ln.Close()
	}
	return fmt.Errorf("testpostfix: master exited during start-up (%v); errors from before it read main.cf went to syslog", i.wrapper.ProcessState)
}

var errPortInUse = errors.New("address already in use")

// probeSMTP connects once; ready is true when a reply arrived. err is
// set when the connection was accepted but no reply came.
func (i *Instance) probeSMTP(local string) (ready bool, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	c, err := smtpdialog.Dial(ctx, "tcp", i.Addr, local)
	if err != nil {
		return false, nil // not listening yet
	}
	defer c.Close()
	// Short, so that a start-up that went wrong is noticed soon; a slow
	// smtpd only costs another probe.
	c.SetTimeout(2 * time.Second)
	if _, err := c.Greeting(); err != nil {
		return false, err
	}
	_, _ = c.Cmd("QUIT")
	return true, nil
}

// freePort returns addr with a port that was free a moment ago.
func freePort(addr netip.Addr) (netip.AddrPort, error) {
	ln, err := net.Listen("tcp", netip.AddrPortFrom(addr, 0).String())
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("testpostfix: find a free port on %s: %w", addr, err)
	}
	defer ln.Close()
	ap, err := netip.ParseAddrPort(ln.Addr().String())
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("testpostfix: %w", err)
	}
	return netip.AddrPortFrom(addr, ap.Port()), nil
}

// runCmd runs a Postfix command and returns its output in the error.
func runCmd(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("testpostfix: %s %s: %w\n%s", name, strings.Join(args, " "), err, out)
	}
	return nil
}

// Log returns what the instance has logged so far (its maillog_file);
// after Stop, what it had logged when it stopped.
func (i *Instance) Log() string {
	if i.finalLog != "" {
		return i.finalLog
	}
	b, _ := os.ReadFile(i.logPath) // no file yet: nothing logged yet
	return string(b)
}

// Postconf runs postconf(1) on the instance's configuration with args,
// e.g. Postconf("-h", "smtpd_relay_restrictions"), and returns its
// output without the final newline.
func (i *Instance) Postconf(args ...string) (string, error) {
	out, err := exec.Command(i.bin.postconf, append([]string{"-c", i.ConfigDir}, args...)...).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = fmt.Errorf("%w: %s", err, strings.TrimSpace(string(ee.Stderr)))
		}
		return "", fmt.Errorf("testpostfix: postconf %s: %w", strings.Join(args, " "), err)
	}
	return strings.TrimSuffix(string(out), "\n"), nil
}

// Stop stops master and every process it started, waits until they have
// exited, and removes Dir. It is safe to call more than once; Start
// registers it with t.Cleanup.
func (i *Instance) Stop() {
	i.stopOnce.Do(func() {
		err := i.kill()
		i.finalLog = i.Log()
		if err != nil {
			i.t.Errorf("testpostfix: stop %s: %v", i.Addr, err)
		}
		if i.t.Failed() {
			i.t.Logf("testpostfix: log of the Postfix instance on %s:\n%s", i.Addr, i.finalLog)
		}
		if err := os.RemoveAll(i.Dir); err != nil {
			i.t.Errorf("testpostfix: %v", err)
		}
	})
}

// kill stops master with SIGTERM (what "postfix stop" sends: master then
// signals its process group) and makes sure the whole process group is
// gone, using SIGKILL if it must.
func (i *Instance) kill() error {
	if i.wrapper == nil || i.wrapper.Process == nil {
		return nil
	}
	select {
	case <-i.exited:
	default:
		_ = i.wrapper.Process.Signal(syscall.SIGTERM)
		select {
		case <-i.exited:
		case <-time.After(stopTimeout):
			_ = i.wrapper.Process.Kill()
			<-i.exited
		}
	}
	if i.masterPID == 0 {
		return nil
	}
	// master is gone; its children notice and exit on their own.
	deadline := time.Now().Add(stopTimeout)
	killed := false
	for {
		left, err := testproc.GroupMembers(i.masterPID)
		if err != nil || len(left) == 0 {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("processes %v of Postfix's process group %d survived SIGKILL", left, i.masterPID)
		}
		if !killed && time.Until(deadline) < stopTimeout/2 {
			testproc.KillGroup(i.masterPID, syscall.SIGKILL)
			killed = true
		}
		time.Sleep(20 * time.Millisecond)
	}
}
