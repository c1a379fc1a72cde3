// Package testpostfix runs a real Postfix (Debian's postfix package) for
// tests, so that the same SMTP dialogue can be played against Postfix and
// against our own server and the replies compared (see
// internal/smtpdialog).
//
// Start builds an isolated instance in a fresh temporary directory: its
// own config_directory (main.cf, master.cf and the test's map files), its
// own queue_directory and data_directory, and a maillog_file (Log). It
// runs Postfix's master daemon in the foreground, as "postfix start"
// would after its checks, under a small shell that stops it when the test
// binary dies; master's own parent-death signal would not survive, since
// the kernel clears it when master briefly changes its effective uid.
// Stop sends master SIGTERM, as "postfix stop" does, and waits until
// master's whole process group has gone. Nothing under /etc/postfix is
// read for configuration or changed, the system's own Postfix (if any) is
// left alone, and smtpd never listens on port 25 (a test may add services
// of its own in Options.MasterCF).
//
// Options.ResolvConf gives an instance a resolv.conf of its own: master
// runs under unshare --mount (private propagation) with that text
// bind-mounted over /etc/resolv.conf, so smtp(8)'s libc resolver asks a
// test's DNS server on port 53 (with "options trust-ad" to keep the AD
// bit, for DANE) and the machine's resolver is never asked.
//
// # Base settings
//
// main.cf starts with the harness's settings, each of which Options.MainCF
// may replace (the base line is then left out, so Postfix prints no
// "overriding earlier entry" warning): compatibility_level = 3.6,
// myhostname = mx.example.test, mynetworks = 127.0.0.1/32 (plus [::1]/128
// for an IPv6 instance), smtpd_banner = $myhostname ESMTP,
// smtpd_peername_lookup = no (every client is "unknown[ip]": no DNS, no
// /etc/hosts), alias_maps and alias_database empty (Debian's default
// hash:/etc/aliases would need /etc/aliases.db), default_transport,
// relay_transport, local_transport and virtual_transport = discard,
// biff = no. inet_interfaces is 127.0.0.1 (::1 for IPv6) because Postfix
// accepts only addresses configured on an interface; a listen address such
// as 127.0.0.5 is bound through master.cf and declared in
// proxy_interfaces. config_directory, queue_directory, data_directory,
// maillog_file, maillog_file_prefixes, inet_interfaces and
// multi_instance_enable are reserved.
//
// master.cf has the smtpd service on the listen address and the services
// smtpd and the queue manager use: cleanup, qmgr, tlsmgr,
// trivial-rewrite, bounce/defer/trace, verify, flush, proxymap,
// proxywrite, showq, error, retry, discard, anvil, scache and postlog. It
// has no smtp, lmtp, relay, local, virtual or pipe service, so accepted
// mail is discarded by qmgr and can never leave the machine; with another
// transport named in MainCF it waits in the deferred queue.
//
// # Known divergences and gotchas
//
//   - Debian 12 ships Postfix 3.7; reply texts and defaults can differ in
//     other versions. Version reports the installed mail_version.
//   - Postfix re-reads a main.cf modified within the last second or two
//     until it "cools down" (300 ms steps), which cost every start about
//     two seconds; the harness dates the files it writes an hour back.
//   - Errors master meets before it has read main.cf (a port already in
//     use, say) go to syslog, not to maillog_file; Start checks the port
//     itself to explain such an exit.
//   - The readiness probe is one SMTP connection from the listen address
//     itself (127.0.0.1 normally), ended with QUIT; it shows in Log and
//     counts for anvil, so rate-limit tests should use other client
//     addresses.
//   - Restrictions that use DNS (reject_unknown_*, RBLs, reject_unverified_*)
//     still ask the system's resolver; tests should not rely on them.
//     reject_unverified_* cannot verify anything: there is no smtp
//     service to probe with.
//   - Root is needed (Postfix's master insists), and Linux.
//
// Postfix parameters covered: those listed above. Standards: none beyond
// what Postfix itself implements.
package testpostfix
