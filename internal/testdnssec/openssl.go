package testdnssec

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
)

// OpenSSLResult is what openssl s_client reported for one DANE check.
type OpenSSLResult struct {
	// OK is true when s_client exited 0: with -verify_return_error, the
	// handshake completed and the chain matched a TLSA record.
	OK bool
	// Verification is "OK" from s_client's "Verification: OK" line, or
	// the first "verify error:num=N:REASON" line's REASON, e.g. "no
	// matching DANE TLSA records" or "hostname mismatch".
	Verification string
	// Peername is the "Verified peername:" line's value, if any.
	Peername string
	// DANE is the "DANE TLSA ..." line's value, e.g. "3 1 1 ...ab12 matched
	// EE certificate at depth 0", if any.
	DANE string
	// Output is everything s_client printed (stdout then stderr).
	Output string
	// Args are the arguments s_client ran with.
	Args []string
}

// OpenSSLDANE runs `openssl s_client -brief -starttls smtp -connect addr
// -servername domain -dane_tlsa_domain domain -dane_tlsa_rrdata R …
// -dane_ee_no_namechecks -verify_return_error` (one -dane_tlsa_rrdata per rrdata) with QUIT on
// its standard input, and parses what it printed. err is set only when
// openssl could not be run at all; a failed verification is
// OK == false. Call Require first.
func OpenSSLDANE(ctx context.Context, addr, domain string, rrdata ...string) (OpenSSLResult, error) {
	domain = strings.TrimSuffix(domain, ".")
	args := []string{"s_client", "-brief", "-starttls", "smtp", "-connect", addr,
		"-servername", domain, "-dane_tlsa_domain", domain}
	for _, r := range rrdata {
		args = append(args, "-dane_tlsa_rrdata", r)
	}
	// RFC 7672 section 3.1.1: no name checks with DANE-EE(3); without
	// this flag openssl fails a DANE-EE match with "hostname mismatch".
	args = append(args, "-dane_ee_no_namechecks", "-verify_return_error")
	cmd := exec.CommandContext(ctx, OpenSSL(), args...)
	cmd.Stdin = strings.NewReader("QUIT\r\n")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := OpenSSLResult{Args: args, Output: stdout.String() + stderr.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
		res.OK = true
	case errors.As(err, &ee):
	default:
		return res, fmt.Errorf("testdnssec: openssl %s: %w", strings.Join(args, " "), err)
	}
	for _, line := range strings.Split(res.Output, "\n") {
		line = strings.TrimSpace(line)
		for _, f := range []struct {
			prefix string
			dst    *string
		}{
			{"Verification: ", &res.Verification},
			{"verify error:num=", &res.Verification},
			{"Verified peername: ", &res.Peername},
			{"DANE TLSA ", &res.DANE},
		} {
			if v, ok := strings.CutPrefix(line, f.prefix); ok && *f.dst == "" {
				if f.prefix == "verify error:num=" {
					_, v, _ = strings.Cut(v, ":")
				}
				*f.dst = v
			}
		}
	}
	return res, nil
}
