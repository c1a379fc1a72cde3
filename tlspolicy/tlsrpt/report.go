package tlsrpt

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// ReportOptions names the reporting organisation in a report.
type ReportOptions struct {
	// Submitter is the domain of the reporting MTA (RFC 8460 §5.3,
	// TLS-Report-Submitter), in report IDs and file names.
	Submitter string
	// OrganizationName is the organization-name; empty means Submitter.
	OrganizationName string
	// ContactInfo is the contact-info, an e-mail address or URI; empty
	// means "postmaster@" + Submitter.
	ContactInfo string
}

// BuildReport returns the report of aggregate a (RFC 8460 §4): the
// date-range of its UTC day, 00:00:00Z to 23:59:59Z, a report-id
// "YYYYMMDD.<domain>@<submitter>" and one policies entry per policy, with
// its totals and merged failure details.
func BuildReport(a *Aggregate, o ReportOptions) *Report {
	org := o.OrganizationName
	if org == "" {
		org = o.Submitter
	}
	contact := o.ContactInfo
	if contact == "" {
		contact = "postmaster@" + o.Submitter
	}
	r := &Report{
		OrganizationName: org,
		// RFC 8460 §4.1: one report covers one UTC day.
		DateRange:   DateRange{Start: a.Day, End: a.Day.Add(24*time.Hour - time.Second)},
		ContactInfo: contact,
		ReportID:    ReportID(a.Key, o.Submitter),
		Policies:    []PolicyResult{},
	}
	c := a.clone()
	c.sort()
	for _, p := range c.Policies {
		pr := PolicyResult{
			Policy:         p.Policy,
			Summary:        Summary{TotalSuccessfulSessionCount: p.Successes},
			FailureDetails: []FailureDetails{},
		}
		for _, f := range p.Failures {
			pr.Summary.TotalFailureSessionCount += f.FailedSessionCount
			pr.FailureDetails = append(pr.FailureDetails, f)
		}
		r.Policies = append(r.Policies, pr)
	}
	return r
}

// ReportID is the report-id of the report of k: "20260301.example.com@sub"
// for k = (example.com, 2026-03-01) and submitter "sub", as mox writes
// it. One report per domain and day is sent, so it is unique.
func ReportID(k Key, submitter string) string {
	return k.Day.Format("20060102") + "." + k.Domain + "@" + submitter
}

// FileName is the name of the report of k as a gzipped attachment (RFC
// 8460 §5.3): "<submitter>!<domain>!<start>!<end>.json.gz", start and end
// in seconds since the epoch; end is start + 86399.
func FileName(k Key, submitter string) string {
	start := k.Day.Unix()
	return submitter + "!" + k.Domain + "!" + strconv.FormatInt(start, 10) + "!" + strconv.FormatInt(start+86399, 10) + ".json.gz"
}

// JSON returns r in JSON.
func (r *Report) JSON() ([]byte, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("tlsrpt: report: %w", err)
	}
	return b, nil
}

// Gzip returns r in JSON, gzipped: the body of an application/tlsrpt+gzip
// report (RFC 8460 §5.3, §6.4).
func (r *Report) Gzip() ([]byte, error) {
	b, err := r.JSON()
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		return nil, fmt.Errorf("tlsrpt: report: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("tlsrpt: report: %w", err)
	}
	return buf.Bytes(), nil
}
