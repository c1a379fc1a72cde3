// Package tlsrpt is the sending side of SMTP TLS Reporting (RFC 8460):
// it records the outcome of every outbound TLS negotiation, adds them up
// per report domain and UTC day, and once a day sends each domain that
// publishes a _smtp._tls record an aggregate report, by mail or HTTPS.
//
// # Pieces
//
//   - Result is what delivery code records per session: the policy block
//     (tlsa, sts or no-policy-found, its strings, policy domain and mx-host
//     patterns) and, for a failure, a Failure with the RFC 8460 §4.4
//     failure-details fields. Recorder is the one-method interface
//     delivery code depends on.
//   - Report, PolicyResult, Policy, Summary, FailureDetails and DateRange
//     are the RFC 8460 §4.4 JSON, with its field names; mx-host is an
//     array as erratum 6241 corrects the RFC's example.
//   - Aggregator merges results in memory, per (report domain, UTC day,
//     policy, failure), equal failures by summing their counts, and adds
//     them to a Store at each Flush (Run flushes every minute).
//   - Store keeps the aggregates and the state of sending their report.
//     MemoryStore is for tests and single short-lived processes;
//     FileStore keeps one JSON file per domain and day in a directory,
//     written to a temporary file, fsynced, renamed and the directory
//     fsynced; tlsrptpg keeps them in PostgreSQL (for instance next to a
//     queue/pgstore queue), where several MXs add to the same rows
//     (INSERT ... ON CONFLICT DO UPDATE adding the counts) and claim the
//     sending of a report with a row lock (FOR NO KEY UPDATE SKIP
//     LOCKED) and a sent_at column in one transaction, so that one
//     report per domain and day is sent, not one per MX. tlsrpttest is a
//     conformance suite for other stores.
//   - Reporter sends the reports. Its zero value sends nothing: mailto:
//     rua need Mail (a MailSubmitter; tlsrptqueue.Submitter puts the
//     message into a queue.Store), https: rua need HTTPS.
//
// # Sending
//
// A day's reports go out after it is over, at midnight UTC plus 4
// minutes plus a random jitter below 2 minutes (mox's schedule), so that
// every MX has flushed its last results and receivers are not hit all at
// once. The report domain's _smtp._tls TXT record is read then, through
// the Resolver (RFC 8460 §3): of the records that start with
// "v=TLSRPTv1", exactly one must remain, or nothing is sent; its rua
// field is parsed by mtasts.ParseTLSRPT.
//
// A mailto: report (RFC 8460 §5.3) is a multipart/report;
// report-type="tlsrpt" message with a text/plain part and the gzipped
// JSON as an application/tlsrpt+gzip attachment in base64, named
// "<submitter>!<domain>!<start>!<end>.json.gz"; it has the header fields
// TLS-Report-Domain, TLS-Report-Submitter and "Subject: Report Domain: d
// Submitter: s Report-ID: <id>", and "TLS-Required: No" (RFC 8689 §5), so
// it is delivered even when the TLS failures it reports persist. With
// Reporter.DKIM set it is DKIM-signed (go-msgauth), the TLS-Report
// fields included, as §5.3 requires. An https: report (§5.4) is a POST of
// the gzipped JSON with Content-Type application/tlsrpt+gzip, limited to
// 10 s, without following redirects; a 2xx reply is success. The
// report-id is "YYYYMMDD.<domain>@<submitter>" and the date-range
// "YYYY-MM-DDT00:00:00Z" to "YYYY-MM-DDT23:59:59Z" (RFC 8460 §4.1: one
// UTC day).
//
// A failed delivery (a temporary DNS failure, a submission error, an
// https POST that fails) is retried every 30 minutes, for 24 hours after
// the first attempt (RFC 8460 §5.5), and then given up; a rua that had
// the report already does not get it again. Aggregates older than 3 days
// are dropped, sent or not.
//
// Days without a failed session send nothing unless
// Reporter.SendWithoutFailures is set. That is mox's default: RFC 8460
// asks for reports of successes too, but a daily "all is well" message
// to every domain with a TLS-RPT record is mail nobody reads, and it
// scales with the number of domains one sends to rather than with the
// problems found.
//
// # Postfix
//
// Postfix 3.10 and later record TLS-RPT results in smtp(8) with
// smtp_tlsrpt_enable = yes and hand them over smtp_tlsrpt_socket_name
// to the tlsrpt-collectd daemon of sys4's tlsrpt-reporter, whose
// tlsrpt-reportd sends the reports; smtp_tlsrpt_skip_reused_handshakes
// (yes in 3.10, no from 3.11) decides whether sessions on reused TLS
// connections count. In mxkit the Aggregator takes the place of the
// collector and the Reporter that of the report daemon, in the same
// process; whether reused sessions count is the recording caller's
// choice (record one Result per handshake to follow Postfix 3.10).
//
// # Known divergences
//
//   - Grouping is per (report domain, UTC day); the rua set is the one
//     found at send time. sys4's reporter groups by the exact record
//     text seen at delivery time, so a record changed during the day
//     splits its reports; here the day's report goes to the record of
//     the morning after.
//   - A tlsa result is reported to the record of Result.Domain (the
//     next-hop domain), with the TLSA base domain as policy-domain, as
//     Postfix does; mox also reports to the MX host's own record.
//   - https: reports are sent (when HTTPS is set); mox ignores them
//     because they cannot be authenticated.
//   - Results recorded by another MX after the report of their day was
//     claimed (sessions that straddled midnight by more than the send
//     delay) are stored but not sent.
//   - One message per mailto: URI, not one message to all of them.
//   - Reports are not split when large, and there is no cap on the
//     number of distinct failure details per policy (it is bounded by
//     the receiving domain's MX hosts and addresses).
//   - FileStore is for one process per directory; several MXs share the
//     PostgreSQL store instead.
package tlsrpt
