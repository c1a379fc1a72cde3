package testdnssec

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/mxkit/mxkit/internal/testproc"
)

// StartTimeout bounds how long Start waits for each server to answer.
var StartTimeout = 15 * time.Second

const stopTimeout = 5 * time.Second

// binaries are the programs the harness runs.
type binaries struct {
	knotd, keymgr, unbound, openssl string
}

var probeOnce = sync.OnceValues(probe)

func probe() (*binaries, error) {
	if err := testproc.Supported(); err != nil {
		return nil, err
	}
	var b binaries
	for _, p := range []struct {
		dst          *string
		name, debPkg string
	}{
		{&b.knotd, "knotd", "knot"},
		{&b.keymgr, "keymgr", "knot"},
		{&b.unbound, "unbound", "unbound"},
		{&b.openssl, "openssl", "openssl"},
	} {
		path, err := lookSbin(p.name)
		if err != nil {
			return nil, fmt.Errorf("testdnssec: %s not found (install Debian's %s package): %w", p.name, p.debPkg, err)
		}
		*p.dst = path
	}
	return &b, nil
}

// lookSbin finds a command in PATH or, since a non-login root shell may
// lack them there, in /usr/sbin.
func lookSbin(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	p := filepath.Join("/usr/sbin", name)
	if _, err := os.Stat(p); err != nil {
		return "", err
	}
	return p, nil
}

// Available reports whether knotd, keymgr, unbound and openssl are
// installed.
func Available() error {
	_, err := probeOnce()
	return err
}

// OpenSSL returns the path of the openssl command; Require first.
func OpenSSL() string {
	b, _ := probeOnce()
	if b == nil {
		return "openssl"
	}
	return b.openssl
}

// Require skips the test when Available fails, except when the
// environment variable CI is "true": then it fails the test, because CI
// must never skip a test against a real DNSSEC chain.
func Require(t testing.TB) {
	t.Helper()
	testproc.Require(t, "DNSSEC chain (Knot, Unbound, openssl)", Available())
}

// Chain is a running authoritative server (knotd) and validating
// resolver (unbound), both on 127.0.0.1.
type Chain struct {
	// Parent is the signed parent zone, e.g. "dane.test.".
	Parent string
	// AuthAddr is knotd's "127.0.0.1:PORT" (UDP and TCP).
	AuthAddr string
	// ResolverAddr is unbound's "127.0.0.1:PORT" (UDP and TCP), the
	// address to give the code under test.
	ResolverAddr string
	// TrustAnchor is the parent's DS record, unbound's only trust anchor,
	// e.g. "dane.test. DS 12345 13 2 ABCD…".
	TrustAnchor string
	// DS holds the DS record put in the parent for each signed child
	// (for a Bogus child, the broken one).
	DS map[string]string
	// Dir is the temporary directory with keys, zones, configuration and
	// logs; Stop removes it.
	Dir string

	t        testing.TB
	procs    []*daemon
	stopOnce sync.Once
}

type daemon struct {
	name   string
	cmd    *exec.Cmd
	exited <-chan struct{}
	log    string
}

// Start signs the zones of cfg with Knot DNS, serves them with knotd and
// runs unbound in front of it, validating with the parent's DS as its
// only trust anchor; it calls Require first and registers Stop with
// t.Cleanup. It returns once unbound has validated the parent's SOA.
func Start(t testing.TB, cfg Config) *Chain {
	t.Helper()
	Require(t)
	b, _ := probeOnce()
	c, err := start(b, cfg)
	if c != nil {
		c.t = t
		t.Cleanup(c.Stop)
	}
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func start(b *binaries, cfg Config) (*Chain, error) {
	cfg, err := normalize(cfg)
	if err != nil {
		return nil, err
	}
	// A short path: knotd's control socket lives in it, and a Unix
	// socket path may not exceed 107 bytes (t.TempDir's can).
	dir, err := os.MkdirTemp("", "testdnssec")
	if err != nil {
		return nil, fmt.Errorf("testdnssec: %w", err)
	}
	c := &Chain{Parent: cfg.Parent, Dir: dir, DS: map[string]string{}}
	for _, d := range []string{"zones", "kasp", "knot"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			return c, fmt.Errorf("testdnssec: %w", err)
		}
	}
	authPort, err := freePort()
	if err != nil {
		return c, err
	}
	c.AuthAddr = net.JoinHostPort("127.0.0.1", fmt.Sprint(authPort))
	knotConf := filepath.Join(dir, "knot.conf")
	if err := os.WriteFile(knotConf, []byte(renderKnotConf(dir, authPort, cfg)), 0o644); err != nil {
		return c, fmt.Errorf("testdnssec: %w", err)
	}
	// Keys first, so that the parent zone file can hold the children's DS.
	signed := []string{cfg.Parent}
	for _, z := range cfg.Zones {
		if z.Security != Insecure {
			signed = append(signed, z.Name)
		}
	}
	ds := map[string]*dns.DS{}
	for _, zone := range signed {
		if _, err := run(b.keymgr, "-c", knotConf, zone, "generate", "algorithm=ecdsap256sha256", "ksk=yes", "zsk=yes"); err != nil {
			return c, err
		}
		out, err := run(b.keymgr, "-c", knotConf, zone, "ds")
		if err != nil {
			return c, err
		}
		d, err := sha256DS(out)
		if err != nil {
			return c, fmt.Errorf("testdnssec: keymgr %s ds: %w", zone, err)
		}
		ds[zone] = d
	}
	c.TrustAnchor = ds[cfg.Parent].String()
	c.TrustAnchor = strings.Join(strings.Fields(strings.Replace(c.TrustAnchor, "\tIN\t", " ", 1)), " ")
	if err := writeZones(c, cfg, ds); err != nil {
		return c, err
	}
	kd, err := c.launch("knotd", filepath.Join(dir, "knotd.log"), b.knotd, "-c", knotConf)
	if err != nil {
		return c, err
	}
	zones := []string{cfg.Parent}
	for _, z := range cfg.Zones {
		zones = append(zones, z.Name)
	}
	if err := waitAuth(kd, c.AuthAddr, zones); err != nil {
		return c, c.withLog(err, kd)
	}

	resIP, resPort := "127.0.0.1", 0
	if cfg.ResolverListen != "" {
		host, port, _ := net.SplitHostPort(cfg.ResolverListen) // checked by normalize
		resIP = host
		resPort, _ = strconv.Atoi(port)
		if err := checkFree(cfg.ResolverListen); err != nil {
			return c, err
		}
	} else if resPort, err = freePort(); err != nil {
		return c, err
	}
	c.ResolverAddr = net.JoinHostPort(resIP, fmt.Sprint(resPort))
	ubConf := filepath.Join(dir, "unbound.conf")
	if err := os.WriteFile(ubConf, []byte(renderUnboundConf(dir, resIP, resPort, authPort, c.TrustAnchor, zones)), 0o644); err != nil {
		return c, fmt.Errorf("testdnssec: %w", err)
	}
	ub, err := c.launch("unbound", filepath.Join(dir, "unbound.log"), b.unbound, "-d", "-c", ubConf)
	if err != nil {
		return c, err
	}
	if err := waitResolver(ub, c.ResolverAddr, cfg.Parent); err != nil {
		return c, c.withLog(err, ub)
	}
	return c, nil
}

// writeZones writes the zone files: the parent with a delegation (and
// for signed children a DS) per child, then each child.
func writeZones(c *Chain, cfg Config, ds map[string]*dns.DS) error {
	parentRRs, _ := parseRecords(cfg.Parent, cfg.ParentRecords)
	glue, _ := dns.NewRR(nsHost(cfg.Parent) + " 300 IN A 127.0.0.1")
	parentRRs = append([]dns.RR{glue}, parentRRs...)
	for _, z := range cfg.Zones {
		ns, _ := dns.NewRR(z.Name + " 300 IN NS " + nsHost(cfg.Parent))
		parentRRs = append(parentRRs, ns)
		d, ok := ds[z.Name]
		if !ok {
			continue
		}
		d = dns.Copy(d).(*dns.DS)
		d.Hdr.Ttl = 300
		if z.Security == Bogus {
			// Flip the digest's first byte: the DS then matches no key.
			first := d.Digest[:2]
			repl := "00"
			if strings.EqualFold(first, "00") {
				repl = "ff"
			}
			d.Digest = repl + d.Digest[2:]
		}
		c.DS[z.Name] = strings.Join(strings.Fields(strings.Replace(d.String(), "\tIN\t", " ", 1)), " ")
		parentRRs = append(parentRRs, d)
	}
	files := map[string]string{cfg.Parent: renderZone(cfg.Parent, cfg.Parent, parentRRs)}
	for _, z := range cfg.Zones {
		rrs, _ := parseRecords(z.Name, z.Records)
		files[z.Name] = renderZone(z.Name, cfg.Parent, rrs)
	}
	for zone, text := range files {
		if err := os.WriteFile(filepath.Join(c.Dir, "zones", zone+"zone"), []byte(text), 0o644); err != nil {
			return fmt.Errorf("testdnssec: %w", err)
		}
	}
	return nil
}

// sha256DS picks the SHA-256 DS out of keymgr's "ds" output.
func sha256DS(out string) (*dns.DS, error) {
	for _, line := range strings.Split(out, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		rr, err := dns.NewRR(line)
		if err != nil {
			return nil, err
		}
		if d, ok := rr.(*dns.DS); ok && d.DigestType == dns.SHA256 {
			return d, nil
		}
	}
	return nil, fmt.Errorf("no SHA-256 DS in %q", out)
}

// renderKnotConf returns knotd's configuration: listen on 127.0.0.1 at
// port, sign every zone but the Insecure ones with the keys keymgr made
// (manual policy: knotd neither makes nor rolls keys), never write back
// to the zone files.
func renderKnotConf(dir string, port int, cfg Config) string {
	var b strings.Builder
	fmt.Fprintf(&b, `server:
  listen: 127.0.0.1@%d
  rundir: %s
database:
  storage: %s
  kasp-db: %s
log:
  - target: stderr
    any: info
policy:
  - id: manual
    manual: on
    algorithm: ecdsap256sha256
    single-type-signing: on
template:
  - id: default
    storage: %s
    file: "%%s.zone"
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: none
    dnssec-signing: on
    dnssec-policy: manual
zone:
  - domain: %s
`, port, filepath.Join(dir, "knot"), filepath.Join(dir, "knot"), filepath.Join(dir, "kasp"), filepath.Join(dir, "zones"), cfg.Parent)
	for _, z := range cfg.Zones {
		fmt.Fprintf(&b, "  - domain: %s\n", z.Name)
		if z.Security == Insecure {
			b.WriteString("    dnssec-signing: off\n")
		}
	}
	return b.String()
}

// renderUnboundConf returns unbound's configuration: one thread on
// ip at port, the parent's DS as only trust anchor, a stub zone
// per zone at knotd (the delegations' glue says 127.0.0.1 port 53), no
// remote control, EDE on, and validation failures logged.
func renderUnboundConf(dir, ip string, port, authPort int, anchor string, zones []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `server:
  interface: %s
  port: %d
  do-ip6: no
  do-daemonize: no
  username: ""
  chroot: ""
  directory: %q
  pidfile: ""
  logfile: ""
  use-syslog: no
  verbosity: 1
  val-log-level: 2
  log-servfail: yes
  num-threads: 1
  so-reuseport: no
  outgoing-range: 64
  do-not-query-localhost: no
  qname-minimisation: no
  aggressive-nsec: no
  ede: yes
  module-config: "validator iterator"
  local-zone: "test." nodefault
  # Only the test zones are resolved: every other name is refused, so
  # the resolver never asks the real root (tests talk only to loopback).
  local-zone: "." refuse
  trust-anchor: %q
remote-control:
  control-enable: no
`, ip, port, dir, anchor)
	for _, z := range zones {
		fmt.Fprintf(&b, "server:\n  local-zone: %q transparent\n", z)
	}
	for _, z := range zones {
		fmt.Fprintf(&b, "stub-zone:\n  name: %q\n  stub-addr: 127.0.0.1@%d\n", z, authPort)
	}
	return b.String()
}

// launch starts a daemon whose output goes to logPath.
func (c *Chain) launch(name, logPath, path string, args ...string) (*daemon, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("testdnssec: %w", err)
	}
	defer f.Close()
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr, cmd.Dir = f, f, c.Dir
	exited, err := testproc.Start(cmd)
	if err != nil {
		return nil, fmt.Errorf("testdnssec: start %s: %w", path, err)
	}
	d := &daemon{name: name, cmd: cmd, exited: exited, log: logPath}
	c.procs = append(c.procs, d)
	return d, nil
}

func (c *Chain) withLog(err error, d *daemon) error {
	return fmt.Errorf("%w\n--- %s log ---\n%s", err, d.name, d.Log())
}

// Log returns what the daemon has logged so far.
func (d *daemon) Log() string {
	b, _ := os.ReadFile(d.log)
	return string(b)
}

// KnotLog returns what knotd has logged so far.
func (c *Chain) KnotLog() string { return c.logOf("knotd") }

// UnboundLog returns what unbound has logged so far (with val-log-level
// 2, one line per validation failure, naming the reason).
func (c *Chain) UnboundLog() string { return c.logOf("unbound") }

func (c *Chain) logOf(name string) string {
	for _, d := range c.procs {
		if d.name == name {
			return d.Log()
		}
	}
	return ""
}

// waitAuth polls knotd until it answers authoritatively for every zone.
func waitAuth(d *daemon, addr string, zones []string) error {
	deadline := time.Now().Add(StartTimeout)
	for _, z := range zones {
		for {
			m, err := Exchange(context.Background(), addr, z, dns.TypeSOA, false)
			if err == nil && m.Rcode == dns.RcodeSuccess && m.Authoritative && len(m.Answer) > 0 {
				break
			}
			if err := waitStep(d, deadline); err != nil {
				return fmt.Errorf("testdnssec: knotd on %s did not serve %s: %w", addr, z, err)
			}
		}
	}
	return nil
}

// waitResolver polls unbound until it answers the parent's SOA with AD=1.
func waitResolver(d *daemon, addr, parent string) error {
	deadline := time.Now().Add(StartTimeout)
	for {
		m, err := Exchange(context.Background(), addr, parent, dns.TypeSOA, true)
		if err == nil && m.Rcode == dns.RcodeSuccess && m.AuthenticatedData {
			return nil
		}
		if err == nil && m.Rcode != dns.RcodeSuccess {
			return fmt.Errorf("testdnssec: unbound on %s answered %s for %s SOA: is the chain broken?", addr, dns.RcodeToString[m.Rcode], parent)
		}
		if err := waitStep(d, deadline); err != nil {
			return fmt.Errorf("testdnssec: unbound on %s did not validate %s SOA: %w", addr, parent, err)
		}
	}
}

func waitStep(d *daemon, deadline time.Time) error {
	select {
	case <-d.exited:
		return fmt.Errorf("%s exited (%v)", d.name, d.cmd.ProcessState)
	default:
	}
	if time.Now().After(deadline) {
		return fmt.Errorf("no answer within %v", StartTimeout)
	}
	time.Sleep(20 * time.Millisecond)
	return nil
}

// Exchange sends one query for name and qtype to addr over UDP (TCP if
// the answer is truncated), with the DO bit and, when rd is true, RD.
func Exchange(ctx context.Context, addr, name string, qtype uint16, rd bool) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	m.RecursionDesired = rd
	m.SetEdns0(1232, true)
	cl := &dns.Client{Timeout: 2 * time.Second}
	r, _, err := cl.ExchangeContext(ctx, m, addr)
	if err == nil && r.Truncated {
		cl.Net = "tcp"
		r, _, err = cl.ExchangeContext(ctx, m, addr)
	}
	if err != nil {
		return nil, fmt.Errorf("testdnssec: query %s %s at %s: %w", name, dns.TypeToString[qtype], addr, err)
	}
	return r, nil
}

// Query asks the chain's resolver for name and qtype (RD and DO set).
func (c *Chain) Query(ctx context.Context, name string, qtype uint16) (*dns.Msg, error) {
	return Exchange(ctx, c.ResolverAddr, name, qtype, true)
}

// EDE returns the Extended DNS Error codes (RFC 8914) in m's OPT record.
func EDE(m *dns.Msg) []uint16 {
	var codes []uint16
	if opt := m.IsEdns0(); opt != nil {
		for _, o := range opt.Option {
			if e, ok := o.(*dns.EDNS0_EDE); ok {
				codes = append(codes, e.InfoCode)
			}
		}
	}
	return codes
}

// Stop ends unbound and knotd (their whole process groups), waits for
// them, and removes Dir. If the test failed, it logs both daemons' logs
// first. Safe to call more than once; Start registers it with t.Cleanup.
func (c *Chain) Stop() {
	c.stopOnce.Do(func() {
		var errs []error
		for i := len(c.procs) - 1; i >= 0; i-- {
			errs = append(errs, c.procs[i].stop())
		}
		if c.t != nil {
			if err := errors.Join(errs...); err != nil {
				c.t.Errorf("testdnssec: %v", err)
			}
			if c.t.Failed() {
				for _, d := range c.procs {
					c.t.Logf("testdnssec: %s log:\n%s", d.name, d.Log())
				}
			}
		}
		if err := os.RemoveAll(c.Dir); err != nil && c.t != nil {
			c.t.Errorf("testdnssec: %v", err)
		}
	})
}

// stop sends SIGTERM to the daemon's process group, then SIGKILL if it
// has not exited within stopTimeout.
func (d *daemon) stop() error {
	return testproc.Stop(d.name, d.cmd.Process.Pid, d.exited, stopTimeout)
}

// freePort returns a port on 127.0.0.1 that was free for both TCP and
// UDP a moment ago.
func freePort() (int, error) {
	for range 20 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("testdnssec: find a free port: %w", err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		pc, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		ln.Close()
		if err == nil {
			pc.Close()
			return port, nil
		}
	}
	return 0, errors.New("testdnssec: no port free for both TCP and UDP")
}

// checkFree fails with a clear message when addr cannot be bound for
// both TCP and UDP.
func checkFree(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("testdnssec: resolver address %s is not free (in use, or a port below 1024 without root): %w", addr, err)
	}
	ln.Close()
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return fmt.Errorf("testdnssec: resolver address %s is not free for UDP: %w", addr, err)
	}
	return pc.Close()
}

// run runs a command and returns its standard output; a failure's error
// holds the command line and its output.
func run(name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("testdnssec: %s %s: %w\n%s%s", name, strings.Join(args, " "), err, out, stderr.String())
	}
	return string(out), nil
}
