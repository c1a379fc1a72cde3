package testnginx

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Config describes the sites one nginx serves.
type Config struct {
	// Sites are the virtual hosts, each chosen by SNI. Clients that send
	// no SNI, or a name no site has, get a failed handshake
	// (ssl_reject_handshake).
	Sites []Site
	// Port is the TCP port on IP; a free one when 0.
	Port int
	// IP is the loopback IPv4 address nginx listens on; "" means
	// 127.0.0.1. With Port 443 and an address of its own (127.0.25.80,
	// say; binding port 443 needs root), policy hosts are reached as in
	// production, at the address DNS gives and port 443.
	IP string
}

// Site is one HTTPS virtual host.
type Site struct {
	// Host is the server name, e.g. "mta-sts.example.test" (no final
	// dot, matched case-insensitively).
	Host string
	// Cert selects the certificate the site presents.
	Cert CertKind
	// Files maps absolute URL paths, e.g. "/.well-known/mta-sts.txt", to
	// what the site answers there. Any other path gets nginx's 404.
	Files map[string]File
}

// File is the response for one path.
type File struct {
	// Body is the response body.
	Body string
	// ContentType is the Content-Type header, e.g.
	// "text/plain; charset=utf-8"; when "", nginx sends none.
	ContentType string
	// Status is the status code; 200 when 0 (302 when RedirectTo is set).
	// 200 serves Body as a static file from disk; other codes use
	// nginx's "return CODE text" (so nginx drops the body of 204 and
	// 304).
	Status int
	// RedirectTo, for a 301, 302, 303, 307 or 308, is the Location.
	// nginx turns a relative one into an absolute URL with its own port.
	RedirectTo string
	// Delay holds the response back (echo_sleep of the echo module, in
	// Debian's libnginx-mod-http-echo) before nginx sends anything; at
	// millisecond precision.
	Delay time.Duration
	// RateLimit, when above 0, caps the body's sending rate in bytes per
	// second (nginx's limit_rate): headers come at once, the body
	// slowly.
	RateLimit int
}

func (f File) status() int {
	switch {
	case f.Status != 0:
		return f.Status
	case f.RedirectTo != "":
		return http.StatusFound
	}
	return http.StatusOK
}

func isRedirect(code int) bool {
	switch code {
	case 301, 302, 303, 307, 308:
		return true
	}
	return false
}

// ip is the listen address.
func (c Config) ip() string {
	if c.IP == "" {
		return "127.0.0.1"
	}
	return c.IP
}

// validate checks the configuration for what the renderer cannot express.
func (c Config) validate() error {
	if len(c.Sites) == 0 {
		return errors.New("testnginx: no sites")
	}
	if c.IP != "" {
		a, err := netip.ParseAddr(c.IP)
		if err != nil || !a.Is4() || !a.IsLoopback() {
			return fmt.Errorf("testnginx: IP %q: want a loopback IPv4 address", c.IP)
		}
	}
	seen := map[string]bool{}
	for i, s := range c.Sites {
		h := strings.ToLower(s.Host)
		if h == "" || strings.ContainsAny(h, " \t\r\n;{}\"'\\$*~") || strings.HasSuffix(h, ".") {
			return fmt.Errorf("testnginx: site %d: bad host %q", i, s.Host)
		}
		if seen[h] {
			return fmt.Errorf("testnginx: site %d: host %q twice", i, s.Host)
		}
		seen[h] = true
		for p, f := range s.Files {
			if err := validFile(p, f); err != nil {
				return fmt.Errorf("testnginx: site %s: path %q: %w", s.Host, p, err)
			}
		}
	}
	return nil
}

func validFile(p string, f File) error {
	if !strings.HasPrefix(p, "/") || path.Clean(p) != p || p == "/" || strings.ContainsAny(p, " \t\r\n;{}\"'\\$?#%") {
		return errors.New("path must be a clean absolute path naming a file, without spaces, quotes, '$', '%', '?' or '#'")
	}
	code := f.status()
	switch {
	case code < 200 || code > 599:
		return fmt.Errorf("status %d out of range", code)
	case isRedirect(code) != (f.RedirectTo != ""):
		return fmt.Errorf("status %d with RedirectTo %q: a redirect needs both", code, f.RedirectTo)
	case strings.ContainsAny(f.RedirectTo, " \t\r\n\"\\$"):
		return fmt.Errorf("bad RedirectTo %q", f.RedirectTo)
	case strings.ContainsAny(f.ContentType, "\r\n\"\\$"):
		return fmt.Errorf("bad ContentType %q", f.ContentType)
	case strings.IndexByte(f.Body, 0) >= 0 && code != http.StatusOK:
		return errors.New("a NUL byte in the body of a non-200 answer")
	case f.Delay < 0 || f.RateLimit < 0:
		return errors.New("negative Delay or RateLimit")
	}
	return nil
}

// needsEcho reports whether any file has a Delay.
func (c Config) needsEcho() bool {
	for _, s := range c.Sites {
		for _, f := range s.Files {
			if f.Delay > 0 {
				return true
			}
		}
	}
	return false
}

// quote renders s as an nginx double-quoted string: backslash and quote
// escaped, and each '$' (which would start a variable) as ${dollar}, a
// geo variable whose value is "$".
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '\\', '"':
			b.WriteByte('\\')
			b.WriteRune(r)
		case '$':
			b.WriteString("${dollar}")
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// siteDir is the directory of site i under the server's directory.
func siteDir(dir string, i int) string { return filepath.Join(dir, fmt.Sprintf("site%d", i)) }

// writeSites writes each site's certificate, key and static files.
func writeSites(dir string, ca *keyPair, cfg Config) error {
	for i, s := range cfg.Sites {
		sd := siteDir(dir, i)
		kp, err := siteCert(ca, s.Host, s.Cert)
		if err != nil {
			return err
		}
		keyPEM, err := kp.KeyPEM()
		if err != nil {
			return err
		}
		if err := writeFile(filepath.Join(sd, "cert.pem"), kp.PEM()); err != nil {
			return err
		}
		if err := writeFile(filepath.Join(sd, "key.pem"), keyPEM); err != nil {
			return err
		}
		for p, f := range s.Files {
			if f.status() != http.StatusOK {
				continue
			}
			if err := writeFile(filepath.Join(sd, "root", filepath.FromSlash(p)), []byte(f.Body)); err != nil {
				return err
			}
		}
	}
	return nil
}

func writeFile(name string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return fmt.Errorf("testnginx: %w", err)
	}
	if err := os.WriteFile(name, data, 0o644); err != nil {
		return fmt.Errorf("testnginx: %w", err)
	}
	return nil
}

// echoModule is where Debian's libnginx-mod-http-echo installs the module.
const echoModule = "/usr/lib/nginx/modules/ngx_http_echo_module.so"

// renderConf returns nginx.conf for cfg with everything under dir.
func renderConf(dir string, port int, cfg Config) string {
	ip := cfg.ip()
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	w("# written by internal/testnginx")
	w("daemon off;")
	w("master_process off;")
	w("pid %s;", quote(filepath.Join(dir, "nginx.pid")))
	w("error_log %s info;", quote(filepath.Join(dir, "error.log")))
	if cfg.needsEcho() {
		w("load_module %s;", quote(echoModule))
	}
	w("events { worker_connections 256; }")
	w("http {")
	w("  access_log %s;", quote(filepath.Join(dir, "access.log")))
	for _, t := range []string{"client_body", "proxy", "fastcgi", "uwsgi", "scgi"} {
		w("  %s_temp_path %s;", t, quote(filepath.Join(dir, "tmp", t)))
	}
	w("  server_tokens off;")
	w("  types { }")
	w("  default_type application/octet-stream;")
	w("  ssl_protocols TLSv1.2 TLSv1.3;")
	w("  geo $dollar { default \"$\"; }")
	w("  server {")
	w("    listen %s:%d ssl default_server;", ip, port)
	w("    ssl_reject_handshake on;")
	w("  }")
	for i, s := range cfg.Sites {
		sd := siteDir(dir, i)
		w("  server {")
		w("    listen %s:%d ssl;", ip, port)
		w("    server_name %s;", strings.ToLower(s.Host))
		w("    ssl_certificate %s;", quote(filepath.Join(sd, "cert.pem")))
		w("    ssl_certificate_key %s;", quote(filepath.Join(sd, "key.pem")))
		w("    root %s;", quote(filepath.Join(sd, "root")))
		w("    location / { return 404; }")
		paths := make([]string, 0, len(s.Files))
		for p := range s.Files {
			paths = append(paths, p)
		}
		slices.Sort(paths)
		for j, p := range paths {
			f := s.Files[p]
			body := fileDirectives(f)
			if f.Delay <= 0 {
				w("    location = %s {%s }", p, body)
				continue
			}
			named := fmt.Sprintf("@delayed%d", j)
			w("    location = %s { echo_sleep %.3f; echo_exec %s; }", p, f.Delay.Seconds(), named)
			w("    location %s {%s }", named, body)
		}
		w("  }")
	}
	w("}")
	return b.String()
}

// fileDirectives are the directives that answer f.
func fileDirectives(f File) string {
	// default_type "" makes nginx send no Content-Type at all.
	s := " default_type " + quote(f.ContentType) + ";"
	if f.RateLimit > 0 {
		s += fmt.Sprintf(" limit_rate %d;", f.RateLimit)
	}
	switch code := f.status(); {
	case code == http.StatusOK:
		// The static file under root.
	case isRedirect(code):
		s += fmt.Sprintf(" return %d %s;", code, quote(f.RedirectTo))
	default:
		s += fmt.Sprintf(" return %d %s;", code, quote(f.Body))
	}
	return s
}

// Pad appends lines "pad: xxx…" (an unknown key, which RFC 8461 §3.2
// parsers ignore) to body until it is exactly size bytes, ending lines as
// body does (CRLF if it holds one, else LF). A body already size bytes or
// longer comes back as it is.
func Pad(body string, size int) string {
	eol := "\n"
	if strings.Contains(body, "\r\n") {
		eol = "\r\n"
	}
	var b strings.Builder
	b.WriteString(body)
	if b.Len()+len(eol) <= size && b.Len() > 0 && !strings.HasSuffix(body, "\n") {
		b.WriteString(eol)
	}
	const head = "pad: "
	for b.Len() < size {
		n := size - b.Len() - len(head) - len(eol)
		if n < 1 {
			// Too short for a whole line: fill with newlines.
			b.WriteString(strings.Repeat("\n", size-b.Len()))
			break
		}
		b.WriteString(head + strings.Repeat("x", min(n, 1000)) + eol)
	}
	return b.String()
}
