package dane

import "errors"

// TLS-RPT result types (RFC 8460 §4.3) that DANE failures map to.
const (
	ResultSTARTTLSNotSupported    = "starttls-not-supported"
	ResultCertificateHostMismatch = "certificate-host-mismatch"
	ResultCertificateExpired      = "certificate-expired"
	ResultCertificateNotTrusted   = "certificate-not-trusted"
	ResultValidationFailure       = "validation-failure"
	ResultTLSAInvalid             = "tlsa-invalid"
	ResultDNSSECInvalid           = "dnssec-invalid"
	ResultDANERequired            = "dane-required"
)

// Error is a DANE failure. ResultType names its TLS-RPT result type.
type Error struct {
	Result string // one of the Result* constants
	Host   string // MX host or TLSA base domain, if known
	Reason string // what went wrong, for logs and DSNs
	Err    error  // underlying error, if any
}

func (e *Error) Error() string {
	s := "dane: "
	if e.Host != "" {
		s += e.Host + ": "
	}
	s += e.Reason
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// ResultType returns the RFC 8460 §4.3 result type, "validation-failure"
// when none was set.
func (e *Error) ResultType() string {
	if e.Result == "" {
		return ResultValidationFailure
	}
	return e.Result
}

// ResultType returns the TLS-RPT result type of err if it wraps an *Error,
// else "validation-failure".
func ResultType(err error) string {
	if e, ok := errors.AsType[*Error](err); ok {
		return e.ResultType()
	}
	return ResultValidationFailure
}
