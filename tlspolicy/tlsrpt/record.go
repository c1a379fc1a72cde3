package tlsrpt

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/mxkit/mxkit/dnsres"
	"github.com/mxkit/mxkit/mtasts"
)

// Resolver is the DNS the Reporter reads _smtp._tls records with.
// *dnsres.Resolver satisfies it. A name without TXT records (NXDOMAIN,
// NODATA) must give an error for which errors.Is(err, dnsres.ErrNotFound)
// holds (a *net.DNSError with IsNotFound is accepted too); any other
// error is taken as temporary.
type Resolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
}

// The outcomes of LookupRUA, the same values as mtasts's, so errors.Is
// works with either. Only ErrTemporary means "ask again later".
var (
	ErrNoRecord        = mtasts.ErrNoRecord
	ErrMultipleRecords = mtasts.ErrMultipleRecords
	ErrInvalidRecord   = mtasts.ErrInvalidRecord
	ErrTemporary       = mtasts.ErrTemporary
)

const tlsrptVersion = "v=TLSRPTv1"

// ParseRUA chooses the TLS-RPT record among the TXT records of
// _smtp._tls.<domain> and returns its rua URIs (RFC 8460 §3): records
// that do not start with "v=TLSRPTv1" followed by ";", a space or the end
// are ignored; none left is ErrNoRecord, more than one
// ErrMultipleRecords, a record that does not parse ErrInvalidRecord
// (mtasts.ParseTLSRPT: mailto: URIs with one address, https: URIs with a
// host, others skipped).
func ParseRUA(txts []string) ([]*url.URL, error) {
	var found []string
	for _, t := range txts {
		if rest, ok := strings.CutPrefix(t, tlsrptVersion); ok && (rest == "" || rest[0] == ';' || rest[0] == ' ' || rest[0] == '\t') {
			found = append(found, t)
		}
	}
	switch len(found) {
	case 0:
		return nil, ErrNoRecord
	case 1:
	default:
		return nil, fmt.Errorf("%w (%d)", ErrMultipleRecords, len(found))
	}
	rec, err := mtasts.ParseTLSRPT(found[0])
	if err != nil {
		return nil, err
	}
	return rec.RUA, nil
}

// LookupRUA reads the TLS-RPT record of domain at _smtp._tls.<domain>
// and returns its rua URIs, with ParseRUA's errors; a DNS failure is
// ErrTemporary.
func LookupRUA(ctx context.Context, r Resolver, domain string) ([]*url.URL, error) {
	name := "_smtp._tls." + domain
	txts, err := r.LookupTXT(ctx, name)
	if err != nil {
		if notFound(err) {
			return nil, fmt.Errorf("tlsrpt: %s: %w", name, ErrNoRecord)
		}
		return nil, fmt.Errorf("tlsrpt: %s: %w: %w", name, ErrTemporary, err)
	}
	rua, err := ParseRUA(txts)
	if err != nil {
		return nil, fmt.Errorf("tlsrpt: %s: %w", name, err)
	}
	return rua, nil
}

func notFound(err error) bool {
	if errors.Is(err, dnsres.ErrNotFound) {
		return true
	}
	var de *net.DNSError
	return errors.As(err, &de) && de.IsNotFound
}

// mailtoAddr returns the address of a mailto: URI that ParseTLSRPT
// accepted.
func mailtoAddr(u *url.URL) string {
	a, err := url.PathUnescape(u.Opaque)
	if err != nil {
		return u.Opaque
	}
	if i := strings.IndexByte(a, '?'); i >= 0 {
		a = a[:i]
	}
	return a
}
