package relaymaps

import (
	"fmt"
	"strconv"
	"strings"
)

// TLSPolicy is a parsed smtp_tls_policy_maps value (Postfix
// smtp_tls_policy.c): a security level followed by attributes.
type TLSPolicy struct {
	// Level is the security level in lower case: none, may, encrypt,
	// dane, dane-only, fingerprint, verify or secure.
	Level string
	// Match holds the match= patterns, all instances in order: split at
	// '|' for the fingerprint level and at ':' for verify and secure
	// ("nexthop", "dot-nexthop", "hostname", "example.com", ".example.com").
	Match []string
	// Protocols, Ciphers and Exclude override smtp_tls_mandatory_protocols
	// (or smtp_tls_protocols at level may), smtp_tls_mandatory_ciphers and
	// smtp_tls_mandatory_exclude_ciphers; empty means not set.
	Protocols, Ciphers, Exclude string
	// TAFiles lists the tafile= trust-anchor files (verify and secure).
	TAFiles []string
	// ServerName is the servername= SNI name ("hostname", "nexthop" or a
	// host name); empty means not set.
	ServerName string
	// ConnectionReuse and EnableRPK are the connection_reuse= and
	// enable_rpk= settings; nil means not set (use main.cf).
	ConnectionReuse, EnableRPK *bool

	// STS and TLSRPT attributes (Postfix 3.10), only with policy_type.
	PolicyType     string   // policy_type: "sts" or "no-policy-found"
	PolicyDomain   string   // policy_domain
	PolicyStrings  []string // policy_string, each instance
	MXHostPatterns []string // mx_host_pattern, each instance
	PolicyFailure  string   // policy_failure
	PolicyTTL      *int64   // policy_ttl (deprecated), nil if not set

	// Ignored lists the attributes that followed level "none"; Postfix
	// ignores them with a warning.
	Ignored []string
}

var tlsLevels = []string{"none", "may", "encrypt", "dane", "dane-only", "fingerprint", "verify", "secure"}

// tlsrptFailures are the RFC 8460 result types accepted as policy_failure.
var tlsrptFailures = []string{
	"starttls-not-supported", "certificate-host-mismatch", "certificate-expired",
	"certificate-not-trusted", "validation-failure", "tlsa-invalid", "dnssec-invalid",
	"dane-required", "sts-policy-fetch-error", "sts-policy-invalid", "sts-webpki-invalid",
}

// ParseTLSPolicy parses a TLS policy table value such as
//
//	secure match=nexthop:dot-nexthop protocols=>=TLSv1.2
//	fingerprint match=3D:95:34:...|C1:A2:... { exclude = MD5, RC4 }
//	encrypt, ciphers=high
//
// Fields are separated by spaces or commas; "{ name = value }" holds a value
// with spaces or commas (whitespace inside is normalized to single spaces).
// Level and attribute names are case-insensitive.
//
// Postfix fails closed: any error makes the policy invalid and the message
// is deferred ("4.7.5 client TLS configuration problem"); callers must do
// the same with a non-nil error, which wraps ErrConfig. Errors follow
// Postfix's checks: an empty value, an unknown level, a malformed or
// unknown attribute, an attribute given twice that may appear once
// (ciphers, protocols, servername, exclude, policy_type, policy_domain,
// policy_failure, policy_ttl), an empty ciphers, match or tafile, match
// at a level other than fingerprint, verify or secure, tafile at a level
// other than verify or secure, a bad servername or policy_domain host name,
// a value other than yes/no for connection_reuse and enable_rpk, a bad
// policy_type, policy_failure or policy_ttl, and STS attributes without
// policy_type. Unlike Postfix, tafile files are not read here.
func ParseTLSPolicy(value string) (TLSPolicy, error) {
	var p TLSPolicy
	fail := func(format string, args ...any) (TLSPolicy, error) {
		return TLSPolicy{}, &SyntaxError{Msg: fmt.Sprintf("TLS policy %q: ", value) + fmt.Sprintf(format, args...)}
	}
	toks, err := splitTokens(value)
	if err != nil {
		return fail("%v", err)
	}
	if len(toks) == 0 {
		return fail("empty policy")
	}
	p.Level = Fold(toks[0])
	if !containsString(tlsLevels, p.Level) {
		return fail("invalid security level %q", toks[0])
	}
	if p.Level == "none" {
		if len(toks) > 1 {
			p.Ignored = toks[1:]
		}
		return p, nil
	}
	seen := map[string]bool{}
	for _, tok := range toks[1:] {
		attr := tok
		if tok[0] == '{' {
			inner, err := unbrace(tok)
			if err != nil {
				return fail("malformed attribute/value pair %q: %v", tok, err)
			}
			attr = strings.Join(strings.FieldsFunc(inner, isSpaceRune), " ")
		}
		name, val, err := splitNameValue(attr)
		if err != nil {
			return fail("malformed attribute/value pair %q: %v", tok, err)
		}
		lname := Fold(name)
		once := func() bool { d := seen[lname]; seen[lname] = true; return d }
		switch lname {
		case "ciphers":
			if val == "" {
				return fail("attribute %q has empty value", name)
			}
			if once() {
				return fail("attribute %q is specified multiple times", name)
			}
			p.Ciphers = val
		case "protocols":
			if once() {
				return fail("attribute %q is specified multiple times", name)
			}
			p.Protocols = val
		case "servername":
			if once() {
				return fail("attribute %q is specified multiple times", name)
			}
			if !validHostname(val) {
				return fail("%s=%s specifies an invalid hostname", name, val)
			}
			p.ServerName = val
		case "match":
			if val == "" {
				return fail("attribute %q has empty value", name)
			}
			sep := ":"
			switch p.Level {
			case "fingerprint":
				sep = "|"
			case "verify", "secure":
			default:
				return fail("attribute %q invalid at security level %q", name, p.Level)
			}
			for m := range strings.SplitSeq(val, sep) {
				if m != "" {
					p.Match = append(p.Match, m)
				}
			}
		case "exclude":
			if once() {
				return fail("attribute %q is specified multiple times", name)
			}
			p.Exclude = val
		case "tafile":
			if p.Level != "verify" && p.Level != "secure" {
				return fail("attribute %q invalid at security level %q", name, p.Level)
			}
			if val == "" {
				return fail("attribute %q has empty value", name)
			}
			p.TAFiles = append(p.TAFiles, val)
		case "connection_reuse", "enable_rpk":
			var b bool
			switch Fold(val) {
			case "yes":
				b = true
			case "no":
			default:
				return fail("attribute %q has bad value: %q", name, val)
			}
			if lname == "enable_rpk" {
				p.EnableRPK = &b
			} else {
				p.ConnectionReuse = &b
			}
		case "policy_ttl":
			if once() {
				return fail("attribute %q is specified multiple times", name)
			}
			n, err := strconv.ParseInt(val, 10, 64)
			if err != nil || val == "" || val[0] < '0' || val[0] > '9' || n > 1<<31-1 {
				return fail("attribute %q has a malformed value: %q", name, val)
			}
			p.PolicyTTL = &n
		case "policy_type":
			if once() {
				return fail("attribute %q is specified multiple times", name)
			}
			if v := Fold(val); v != "sts" && v != "no-policy-found" {
				return fail("attribute %q has an unexpected value: %q", name, val)
			}
			p.PolicyType = Fold(val)
		case "policy_domain":
			if once() {
				return fail("attribute %q is specified multiple times", name)
			}
			if !validHostname(val) {
				return fail("attribute %q has a malformed value: %q", name, val)
			}
			p.PolicyDomain = val
		case "policy_string":
			p.PolicyStrings = append(p.PolicyStrings, val)
		case "mx_host_pattern":
			p.MXHostPatterns = append(p.MXHostPatterns, val)
		case "policy_failure":
			if once() {
				return fail("attribute %q is specified multiple times", name)
			}
			if !containsString(tlsrptFailures, Fold(val)) {
				return fail("attribute %q has an unexpected value: %q", name, val)
			}
			p.PolicyFailure = Fold(val)
		default:
			return fail("invalid attribute name %q", name)
		}
	}
	if p.PolicyType == "" && (p.PolicyTTL != nil || p.PolicyStrings != nil || p.PolicyDomain != "" ||
		p.MXHostPatterns != nil || p.PolicyFailure != "") {
		return fail("policy_ttl, policy_domain, policy_string, mx_host_pattern or policy_failure without policy_type")
	}
	return p, nil
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// validHostname is Postfix's valid_hostname: labels of letters, digits,
// '-' and '_', not starting or ending with '-', at most 63 bytes each and
// 255 in all, not all numeric. A trailing dot is not allowed.
func validHostname(s string) bool {
	if s == "" || len(s) > 255 {
		return false
	}
	labelLen := 0
	nonNumeric := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '.':
			if labelLen == 0 || s[i-1] == '-' {
				return false
			}
			labelLen = 0
		case isAlnum(c) || c == '_' || c == '-':
			if c == '-' && labelLen == 0 {
				return false
			}
			if c < '0' || c > '9' {
				nonNumeric = true
			}
			labelLen++
			if labelLen > 63 {
				return false
			}
		default:
			return false
		}
	}
	return labelLen > 0 && s[len(s)-1] != '-' && nonNumeric
}
