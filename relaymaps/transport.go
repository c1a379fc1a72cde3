package relaymaps

import (
	"fmt"
	"iter"
	"strconv"
	"strings"

	"github.com/mxkit/mxkit/internal/dsncode"
)

// Transport is a parsed transport(5) value, "transport:nexthop".
//
// For delivery transports (smtp, lmtp, relay and other smtp(8) clones), the
// nexthop is a destination: Host, Port, Bracketed and MX describe it (the
// first one, for a comma-separated list; all of them are in Destinations).
// For error and retry, DSN and Text hold the reason; for discard, Text.
type Transport struct {
	// Transport is the master.cf service name ("smtp", "relay", "error").
	// Empty means: keep the default transport (":[host]" changes only
	// the nexthop).
	Transport string
	// Nexthop is the text after the first ':' as written. Empty means:
	// keep the default nexthop (for smtp, the recipient domain).
	Nexthop string
	// Host is the host or domain of the (first) destination, without
	// brackets, or the socket path for "unix:/path".
	Host string
	// Port is the port number or service name after the host, if any.
	Port string
	// Bracketed reports "[host]": no MX lookup.
	Bracketed bool
	// MX reports that the destination's MX records are looked up: a
	// host given without brackets, over TCP, by a transport other than
	// lmtp.
	MX bool
	// Unix reports a UNIX-domain socket destination ("unix:/path").
	Unix bool
	// DSN is the enhanced status code of an error: or retry: value
	// ("5.1.1"); it defaults to 5.0.0 for error and 4.0.0 for retry.
	DSN string
	// Text is the reason of an error:, retry: or discard: value, without
	// the DSN.
	Text string
	// Destinations lists every destination of a comma-separated nexthop
	// (Postfix 3.5 and later), the first one repeated from the fields
	// above. It is nil when there is no destination.
	Destinations []Destination
}

// Destination is one nexthop destination of a delivery transport.
type Destination struct {
	Host      string
	Port      string
	Bracketed bool
	MX        bool
	Unix      bool
}

// ParseTransport parses a transport(5) table value:
//
//	smtp:[mail.example.com]:587   host without MX lookup, port 587
//	smtp:example.com              MX lookup for example.com
//	relay:[primary.example]       the primary-MX recipe
//	lmtp:unix:/run/dovecot/lmtp   UNIX-domain socket
//	lmtp:inet:127.0.0.1:24        TCP (lmtp never looks up MX records)
//	:[10.0.0.1]                   default transport, new nexthop
//	smtp:                         smtp with the default nexthop
//	error:5.1.1 no such user      bounce with this DSN and text
//	retry:4.3.2 try later         defer
//	discard:spam                  accept and drop
//
// Errors wrap ErrConfig (a broken value is Postfix's "451 4.3.5"): an
// empty value, an unbalanced "[", text between "]" and ":port", a bad port,
// an empty host in a destination list, or an empty unix: path. Nexthops
// of other transports (local, virtual, pipe services) are kept as written
// when they are not destinations.
func ParseTransport(value string) (Transport, error) {
	v := strings.TrimFunc(value, isSpaceRune)
	if v == "" {
		return Transport{}, transportErr(value, "empty value")
	}
	var t Transport
	t.Transport, t.Nexthop, _ = strings.Cut(v, ":")
	t.Transport = strings.TrimFunc(t.Transport, isSpaceRune)
	t.Nexthop = strings.TrimFunc(t.Nexthop, isSpaceRune)
	if strings.ContainsAny(t.Transport, " \t\r\n\v\f[]@,{}") {
		return Transport{}, transportErr(value, fmt.Sprintf("bad transport name %q (expected \"transport:nexthop\")", t.Transport))
	}
	switch Fold(t.Transport) {
	case "error", "retry":
		t.DSN, t.Text = SplitDSN(t.Nexthop)
		if t.DSN == "" {
			t.DSN = "5.0.0"
			if Fold(t.Transport) == "retry" {
				t.DSN = "4.0.0"
			}
		}
		return t, nil
	case "discard":
		t.Text = t.Nexthop
		return t, nil
	case "local", "virtual":
		return t, nil
	}
	if t.Nexthop == "" {
		return t, nil
	}
	strict := false
	switch Fold(t.Transport) {
	case "", "smtp", "lmtp", "relay":
		strict = true
	}
	lmtp := Fold(t.Transport) == "lmtp"
	var dests []Destination
	for part := range strings.SplitSeq(t.Nexthop, ",") {
		part = strings.TrimFunc(part, isSpaceRune)
		d, msg := parseDestination(part, lmtp)
		if msg != "" {
			if !strict {
				return t, nil // not a destination: an opaque nexthop
			}
			return Transport{}, transportErr(value, msg)
		}
		dests = append(dests, d)
	}
	t.Destinations = dests
	d := dests[0]
	t.Host, t.Port, t.Bracketed, t.MX, t.Unix = d.Host, d.Port, d.Bracketed, d.MX, d.Unix
	return t, nil
}

func transportErr(value, msg string) error {
	return &SyntaxError{Msg: fmt.Sprintf("transport %q: %s", value, msg)}
}

// parseDestination parses "[host]:port", "host:port", "host", "[host]",
// "inet:host:port" or "unix:/path".
func parseDestination(s string, lmtp bool) (Destination, string) {
	var d Destination
	if s == "" {
		return d, "empty destination in nexthop list"
	}
	switch {
	case len(s) >= 5 && strings.EqualFold(s[:5], "unix:"):
		d.Unix, d.Host = true, s[5:]
		if d.Host == "" {
			return d, "empty path after \"unix:\""
		}
		return d, ""
	case len(s) >= 5 && strings.EqualFold(s[:5], "inet:"):
		s = s[5:]
		if s == "" {
			return d, "empty host after \"inet:\""
		}
	}
	rest := ""
	if s[0] == '[' {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return d, fmt.Sprintf("missing \"]\" in %q", s)
		}
		d.Host, d.Bracketed, rest = s[1:end], true, s[end+1:]
		if rest != "" && rest[0] != ':' {
			return d, fmt.Sprintf("text after \"]\" in %q", s)
		}
		if d.Host == "" {
			return d, fmt.Sprintf("empty host in %q", s)
		}
	} else {
		i := strings.LastIndexByte(s, ':')
		if i >= 0 && strings.IndexByte(s[:i], ':') >= 0 {
			return d, fmt.Sprintf("IPv6 address %q must be in brackets", s)
		}
		if i >= 0 {
			d.Host, rest = s[:i], s[i:]
		} else {
			d.Host = s
		}
		if d.Host == "" {
			return d, fmt.Sprintf("empty host in %q", s)
		}
		if strings.ContainsAny(d.Host, "[] \t") {
			return d, fmt.Sprintf("bad host %q", d.Host)
		}
	}
	if rest != "" {
		d.Port = rest[1:]
		if msg := checkPort(d.Port); msg != "" {
			return d, fmt.Sprintf("%s in %q", msg, s)
		}
	}
	d.MX = !d.Bracketed && !lmtp
	return d, ""
}

// checkPort accepts a port number from 1 to 65535 or a service name.
func checkPort(p string) string {
	if p == "" {
		return "empty port"
	}
	if p[0] >= '0' && p[0] <= '9' {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return fmt.Sprintf("bad port %q", p)
		}
		return ""
	}
	for i := 0; i < len(p); i++ {
		if c := p[i]; !isAlnum(c) && c != '-' && c != '_' && c != '.' {
			return fmt.Sprintf("bad port %q", p)
		}
	}
	return ""
}

// SplitDSN splits "4.3.2 text" into the enhanced status code and the
// text, as error(8) does with Postfix's dsn_split (white space around the
// code is dropped); a value that does not start with one is all text
// (dsn is "", text is s).
func SplitDSN(s string) (dsn, text string) {
	if dsn, text = dsncode.Split(s); dsn == "" {
		return "", s
	}
	return dsn, text
}

// IsDSN reports whether s is an enhanced status code "c.sss.ddd" with class
// 2, 4 or 5 (RFC 3463: subject and detail up to three digits).
func IsDSN(s string) bool { return dsncode.Valid(s) }

// TransportKeys returns the keys Postfix's trivial-rewrite looks up in
// transport_maps for a recipient address, in order:
//
//	user+ext@example.com   full
//	user@example.com       partial, only when there is an extension
//	sub.example.com        full (the domain)
//	.example.com, .com     partial (parents; "example.com", "com" when
//	                       parentStyle is true, that is when
//	                       transport_maps is in
//	                       parent_domain_matches_subdomains)
//	*                      full (the wildcard entry)
//
// The address is folded to lower case; extensions follow delimiters
// (recipient_delimiter) as for AccessAddressKeys. Address literals get no
// parent keys. An address without '@' yields itself, its form without
// extension, and "*". For the null sender's bounces Postfix looks up
// $empty_address_recipient@$myhostname: pass that, not "".
func TransportKeys(addr, delimiters string, parentStyle bool) iter.Seq[Key] {
	return func(yield func(Key) bool) {
		a := Fold(addr)
		if a != "" {
			local, domain, at, ext := splitAddr(a, delimiters)
			if !yield(Key{Key: a}) {
				return
			}
			if ext >= 0 {
				bare := local[:ext]
				if at >= 0 {
					bare += a[at:]
				}
				if !yield(Key{Key: bare, Partial: true}) {
					return
				}
			}
			if domain != "" {
				if !yield(Key{Key: domain}) {
					return
				}
				if !numericHost(domain) {
					for p := range parentNames(domain, parentStyle) {
						if !yield(Key{Key: p, Partial: true}) {
							return
						}
					}
				}
			}
		}
		yield(Key{Key: "*"})
	}
}
