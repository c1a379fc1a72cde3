package tlspolicy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"strings"
	"time"

	"github.com/mxkit/mxkit/dane"
	"github.com/mxkit/mxkit/tlspolicy/tlsrpt"
)

// The TLS-RPT (RFC 8460) vocabulary is tlsrpt's, so that a session's
// Result goes to a report without translation.
type (
	// PolicyType is a TLS-RPT policy type (RFC 8460 §4.4).
	PolicyType = tlsrpt.PolicyType
	// ResultType is a TLS-RPT result type (RFC 8460 §4.3).
	ResultType = tlsrpt.ResultType
	// FailureDetails is one failed session's failure-details (RFC 8460
	// §4.4), without its count.
	FailureDetails = tlsrpt.Failure
)

// The policy types and result types.
const (
	PolicyTLSA          = tlsrpt.PolicyTLSA
	PolicySTS           = tlsrpt.PolicySTS
	PolicyNoPolicyFound = tlsrpt.PolicyNoPolicyFound

	ResultSTARTTLSNotSupported    = tlsrpt.ResultSTARTTLSNotSupported
	ResultCertificateHostMismatch = tlsrpt.ResultCertificateHostMismatch
	ResultCertificateExpired      = tlsrpt.ResultCertificateExpired
	ResultCertificateNotTrusted   = tlsrpt.ResultCertificateNotTrusted
	ResultValidationFailure       = tlsrpt.ResultValidationFailure
	ResultTLSAInvalid             = tlsrpt.ResultTLSAInvalid
	ResultDNSSECInvalid           = tlsrpt.ResultDNSSECInvalid
	ResultDANERequired            = tlsrpt.ResultDANERequired
	ResultSTSPolicyFetchError     = tlsrpt.ResultSTSPolicyFetchError
	ResultSTSPolicyInvalid        = tlsrpt.ResultSTSPolicyInvalid
	ResultSTSWebPKIInvalid        = tlsrpt.ResultSTSWebPKIInvalid
)

// ReportPolicy is the "policy" object of a TLS-RPT report entry (RFC
// 8460 §4.4): which policy a session was judged by.
type ReportPolicy struct {
	Type PolicyType `json:"policy-type"`
	// Strings are the policy text: the MTA-STS policy lines, or one
	// "usage selector mtype hex" string per TLSA record.
	Strings []string `json:"policy-string,omitempty"`
	// Domain is the policy domain: the recipient domain for sts and
	// no-policy-found, the TLSA base domain for tlsa.
	Domain string `json:"policy-domain"`
	// MXHosts are the MTA-STS mx patterns (empty for tlsa).
	MXHosts []string `json:"mx-host,omitempty"`
	// Failure is a policy-level failure to report even when the session
	// succeeds (sts-policy-fetch-error, sts-policy-invalid,
	// sts-webpki-invalid from a failed MTA-STS fetch, or a table's
	// policy_failure=); empty for none.
	Failure ResultType `json:"-"`
	// FailureReason is the failure-reason-code for Failure.
	FailureReason string `json:"-"`
	// External is set when the policy came from a table's
	// policy_type=... attributes (an STS plugin), not from our own
	// lookups.
	External bool `json:"-"`
}

// Result is the TLS-RPT outcome of one TLS negotiation attempt: the
// policy it was judged by and, for a failure, the details. Aggregating
// Results into daily reports is not done here.
type Result struct {
	Policy  ReportPolicy
	Success bool
	Failure *FailureDetails // nil on success
}

// Records turns r into what a TLS-RPT aggregator records for a session
// with the next-hop domain domain at t (tlsrpt.Recorder): nothing for a
// session no policy asked TLS of (plaintext at may or none); the
// session's success or failure otherwise. A policy-level failure the
// policy carries (a failed MTA-STS fetch, a table's policy_failure=) is
// reported as the session's failure when the session itself succeeded,
// so the receiving domain learns its policy could not be used.
func (r Result) Records(domain string, t time.Time) []tlsrpt.Result {
	if r.Policy.Type == "" && r.Failure == nil && !r.Success {
		return nil
	}
	pol := tlsrpt.Policy{Type: r.Policy.Type, Strings: r.Policy.Strings, Domain: r.Policy.Domain, MXHosts: r.Policy.MXHosts}
	if pol.Type == "" {
		pol.Type = PolicyNoPolicyFound
	}
	if pol.Domain == "" {
		pol.Domain = domain
	}
	rec := tlsrpt.Result{Time: t, Domain: domain, Policy: pol, Failure: r.Failure}
	if rec.Failure == nil && r.Policy.Failure != "" {
		rec.Failure = &tlsrpt.Failure{ResultType: r.Policy.Failure, FailureReasonCode: r.Policy.FailureReason}
	}
	return []tlsrpt.Result{rec}
}

// ResultOf maps an error from Dialer.Dial or Dialer.Handshake (or from
// Resolve) to its TLS-RPT result type and failure reason code, following
// Postfix's mapping (outbound.md §5) and go-deps §1.11:
//
//   - STARTTLS not offered or refused at a level that requires TLS:
//     starttls-not-supported;
//   - certificate checks: a DANE *dane.Error gives its own result type;
//     an expired certificate certificate-expired; a name mismatch
//     certificate-host-mismatch; an unknown authority
//     certificate-not-trusted; a fingerprint mismatch
//     certificate-not-trusted;
//   - other handshake failures: validation-failure, with reason
//     "tls-remote-<alert>" for an alert from the server and
//     "io-timeout-during-handshake" for a timeout;
//   - DANE lookup failures from Resolve: dnssec-invalid, tlsa-invalid or
//     dane-required.
//
// ok is false for errors that are not TLS negotiation failures (a
// refused connection, an SMTP reply to EHLO), which TLS-RPT does not
// count.
func ResultOf(err error) (rt ResultType, reason string, ok bool) {
	var e *Error
	if !errors.As(err, &e) {
		return "", "", false
	}
	switch e.Kind {
	case KindNotOffered, KindRefused:
		return ResultSTARTTLSNotSupported, "", true
	case KindPolicy:
		if e.Result != "" {
			return e.Result, e.ReasonCode, true
		}
		return "", "", false
	case KindVerify:
		return certResult(e.Err), e.ReasonCode, true
	case KindHandshake:
		return ResultValidationFailure, handshakeReason(e.Err), true
	}
	return "", "", false
}

func certResult(err error) ResultType {
	if de, ok := errors.AsType[*dane.Error](err); ok {
		return ResultType(de.ResultType())
	}
	var inv x509.CertificateInvalidError
	if errors.As(err, &inv) && inv.Reason == x509.Expired {
		return ResultCertificateExpired
	}
	var he x509.HostnameError
	if errors.As(err, &he) || errors.Is(err, errNameMismatch) {
		return ResultCertificateHostMismatch
	}
	var ua x509.UnknownAuthorityError
	if errors.As(err, &ua) || errors.Is(err, errFingerprintMismatch) {
		return ResultCertificateNotTrusted
	}
	return ResultValidationFailure
}

func handshakeReason(err error) string {
	var ae tls.AlertError
	if errors.As(err, &ae) {
		return "tls-local-" + alertName(ae.Error())
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded) {
		return "io-timeout-during-handshake"
	}
	if err != nil {
		if s := err.Error(); strings.Contains(s, "remote error: tls: ") {
			return "tls-remote-" + alertName(s[strings.Index(s, "remote error: tls: ")+len("remote error: tls: "):])
		}
	}
	return ""
}

// alertName turns "tls: handshake failure" or "protocol version not
// supported" into "handshake-failure" / "protocol-version-not-supported".
func alertName(s string) string {
	s = strings.TrimPrefix(s, "tls: ")
	return strings.ReplaceAll(strings.TrimSpace(s), " ", "-")
}
