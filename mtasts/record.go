package mtasts

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/netip"
	"net/url"
	"strings"

	"github.com/mxkit/mxkit/dnsres"
)

// Resolver is the DNS the package uses for every lookup: the TXT records
// of _mta-sts and _smtp._tls, and the addresses of the policy host.
// *dnsres.Resolver, mxkit's DNS layer, satisfies it.
//
// A name that does not exist or has no records of the type must give an
// error for which errors.Is(err, dnsres.ErrNotFound) holds (a
// *net.DNSError with IsNotFound set is accepted too); any other error is
// taken as a temporary failure.
type Resolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
	LookupIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// The lookup outcomes. Only ErrTemporary means "ask again later"; the
// others mean that the domain has no usable record.
var (
	// ErrNoRecord: no TXT record of the kind (NXDOMAIN, NODATA, or no
	// record with the version tag).
	ErrNoRecord = errors.New("no record")
	// ErrMultipleRecords: more than one record with the version tag
	// (RFC 8461 §3.1, RFC 8460 §3).
	ErrMultipleRecords = errors.New("more than one record")
	// ErrInvalidRecord: the one record does not parse.
	ErrInvalidRecord = errors.New("invalid record")
	// ErrTemporary: a DNS failure (SERVFAIL, timeout, network error).
	ErrTemporary = errors.New("temporary DNS failure")
)

// Record is a parsed _mta-sts TXT record (RFC 8461 §3.1).
type Record struct {
	// ID identifies the policy version: 1 to 32 letters and digits. It
	// only signals a change; it has no order.
	ID string
}

const (
	stsVersion    = "v=STSv1"
	tlsrptVersion = "v=TLSRPTv1"
)

// ParseRecord parses one _mta-sts TXT record (its strings concatenated):
// "v=STSv1; id=20160831085700Z;". The version tag must come first and is
// case-sensitive; fields are separated by ";" with optional spaces and
// tabs around it, a trailing ";" is allowed; the first id field wins and
// other name=value fields are ignored if well formed.
func ParseRecord(txt string) (Record, error) {
	fields, err := splitRecord(txt, stsVersion)
	if err != nil {
		return Record{}, err
	}
	var r Record
	for _, f := range fields {
		name, value, _ := strings.Cut(f, "=")
		if name != "id" || r.ID != "" {
			continue
		}
		if len(value) > 32 || !isAlnum(value) {
			return Record{}, fmt.Errorf("%w: id %q: want 1 to 32 letters and digits", ErrInvalidRecord, value)
		}
		r.ID = value
	}
	if r.ID == "" {
		return Record{}, fmt.Errorf("%w: no id field", ErrInvalidRecord)
	}
	return r, nil
}

// splitRecord checks the common syntax of STS and TLS-RPT records
// (version, field delimiters, name=value fields) and returns the fields
// after the version.
func splitRecord(txt, version string) ([]string, error) {
	rest, ok := strings.CutPrefix(txt, version)
	if !ok || (rest != "" && rest[0] != ';' && !isWSP(rest[0])) {
		return nil, fmt.Errorf("%w: does not start with %q", ErrInvalidRecord, version)
	}
	parts := strings.Split(rest, ";")
	if strings.Trim(parts[0], " \t") != "" {
		return nil, fmt.Errorf("%w: junk after %q", ErrInvalidRecord, version)
	}
	parts = parts[1:]
	if len(parts) == 0 {
		return nil, fmt.Errorf("%w: no fields after %q", ErrInvalidRecord, version)
	}
	var fields []string
	for i, p := range parts {
		p = strings.Trim(p, " \t")
		if p == "" && i == len(parts)-1 && i > 0 {
			break // a trailing delimiter
		}
		name, value, ok := strings.Cut(p, "=")
		if !ok || !validFieldName(name) {
			return nil, fmt.Errorf("%w: field %q: want name=value", ErrInvalidRecord, p)
		}
		if name != "rua" && !validExtValue(value) {
			return nil, fmt.Errorf("%w: field %q: bad value", ErrInvalidRecord, p)
		}
		fields = append(fields, p)
	}
	return fields, nil
}

// validFieldName: (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".").
func validFieldName(s string) bool {
	if s == "" || len(s) > 32 || !isAlnum(s[:1]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !isAlnumByte(c) && c != '_' && c != '-' && c != '.' {
			return false
		}
	}
	return true
}

// validExtValue: 1*(%x21-3A / %x3C / %x3E-7E).
func validExtValue(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x21 || c > 0x7e || c == ';' || c == '=' {
			return false
		}
	}
	return true
}

func isWSP(c byte) bool { return c == ' ' || c == '\t' }

func isAlnumByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

func isAlnum(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isAlnumByte(s[i]) {
			return false
		}
	}
	return true
}

// LookupRecord finds the MTA-STS record of domain at _mta-sts.<domain>.
// Records that do not start with the version tag are ignored; none left
// is ErrNoRecord, more than one ErrMultipleRecords (RFC 8461 §3.1: "If
// the number of resulting records is not one ... senders MUST assume the
// recipient domain does not have an available MTA-STS policy"), a record
// that does not parse ErrInvalidRecord, a DNS failure ErrTemporary.
func LookupRecord(ctx context.Context, r Resolver, domain string) (Record, error) {
	txt, err := lookupOne(ctx, r, "_mta-sts."+domain, stsVersion)
	if err != nil {
		return Record{}, err
	}
	rec, err := ParseRecord(txt)
	if err != nil {
		return Record{}, fmt.Errorf("mtasts: _mta-sts.%s: %w", domain, err)
	}
	return rec, nil
}

// lookupOne returns the one TXT record of name that starts with version.
func lookupOne(ctx context.Context, r Resolver, name, version string) (string, error) {
	txts, err := r.LookupTXT(ctx, name)
	if err != nil {
		if notFound(err) {
			return "", fmt.Errorf("mtasts: %s: %w", name, ErrNoRecord)
		}
		return "", fmt.Errorf("mtasts: %s: %w: %w", name, ErrTemporary, err)
	}
	var found []string
	for _, t := range txts {
		if rest, ok := strings.CutPrefix(t, version); ok && (rest == "" || rest[0] == ';' || isWSP(rest[0])) {
			found = append(found, t)
		}
	}
	switch len(found) {
	case 0:
		return "", fmt.Errorf("mtasts: %s: %w", name, ErrNoRecord)
	case 1:
		return found[0], nil
	}
	return "", fmt.Errorf("mtasts: %s: %w (%d)", name, ErrMultipleRecords, len(found))
}

func notFound(err error) bool {
	if errors.Is(err, dnsres.ErrNotFound) {
		return true
	}
	var de *net.DNSError
	return errors.As(err, &de) && de.IsNotFound
}

// TLSRPTRecord is a parsed _smtp._tls TXT record (RFC 8460 §3).
type TLSRPTRecord struct {
	// RUA lists the report destinations, mailto: and https: URIs, in
	// the record's order.
	RUA []*url.URL
}

// ParseTLSRPT parses one _smtp._tls TXT record:
// "v=TLSRPTv1; rua=mailto:tlsrpt@example.com,https://r.example.com/v1".
// The version comes first; the first rua field wins and is required;
// other name=value fields are ignored. Each URI must be a mailto: URI with
// one address or an https: URI with a host; URIs of other schemes are
// skipped (RFC 8460 defines only these two), but at least one must be
// usable.
func ParseTLSRPT(txt string) (*TLSRPTRecord, error) {
	fields, err := splitRecord(txt, tlsrptVersion)
	if err != nil {
		return nil, err
	}
	for _, f := range fields {
		name, value, _ := strings.Cut(f, "=")
		if name != "rua" {
			continue
		}
		rec := &TLSRPTRecord{}
		for u := range strings.SplitSeq(value, ",") {
			u = strings.Trim(u, " \t")
			pu, err := parseRUA(u)
			if err != nil {
				return nil, err
			}
			if pu != nil {
				rec.RUA = append(rec.RUA, pu)
			}
		}
		if len(rec.RUA) == 0 {
			return nil, fmt.Errorf("%w: rua %q: no mailto: or https: URI", ErrInvalidRecord, value)
		}
		return rec, nil
	}
	return nil, fmt.Errorf("%w: no rua field", ErrInvalidRecord)
}

func parseRUA(s string) (*url.URL, error) {
	bad := func(why string) error { return fmt.Errorf("%w: rua URI %q: %s", ErrInvalidRecord, s, why) }
	if s == "" {
		return nil, bad("empty")
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= 0x20 || c >= 0x7f || c == '!' {
			return nil, bad("invalid character (RFC 8460 requires \"!\" and \",\" to be percent-encoded)")
		}
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, bad("does not parse")
	}
	switch strings.ToLower(u.Scheme) {
	case "mailto":
		if u.Opaque == "" {
			return nil, bad("no address")
		}
		addr, err := url.PathUnescape(u.Opaque)
		if err != nil {
			return nil, bad("bad percent-encoding")
		}
		a, err := mail.ParseAddress(addr)
		if err != nil || a.Name != "" || a.Address != addr {
			return nil, bad("not one e-mail address")
		}
	case "https":
		if u.Host == "" || u.Opaque != "" || u.User != nil {
			return nil, bad("want https://host/path")
		}
	case "":
		return nil, bad("no scheme")
	default:
		return nil, nil
	}
	return u, nil
}

// LookupTLSRPT finds the TLS-RPT record of domain at _smtp._tls.<domain>,
// with the same rules and errors as LookupRecord.
func LookupTLSRPT(ctx context.Context, r Resolver, domain string) (*TLSRPTRecord, error) {
	txt, err := lookupOne(ctx, r, "_smtp._tls."+domain, tlsrptVersion)
	if err != nil {
		return nil, err
	}
	rec, err := ParseTLSRPT(txt)
	if err != nil {
		return nil, fmt.Errorf("mtasts: _smtp._tls.%s: %w", domain, err)
	}
	return rec, nil
}
