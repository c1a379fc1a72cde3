package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mxkit/mxkit/internal/smtpdialog"
	"github.com/mxkit/mxkit/internal/testdnssec"
	"github.com/mxkit/mxkit/internal/testnginx"
	"github.com/mxkit/mxkit/internal/testpostfix"
	"github.com/mxkit/mxkit/internal/testproc"
)

// The outbound differential (issue 11): a real Postfix 3.7 and examples/mx
// are both the SENDING MTA, with the same smtp_* settings, against the
// same DNSSEC zones, receivers and MTA-STS hosts, all on port 25 (443 for
// MTA-STS) of their own 127.0.25.x addresses, as in production.
const (
	odPFSender   = "127.0.25.1"   // the sending Postfix (proxy_interfaces)
	odMXSender   = "127.0.25.2"   // examples/mx, listening on port 25
	odDNS        = "127.0.25.53"  // unbound, port 53
	odNginx      = "127.0.25.80"  // MTA-STS policy hosts, port 443
	odCA         = "127.0.25.10"  // certificate from the test CA (in smtp_tls_CAfile)
	odSelf       = "127.0.25.11"  // self-signed certificate (DANE-EE)
	odTA         = "127.0.25.12"  // leaf of a private CA, sent with that CA (DANE-TA)
	odWrongKey   = "127.0.25.13"  // test-CA certificate whose key is not the TLSA record's
	odPlain      = "127.0.25.14"  // no STARTTLS
	odStripDANE  = "127.0.25.15"  // STARTTLS-stripping proxy to odSelf
	odStripPlain = "127.0.25.16"  // STARTTLS-stripping proxy to odCA
	odRefuse     = "127.0.25.17"  // nothing listens: connection refused
	odExpEE      = "127.0.25.18"  // expired self-signed certificate (DANE-EE accepts it)
	odExpTA      = "127.0.25.19"  // expired leaf of the private CA (DANE-TA rejects it)
	odNameTA     = "127.0.25.20"  // private-CA leaf for a name nobody uses (DANE-TA rejects it)
	odRefuse554  = "127.0.25.21"  // proxy to odCA answering STARTTLS with 554
	odRefuse454  = "127.0.25.22"  // proxy to odCA answering STARTTLS with 454
	odBrokenTLS  = "127.0.25.23"  // proxy answering STARTTLS with 220, then closing
	odParent     = "dane.test."   // testdnssec's parent zone
	odSenderDom  = "sender.test"  // the envelope sender's domain, routed to discard
	odPolicyFile = "tls_policy"   // the smtp_tls_policy_maps table (texthash)
	odCAFile     = "ca.pem"       // smtp_tls_CAfile
	odRcptLocal  = "rcpt"         // every recipient is rcpt@<case domain>
	odMsgIDHost  = "outdiff.test" // Message-ID: <case@outdiff.test>
)

// odOutcome is what happened at the first delivery attempt of one
// recipient.
type odOutcome struct {
	Status string // sent, deferred or bounced
	Relay  string // host[addr] of a delivery, without the port
	TLS    bool   // delivered over TLS
	Trust  string // Verified, Trusted, Untrusted or Anonymous (logged only)
	DSN    string // e.g. 4.7.5
	Text   string // the reason, as logged
}

func (o odOutcome) String() string {
	s := o.Status
	switch {
	case o.Status == "sent" && o.TLS:
		s += " over TLS (" + o.Trust + ") to " + o.Relay
	case o.Status == "sent":
		s += " in clear to " + o.Relay
	}
	return s + " dsn=" + o.DSN
}

// agrees compares what the issue asks for: the outcome (delivered over
// TLS to which MX, in clear, deferred, bounced) and the DSN class.
func (o odOutcome) agrees(p odOutcome) bool {
	if o.Status != p.Status || dsnClass(o.DSN) != dsnClass(p.DSN) {
		return false
	}
	return o.Status != "sent" || (o.Relay == p.Relay && o.TLS == p.TLS)
}

func dsnClass(d string) string { c, _, _ := strings.Cut(d, "."); return c }

// odCase is one recipient domain, <Label>.<Zone>.dane.test.
type odCase struct {
	Label string
	Zone  string // sec (signed), ins (unsigned), bog (bogus)
	// Records are zone-file lines relative to the zone; "{d}" stands for
	// the case's label, so "{d} MX 10 {d}-mx" is the domain's MX.
	Records []string
	// Policy is the domain's smtp_tls_policy_maps entry, if any.
	Policy string
	// Want is what outbound.md (§1, §2, §6) says Postfix does: the
	// status, the DSN, and for deliveries the MX host (a label of the
	// zone, "" for the domain itself) and TLS.
	Want odOutcome
	// Why says what the case checks.
	Why string
}

func (c odCase) Domain() string {
	return c.Label + "." + c.Zone + "." + strings.TrimSuffix(odParent, ".")
}

// host expands a relative MX host name of the case to a full one.
func (c odCase) host(rel string) string {
	rel = strings.ReplaceAll(rel, "{d}", c.Label)
	if strings.HasSuffix(rel, ".") {
		return strings.TrimSuffix(rel, ".") // absolute, in another zone
	}
	if rel == "" {
		return c.Domain()
	}
	return rel + "." + c.Zone + "." + strings.TrimSuffix(odParent, ".")
}

// addrOf returns the address of a relative host name of the case, from
// its A record.
func (c odCase) addrOf(rel string) string {
	name := rel
	if name == "" {
		name = "{d}"
	}
	for _, r := range c.Records {
		if f := strings.Fields(r); len(f) == 3 && f[0] == name && f[1] == "A" {
			return f[2]
		}
	}
	return "?"
}

// odKnownDivergences are the cases where mxkit differs from Postfix on
// purpose, with the reason; a listed case that agrees fails the test.
var odKnownDivergences = map[string]string{
	"rej554": "a 5xx reply to an advertised STARTTLS at a level requiring TLS defers in mxkit (every TLS-policy failure is " +
		"temporary, tlspolicy and queue/deliver doc.go); Postfix bounces (outbound.md §0.3)",
}

// odCerts are the receivers' certificates and the TLSA data derived
// from them.
type odCerts struct {
	webCA, privCA         *testdnssec.Cert
	ca, self, ta, wrong   *testdnssec.Cert
	other                 *testdnssec.Cert // a key no server has
	expEE, expTA, nameTA  *testdnssec.Cert
	expEE311, selfFP      string
	caNames, taNames      []string
	selfEE, otherEE       string // TLSA 3 1 1
	ta201, ta211, pkix111 string
}

// odCases returns the case table. sent(host, tls) and the other helpers
// build Want.
func odCases(c *odCerts) []odCase {
	sent := func(host string, tls bool) odOutcome {
		return odOutcome{Status: "sent", Relay: host, TLS: tls, DSN: "2.0.0"}
	}
	deferred := func(dsn string) odOutcome { return odOutcome{Status: "deferred", DSN: dsn} }
	bounced := func(dsn string) odOutcome { return odOutcome{Status: "bounced", DSN: dsn} }
	mx := func(ip string) []string { return []string{"{d} MX 10 {d}-mx", "{d}-mx A " + ip} }
	tlsa := func(rdata string) string { return "_25._tcp.{d}-mx TLSA " + rdata }
	sts := []string{`_mta-sts.{d} TXT "v=STSv1; id=20260101;"`, "mta-sts.{d} A " + odNginx}
	return []odCase{
		{Label: "ee", Zone: "sec", Records: append(mx(odSelf), tlsa(c.selfEE)), Want: sent("{d}-mx", true),
			Why: "DANE-EE 3 1 1 on a self-signed certificate: verified"},
		{Label: "ta0", Zone: "sec", Records: append(mx(odTA), tlsa(c.ta201)), Want: sent("{d}-mx", true),
			Why: "DANE-TA 2 0 1 on a private CA the server sends: verified"},
		{Label: "ta1", Zone: "sec", Records: append(mx(odTA), tlsa(c.ta211)), Want: sent("{d}-mx", true),
			Why: "DANE-TA 2 1 1 on a private CA the server sends: verified"},
		{Label: "mm", Zone: "sec", Records: append(mx(odSelf), tlsa(c.otherEE)), Want: deferred("4.7.5"),
			Why: "TLSA 3 1 1 of another key: Server certificate not verified, never plaintext"},
		{Label: "wk", Zone: "sec", Records: append(mx(odWrongKey), tlsa(c.selfEE)), Want: deferred("4.7.5"),
			Why: "wrong key with a valid test-CA certificate: PKIX does not override DANE"},
		{Label: "bogus", Zone: "bog", Records: mx(odCA), Want: deferred("4.4.3"),
			Why: "bogus zone: the MX lookup fails (SERVFAIL), no fallback"},
		{Label: "insec", Zone: "ins", Records: append(mx(odSelf), tlsa(c.otherEE)), Want: sent("{d}-mx", true),
			Why: "insecure zone: its (wrong) TLSA record is ignored, level may"},
		{Label: "unus", Zone: "sec", Records: append(mx(odSelf), tlsa(c.pkix111)), Want: sent("{d}-mx", true),
			Why: "only unusable TLSA (1 1 1): encrypt, certificate unchecked"},
		{Label: "unusp", Zone: "sec", Records: append(mx(odPlain), tlsa(c.pkix111)), Want: deferred("4.7.4"),
			Why: "only unusable TLSA (1 1 1) on a host without STARTTLS: TLS is required"},
		{Label: "notlsa", Zone: "sec", Records: mx(odSelf), Want: sent("{d}-mx", true),
			Why: "signed zone without TLSA: may"},
		{Label: "stsenf", Zone: "ins", Records: slices.Concat(
			[]string{"{d} MX 10 {d}-mx1", "{d}-mx1 A " + odPlain, "{d} MX 20 {d}-mx2", "{d}-mx2 A " + odCA}, sts),
			Want: sent("{d}-mx2", true),
			Why:  "MTA-STS enforce through the socketmap: secure match=<the listed MX>; the unlisted best MX (no STARTTLS) is not delivered to"},
		{Label: "ststest", Zone: "ins", Records: append(mx(odSelf), sts...), Want: sent("{d}-mx", true),
			Why: "MTA-STS testing (mx not listed, self-signed): as without a policy"},
		{Label: "enc", Zone: "sec", Records: mx(odPlain), Policy: "encrypt", Want: deferred("4.7.4"),
			Why: "table encrypt, host without STARTTLS: TLS is required, but was not offered"},
		{Label: "secw", Zone: "sec", Records: mx(odCA), Policy: "secure", Want: deferred("4.7.5"),
			Why: "table secure (nexthop:dot-nexthop), certificate names only the MX host: not verified"},
		{Label: "seco", Zone: "sec", Records: mx(odCA), Policy: "secure match={host}", Want: sent("{d}-mx", true),
			Why: "table secure match=<the MX host>: verified"},
		{Label: "verw", Zone: "sec", Records: mx(odCA), Policy: "verify match=nomatch.dane.test", Want: deferred("4.7.5"),
			Why: "table verify with a name the certificate lacks: not verified"},
		{Label: "vero", Zone: "sec", Records: mx(odCA), Policy: "verify", Want: sent("{d}-mx", true),
			Why: "table verify (match=hostname): verified"},
		{Label: "tnone", Zone: "sec", Records: append(mx(odSelf), tlsa(c.selfEE)), Policy: "none", Want: sent("{d}-mx", false),
			Why: "table none beats DANE: plaintext to a DANE host"},
		{Label: "nullmx", Zone: "sec", Records: []string{"{d} MX 0 ."}, Want: bounced("5.1.0"),
			Why: "null MX: bounce, no connection"},
		{Label: "implicit", Zone: "sec", Records: []string{"{d} A " + odCA}, Want: sent("", true),
			Why: "no MX, an A record: implicit MX, may"},
		{Label: "refuse", Zone: "sec", Records: []string{"{d} MX 10 {d}-mx1", "{d}-mx1 A " + odRefuse, "{d} MX 20 {d}-mx2", "{d}-mx2 A " + odCA},
			Want: sent("{d}-mx2", true), Why: "the best MX refuses connections: the next one"},
		{Label: "trunc", Zone: "sec", Records: []string{"{d} MX 10 {d}-mx1", "{d}-mx1 A " + odRefuse,
			"{d} MX 20 {d}-pf", "{d}-pf A " + odPFSender, "{d} MX 20 {d}-mxkit", "{d}-mxkit A " + odMXSender,
			"{d} MX 30 {d}-mx3", "{d}-mx3 A " + odCA},
			Want: deferred("4.4.1"), Why: "the sender is an MX at 20: only the better (refusing) MX is tried, never the one after us"},
		{Label: "loop", Zone: "sec", Records: []string{"{d} MX 10 {d}-pf", "{d}-pf A " + odPFSender,
			"{d} MX 10 {d}-mxkit", "{d}-mxkit A " + odMXSender, "{d} MX 20 {d}-mx2", "{d}-mx2 A " + odCA},
			Want: bounced("5.4.6"), Why: "the sender is the best MX: mail loops back to myself"},
		{Label: "eeexp", Zone: "sec", Records: append(mx(odExpEE), tlsa(c.expEE311)), Want: sent("{d}-mx", true),
			Why: "DANE-EE on an expired self-signed certificate with another name: names and dates are not checked"},
		{Label: "taexp", Zone: "sec", Records: append(mx(odExpTA), tlsa(c.ta201)), Want: deferred("4.7.5"),
			Why: "DANE-TA with an expired leaf: dates are checked"},
		{Label: "taname", Zone: "sec", Records: append(mx(odNameTA), tlsa(c.ta201)), Want: deferred("4.7.5"),
			Why: "DANE-TA with a leaf for another name: names are checked"},
		{Label: "halfd", Zone: "ins", Records: []string{"{d} MX 10 {d}-mx.sec.dane.test.", "{d}-mx.sec.dane.test. A " + odSelf,
			"_25._tcp.{d}-mx.sec.dane.test. TLSA " + c.otherEE}, Want: deferred("4.7.5"),
			Why: "insecure MX RRset, secure MX host with TLSA (smtp_tls_dane_insecure_mx_policy = dane): DANE still enforced"},
		{Label: "halfok", Zone: "ins", Records: []string{"{d} MX 10 {d}-mx.sec.dane.test.", "{d}-mx.sec.dane.test. A " + odSelf,
			"_25._tcp.{d}-mx.sec.dane.test. TLSA " + c.selfEE}, Want: sent("{d}-mx.sec.dane.test.", true),
			Why: "insecure MX RRset, secure MX host with matching TLSA: delivered (half-dane)"},
		{Label: "insaddr", Zone: "sec", Records: []string{"{d} MX 10 {d}-mx.ins.dane.test.", "{d}-mx.ins.dane.test. A " + odSelf,
			"_25._tcp.{d}-mx.ins.dane.test. TLSA " + c.otherEE}, Want: sent("{d}-mx.ins.dane.test.", true),
			Why: "secure MX RRset, MX host in an insecure zone: its TLSA is not used, may"},
		{Label: "stsbad", Zone: "ins", Records: append(mx(odSelf), sts...), Want: deferred("4.7.5"),
			Why: "MTA-STS enforce, the listed MX has a self-signed certificate: not verified"},
		{Label: "stsdane", Zone: "sec", Records: slices.Concat(mx(odSelf), []string{tlsa(c.selfEE)}, sts), Want: sent("{d}-mx", true),
			Why: "MTA-STS enforce and DANE: the resolver answers dane-only (DANE first), delivered with DANE to a self-signed host"},
		{Label: "donly", Zone: "sec", Records: mx(odCA), Policy: "dane-only", Want: deferred("4.7.5"),
			Why: "table dane-only, signed zone without TLSA: no TLSA records found"},
		{Label: "donlyins", Zone: "ins", Records: mx(odCA), Policy: "dane-only", Want: deferred("4.7.5"),
			Why: "table dane-only, insecure zone: non DNSSEC destination"},
		{Label: "fp", Zone: "sec", Records: mx(odSelf), Policy: "fingerprint match=" + c.selfFP, Want: sent("{d}-mx", true),
			Why: "table fingerprint with the certificate's SHA-256: verified"},
		{Label: "fpw", Zone: "sec", Records: mx(odCA), Policy: "fingerprint match=" + c.selfFP, Want: deferred("4.7.5"),
			Why: "table fingerprint of another certificate: not verified"},
		{Label: "rej554", Zone: "sec", Records: mx(odRefuse554), Policy: "encrypt", Want: bounced("5.7.0"),
			Why: "table encrypt, 554 to STARTTLS: Postfix bounces (outbound.md §0.3)"},
		{Label: "rej454", Zone: "sec", Records: mx(odRefuse454), Want: sent("{d}-mx", false),
			Why: "dane without TLSA (may), 454 to STARTTLS: plaintext on the same connection"},
		{Label: "tlsfail", Zone: "sec", Records: mx(odBrokenTLS), Want: deferred("4.7.5"),
			Why: "dane without TLSA (may), the handshake fails: first attempt defers (no plaintext retry before minimal_backoff_time)"},
		{Label: "stripd", Zone: "sec", Records: append(mx(odStripDANE), tlsa(c.selfEE)), Want: deferred("4.7.4"),
			Why: "STARTTLS stripped in front of a DANE host: defer, never plaintext"},
		{Label: "strip", Zone: "sec", Records: mx(odStripPlain), Want: sent("{d}-mx", false),
			Why: "STARTTLS stripped in front of a host without TLSA: plaintext at dane, as Postfix does"},
	}
}

// TestOutboundDifferential sends one message per case through a real
// Postfix and through examples/mx and compares each recipient's first
// delivery attempt.
func TestOutboundDifferential(t *testing.T) {
	testpostfix.Require(t)
	testdnssec.Require(t)
	testnginx.Require(t)
	testproc.Require(t, "root (port 25 on 127.0.25.x)", rootErr())
	testproc.Require(t, "unshare and mount (util-linux, for the sending Postfix's own resolv.conf)", lookPaths("unshare", "mount"))
	begin := time.Now()
	for _, a := range []string{odMXSender + ":25", odCA + ":25", odSelf + ":25", odTA + ":25", odWrongKey + ":25", odPlain + ":25",
		odStripDANE + ":25", odStripPlain + ":25", odRefuse + ":25", odExpEE + ":25", odExpTA + ":25", odNameTA + ":25",
		odRefuse554 + ":25", odRefuse454 + ":25", odBrokenTLS + ":25", odNginx + ":443", odDNS + ":53"} {
		if err := checkBindable(a); err != nil {
			t.Fatalf("outbound differential: %v", err)
		}
	}
	certs := odMakeCerts(t)
	cases := odCases(certs)

	// MTA-STS policy hosts.
	var sites []testnginx.Site
	sites = append(sites,
		odSite("stsenf.ins", "version: STSv1\r\nmode: enforce\r\nmx: stsenf-mx2.ins.dane.test\r\nmax_age: 86400\r\n"),
		odSite("ststest.ins", "version: STSv1\r\nmode: testing\r\nmx: elsewhere.dane.test\r\nmax_age: 86400\r\n"),
		odSite("stsbad.ins", "version: STSv1\r\nmode: enforce\r\nmx: stsbad-mx.ins.dane.test\r\nmax_age: 86400\r\n"),
		odSite("stsdane.sec", "version: STSv1\r\nmode: enforce\r\nmx: stsdane-mx.sec.dane.test\r\nmax_age: 86400\r\n"))
	ng := testnginx.Start(t, testnginx.Config{IP: odNginx, Port: 443, Sites: sites})

	// The zones.
	zones := map[string]*testdnssec.Zone{
		"sec": {Name: "sec." + odParent, Security: testdnssec.Secure},
		"ins": {Name: "ins." + odParent, Security: testdnssec.Insecure},
		"bog": {Name: "bog." + odParent, Security: testdnssec.Bogus},
	}
	for _, c := range cases {
		for _, r := range c.Records {
			r = strings.ReplaceAll(r, "{d}", c.Label)
			z := zones[c.Zone]
			if owner := strings.Fields(r)[0]; strings.HasSuffix(owner, ".") {
				for _, oz := range zones {
					if strings.HasSuffix(owner, "."+oz.Name) {
						z = oz // an absolute name in another zone
					}
				}
			}
			z.Records = append(z.Records, r)
		}
	}
	chain := testdnssec.Start(t, testdnssec.Config{ResolverListen: odDNS + ":53",
		Zones: []testdnssec.Zone{*zones["sec"], *zones["ins"], *zones["bog"]}})

	dir := t.TempDir()
	writeFile := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}

	// The MTA-STS resolver daemon (examples/mta-sts-resolver), asked by
	// both senders through socketmap:inet:127.0.0.1:PORT:postfix.
	stsAddr := odStartSTSResolver(t, dir, writeFile("nginx-ca.pem", ng.CAPEM), chain.ResolverAddr)

	// The receivers: one Postfix, one smtpd per address.
	odStartReceivers(t, certs, cases)
	odStartProxy(t, odStripDANE+":25", odSelf+":25", "")
	odStartProxy(t, odStripPlain+":25", odCA+":25", "")
	odStartProxy(t, odRefuse554+":25", odCA+":25", "554 5.7.0 TLS not available to you\r\n")
	odStartProxy(t, odRefuse454+":25", odCA+":25", "454 4.7.0 TLS not available due to local problem\r\n")
	odStartProxy(t, odBrokenTLS+":25", odCA+":25", "220 2.0.0 Ready to start TLS\r\n")

	// The senders' shared settings.
	var table strings.Builder
	for _, c := range cases {
		if c.Policy != "" {
			fmt.Fprintf(&table, "%s %s\n", c.Domain(), strings.ReplaceAll(c.Policy, "{host}", c.host("{d}-mx")))
		}
	}
	common := fmt.Sprintf(`mydestination =
relay_domains =
mynetworks = 127.0.0.0/8
smtpd_peername_lookup = no
inet_protocols = ipv4
transport_maps = inline:{ %s=discard: }
smtp_dns_support_level = dnssec
smtp_tls_security_level = dane
smtp_tls_loglevel = 1
smtp_connect_timeout = 5s
smtp_helo_timeout = 15s
smtp_starttls_timeout = 15s
smtp_tls_policy_maps = texthash:%%s, socketmap:inet:%s:postfix
smtp_tls_CAfile = %%s
`, odSenderDom, stsAddr)

	// The sending Postfix: libc's resolver asks unbound through a
	// private resolv.conf.
	pf := testpostfix.Start(t, testpostfix.Options{
		Listen:     odPFSender + ":0",
		ResolvConf: "nameserver " + odDNS + "\noptions trust-ad\n",
		Files:      map[string]string{odPolicyFile: table.String(), odCAFile: string(certs.webCA.PEM())},
		MainCF: fmt.Sprintf(common, "$config_directory/"+odPolicyFile, "$config_directory/"+odCAFile) +
			"myhostname = pf.sender.test\ndefault_transport = smtp\nrelay_transport = smtp\n" +
			// No probe of the root zone: unbound would ask the Internet.
			"dnssec_probe = ns:" + odParent + "\n",
		MasterCF: "smtp unix - - n - - smtp\n",
	})

	// examples/mx as the sending MTA, in process, on port 25.
	mxCF := fmt.Sprintf(common, writeFile(odPolicyFile, []byte(table.String())), writeFile(odCAFile, certs.webCA.PEM())) +
		"compatibility_level = 3.6\nmyhostname = mxkit.sender.test\ninet_interfaces = " + odMXSender + "\n"
	var mxLog lockedBuffer
	mxAddr, stopMX := runMXOutput(t, &mxLog, "-config", writeFile("main.cf", []byte(mxCF)), "-listen", odMXSender+":25",
		"-spool", filepath.Join(dir, "spool"), "-resolver", chain.ResolverAddr)
	defer func() {
		if err := stopMX(); err != nil {
			t.Errorf("mx: %v", err)
		}
	}()
	setup := time.Since(begin)

	// One message per case to each sender, from mynetworks.
	var wg sync.WaitGroup
	for _, addr := range []string{pf.Addr, mxAddr} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			odSend(t, addr, cases)
		}()
	}
	wg.Wait()

	// First attempts, from the logs.
	var pfOut, mxOut map[string]odOutcome
	deadline := time.Now().Add(60 * time.Second)
	for {
		pfOut, mxOut = odPostfixOutcomes(pf.Log()), odMXOutcomes(mxLog.String())
		if odAll(cases, pfOut) && odAll(cases, mxOut) || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("setup %v, deliveries %v", setup.Round(time.Millisecond), (time.Since(begin) - setup).Round(time.Millisecond))

	var rows []string
	for _, c := range cases {
		rcpt := odRcptLocal + "@" + c.Domain()
		want := c.Want
		want.Relay = ""
		if want.Status == "sent" {
			want.Relay = c.host(c.Want.Relay) + "[" + c.addrOf(c.Want.Relay) + "]"
		}
		p, pok := pfOut[rcpt]
		m, mok := mxOut[rcpt]
		p.Relay, m.Relay = hostOnly(p.Relay), hostOnly(m.Relay)
		switch {
		case !pok:
			t.Errorf("%s: no delivery attempt by Postfix", c.Label)
		case !p.agrees(want) || p.DSN != want.DSN:
			t.Errorf("%s (%s): Postfix did %v (%s), outbound.md says %v: check the harness", c.Label, c.Why, p, p.Text, want)
		}
		agree := pok && mok && m.agrees(p)
		why, known := odKnownDivergences[c.Label]
		switch {
		case !mok:
			t.Errorf("%s: no delivery attempt by mxkit", c.Label)
		case !agree && !known:
			t.Errorf("%s (%s):\n  Postfix: %v (%s)\n  mxkit:   %v (%s)", c.Label, c.Why, p, p.Text, m, m.Text)
		case agree && known:
			t.Errorf("%s: listed as a known divergence (%s) but agrees now: %v", c.Label, why, m)
		case agree && p.DSN != m.DSN:
			t.Logf("%s: same class, different DSN: Postfix %s (%s), mxkit %s (%s)", c.Label, p.DSN, p.Text, m.DSN, m.Text)
		}
		if pok && mok && p.Status != "sent" && p.Text != m.Text {
			t.Logf("%s: texts differ:\n  Postfix: %s\n  mxkit:   %s", c.Label, p.Text, m.Text)
		}
		if pok && mok && p.Status == "sent" && p.TLS && p.Trust != m.Trust {
			t.Logf("%s: TLS logged as %q by Postfix, %q by mxkit", c.Label, p.Trust, m.Trust)
		}
		mark := "yes"
		if !agree {
			mark = "NO"
			if known {
				mark = "no (known)"
			}
		}
		rows = append(rows, fmt.Sprintf("| %s | %v | %v | %s |", c.Label, p, m, mark))
	}
	t.Logf("outbound differential, %d cases:\n| case | Postfix | mxkit | agree |\n|---|---|---|---|\n%s", len(cases), strings.Join(rows, "\n"))
	if t.Failed() {
		t.Logf("mxkit log:\n%s", mxLog.String())
		t.Logf("unbound log:\n%s", chain.UnboundLog())
	}
}

func rootErr() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("euid is %d", os.Geteuid())
	}
	return nil
}

func lookPaths(names ...string) error {
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			return err
		}
	}
	return nil
}

// checkBindable fails with a clear message when addr (IP:PORT) cannot be
// bound: something listens there, or we lack the privilege.
func checkBindable(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("%s is not free (is something listening on it?): %w", addr, err)
	}
	return ln.Close()
}

func hostOnly(relay string) string {
	if i := strings.LastIndex(relay, "]:"); i >= 0 {
		return relay[:i+1]
	}
	return relay
}

// odAll reports whether every case has an outcome.
func odAll(cases []odCase, out map[string]odOutcome) bool {
	for _, c := range cases {
		if _, ok := out[odRcptLocal+"@"+c.Domain()]; !ok {
			return false
		}
	}
	return true
}

func odSite(domain, policy string) testnginx.Site {
	return testnginx.Site{Host: "mta-sts." + domain + "." + strings.TrimSuffix(odParent, "."),
		Files: map[string]testnginx.File{"/.well-known/mta-sts.txt": {Body: policy, ContentType: "text/plain"}}}
}

// odMakeCerts makes the receivers' certificates: the names of each host
// come from the cases' A records.
func odMakeCerts(t *testing.T) *odCerts {
	t.Helper()
	must := func(c *testdnssec.Cert, err error) *testdnssec.Cert {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	c := &odCerts{}
	c.webCA = must(testdnssec.NewCA("outdiff web CA"))
	c.privCA = must(testdnssec.NewCA("outdiff private CA"))
	// Names first (the TLSA data do not depend on names).
	names := map[string][]string{}
	for _, oc := range odCases(&odCerts{}) {
		for _, r := range oc.Records {
			f := strings.Fields(strings.ReplaceAll(r, "{d}", oc.Label))
			if len(f) == 3 && f[1] == "A" {
				names[f[2]] = append(names[f[2]], oc.host(f[0]))
			}
		}
	}
	c.caNames, c.taNames = names[odCA], names[odTA]
	c.ca = must(testdnssec.NewLeaf(c.webCA, c.caNames...))
	c.self = must(testdnssec.NewLeaf(nil, "self.dane.test"))
	c.expEE = must(testdnssec.NewExpiredLeaf(nil, "expired.dane.test"))
	c.expTA = must(testdnssec.NewExpiredLeaf(c.privCA, names[odExpTA]...))
	c.nameTA = must(testdnssec.NewLeaf(c.privCA, "nobody.dane.test"))
	c.expEE311 = testdnssec.TLSA(3, 1, 1, c.expEE.Cert)
	sum := sha256.Sum256(c.self.Cert.Raw)
	for i, b := range sum {
		if i > 0 {
			c.selfFP += ":"
		}
		c.selfFP += fmt.Sprintf("%02X", b)
	}
	c.ta = must(testdnssec.NewLeaf(c.privCA, c.taNames...))
	c.wrong = must(testdnssec.NewLeaf(c.webCA, names[odWrongKey]...))
	c.other = must(testdnssec.NewLeaf(nil, "other.dane.test"))
	c.selfEE = testdnssec.TLSA(3, 1, 1, c.self.Cert)
	c.otherEE = testdnssec.TLSA(3, 1, 1, c.other.Cert)
	c.ta201 = testdnssec.TLSA(2, 0, 1, c.privCA.Cert)
	c.ta211 = testdnssec.TLSA(2, 1, 1, c.privCA.Cert)
	c.pkix111 = testdnssec.TLSA(1, 1, 1, c.self.Cert)
	return c
}

// chainPEM is a Postfix smtpd_tls_chain_files file: key, leaf, chain.
func chainPEM(t *testing.T, leaf *testdnssec.Cert, chain ...*testdnssec.Cert) string {
	t.Helper()
	key, err := leaf.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	s := string(key) + string(leaf.PEM())
	for _, c := range chain {
		s += string(c.PEM())
	}
	return s
}

// odStartReceivers runs one receiving Postfix with an smtpd per MX
// address, each with its certificate; it accepts mail for every case
// domain and discards it.
func odStartReceivers(t *testing.T, c *odCerts, cases []odCase) {
	t.Helper()
	var domains []string
	for _, oc := range cases {
		domains = append(domains, oc.Domain())
	}
	files := map[string]string{
		"ca.chain":     chainPEM(t, c.ca, c.webCA),
		"self.chain":   chainPEM(t, c.self),
		"ta.chain":     chainPEM(t, c.ta, c.privCA),
		"wrong.chain":  chainPEM(t, c.wrong, c.webCA),
		"expee.chain":  chainPEM(t, c.expEE),
		"expta.chain":  chainPEM(t, c.expTA, c.privCA),
		"nameta.chain": chainPEM(t, c.nameTA, c.privCA),
	}
	var master strings.Builder
	for _, s := range []struct{ ip, name, chain string }{
		{odCA, "ca", "ca.chain"}, {odSelf, "self", "self.chain"}, {odTA, "ta", "ta.chain"},
		{odWrongKey, "wrongkey", "wrong.chain"}, {odPlain, "plain", ""},
		{odExpEE, "expee", "expee.chain"}, {odExpTA, "expta", "expta.chain"}, {odNameTA, "nameta", "nameta.chain"},
	} {
		fmt.Fprintf(&master, "%s:25 inet n - n - - smtpd\n  -o syslog_name=postfix/%s\n", s.ip, s.name)
		if s.chain == "" {
			master.WriteString("  -o smtpd_tls_security_level=none\n")
		} else {
			fmt.Fprintf(&master, "  -o smtpd_tls_security_level=may\n  -o smtpd_tls_chain_files=$config_directory/%s\n", s.chain)
		}
	}
	rcv := testpostfix.Start(t, testpostfix.Options{
		Files:    files,
		MainCF:   "myhostname = receiver.test\nrelay_domains = " + strings.Join(domains, ", ") + "\n",
		MasterCF: master.String(),
	})
	// master binds every service before smtpd answers on the main one,
	// but make sure each greets.
	for _, ip := range []string{odCA, odSelf, odTA, odWrongKey, odPlain, odExpEE, odExpTA, odNameTA} {
		waitGreeting(t, ip+":25", rcv)
	}
}

func waitGreeting(t *testing.T, addr string, inst *testpostfix.Instance) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			line, _ := bufio.NewReader(c).ReadString('\n')
			_, _ = io.WriteString(c, "QUIT\r\n")
			c.Close()
			if strings.HasPrefix(line, "220 ") {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no greeting on %s: %v\n%s", addr, err, inst.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// odStartProxy runs a TCP proxy on listen to backend. With starttls ""
// it deletes STARTTLS from the EHLO reply (outbound.md §6 #1, #2);
// otherwise it answers the client's STARTTLS with that reply itself, and
// after a 220 closes the connection (a failed handshake). It is stopped
// with the test.
func odStartProxy(t *testing.T, listen, backend, starttls string) {
	t.Helper()
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				b, err := net.DialTimeout("tcp", backend, 5*time.Second)
				if err != nil {
					return
				}
				defer b.Close()
				if starttls == "" {
					go func() { _, _ = io.Copy(b, c); _ = b.(*net.TCPConn).CloseWrite() }()
					stripSTARTTLS(c, b)
					return
				}
				var mu sync.Mutex // c is written by both directions
				go func() {
					buf := make([]byte, 4096)
					for {
						n, err := b.Read(buf)
						mu.Lock()
						_, werr := c.Write(buf[:n])
						mu.Unlock()
						if err != nil || werr != nil {
							_ = c.(*net.TCPConn).CloseWrite()
							return
						}
					}
				}()
				cr := bufio.NewReader(c)
				for {
					line, err := cr.ReadString('\n')
					if strings.EqualFold(strings.TrimSpace(line), "STARTTLS") {
						mu.Lock()
						_, _ = io.WriteString(c, starttls)
						mu.Unlock()
						if strings.HasPrefix(starttls, "220") {
							return
						}
						continue
					}
					if _, werr := io.WriteString(b, line); werr != nil || err != nil {
						return
					}
				}
			}()
		}
	}()
}

// stripSTARTTLS copies server replies from b to c, a reply at a time,
// without a STARTTLS line; if it was the last line, the one before
// becomes the last.
func stripSTARTTLS(c io.Writer, b io.Reader) {
	br := bufio.NewReader(b)
	var reply []string // lines of the reply being read
	for {
		line, err := br.ReadString('\n')
		if line != "" {
			text := strings.TrimRight(line, "\r\n")
			last := len(text) < 4 || text[3] != '-'
			if len(text) >= 4 && strings.EqualFold(text[4:], "STARTTLS") {
				if n := len(reply); last && n > 0 {
					reply[n-1] = reply[n-1][:3] + " " + reply[n-1][4:]
				}
			} else {
				reply = append(reply, line)
			}
			if last || err != nil {
				if _, werr := io.WriteString(c, strings.Join(reply, "")); werr != nil {
					return
				}
				reply = nil
			}
		}
		if err != nil {
			return
		}
	}
}

// odStartSTSResolver builds and runs examples/mta-sts-resolver on
// 127.0.0.1 at a free port with resolver as its DNS, trusting caFile for
// policy hosts, and returns its address.
func odStartSTSResolver(t *testing.T, dir, caFile, resolver string) string {
	t.Helper()
	bin := filepath.Join(dir, "mta-sts-resolver")
	if out, err := exec.Command("go", "build", "-o", bin, "../mta-sts-resolver").CombinedOutput(); err != nil {
		t.Fatalf("build mta-sts-resolver: %v\n%s", err, out)
	}
	cfg := filepath.Join(dir, "mta-sts-daemon.yml")
	yml := "host: 127.0.0.1\nport: 0\nresolver: " + resolver + "\nca_file: " + caFile + "\n"
	if err := os.WriteFile(cfg, []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-config", cfg, "-v", "info")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var log lockedBuffer
	addrc := make(chan string, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stderr)
		re := regexp.MustCompile(`msg=listening addr=(\S+)`)
		for sc.Scan() {
			fmt.Fprintln(&log, sc.Text())
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				addrc <- m[1]
			}
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		<-done
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("mta-sts-resolver log:\n%s", log.String())
		}
	})
	select {
	case a := <-addrc:
		return a
	case <-done:
		t.Fatalf("mta-sts-resolver exited:\n%s", log.String())
	case <-time.After(20 * time.Second):
		t.Fatalf("mta-sts-resolver did not start:\n%s", log.String())
	}
	return ""
}

// odSend sends one message per case to the sender at addr, from
// 127.0.0.1 (mynetworks), in one session.
func odSend(t *testing.T, addr string, cases []odCase) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	script := []string{"EHLO client.outdiff.test"}
	for _, c := range cases {
		script = append(script, "MAIL FROM:<sender@"+odSenderDom+">", "RCPT TO:<"+odRcptLocal+"@"+c.Domain()+">", "DATA",
			"DATA-BODY:Message-ID: <"+c.Label+"@"+odMsgIDHost+">\r\nSubject: "+c.Label+"\r\n\r\n"+c.Why+"\r\n")
	}
	script = append(script, "QUIT")
	replies, err := smtpdialog.Run(ctx, addr, "127.0.0.1", script)
	if err != nil {
		t.Errorf("send to %s: %v (replies %v)", addr, err, replies)
		return
	}
	for i, r := range replies {
		if !r.Positive() && r.Code != 354 {
			t.Errorf("send to %s: reply %d: %s", addr, i, r.String())
		}
	}
}

var (
	pfStatusRE = regexp.MustCompile(`postfix/smtp\[(\d+)\]: [0-9A-Za-z]+: to=<([^>]+)>, relay=([^,]+), .*dsn=([0-9.]+), status=(\w+) \((.*)\)$`)
	pfTLSRE    = regexp.MustCompile(`postfix/smtp\[(\d+)\]: (\w+) TLS connection established to (\S+\]):\d+:`)
)

// odPostfixOutcomes reads each recipient's first attempt from a Postfix
// log: the status line of smtp(8), and the TLS line that smtp process
// logged for the same relay before it.
func odPostfixOutcomes(log string) map[string]odOutcome {
	out := map[string]odOutcome{}
	tls := map[string]string{} // pid + relay host → trust
	for _, line := range strings.Split(log, "\n") {
		if m := pfTLSRE.FindStringSubmatch(line); m != nil {
			tls[m[1]+" "+m[3]] = m[2]
			continue
		}
		m := pfStatusRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		pid, rcpt, relay, dsn, status, text := m[1], m[2], m[3], m[4], m[5], m[6]
		key := pid + " " + hostOnly(relay)
		trust, ok := tls[key]
		delete(tls, key)
		if _, seen := out[rcpt]; seen {
			continue
		}
		out[rcpt] = odOutcome{Status: status, Relay: relay, TLS: ok, Trust: trust, DSN: dsn, Text: text}
	}
	return out
}

// odMXOutcomes reads each recipient's first attempt from examples/mx's
// log: queue/deliver's "delivery" records, whose tls field is Postfix's
// word for the session (Verified, Trusted, Untrusted, Anonymous; none in
// plaintext).
func odMXOutcomes(log string) map[string]odOutcome {
	out := map[string]odOutcome{}
	for _, line := range strings.Split(log, "\n") {
		kv := logfmt(line)
		if kv["msg"] != "smtp: delivery" {
			continue
		}
		rcpt := kv["to"]
		if _, seen := out[rcpt]; seen {
			continue
		}
		status := kv["status"]
		if status == "delivered" {
			status = "sent"
		}
		o := odOutcome{Status: status, Relay: kv["relay"], DSN: kv["dsn"], Text: kv["text"]}
		if t := kv["tls"]; t != "" && t != "none" {
			o.TLS, o.Trust = true, t
		}
		out[rcpt] = o
	}
	return out
}

// logfmt splits one slog text line into its keys and values.
func logfmt(line string) map[string]string {
	kv := map[string]string{}
	for line != "" {
		line = strings.TrimLeft(line, " ")
		k, rest, ok := strings.Cut(line, "=")
		if !ok {
			break
		}
		var v string
		if strings.HasPrefix(rest, `"`) {
			q, err := strconv.QuotedPrefix(rest)
			if err != nil {
				break
			}
			v, _ = strconv.Unquote(q)
			rest = rest[len(q):]
		} else {
			v, rest, _ = strings.Cut(rest, " ")
		}
		kv[k] = v
		line = rest
	}
	return kv
}

func TestStripSTARTTLS(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"220 hi\r\n250-mx\r\n250-PIPELINING\r\n250-STARTTLS\r\n250 CHUNKING\r\n", "220 hi\r\n250-mx\r\n250-PIPELINING\r\n250 CHUNKING\r\n"},
		{"250-mx\r\n250-8BITMIME\r\n250 starttls\r\n221 bye\r\n", "250-mx\r\n250 8BITMIME\r\n221 bye\r\n"},
		{"250 mx\r\n", "250 mx\r\n"},
	} {
		var out strings.Builder
		stripSTARTTLS(&out, strings.NewReader(tc.in))
		if out.String() != tc.want {
			t.Errorf("strip(%q) = %q, want %q", tc.in, out.String(), tc.want)
		}
	}
}
