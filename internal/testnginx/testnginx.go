package testnginx

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/mxkit/mxkit/internal/testproc"
)

// StartTimeout bounds how long Start waits for nginx to complete a TLS
// handshake.
var StartTimeout = 15 * time.Second

const stopTimeout = 5 * time.Second

var probeOnce = sync.OnceValues(probe)

func probe() (string, error) {
	if err := testproc.Supported(); err != nil {
		return "", err
	}
	if p, err := exec.LookPath("nginx"); err == nil {
		return p, nil
	}
	// A non-login root shell may lack /usr/sbin in PATH.
	p := "/usr/sbin/nginx"
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("testnginx: nginx not found (install Debian's nginx-light package): %w", err)
	}
	return p, nil
}

// Available reports whether nginx is installed.
func Available() error {
	_, err := probeOnce()
	return err
}

// EchoAvailable reports whether the echo module, which File.Delay needs,
// is installed (Debian's libnginx-mod-http-echo, a dependency of
// nginx-light).
func EchoAvailable() error {
	if _, err := os.Stat(echoModule); err != nil {
		return fmt.Errorf("testnginx: echo module missing (install Debian's libnginx-mod-http-echo): %w", err)
	}
	return nil
}

// Require skips the test when nginx is missing, except when the
// environment variable CI is "true": then it fails the test, because CI
// must never skip a test against a real HTTPS server.
func Require(t testing.TB) {
	t.Helper()
	testproc.Require(t, "nginx", Available())
}

// Server is a running nginx on loopback.
type Server struct {
	// Addr is "IP:PORT" (IP is Config.IP, 127.0.0.1 by default), where
	// every site listens.
	Addr string
	// Port is Addr's port.
	Port int
	// CAPool holds the test CA, the only root to trust.
	CAPool *x509.CertPool
	// CAPEM is the test CA certificate in PEM, for tools and files.
	CAPEM []byte
	// Dir is the temporary directory with nginx.conf, certificates,
	// files and logs; Stop removes it.
	Dir string

	t        testing.TB
	cmd      *exec.Cmd
	exited   <-chan struct{}
	stopOnce sync.Once
}

// Start writes a certificate per site (from a fresh test CA) and the
// static files to a temporary directory, runs nginx in the foreground
// with that directory as its prefix, and returns once a TLS handshake
// with the first site succeeds. It calls Require first and registers
// Stop with t.Cleanup; a Delay in cfg also requires the echo module.
func Start(t testing.TB, cfg Config) *Server {
	t.Helper()
	Require(t)
	if cfg.needsEcho() {
		testproc.Require(t, "nginx echo module", EchoAvailable())
	}
	bin, _ := probeOnce()
	s, err := start(bin, cfg)
	if s != nil {
		s.t = t
		t.Cleanup(s.Stop)
	}
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func start(bin string, cfg Config) (*Server, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "testnginx")
	if err != nil {
		return nil, fmt.Errorf("testnginx: %w", err)
	}
	s := &Server{Dir: dir}
	// Readable by all, in case nginx ever runs workers as nobody.
	if err := os.Chmod(dir, 0o755); err != nil {
		return s, fmt.Errorf("testnginx: %w", err)
	}
	ca, err := newCA("testnginx CA")
	if err != nil {
		return s, err
	}
	s.CAPEM = ca.PEM()
	s.CAPool = x509.NewCertPool()
	s.CAPool.AddCert(ca.Cert)
	if err := writeSites(dir, ca, cfg); err != nil {
		return s, err
	}
	port := cfg.Port
	if port == 0 {
		if port, err = freePort(cfg.ip()); err != nil {
			return s, err
		}
	} else if err := checkFree(cfg.ip(), port); err != nil {
		return s, err
	}
	s.Port = port
	s.Addr = net.JoinHostPort(cfg.ip(), strconv.Itoa(port))
	conf := filepath.Join(dir, "nginx.conf")
	if err := writeFile(conf, []byte(renderConf(dir, port, cfg))); err != nil {
		return s, err
	}
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o755); err != nil {
		return s, fmt.Errorf("testnginx: %w", err)
	}
	out, err := os.Create(filepath.Join(dir, "nginx.out"))
	if err != nil {
		return s, fmt.Errorf("testnginx: %w", err)
	}
	defer out.Close()
	// -e: the error log before nginx.conf is read (Debian's default is
	// stderr, but be explicit); -p: the prefix for relative paths.
	cmd := exec.Command(bin, "-p", dir+"/", "-c", conf, "-e", filepath.Join(dir, "error.log"))
	cmd.Stdout, cmd.Stderr, cmd.Dir = out, out, dir
	exited, err := testproc.Start(cmd)
	if err != nil {
		return s, fmt.Errorf("testnginx: start %s: %w", bin, err)
	}
	s.cmd, s.exited = cmd, exited
	if err := s.wait(cfg.Sites[0].Host); err != nil {
		return s, fmt.Errorf("%w\n--- nginx output ---\n%s--- error.log ---\n%s", err, s.output(), s.ErrorLog())
	}
	return s, nil
}

// wait polls until a TLS handshake for host completes.
func (s *Server) wait(host string) error {
	deadline := time.Now().Add(StartTimeout)
	d := &tls.Dialer{
		NetDialer: &net.Dialer{Timeout: time.Second},
		// Only whether nginx answers matters here.
		Config: &tls.Config{ServerName: host, InsecureSkipVerify: true},
	}
	for {
		c, err := d.DialContext(context.Background(), "tcp", s.Addr)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-s.exited:
			return fmt.Errorf("testnginx: nginx exited (%v)", s.cmd.ProcessState)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("testnginx: no TLS handshake on %s within %v: %w", s.Addr, StartTimeout, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ErrorLog returns what nginx has written to its error log so far.
func (s *Server) ErrorLog() string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "error.log"))
	return string(b)
}

// AccessLog returns nginx's access log so far (combined format).
func (s *Server) AccessLog() string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "access.log"))
	return string(b)
}

func (s *Server) output() string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "nginx.out"))
	return string(b)
}

// DialContext connects to the server whatever address it is asked for,
// for an http.Transport or a fetcher that resolves names itself.
func (s *Server) DialContext(ctx context.Context, network, _ string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, network, s.Addr)
}

// TLSConfig trusts the test CA only.
func (s *Server) TLSConfig() *tls.Config {
	return &tls.Config{RootCAs: s.CAPool}
}

// Client returns an HTTP client that reaches this server for every URL
// (any host, any port), trusts the test CA only, verifies the URL's host
// name, and returns redirects instead of following them.
func (s *Server) Client() *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			DialContext:       s.DialContext,
			TLSClientConfig:   s.TLSConfig(),
			ForceAttemptHTTP2: false,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       30 * time.Second,
	}
}

// URL returns "https://host:PORT" + path, the URL of a file on this
// server with the server's real port.
func (s *Server) URL(host, path string) string {
	return "https://" + net.JoinHostPort(host, strconv.Itoa(s.Port)) + path
}

// Stop ends nginx (SIGTERM to its process group, SIGKILL after 5 s),
// waits for it and removes Dir. If the test failed, it logs nginx's
// error log first. Safe to call more than once; Start registers it with
// t.Cleanup.
func (s *Server) Stop() {
	s.stopOnce.Do(func() {
		var err error
		if s.cmd != nil {
			err = s.stop()
		}
		if s.t != nil {
			if err != nil {
				s.t.Errorf("testnginx: %v", err)
			}
			if s.t.Failed() && s.cmd != nil {
				s.t.Logf("testnginx: error.log:\n%s", s.ErrorLog())
			}
		}
		if err := os.RemoveAll(s.Dir); err != nil && s.t != nil {
			s.t.Errorf("testnginx: %v", err)
		}
	})
}

func (s *Server) stop() error {
	return testproc.Stop("nginx", s.cmd.Process.Pid, s.exited, stopTimeout)
}

// checkFree fails with a clear message when ip:port cannot be bound.
func checkFree(ip string, port int) error {
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
	if err != nil {
		return fmt.Errorf("testnginx: %s:%d is not free (in use, or binding it needs root): %w", ip, port, err)
	}
	return ln.Close()
}

// freePort returns a TCP port on ip that was free a moment ago.
func freePort(ip string) (int, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		return 0, fmt.Errorf("testnginx: find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
