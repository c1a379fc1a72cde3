package mtasts

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"
)

// MaxPolicySize is the largest policy body accepted: 64 KiB (RFC 8461
// §3.3 suggests 64 KB).
const MaxPolicySize = 64 << 10

// DefaultFetchTimeout bounds a policy fetch, DNS included (RFC 8461 §3.3
// suggests one minute).
const DefaultFetchTimeout = time.Minute

// The kinds of FetchError, named after the TLS-RPT result types (RFC 8460
// §4.3.2).
const (
	FetchFailed   = "sts-policy-fetch-error"
	PolicyInvalid = "sts-policy-invalid"
	WebPKIInvalid = "sts-webpki-invalid"
)

// FetchError is a policy that could not be fetched or parsed.
type FetchError struct {
	Domain string // the policy domain
	URL    string
	// Kind is FetchFailed, PolicyInvalid or WebPKIInvalid.
	Kind string
	Err  error
}

func (e *FetchError) Error() string {
	var se *SyntaxError
	if errors.As(e.Err, &se) && se.Line > 0 {
		return "mtasts: " + e.URL + ":" + strconv.Itoa(se.Line) + ": " + se.Msg
	}
	return "mtasts: " + e.URL + ": " + e.Err.Error()
}

func (e *FetchError) Unwrap() error { return e.Err }

// PolicyFetcher fetches the current policy of a domain. *Fetcher is the
// implementation of RFC 8461 §3.3; tests and proxies may use others.
type PolicyFetcher interface {
	Fetch(ctx context.Context, domain string) (*Policy, error)
}

// Fetcher fetches policies over HTTPS as RFC 8461 §3.3 says: GET
// https://mta-sts.<domain>/.well-known/mta-sts.txt, no redirects followed,
// only status 200, media type text/plain (parameters allowed), at most
// MaxPolicySize bytes (checked on Content-Length and while reading), the
// certificate PKIX-valid for mta-sts.<domain> (sent as SNI), no HTTP
// caching, no proxy. The address of mta-sts.<domain> comes from Resolver,
// not from the system's resolver. The zero value is not usable: Resolver
// is required. A Fetcher is safe for concurrent use; its fields must not
// change after the first Fetch.
type Fetcher struct {
	Resolver Resolver
	// RootCAs are the trusted roots; nil means the system's.
	RootCAs *x509.CertPool
	// Timeout bounds a fetch, the address lookup included; 0 means
	// DefaultFetchTimeout.
	Timeout time.Duration
	// Dial connects to an "ip:port" address (port 443) found with
	// Resolver; nil means a net.Dialer. Tests use it to reach a server on
	// another port.
	Dial func(ctx context.Context, network, address string) (net.Conn, error)

	once   sync.Once
	client *http.Client
}

func (f *Fetcher) init() {
	dial := f.Dial
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	t := &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, network, address string) (net.Conn, error) {
			return resolveAndDial(ctx, f.Resolver, dial, network, address)
		},
		TLSClientConfig:        &tls.Config{RootCAs: f.RootCAs, MinVersion: tls.VersionTLS12},
		DisableKeepAlives:      true,
		DisableCompression:     true,
		MaxResponseHeaderBytes: 64 << 10,
	}
	f.client = &http.Client{
		Transport:     t,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// resolveAndDial looks host up with r and dials its addresses in turn.
func resolveAndDial(ctx context.Context, r Resolver, dial func(context.Context, string, string) (net.Conn, error), network, address string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, err
	}
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{a}
	} else {
		addrs, err = r.LookupIP(ctx, "ip", host)
		if err != nil {
			return nil, fmt.Errorf("lookup %s: %w", host, err)
		}
		if len(addrs) == 0 {
			return nil, fmt.Errorf("lookup %s: no addresses", host)
		}
	}
	var errs []error
	for _, a := range addrs {
		c, err := dial(ctx, network, net.JoinHostPort(a.Unmap().String(), port))
		if err == nil {
			return c, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, errors.Join(errs...)
}

// Fetch fetches and parses the policy of domain. Errors are *FetchError.
func (f *Fetcher) Fetch(ctx context.Context, domain string) (*Policy, error) {
	f.once.Do(f.init)
	url := "https://mta-sts." + domain + "/.well-known/mta-sts.txt"
	fail := func(kind string, err error) (*Policy, error) {
		return nil, &FetchError{Domain: domain, URL: url, Kind: kind, Err: err}
	}
	if !validDomain(domain) {
		return fail(FetchFailed, errors.New("invalid domain name"))
	}
	timeout := f.Timeout
	if timeout <= 0 {
		timeout = DefaultFetchTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fail(FetchFailed, err)
	}
	req.Header.Set("Cache-Control", "no-cache")
	resp, err := f.client.Do(req)
	if err != nil {
		if isCertError(err) {
			return fail(WebPKIInvalid, err)
		}
		return fail(FetchFailed, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		return fail(FetchFailed, fmt.Errorf("HTTP status %d: redirects are not followed", resp.StatusCode))
	case resp.StatusCode != http.StatusOK:
		return fail(FetchFailed, fmt.Errorf("HTTP status %d: want 200", resp.StatusCode))
	}
	ct := resp.Header.Get("Content-Type")
	if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "text/plain" {
		return fail(FetchFailed, fmt.Errorf("content type %q: want text/plain", ct))
	}
	if resp.ContentLength > MaxPolicySize {
		return fail(FetchFailed, fmt.Errorf("Content-Length %d: more than %d bytes", resp.ContentLength, MaxPolicySize))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxPolicySize+1))
	if err != nil {
		return fail(FetchFailed, err)
	}
	if len(body) > MaxPolicySize {
		return fail(FetchFailed, fmt.Errorf("body: more than %d bytes", MaxPolicySize))
	}
	p, err := ParsePolicy(string(body))
	if err != nil {
		return fail(PolicyInvalid, err)
	}
	return p, nil
}

func isCertError(err error) bool {
	var (
		ve *tls.CertificateVerificationError
		ua x509.UnknownAuthorityError
		he x509.HostnameError
		ci x509.CertificateInvalidError
	)
	return errors.As(err, &ve) || errors.As(err, &ua) || errors.As(err, &he) || errors.As(err, &ci)
}
