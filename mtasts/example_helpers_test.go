package mtasts_test

import (
	"context"
	"net/netip"

	"github.com/mxkit/mxkit/mtasts"
	"github.com/mxkit/mxkit/smtppolicy"
)

// fakeDNS answers TXT lookups from a map.
type fakeDNS map[string][]string

func (d fakeDNS) LookupTXT(_ context.Context, name string) ([]string, error) {
	if t, ok := d[name]; ok {
		return t, nil
	}
	return nil, &smtppolicy.DNSError{Name: name, Type: "TXT", Kind: smtppolicy.ErrNXDomain, Rcode: 3}
}

func (d fakeDNS) LookupIP(context.Context, string, string) ([]netip.Addr, error) {
	return nil, smtppolicy.ErrTemporary
}

// fixedPolicy is a PolicyFetcher that always returns the same policy.
type fixedPolicy string

func (f fixedPolicy) Fetch(context.Context, string) (*mtasts.Policy, error) {
	return mtasts.ParsePolicy(string(f))
}
