package tlsrpt

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// PolicyType is the policy-type of a report's policy block (RFC 8460
// §4.4): the policy a session was judged by.
type PolicyType string

// The policy types of RFC 8460 §4.4.
const (
	PolicyTLSA          PolicyType = "tlsa"
	PolicySTS           PolicyType = "sts"
	PolicyNoPolicyFound PolicyType = "no-policy-found"
)

func (t PolicyType) valid() bool {
	return t == PolicyTLSA || t == PolicySTS || t == PolicyNoPolicyFound
}

// ResultType is a result-type of a failure-details entry (RFC 8460 §4.3,
// the IANA "STARTTLS Validation Result Types" registry).
type ResultType string

// The result types of RFC 8460 §4.3.
const (
	// Negotiation failures (§4.3.1).
	ResultSTARTTLSNotSupported    ResultType = "starttls-not-supported"
	ResultCertificateHostMismatch ResultType = "certificate-host-mismatch"
	ResultCertificateExpired      ResultType = "certificate-expired"
	ResultCertificateNotTrusted   ResultType = "certificate-not-trusted"
	ResultValidationFailure       ResultType = "validation-failure"
	// Policy failures (§4.3.2): DANE.
	ResultTLSAInvalid   ResultType = "tlsa-invalid"
	ResultDNSSECInvalid ResultType = "dnssec-invalid"
	ResultDANERequired  ResultType = "dane-required"
	// Policy failures (§4.3.2): MTA-STS.
	ResultSTSPolicyFetchError ResultType = "sts-policy-fetch-error"
	ResultSTSPolicyInvalid    ResultType = "sts-policy-invalid"
	ResultSTSWebPKIInvalid    ResultType = "sts-webpki-invalid"
)

// Policy is the "policy" block of a report entry (RFC 8460 §4.4).
type Policy struct {
	Type PolicyType `json:"policy-type"`
	// Strings is the policy-string array: the MTA-STS policy lines
	// (sts), or one "usage selector mtype hex" string per TLSA record
	// (tlsa). Empty for no-policy-found.
	Strings []string `json:"policy-string,omitempty"`
	// Domain is the policy-domain: the recipient (next-hop) domain for
	// sts and no-policy-found, the TLSA base domain for tlsa.
	Domain string `json:"policy-domain"`
	// MXHosts are the MTA-STS mx patterns ("*.example.com"); empty for
	// tlsa. An array, as erratum 6241 corrects the RFC's example.
	MXHosts []string `json:"mx-host,omitempty"`
}

// Failure describes one failed session: a failure-details entry without
// its count (RFC 8460 §4.4). Failure is comparable; equal Failures of a
// policy are merged into one entry whose count is their number.
type Failure struct {
	ResultType            ResultType `json:"result-type"`
	SendingMTAIP          netip.Addr `json:"sending-mta-ip,omitzero"`
	ReceivingMXHostname   string     `json:"receiving-mx-hostname,omitempty"`
	ReceivingMXHelo       string     `json:"receiving-mx-helo,omitempty"`
	ReceivingIP           netip.Addr `json:"receiving-ip,omitzero"`
	AdditionalInformation string     `json:"additional-information,omitempty"` // a URI
	FailureReasonCode     string     `json:"failure-reason-code,omitempty"`    // free text
}

// FailureDetails is a failure-details entry of a report (RFC 8460 §4.4):
// a Failure and the number of sessions that failed so.
type FailureDetails struct {
	Failure
	FailedSessionCount int64 `json:"failed-session-count"`
}

// Summary is the summary block of a report entry (RFC 8460 §4.4).
type Summary struct {
	TotalSuccessfulSessionCount int64 `json:"total-successful-session-count"`
	TotalFailureSessionCount    int64 `json:"total-failure-session-count"`
}

// PolicyResult is one entry of a report's policies array (RFC 8460 §4.4).
type PolicyResult struct {
	Policy         Policy           `json:"policy"`
	Summary        Summary          `json:"summary"`
	FailureDetails []FailureDetails `json:"failure-details"`
}

// DateRange is the date-range of a report (RFC 8460 §4.4): one UTC day,
// from 00:00:00 to 23:59:59.
type DateRange struct {
	Start time.Time `json:"start-datetime"`
	End   time.Time `json:"end-datetime"`
}

// Report is an aggregate TLS report (RFC 8460 §4.4).
type Report struct {
	OrganizationName string         `json:"organization-name"`
	DateRange        DateRange      `json:"date-range"`
	ContactInfo      string         `json:"contact-info"`
	ReportID         string         `json:"report-id"`
	Policies         []PolicyResult `json:"policies"`
}

// Result is the TLS-RPT outcome of one TLS negotiation attempt (one
// session), as the delivery code records it.
type Result struct {
	// Time is when the session took place; zero means the Aggregator's
	// clock. It picks the UTC day of the report.
	Time time.Time
	// Domain is the recipient's (next-hop) domain: its _smtp._tls record
	// says where the report goes. Empty means Policy.Domain. For a tlsa
	// policy the two differ: the policy domain is the TLSA base domain
	// (an MX host), while Postfix reports to the next-hop domain.
	Domain string
	// Policy is the policy the session was judged by.
	Policy Policy
	// Failure is nil for a successful session.
	Failure *Failure
}

// normalize lower-cases the domain names of p and checks them.
func (p Policy) normalize() (Policy, error) {
	if !p.Type.valid() {
		return p, fmt.Errorf("tlsrpt: policy type %q", p.Type)
	}
	d, ok := normalizeDomain(p.Domain)
	if !ok {
		return p, fmt.Errorf("tlsrpt: policy domain %q", p.Domain)
	}
	p.Domain = d
	if len(p.MXHosts) > 0 {
		mx := make([]string, len(p.MXHosts))
		for i, h := range p.MXHosts {
			mx[i] = strings.ToLower(h)
		}
		p.MXHosts = mx
	}
	if len(p.Strings) == 0 {
		p.Strings = nil
	}
	return p, nil
}

// key is the canonical form of p, for grouping.
func (p Policy) key() string {
	b, _ := json.Marshal(p) // cannot fail: strings and slices of strings
	return string(b)
}

// normalizeDomain lower-cases s, drops one trailing dot and checks that
// it is a host name in A-label form: 1 to 253 bytes, labels of 1 to 63
// letters, digits, '-' and '_'. The check keeps file names and header
// fields built from domains safe.
func normalizeDomain(s string) (string, bool) {
	s = strings.ToLower(strings.TrimSuffix(s, "."))
	if s == "" || len(s) > 253 {
		return "", false
	}
	for l := range strings.SplitSeq(s, ".") {
		if l == "" || len(l) > 63 {
			return "", false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return "", false
			}
		}
	}
	return s, true
}

// dayOf returns the UTC midnight that starts t's UTC day.
func dayOf(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}
