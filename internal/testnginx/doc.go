// Package testnginx runs a real nginx on loopback as the HTTPS server of
// integration tests, such as the MTA-STS policy hosts of RFC 8461.
//
// Start makes a fresh test CA (crypto/x509, ECDSA P-256), a certificate
// per Site (valid, for the wrong name, expired or self-signed: CertKind),
// writes nginx.conf and the static files to a temporary directory and
// runs nginx in the foreground ("daemon off; master_process off", so one
// process, as the invoking user) with -p DIR -c DIR/nginx.conf, listening
// on 127.0.0.1:PORT (or Config.IP) with one server block per site,
// chosen by SNI; any other name, or none, gets a failed handshake
// (ssl_reject_handshake).
// Each path answers a File: a static file with a Content-Type for 200,
// "return CODE text" for other codes, "return CODE URL" for redirects,
// with an optional delay before the answer (echo_sleep, from the echo
// module) and an optional body rate limit (limit_rate). Pad makes bodies
// of an exact size, e.g. over RFC 8461's 64 KiB. The Server's Client,
// DialContext and TLSConfig reach nginx for any host name and trust only
// the test CA. Start returns once a TLS handshake succeeds, in about
// 30 ms.
//
// Require skips a test when nginx is missing and fails it when the
// environment variable CI is "true". The Debian package is nginx-light
// (in Debian 12 it pulls in nginx and libnginx-mod-http-echo, whose
// module File.Delay loads; Start skips, or fails under CI, a
// configuration with a Delay when the module is missing).
//
// Processes: nginx runs in its own process group with SIGKILL as its
// parent-death signal (it never changes user with master_process off, so
// the signal stays armed); Stop (registered with t.Cleanup) sends
// SIGTERM to the group, SIGKILL after 5 s, and removes the directory.
// Logs, pid file and temp paths all live in the directory.
//
// RFCs: 8446 and 6066 §3 (TLS, SNI), 9110 (HTTP semantics), 5280 (PKIX),
// 8461 (the MTA-STS fetch rules it lets tests exercise).
//
// Divergences and limits: loopback IPv4 only (127.0.0.1 unless
// Config.IP); HTTP/1.1 only; paths must be
// plain (no '$', '%', '?', '#', spaces or quotes); nginx drops the body
// of 204 and 304 answers (and sends no Content-Type when File.ContentType
// is ""); nginx's own 404 for unlisted paths is text/html; a relative
// RedirectTo becomes absolute with nginx's port.
package testnginx
