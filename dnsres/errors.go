package dnsres

import (
	"errors"
	"strconv"
	"strings"

	"github.com/miekg/dns"
)

// Security is the DNSSEC state of an answer (RFC 4035 §4.3). Its order is
// from strongest to weakest, so the weakest of two is the larger.
type Security uint8

const (
	// Secure: AD=1 from a trusted validating resolver.
	Secure Security = iota
	// Insecure: AD=0, or the server's AD bit is not trusted.
	Insecure
	// Bogus: validation failed (SERVFAIL from a validating resolver, or
	// an RFC 8914 Extended DNS Error that says so).
	Bogus
	// Indeterminate: no usable answer (timeout, network error, REFUSED,
	// SERVFAIL for another reason).
	Indeterminate
)

func (s Security) String() string {
	switch s {
	case Secure:
		return "secure"
	case Insecure:
		return "insecure"
	case Bogus:
		return "bogus"
	case Indeterminate:
		return "indeterminate"
	}
	return "Security(" + strconv.Itoa(int(s)) + ")"
}

// Weakest returns the weaker of s and t.
func (s Security) Weakest(t Security) Security { return max(s, t) }

// EDE is an RFC 8914 Extended DNS Error.
type EDE struct {
	Code uint16
	Text string
}

func (e EDE) String() string {
	name := dns.ExtendedErrorCodeToString[e.Code]
	if name == "" {
		name = "Unknown"
	}
	s := "EDE " + strconv.Itoa(int(e.Code)) + " (" + name + ")"
	if e.Text != "" {
		s += ": " + e.Text
	}
	return s
}

// The error classes of a lookup. errors.Is(err, ErrNotFound) holds for
// ErrNXDomain and ErrNoData; errors.Is(err, ErrTemporary) holds for
// ErrBogus too, since a validation failure may be repaired and must never
// be taken for a permanent answer (Postfix's TRY_AGAIN).
var (
	ErrNotFound  = errors.New("dns: not found")
	ErrNXDomain  = errors.New("dns: no such domain")
	ErrNoData    = errors.New("dns: no records of the requested type")
	ErrNullMX    = errors.New("dns: domain does not accept mail (null MX)")
	ErrMalformed = errors.New("dns: malformed reply")
	ErrTemporary = errors.New("dns: temporary failure")
	ErrBogus     = errors.New("dns: DNSSEC validation failure")
)

// Error is a failed lookup.
type Error struct {
	Name string // the name looked up, lower case, without trailing dot
	Type string // "A", "MX", ...
	// Kind is one of ErrNXDomain, ErrNoData, ErrNullMX, ErrMalformed,
	// ErrTemporary and ErrBogus.
	Kind error
	// Security is the DNSSEC state of the answer: for ErrNXDomain and
	// ErrNoData whether the denial was authenticated; Bogus or
	// Indeterminate for ErrBogus and ErrTemporary.
	Security Security
	// Rcode is the DNS response code when there was a response, or -1.
	Rcode int
	// EDE are the RFC 8914 Extended DNS Errors of the response.
	EDE []EDE
	// Err is the underlying error of a temporary failure (a timeout, a
	// network error), or nil.
	Err error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("lookup " + e.Name + " " + e.Type + ": " + strings.TrimPrefix(e.Kind.Error(), "dns: "))
	if e.Rcode > 0 {
		b.WriteString(" (" + dns.RcodeToString[e.Rcode] + ")")
	}
	for _, x := range e.EDE {
		b.WriteString(", " + x.String())
	}
	if e.Err != nil {
		b.WriteString(": " + e.Err.Error())
	}
	return b.String()
}

// Is matches the class sentinels: ErrNotFound matches ErrNXDomain and
// ErrNoData, ErrTemporary matches ErrBogus.
func (e *Error) Is(target error) bool {
	switch target {
	case e.Kind:
		return true
	case ErrNotFound:
		return e.Kind == ErrNXDomain || e.Kind == ErrNoData
	case ErrTemporary:
		return e.Kind == ErrBogus
	}
	return false
}

// Unwrap returns the underlying network error.
func (e *Error) Unwrap() error { return e.Err }

// Temporary reports whether the lookup may succeed later.
func (e *Error) Temporary() bool { return e.Kind == ErrTemporary || e.Kind == ErrBogus }

// Status classifies an error of a lookup as Postfix's dns_lookup does.
type Status uint8

const (
	StatusOK       Status = iota // no error
	StatusNotFound               // NXDOMAIN or NODATA
	StatusNullMX                 // RFC 7505 null MX
	StatusInvalid                // a malformed answer
	StatusRetry                  // anything else: try again later
)

// StatusOf returns the class of err. An error that is not from this
// package (a context error, say) is StatusRetry: a failure of unknown
// kind is never taken for a definite answer.
func StatusOf(err error) Status {
	switch {
	case err == nil:
		return StatusOK
	case errors.Is(err, ErrNotFound):
		return StatusNotFound
	case errors.Is(err, ErrNullMX):
		return StatusNullMX
	case errors.Is(err, ErrMalformed):
		return StatusInvalid
	}
	return StatusRetry
}
