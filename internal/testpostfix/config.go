package testpostfix

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
)

// DefaultListen is used when Options.Listen is "".
const DefaultListen = "127.0.0.1:0"

// reservedParams are the main.cf parameters that keep an instance apart
// from the system's Postfix and from other instances; Options.MainCF may
// not set them.
var reservedParams = map[string]bool{
	"config_directory":      true,
	"queue_directory":       true,
	"data_directory":        true,
	"maillog_file":          true,
	"maillog_file_prefixes": true,
	"inet_interfaces":       true,
	"multi_instance_enable": true,
}

// baseParam is one of the harness's own main.cf settings.
type baseParam struct{ name, value string }

// baseParams returns the harness's main.cf settings for an instance
// rooted at dir and listening on addr, in the order they are written.
func baseParams(dir string, addr netip.Addr) []baseParam {
	protocols, mynetworks, iface := "ipv4", "127.0.0.1/32", "127.0.0.1"
	if addr.Is6() {
		protocols, mynetworks, iface = "ipv4, ipv6", "127.0.0.1/32 [::1]/128", "::1"
	}
	// inet_interfaces must name addresses configured on an interface, and
	// lo has only 127.0.0.1 and ::1; master binds the smtpd service to
	// the address in master.cf. Any other listen address is declared as
	// a proxy interface, so Postfix still treats it as its own (as it
	// does for [127.0.0.5] address literals).
	proxy := ""
	if addr.String() != iface {
		proxy = addr.String()
	}
	return []baseParam{
		// Isolation: everything this instance writes stays under dir.
		{"queue_directory", filepath.Join(dir, "queue")},
		{"data_directory", filepath.Join(dir, "data")},
		{"maillog_file", filepath.Join(dir, "maillog")},
		{"maillog_file_prefixes", dir},
		{"inet_interfaces", iface},
		{"proxy_interfaces", proxy},
		{"inet_protocols", protocols},
		// Identity and behaviour.
		{"compatibility_level", "3.6"},
		{"myhostname", "mx.example.test"},
		{"mynetworks", mynetworks},
		{"smtpd_banner", "$myhostname ESMTP"},
		// No DNS for the client's name: 127.0.0.x other than 127.0.0.1 is
		// not in /etc/hosts, and the answer would depend on the network.
		// Every client is "unknown[ip]".
		{"smtpd_peername_lookup", "no"},
		// Debian's default hash:/etc/aliases needs /etc/aliases.db.
		{"alias_maps", ""},
		{"alias_database", ""},
		// Accepted mail is discarded by qmgr: master.cf has no smtp, lmtp,
		// local, virtual or pipe service, so nothing can leave the machine
		// even if Options.MainCF names another transport (the mail then
		// waits in the deferred queue).
		{"default_transport", "discard"},
		{"relay_transport", "discard"},
		{"local_transport", "discard"},
		{"virtual_transport", "discard"},
		{"biff", "no"},
		{"readme_directory", "no"},
	}
}

// RenderMainCF returns the main.cf of an instance rooted at dir and
// listening on addr: the harness's base settings, minus those that extra
// sets, then extra itself. It fails when extra sets a parameter the
// harness reserves (config_directory, queue_directory, data_directory,
// maillog_file, maillog_file_prefixes, inet_interfaces,
// multi_instance_enable) or has a line that is not a parameter setting.
func RenderMainCF(dir string, addr netip.Addr, extra string) (string, error) {
	names, err := paramNames(extra)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString("# Written by internal/testpostfix.\n")
	for _, p := range baseParams(dir, addr) {
		if _, overridden := names[p.name]; overridden {
			continue
		}
		if p.value == "" {
			fmt.Fprintf(&b, "%s =\n", p.name)
		} else {
			fmt.Fprintf(&b, "%s = %s\n", p.name, p.value)
		}
	}
	if extra != "" {
		b.WriteString("# Options.MainCF:\n")
		b.WriteString(extra)
		if !strings.HasSuffix(extra, "\n") {
			b.WriteString("\n")
		}
	}
	return b.String(), nil
}

// masterServices are the services smtpd and the queue manager need. All
// run unchrooted, with the stock Debian process limits.
const masterServices = `cleanup    unix  n  -  n  -     0  cleanup
qmgr       unix  n  -  n  300   1  qmgr
tlsmgr     unix  -  -  n  1000? 1  tlsmgr
rewrite    unix  -  -  n  -     -  trivial-rewrite
bounce     unix  -  -  n  -     0  bounce
defer      unix  -  -  n  -     0  bounce
trace      unix  -  -  n  -     0  bounce
verify     unix  -  -  n  -     1  verify
flush      unix  n  -  n  1000? 0  flush
proxymap   unix  -  -  n  -     -  proxymap
proxywrite unix  -  -  n  -     1  proxymap
showq      unix  n  -  n  -     -  showq
error      unix  -  -  n  -     -  error
retry      unix  -  -  n  -     -  error
discard    unix  -  -  n  -     -  discard
anvil      unix  -  -  n  -     1  anvil
scache     unix  -  -  n  -     1  scache
postlog    unix-dgram n - n -   1  postlogd
`

// RenderMasterCF returns the master.cf of an instance whose smtpd listens
// on addr, followed by extra.
func RenderMasterCF(addr netip.AddrPort, extra string) string {
	var b strings.Builder
	b.WriteString("# Written by internal/testpostfix.\n")
	fmt.Fprintf(&b, "%s inet n - n - - smtpd\n", addr)
	b.WriteString(masterServices)
	if extra != "" {
		b.WriteString("# Options.MasterCF:\n")
		b.WriteString(extra)
		if !strings.HasSuffix(extra, "\n") {
			b.WriteString("\n")
		}
	}
	return b.String()
}

// paramNames returns the parameters main.cf text sets, each with the
// line that sets it. Comment lines, blank lines and continuation lines
// (starting with white space) are skipped, as Postfix does.
func paramNames(text string) (map[string]int, error) {
	names := make(map[string]int)
	for i, line := range strings.Split(text, "\n") {
		n := i + 1
		line = strings.TrimSuffix(line, "\r")
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || trimmed[0] == '#' || line[0] == ' ' || line[0] == '\t' {
			continue
		}
		name, _, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("testpostfix: MainCF:%d: missing '=' after parameter name in %q", n, line)
		}
		name = strings.TrimSpace(name)
		if name == "" {
			return nil, fmt.Errorf("testpostfix: MainCF:%d: no parameter name before '='", n)
		}
		if strings.ContainsAny(name, " \t") {
			return nil, fmt.Errorf("testpostfix: MainCF:%d: parameter name %q contains white space", n, name)
		}
		if reservedParams[name] {
			return nil, fmt.Errorf("testpostfix: MainCF:%d: %s is set by the harness and cannot be overridden", n, name)
		}
		names[name] = n
	}
	return names, nil
}

// parseListen checks Options.Listen: a loopback IP address with an
// optional port ("127.0.0.2", "127.0.0.1:0", "[::1]:10025"); 0 or no port
// means a free one. Port 25 is refused so as never to meet the system's
// own MTA.
func parseListen(s string) (netip.AddrPort, error) {
	if s == "" {
		s = DefaultListen
	}
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		addr, err2 := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]"))
		if err2 != nil {
			return netip.AddrPort{}, fmt.Errorf("testpostfix: Listen %q: want IP:port, e.g. 127.0.0.1:0", s)
		}
		ap = netip.AddrPortFrom(addr, 0)
	}
	addr := ap.Addr().Unmap()
	if addr.Zone() != "" {
		return netip.AddrPort{}, fmt.Errorf("testpostfix: Listen %q: zones are not supported", s)
	}
	if !addr.IsLoopback() {
		return netip.AddrPort{}, fmt.Errorf("testpostfix: Listen %q: not a loopback address", s)
	}
	if ap.Port() == 25 {
		return netip.AddrPort{}, fmt.Errorf("testpostfix: Listen %q: port 25 is left to the system's MTA", s)
	}
	return netip.AddrPortFrom(addr, ap.Port()), nil
}

// checkFileName checks an Options.Files key.
func checkFileName(name string) error {
	if !filepath.IsLocal(name) {
		return fmt.Errorf("testpostfix: Files[%q]: want a relative path inside the config directory", name)
	}
	switch filepath.Clean(name) {
	case "main.cf":
		return fmt.Errorf("testpostfix: Files[%q]: use Options.MainCF", name)
	case "master.cf":
		return fmt.Errorf("testpostfix: Files[%q]: use Options.MasterCF", name)
	}
	return nil
}

// postmapArg turns an Options.Postmap entry ("hash:virtual",
// "cdb:maps/relay", "virtual", "hash:/abs/path") into postmap's argument,
// relative names being taken in configDir.
func postmapArg(configDir, spec string) (string, error) {
	typ, name := "", spec
	if t, rest, ok := strings.Cut(spec, ":"); ok && t != "" && !strings.Contains(t, "/") {
		typ, name = t, rest
	}
	if name == "" {
		return "", fmt.Errorf("testpostfix: Postmap %q: no file name", spec)
	}
	if !filepath.IsAbs(name) {
		if !filepath.IsLocal(name) {
			return "", fmt.Errorf("testpostfix: Postmap %q: want a name inside the config directory or an absolute path", spec)
		}
		name = filepath.Join(configDir, name)
	}
	if typ == "" {
		return name, nil
	}
	return typ + ":" + name, nil
}
