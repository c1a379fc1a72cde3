package tlspolicy

import (
	"fmt"
	"strings"

	"github.com/mxkit/mxkit/dane"
	"github.com/mxkit/mxkit/relaymaps"
)

// Level is a TLS security level (smtp_tls_security_level, tls_policy(5)).
// The zero value, Default, means "not set" and behaves as May.
type Level int

// The levels, weakest first (Postfix's TLS_LEV_* order).
const (
	// Default is an unset level; it behaves as May (see the package
	// documentation for why this differs from Postfix's empty default).
	Default Level = iota
	// None never sends STARTTLS.
	None
	// May uses STARTTLS when offered and checks nothing; a refused
	// STARTTLS continues in plaintext on the same connection.
	May
	// Encrypt requires STARTTLS and a handshake, and checks nothing.
	Encrypt
	// Fingerprint requires TLS and a leaf certificate or public key whose
	// digest is in Match; no CA, name or date checks.
	Fingerprint
	// Dane is opportunistic DANE (RFC 7672): DANE when the host has
	// usable secure TLSA records, weaker levels otherwise (§1.3).
	Dane
	// DaneOnly is mandatory DANE: anything but usable secure TLSA
	// records reached through a secure MX defers the host.
	DaneOnly
	// Verify requires a PKIX-valid chain and a name in Match (default
	// "hostname": the MX host name as found in DNS).
	Verify
	// Secure is Verify with default Match "nexthop:dot-nexthop".
	Secure
)

var levelNames = [...]string{"", "none", "may", "encrypt", "fingerprint", "dane", "dane-only", "verify", "secure"}

// String returns the Postfix name ("dane-only"), "" for Default.
func (l Level) String() string {
	if l >= 0 && int(l) < len(levelNames) {
		return levelNames[l]
	}
	return fmt.Sprintf("Level(%d)", int(l))
}

// ParseLevel parses a Postfix level name, case-insensitively; "" is
// Default.
func ParseLevel(s string) (Level, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	for i, n := range levelNames {
		if n == s {
			return Level(i), nil
		}
	}
	return Default, fmt.Errorf("tlspolicy: invalid TLS security level %q", s)
}

// effective maps Default to May.
func (l Level) effective() Level {
	if l == Default {
		return May
	}
	return l
}

// UsesTLS reports whether STARTTLS is attempted at l.
func (l Level) UsesTLS() bool { return l.effective() >= May }

// RequiresTLS reports whether l forbids plaintext (encrypt and above).
func (l Level) RequiresTLS() bool { return l.effective() >= Encrypt }

// matchLevel reports whether match= applies at l.
func (l Level) matchLevel() bool { return l == Fingerprint || l == Verify || l == Secure }

// Policy is how to use TLS with one MX host: what Resolve decided, or
// what a caller sets directly. The zero value is level may.
type Policy struct {
	Level Level
	// Match holds, at level fingerprint, the certificate or public-key
	// digests (hexadecimal, colons optional, any case); at verify and
	// secure, the names a certificate may match: "hostname" (the MX
	// host), "nexthop" (the next-hop domain), "dot-nexthop" (any
	// subdomain of it), a literal name, or ".name" (any subdomain of
	// name). Empty means the level's default (verify: hostname; secure:
	// nexthop and dot-nexthop). Ignored at other levels.
	Match []string
	// ServerName is the SNI: "" sends none, "hostname" the MX host,
	// "nexthop" the next-hop domain, anything else is sent literally.
	// Ignored at the DANE levels, which always send the TLSA base domain.
	ServerName string
	// DANE is the DANE decision at levels dane and dane-only (records,
	// TLSA base domain, reference identifiers). A dane level without it
	// (or without usable records) only requires TLS.
	DANE *dane.Decision
	// Report is the TLS-RPT policy the session's result belongs to.
	Report ReportPolicy
	// ReportOnly asks the dialer to check the certificate as an MTA-STS
	// enforce policy would (PKIX, name = MX host) without acting on the
	// result: MTA-STS testing mode (RFC 8461 §5). The outcome is in
	// Conn.Result.
	ReportOnly bool
	// Source says what decided: "table", "dane", "sts", "default" or ""
	// (set by the caller).
	Source string
	// Reason explains the decision for logs ("TLSA records unusable").
	Reason string
}

// String returns the policy in tls_policy(5) syntax: "secure
// match=nexthop:dot-nexthop servername=hostname". Report attributes are
// not included.
func (p *Policy) String() string {
	if p == nil {
		return "may"
	}
	lv := p.Level.effective()
	var b strings.Builder
	b.WriteString(lv.String())
	if lv.matchLevel() && len(p.Match) > 0 {
		sep := ":"
		if lv == Fingerprint {
			sep = "|"
		}
		b.WriteString(" match=" + strings.Join(p.Match, sep))
	}
	if p.ServerName != "" && lv != Dane && lv != DaneOnly && lv != None {
		b.WriteString(" servername=" + p.ServerName)
	}
	return b.String()
}

// match returns the match list with the level's default applied.
func (p *Policy) match() []string {
	if len(p.Match) > 0 {
		return p.Match
	}
	switch p.Level {
	case Verify:
		return []string{"hostname"}
	case Secure:
		return []string{"nexthop", "dot-nexthop"}
	}
	return nil
}

// FromTable turns a parsed tls_policy(5) value into a Policy. It fails,
// as Postfix's policy check does, for what it cannot honour: tafile=
// (trust-anchor files are not supported: trusting the system roots
// instead would be weaker than asked) and, at level fingerprint, a
// match= that is not a hexadecimal digest. ciphers=, protocols=,
// exclude=, connection_reuse= and enable_rpk= are accepted and ignored
// (Go's defaults apply). The STS/TLS-RPT attributes become Report.
func FromTable(tp relaymaps.TLSPolicy) (*Policy, error) {
	lv, err := ParseLevel(tp.Level)
	if err != nil || lv == Default {
		return nil, fmt.Errorf("tlspolicy: invalid security level %q", tp.Level)
	}
	p := &Policy{Level: lv, Source: "table"}
	if lv == None {
		return p, nil
	}
	if len(tp.TAFiles) > 0 {
		return nil, fmt.Errorf("tlspolicy: tafile=%s: trust-anchor files are not supported", tp.TAFiles[0])
	}
	if len(tp.Match) > 0 {
		if !lv.matchLevel() {
			return nil, fmt.Errorf("tlspolicy: attribute \"match\" invalid at security level %q", lv)
		}
		for _, m := range tp.Match {
			if lv == Fingerprint {
				if _, err := ParseFingerprint(m); err != nil {
					return nil, err
				}
			}
		}
		p.Match = append([]string(nil), tp.Match...)
	}
	p.ServerName = tp.ServerName
	if tp.PolicyType != "" {
		p.Report = ReportPolicy{
			Type:     PolicyType(tp.PolicyType),
			Domain:   tp.PolicyDomain,
			Strings:  append([]string(nil), tp.PolicyStrings...),
			MXHosts:  append([]string(nil), tp.MXHostPatterns...),
			Failure:  ResultType(tp.PolicyFailure),
			External: true,
		}
	}
	return p, nil
}
