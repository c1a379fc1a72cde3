package mtasts_test

import (
	"context"
	"net/netip"

	"github.com/mxkit/mxkit/dnsres"
	"github.com/mxkit/mxkit/mtasts"
)

// fakeDNS answers TXT lookups from a map.
type fakeDNS map[string][]string

func (d fakeDNS) LookupTXT(_ context.Context, name string) ([]string, error) {
	if t, ok := d[name]; ok {
		return t, nil
	}
	return nil, &dnsres.Error{Name: name, Type: "TXT", Kind: dnsres.ErrNXDomain, Rcode: 3}
}

func (d fakeDNS) LookupIP(context.Context, string, string) ([]netip.Addr, error) {
	return nil, dnsres.ErrTemporary
}

// fixedPolicy is a PolicyFetcher that always returns the same policy.
type fixedPolicy string

func (f fixedPolicy) Fetch(context.Context, string) (*mtasts.Policy, error) {
	return mtasts.ParsePolicy(string(f))
}
