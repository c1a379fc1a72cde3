package postfix

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/mxkit/mxkit/dnsres"
	"github.com/mxkit/mxkit/internal/pfbuild"
	"github.com/mxkit/mxkit/internal/postfixconf"
	"github.com/mxkit/mxkit/relaymaps"
	_ "github.com/mxkit/mxkit/relaymaps/mysql"  // mysql: tables in main.cf
	_ "github.com/mxkit/mxkit/relaymaps/pgsql"  // pgsql: tables in main.cf
	_ "github.com/mxkit/mxkit/relaymaps/sqlite" // sqlite: tables in main.cf
	"github.com/mxkit/mxkit/smtppolicy"
	"github.com/mxkit/mxkit/smtppolicy/policyproto"
)

// Options tune Load and Parse (and queue/postfix's Load and Parse).
type Options struct {
	// Logger receives the "ignored parameter" notes and table warnings.
	// Nil means slog.Default().
	Logger *slog.Logger
	// BaseDir resolves relative table paths. Empty means the folder of
	// the main.cf file (Load), or the working directory (Parse).
	BaseDir string
	// Overrides set parameters after the file, as "postconf -o
	// name=value" does: a value here wins over main.cf's, and $name
	// references to it see it. Overrides are judged as main.cf's own
	// parameters are (an unsupported one is an error, without a file
	// and line).
	Overrides map[string]string
	// Hostname is used when main.cf does not set myhostname. Empty means
	// the machine's host name.
	Hostname string
	// Extensions add restrictions implemented outside smtppolicy, by name.
	// check_policy_service is built in (package policyproto, configured
	// by the smtpd_policy_service_* parameters).
	Extensions map[string]smtppolicy.Extension
	// Resolver answers the DNS checks and the client name lookups. Nil
	// means a *dnsres.Resolver on the name servers of /etc/resolv.conf, as
	// Postfix uses the system's resolver.
	Resolver smtppolicy.Resolver
}

// Server is what a main.cf says about the SMTP server: the policy and the
// settings around it.
type Server struct {
	Policy   *smtppolicy.Policy
	Registry *smtppolicy.Registry

	// Hostname is myhostname; Banner is smtpd_banner, expanded.
	Hostname, Banner string
	// StrictEnvelopes is strict_rfc821_envelopes.
	StrictEnvelopes bool
	// SMTPUTF8 is smtputf8_enable (yes from compatibility_level 1 on):
	// offer SMTPUTF8 (RFC 6531) and take UTF-8 addresses with it; set the
	// Listener's SMTPUTF8 and go-smtp's EnableSMTPUTF8 from it.
	SMTPUTF8 bool
	// DisableVRFY is disable_vrfy_command.
	DisableVRFY bool
	// ConnectionLimit is smtpd_client_connection_count_limit (0: none);
	// ConnectionLimitExceptions is smtpd_client_event_limit_exceptions
	// (by default $mynetworks), the clients it does not apply to.
	ConnectionLimit           int
	ConnectionLimitExceptions smtppolicy.HostMatcher
	// Timeout is smtpd_timeout.
	Timeout time.Duration
	// PeernameLookup is smtpd_peername_lookup: look the client's name up
	// at connect.
	PeernameLookup bool
	// TLS is the server's STARTTLS configuration, nil when
	// smtpd_tls_security_level is none or no certificate is configured.
	// RequireTLS is smtpd_tls_security_level = encrypt: no mail without
	// STARTTLS.
	TLS        *tls.Config
	RequireTLS bool
	// TLSReceivedHeader is smtpd_tls_received_header: the Received header
	// says which TLS protocol and cipher the client used (see
	// gosmtp.ReceivedTLS).
	TLSReceivedHeader bool
	// TransportMaps, RelayTransport and DefaultTransport route accepted
	// mail (transport_maps, relay_transport, default_transport).
	TransportMaps                    []relaymaps.Map
	RelayTransport, DefaultTransport string
	// DNS is the DNS layer of the policy when it is mxkit's (the one
	// Load made, or Options.Resolver when it is a *dnsres.Resolver); nil
	// otherwise. Hand it to queue/postfix's SMTPDeliverer so that
	// delivery shares its cache.
	DNS *dnsres.Resolver
	// Ignored lists the parameters set in main.cf that concern only
	// Postfix's machinery or outbound delivery, with the reason. The
	// queue side's parameters (queue/postfix) are accounted for, not
	// listed: queue/postfix reads them.
	Ignored []string

	closers []io.Closer
}

// Close closes the tables the configuration opened.
func (s *Server) Close() error { return pfbuild.CloseAll(s.closers) }

// Load reads a main.cf file and builds the server configuration. Relative
// table paths are resolved against the file's folder. A parameter that
// would change what the server accepts and that mxkit does not implement
// is an error naming the file and line: running a weaker policy than the
// operator wrote is worse than not running. The queue side of the same
// file (queue settings, transport router, SMTP client) is queue/postfix's
// Load, which returns this Server too.
func Load(path string, opts *Options) (*Server, error) {
	o := options(opts)
	cfg, base, err := pfbuild.ParseFile(path, o.BaseDir)
	if err != nil {
		return nil, err
	}
	o.BaseDir = base
	return Build(cfg, &o)
}

// Parse reads main.cf text from r (name is the file name errors give)
// and builds the server configuration as Load does; relative table
// paths are resolved against opts.BaseDir.
func Parse(r io.Reader, name string, opts *Options) (*Server, error) {
	cfg, err := postfixconf.Parse(r, name)
	if err != nil {
		return nil, err
	}
	o := options(opts)
	return Build(cfg, &o)
}

func options(opts *Options) Options {
	if opts == nil {
		return Options{}
	}
	return *opts
}

// ConfigError names the parameter at fault and where it was set.
type ConfigError = pfbuild.ConfigError

// ErrUnsupported marks parameters mxkit does not implement.
var ErrUnsupported = pfbuild.ErrUnsupported

type builder struct {
	*pfbuild.Builder
	opts    Options
	srv     *Server
	classes map[string]string // restriction class name → its list
	parsing map[string]bool
}

// Build builds the server configuration from a parsed main.cf, after
// setting opts.Overrides. It is for the main.cf layer's own use
// (queue/postfix builds the queue side from the same parse): its
// argument's type is internal to the module, so users call Load or
// Parse.
func Build(cfg *postfixconf.Config, opts *Options) (srv *Server, err error) {
	o := options(opts)
	pfbuild.Override(cfg, o.Overrides)
	b := &builder{Builder: pfbuild.New(cfg, o.Logger, o.BaseDir), opts: o, srv: &Server{}, classes: map[string]string{}, parsing: map[string]bool{}}
	defer func() {
		if err != nil {
			b.Close()
			srv = nil
		}
	}()
	for _, step := range []func() error{b.identity, b.classify, b.policy, b.server} {
		if err := step(); err != nil {
			return nil, err
		}
	}
	b.srv.closers = b.Closers()
	return b.srv, nil
}

// MailName is mxkit's default for mail_name, the name smtpd_banner
// ("$myhostname ESMTP $mail_name") and the other defaults that use
// $mail_name announce. Postfix's default is "Postfix"; a server that
// runs mxkit does not claim to be Postfix unless main.cf says so.
const MailName = "mxkit"

// identity fills in myhostname and mydomain, which Postfix computes from
// the host when main.cf does not set them, and mail_name, whose default
// is mxkit's own (MailName).
func (b *builder) identity() error {
	if _, set := b.Cfg.Param("mail_name"); !set {
		b.Cfg.Set("mail_name", MailName)
	}
	h, err := b.Get("myhostname")
	if err != nil {
		return err
	}
	if h == "" {
		h = b.opts.Hostname
		if h == "" {
			h, _ = os.Hostname()
		}
		if h == "" {
			h = "localhost"
		}
		if !strings.Contains(h, ".") {
			h += ".localdomain"
		}
		b.Cfg.Set("myhostname", h)
	}
	if d, err := b.Get("mydomain"); err != nil {
		return err
	} else if d == "" {
		if i := strings.IndexByte(h, '.'); i >= 0 {
			b.Cfg.Set("mydomain", h[i+1:])
		} else {
			b.Cfg.Set("mydomain", "localdomain")
		}
	}
	b.srv.Hostname = h
	return nil
}

// supported lists the parameters this package turns into policy or server
// settings.
var supported = map[string]bool{
	"myhostname": true, "mydomain": true, "myorigin": true, "mydestination": true, "mynetworks": true,
	"mynetworks_style": true, "inet_interfaces": true, "inet_protocols": true, "proxy_interfaces": true,
	"relay_domains": true, "relay_recipient_maps": true, "virtual_alias_maps": true, "virtual_maps": true,
	"virtual_alias_domains": true, "virtual_mailbox_domains": true, "virtual_mailbox_maps": true,
	"local_recipient_maps": true, "local_transport": true, "transport_maps": true, "relay_transport": true,
	"default_transport": true, "recipient_delimiter": true,
	"smtpd_client_restrictions": true, "smtpd_helo_restrictions": true, "smtpd_sender_restrictions": true,
	"smtpd_relay_restrictions": true, "smtpd_recipient_restrictions": true, "smtpd_data_restrictions": true,
	"smtpd_end_of_data_restrictions": true, "smtpd_restriction_classes": true,
	"smtpd_delay_reject": true, "smtpd_helo_required": true, "strict_rfc821_envelopes": true, "smtputf8_enable": true, "disable_vrfy_command": true,
	"message_size_limit": true, "smtpd_recipient_limit": true, "soft_bounce": true, "compatibility_level": true,
	"smtpd_relay_before_recipient_restrictions": true, "smtpd_reject_unlisted_recipient": true,
	"smtpd_reject_unlisted_sender": true, "show_user_unknown_table_name": true, "allow_untrusted_routing": true,
	"relay_clientcerts": true, "smtpd_tls_fingerprint_digest": true, "config_directory": true,
	"meta_directory": true, "smtpd_banner": true, "mail_name": true, "smtpd_client_connection_count_limit": true, "smtpd_client_event_limit_exceptions": true,
	"smtpd_client_connection_limit_exceptions": true,
	"smtpd_timeout": true, "smtpd_tls_security_level": true, "smtpd_use_tls": true, "smtpd_tls_chain_files": true,
	"smtpd_tls_cert_file": true, "smtpd_tls_key_file": true, "smtpd_tls_eccert_file": true, "smtpd_tls_eckey_file": true,
	"smtpd_tls_ask_ccert": true, "smtpd_tls_auth_only": true, "smtpd_sasl_auth_enable": true,
	"owner_request_special": true, "parent_domain_matches_subdomains": true, "smtpd_null_access_lookup_key": true,
	"smtpd_forbid_bare_newline": true, "smtpd_forbid_unauth_pipelining": true, "smtpd_peername_lookup": true,
	"maps_rbl_reject_code": true, "smtpd_policy_service_timeout": true, "smtpd_policy_service_max_idle": true,
	"smtpd_policy_service_max_ttl": true, "smtpd_policy_service_retry_delay": true,
	"smtpd_policy_service_request_limit": true, "smtpd_policy_service_try_limit": true,
	"smtpd_policy_service_default_action": true, "smtpd_policy_service_policy_context": true,
	"reject_code": true, "defer_code": true, "relay_domains_reject_code": true, "access_map_reject_code": true,
	"access_map_defer_code": true, "invalid_hostname_reject_code": true, "non_fqdn_reject_code": true,
	"unknown_address_reject_code": true, "unknown_client_reject_code": true, "unknown_hostname_reject_code": true,
	"unknown_local_recipient_reject_code": true, "unknown_relay_recipient_reject_code": true,
	"unknown_virtual_alias_reject_code": true, "unknown_virtual_mailbox_reject_code": true,
	"multi_recipient_bounce_reject_code": true, "plaintext_reject_code": true,
}

// The queue side's parameters are accounted for here and read by
// queue/postfix.
func init() {
	for _, list := range [][]string{pfbuild.QueueParams, pfbuild.SMTPParams, pfbuild.SMTPTLSParams} {
		for _, n := range list {
			supported[n] = true
		}
	}
}

// outside lists name prefixes of parameters that do not concern the SMTP
// server's decisions (outbound delivery, TLS crypto tuning, logging):
// they are accepted with a log line.
var outside = []struct{ prefix, why string }{
	{"smtp_tls_loglevel", "logging (mxkit logs every TLS session)"},
	{"smtp_tls_note_starttls_offer", "logging (mxkit logs every TLS session)"},
	{"lmtp_", "LMTP client (delivery)"},
	{"tls_", "TLS library tuning"},
	{"smtpd_tls_dh1024_param_file", "crypto/tls offers no DHE cipher suites (ECDHE only), so no DH parameters are used"},
	{"smtpd_tls_dh512_param_file", "crypto/tls offers no DHE cipher suites"},
	{"smtpd_tls_loglevel", "logging (mxkit logs every TLS session)"},
	{"tls_preempt_cipherlist", "crypto/tls always prefers the server's cipher order"},
	{"milter_", "milter settings (no milter configured)"},
	{"non_smtpd_milters", "milters for local submission"},
	{"confirm_delay_cleared", "queue"}, {"queue_run_delay", "queue (the runner polls every second)"}, {"notify_classes", "queue notices"},
	{"fallback_relay", "outbound delivery"}, {"mailbox_", "local delivery"}, {"home_mailbox", "local delivery"},
	{"mail_spool_directory", "local delivery"}, {"alias_maps", "local delivery"}, {"alias_database", "local delivery"},
	{"virtual_mailbox_base", "delivery"}, {"virtual_uid_maps", "delivery"},
	{"virtual_gid_maps", "delivery"}, {"virtual_minimum_uid", "delivery"},
	{"initial_destination_", "delivery"}, {"debug_peer_", "logging"},
	{"header_checks", "content filtering is not implemented; headers pass"},
}

// classify checks every parameter set in main.cf: supported, ignored with
// a note, or an error.
func (b *builder) classify() error {
	classes, err := b.Cfg.List("smtpd_restriction_classes")
	if err != nil {
		return b.Fail("smtpd_restriction_classes", err)
	}
	for _, c := range classes {
		b.classes[strings.ToLower(c)] = c
	}
	milters, err := b.Get("smtpd_milters")
	if err != nil {
		return err
	}
	unknown := map[string]bool{}
	for _, p := range b.Cfg.Unused() {
		unknown[p.Name] = true
	}
	for _, name := range b.Cfg.Names() {
		if unknown[name] && b.classes[strings.ToLower(name)] == "" && !pfbuild.TransportLimit.MatchString(name) {
			// Postfix ignores parameters it does not know, with a
			// warning. A misspelt restriction or table parameter would
			// silently weaken the policy (the seed main.cf has
			// smtp_client_restrictions for smtpd_client_restrictions),
			// so those stop start-up.
			if strings.HasSuffix(name, "_restrictions") || strings.HasSuffix(name, "_maps") || strings.HasSuffix(name, "_domains") {
				return b.Fail(name, fmt.Errorf("not a Postfix parameter (misspelt? %s)", suggest(name)))
			}
			b.note(name, "not a Postfix parameter")
			continue
		}
		switch {
		case supported[name], pfbuild.TransportLimit.MatchString(name):
			continue
		case b.classes[strings.ToLower(name)] != "":
			continue
		case name == "smtpd_milters":
			if milters != "" {
				return b.Fail(name, fmt.Errorf("milters are %w (remove smtpd_milters, or put the filter behind a policy service)", ErrUnsupported))
			}
			continue
		case postfixconf.Classify(name) == postfixconf.KindMachinery:
			b.note(name, "Postfix machinery")
			continue
		}
		why := ""
		for _, o := range outside {
			if strings.HasPrefix(name, o.prefix) {
				why = o.why
				break
			}
		}
		if why == "" && strings.HasPrefix(name, "smtp_") {
			// Every smtp(8) parameter is honoured or refused: delivery
			// must not quietly do less than main.cf says (a weaker TLS
			// policy, say).
			return b.Fail(name, fmt.Errorf("SMTP client parameter %w: delivery would not do what main.cf says", ErrUnsupported))
		}
		if why == "" {
			return b.Fail(name, fmt.Errorf("%w: it may change what the server accepts; refusing to run a weaker policy than main.cf says", ErrUnsupported))
		}
		b.note(name, why)
	}
	if v, err := b.Get("parent_domain_matches_subdomains"); err != nil {
		return err
	} else {
		set := postfixconf.SplitList(v)
		for _, need := range []string{"mynetworks", "relay_domains", "smtpd_access_maps"} {
			if !slices.Contains(set, need) {
				return b.Fail("parent_domain_matches_subdomains", fmt.Errorf("leaving out %s is %w", need, ErrUnsupported))
			}
		}
	}
	if d, err := b.Get("smtpd_tls_fingerprint_digest"); err != nil {
		return err
	} else if d = strings.ToLower(d); d != "md5" && d != "sha1" && d != "sha256" {
		return b.Fail("smtpd_tls_fingerprint_digest", fmt.Errorf("digest %q is %w (md5, sha1, sha256 are)", d, ErrUnsupported))
	}
	for name, want := range map[string]string{"owner_request_special": "yes", "smtpd_null_access_lookup_key": "<>"} {
		v, err := b.Get(name)
		if err != nil {
			return err
		}
		if !strings.EqualFold(v, want) {
			return b.Fail(name, fmt.Errorf("only %q is %w", want, ErrUnsupported))
		}
	}
	if sasl, err := b.Bool("smtpd_sasl_auth_enable"); err != nil {
		return err
	} else if sasl {
		return b.Fail("smtpd_sasl_auth_enable", fmt.Errorf("SASL authentication is %w by the configuration layer; use the library's AUTH hooks", ErrUnsupported))
	}
	return nil
}

func (b *builder) note(name, why string) {
	b.srv.Ignored = append(b.srv.Ignored, name+" ("+why+")")
	p, _ := b.Cfg.Param(name)
	b.Log.Info("postfix: parameter ignored", "param", name, "reason", why, "file", p.File, "line", p.Line)
}

func (b *builder) addresses(name string) ([]netip.Addr, error) {
	v, err := b.Get(name)
	if err != nil {
		return nil, err
	}
	var out []netip.Addr
	for _, a := range postfixconf.SplitList(v) {
		switch strings.ToLower(a) {
		case "all":
			ifs, err := net.InterfaceAddrs()
			if err != nil {
				return nil, b.Fail(name, err)
			}
			for _, ia := range ifs {
				if p, err := netip.ParsePrefix(ia.String()); err == nil {
					out = append(out, p.Addr().Unmap())
				}
			}
			continue
		case "loopback-only":
			out = append(out, netip.MustParseAddr("127.0.0.1"), netip.IPv6Loopback())
			continue
		}
		ip, err := netip.ParseAddr(strings.Trim(a, "[]"))
		if err != nil {
			return nil, b.Fail(name, fmt.Errorf("%q: host names are %w here; give addresses", a, ErrUnsupported))
		}
		out = append(out, ip.Unmap())
	}
	return out, nil
}

func (b *builder) policy() error {
	site := &smtppolicy.Site{MyHostname: b.srv.Hostname}
	var err error
	mynet, err := b.Get("mynetworks")
	if err != nil {
		return err
	}
	if mynet == "" {
		// Postfix computes mynetworks from mynetworks_style (host: this
		// machine's own addresses). We take loopback plus inet_interfaces
		// below; say so in the logs.
		mynet = "127.0.0.0/8 [::1]/128"
		b.Log.Info("postfix: mynetworks not set; using loopback only", "mynetworks", mynet)
	}
	hl, err := relaymaps.ParseHostList(strings.ReplaceAll(mynet, "proxy:", ""), b.Tables)
	if err != nil {
		return b.Fail("mynetworks", err)
	}
	b.Keep(hl)
	site.MyNetworks = hl
	if site.MyDestination, err = b.DomainList("mydestination", false); err != nil {
		return err
	}
	if site.RelayDomains, err = b.DomainList("relay_domains", true); err != nil {
		return err
	}
	if site.VirtualAliasDomains, err = b.DomainList("virtual_alias_domains", false); err != nil {
		return err
	}
	if site.VirtualMailboxDomains, err = b.DomainList("virtual_mailbox_domains", false); err != nil {
		return err
	}
	if site.InetInterfaces, err = b.addresses("inet_interfaces"); err != nil {
		return err
	}
	if site.ProxyInterfaces, err = b.addresses("proxy_interfaces"); err != nil {
		return err
	}
	for name, dst := range map[string]*[]relaymaps.Map{
		"virtual_alias_maps": &site.VirtualAliasMaps, "virtual_mailbox_maps": &site.VirtualMailboxMaps,
		"relay_recipient_maps": &site.RelayRecipientMaps, "transport_maps": &site.TransportMaps,
	} {
		if *dst, err = b.OpenMaps(name); err != nil {
			return err
		}
	}
	// local_recipient_maps matters only when there are local domains.
	if md, _ := b.Get("mydestination"); md != "" {
		if site.LocalRecipientMaps, err = b.OpenMaps("local_recipient_maps"); err != nil {
			return err
		}
	}
	b.srv.TransportMaps = site.TransportMaps
	if site.LocalTransport, err = b.Get("local_transport"); err != nil {
		return err
	}
	if site.RecipientDelimiter, err = b.Get("recipient_delimiter"); err != nil {
		return err
	}
	show, err := b.Bool("show_user_unknown_table_name")
	if err != nil {
		return err
	}
	site.HideUnknownTableName = !show
	if site.AllowUntrustedRouting, err = b.Bool("allow_untrusted_routing"); err != nil {
		return err
	}

	reg := &smtppolicy.Registry{Classes: map[string]smtppolicy.Chain{}, Extensions: map[string]smtppolicy.Extension{}, OpenTable: b.Open}
	if err := b.policyService(reg); err != nil {
		return err
	}
	for name, ext := range b.opts.Extensions {
		reg.Extensions[name] = ext
	}
	if reg.FingerprintDigest, err = b.Get("smtpd_tls_fingerprint_digest"); err != nil {
		return err
	}
	if certs, err := b.OpenMaps("relay_clientcerts"); err != nil {
		return err
	} else if len(certs) == 1 {
		reg.RelayClientCerts = certs[0]
	} else if len(certs) > 1 {
		reg.RelayClientCerts = relaymaps.NewUnion(certs...)
	}
	b.srv.Registry = reg
	for lc := range b.classes {
		if err := b.parseClass(reg, lc); err != nil {
			return err
		}
	}

	p := &smtppolicy.Policy{Site: site, Logger: b.opts.Logger, Resolver: b.opts.Resolver}
	b.srv.DNS, _ = b.opts.Resolver.(*dnsres.Resolver)
	if p.Resolver == nil {
		r, err := dnsres.New(dnsres.Options{Logger: b.opts.Logger})
		if err != nil {
			b.Log.Warn("postfix: no DNS resolver; DNS checks will answer 451 4.3.5", "error", err)
		} else {
			p.Resolver, b.srv.DNS = r, r
		}
	}
	lists := []struct {
		param, def string
		dst        *smtppolicy.Chain
	}{
		{"smtpd_client_restrictions", "check_client_access", &p.Client},
		{"smtpd_helo_restrictions", "check_helo_access", &p.Helo},
		{"smtpd_sender_restrictions", "check_sender_access", &p.Sender},
		{"smtpd_relay_restrictions", "check_recipient_access", &p.Relay},
		{"smtpd_recipient_restrictions", "check_recipient_access", &p.Recipient},
		{"smtpd_data_restrictions", "", &p.Data},
		{"smtpd_end_of_data_restrictions", "", &p.EndOfData},
	}
	for _, l := range lists {
		v, err := b.Get(l.param)
		if err != nil {
			return err
		}
		c, err := reg.ParseList(v, l.def)
		if err != nil {
			return b.Fail(l.param, err)
		}
		if c == nil {
			c = smtppolicy.Chain{} // an empty list, not the default
		}
		*l.dst = c
	}
	delay, err := b.Bool("smtpd_delay_reject")
	if err != nil {
		return err
	}
	p.EarlyReject = !delay
	relayFirst, err := b.Bool("smtpd_relay_before_recipient_restrictions")
	if err != nil {
		return err
	}
	p.RecipientBeforeRelay = !relayFirst
	unlistedRcpt, err := b.Bool("smtpd_reject_unlisted_recipient")
	if err != nil {
		return err
	}
	p.NoImplicitRecipientCheck = !unlistedRcpt
	if p.ImplicitSenderCheck, err = b.Bool("smtpd_reject_unlisted_sender"); err != nil {
		return err
	}
	if p.HeloRequired, err = b.Bool("smtpd_helo_required"); err != nil {
		return err
	}
	if p.SoftBounce, err = b.Bool("soft_bounce"); err != nil {
		return err
	}
	size, err := b.Cfg.Size("message_size_limit")
	if err != nil {
		return b.Fail("message_size_limit", err)
	}
	p.MessageSizeLimit = size
	if p.RecipientLimit, err = b.Int("smtpd_recipient_limit"); err != nil {
		return err
	}
	for name, dst := range map[string]*int{
		"reject_code": &p.Codes.Reject, "defer_code": &p.Codes.Defer, "relay_domains_reject_code": &p.Codes.Relay,
		"access_map_reject_code": &p.Codes.AccessMapReject, "access_map_defer_code": &p.Codes.AccessMapDefer,
		"invalid_hostname_reject_code": &p.Codes.InvalidHostname, "non_fqdn_reject_code": &p.Codes.NonFQDN,
		"unknown_address_reject_code": &p.Codes.UnknownAddress, "unknown_client_reject_code": &p.Codes.UnknownClient,
		"unknown_hostname_reject_code": &p.Codes.UnknownHostname, "unknown_local_recipient_reject_code": &p.Codes.UnknownLocal,
		"unknown_relay_recipient_reject_code": &p.Codes.UnknownRelay, "unknown_virtual_alias_reject_code": &p.Codes.UnknownVirtualAlias,
		"unknown_virtual_mailbox_reject_code": &p.Codes.UnknownVirtualMbox, "multi_recipient_bounce_reject_code": &p.Codes.MultiRecipientBounce,
		"plaintext_reject_code": &p.Codes.Plaintext, "maps_rbl_reject_code": &p.Codes.RBL,
	} {
		if *dst, err = b.Int(name); err != nil {
			return err
		}
	}
	if err := p.Validate(); err != nil {
		msg := "specify at least one working instance of: reject_unauth_destination, defer_unauth_destination, reject, defer, defer_if_permit (in smtpd_relay_restrictions or smtpd_recipient_restrictions)"
		if lvl, _ := b.Get("compatibility_level"); lvl == "" || lvl == "0" {
			// The most common cause: main.cf without compatibility_level
			// gets Postfix's level-0 default, an empty relay list.
			msg += "; compatibility_level is 0, where smtpd_relay_restrictions defaults to empty (set compatibility_level = 3.6 for Postfix's current defaults)"
		}
		return b.Fail("smtpd_relay_restrictions", errors.New(msg))
	}
	b.srv.Policy = p
	return nil
}

// policyService installs check_policy_service with the
// smtpd_policy_service_* parameters.
func (b *builder) policyService(reg *smtppolicy.Registry) error {
	o := &policyproto.Options{Logger: b.opts.Logger}
	var err error
	for name, dst := range map[string]*time.Duration{
		"smtpd_policy_service_timeout": &o.Timeout, "smtpd_policy_service_max_idle": &o.MaxIdle,
		"smtpd_policy_service_max_ttl": &o.MaxTTL, "smtpd_policy_service_retry_delay": &o.RetryDelay,
	} {
		if *dst, err = b.Cfg.Duration(name); err != nil {
			return b.Fail(name, err)
		}
	}
	if o.RequestLimit, err = b.Int("smtpd_policy_service_request_limit"); err != nil {
		return err
	}
	if o.TryLimit, err = b.Int("smtpd_policy_service_try_limit"); err != nil {
		return err
	}
	if o.DefaultAction, err = b.Get("smtpd_policy_service_default_action"); err != nil {
		return err
	}
	if o.PolicyContext, err = b.Get("smtpd_policy_service_policy_context"); err != nil {
		return err
	}
	if o.CompatibilityLevel, err = b.Get("compatibility_level"); err != nil {
		return err
	}
	policyproto.Register(reg, o)
	return nil
}

// parseClass parses a restriction class, after the classes it names.
func (b *builder) parseClass(reg *smtppolicy.Registry, lc string) error {
	if _, done := reg.Classes[lc]; done {
		return nil
	}
	name := b.classes[lc]
	if b.parsing[lc] {
		return b.Fail(name, errors.New("restriction class refers to itself"))
	}
	b.parsing[lc] = true
	v, err := b.Get(name)
	if err != nil {
		return err
	}
	if v == "" {
		return b.Fail("smtpd_restriction_classes", fmt.Errorf("restriction class %q needs a definition", name))
	}
	toks := postfixconf.SplitList(v)
	for _, t := range toks {
		if _, isClass := b.classes[strings.ToLower(t)]; isClass {
			if err := b.parseClass(reg, strings.ToLower(t)); err != nil {
				return err
			}
		}
	}
	c, err := reg.Parse(toks, "")
	if err != nil {
		return b.Fail(name, err)
	}
	reg.Classes[lc] = c
	return nil
}

func (b *builder) server() error {
	var err error
	if b.srv.Banner, err = b.Get("smtpd_banner"); err != nil {
		return err
	}
	if b.srv.StrictEnvelopes, err = b.Bool("strict_rfc821_envelopes"); err != nil {
		return err
	}
	if b.srv.SMTPUTF8, err = b.Bool("smtputf8_enable"); err != nil {
		return err
	}
	if b.srv.DisableVRFY, err = b.Bool("disable_vrfy_command"); err != nil {
		return err
	}
	if b.srv.ConnectionLimit, err = b.Int("smtpd_client_connection_count_limit"); err != nil {
		return err
	}
	if exc, err := b.Get("smtpd_client_event_limit_exceptions"); err != nil {
		return err
	} else if exc != "" {
		hl, err := relaymaps.ParseHostList(strings.ReplaceAll(exc, "proxy:", ""), b.Tables)
		if err != nil {
			return b.Fail("smtpd_client_event_limit_exceptions", err)
		}
		b.Keep(hl)
		b.srv.ConnectionLimitExceptions = hl
	}
	if b.srv.Timeout, err = b.Cfg.Duration("smtpd_timeout"); err != nil {
		return b.Fail("smtpd_timeout", err)
	}
	if b.srv.PeernameLookup, err = b.Bool("smtpd_peername_lookup"); err != nil {
		return err
	}
	if b.srv.RelayTransport, err = b.Get("relay_transport"); err != nil {
		return err
	}
	if b.srv.DefaultTransport, err = b.Get("default_transport"); err != nil {
		return err
	}
	return b.tls()
}

func (b *builder) tls() error {
	level, err := b.Get("smtpd_tls_security_level")
	if err != nil {
		return err
	}
	if level == "" {
		if use, _ := b.Cfg.Bool("smtpd_use_tls"); use {
			level = "may"
		} else {
			level = "none"
		}
	}
	switch level {
	case "none":
		return nil
	case "may":
	case "encrypt":
		b.srv.RequireTLS = true
	default:
		return b.Fail("smtpd_tls_security_level", fmt.Errorf("level %q is %w (none, may and encrypt are)", level, ErrUnsupported))
	}
	certs, err := b.Certificates("smtpd_tls_chain_files", [][2]string{{"smtpd_tls_cert_file", "smtpd_tls_key_file"}, {"smtpd_tls_eccert_file", "smtpd_tls_eckey_file"}})
	if err != nil {
		return err
	}
	if len(certs) == 0 {
		if b.srv.RequireTLS {
			// Postfix refuses to start too: every client would be
			// told to use a STARTTLS that is not offered.
			return b.Fail("smtpd_tls_security_level", errors.New("encrypt needs a server certificate (smtpd_tls_chain_files or smtpd_tls_cert_file)"))
		}
		b.Log.Warn("postfix: smtpd_tls_security_level = may but no certificate configured; STARTTLS is off")
		return nil
	}
	// Several certificates (the seed's ECDSA and RSA chains): crypto/tls
	// serves the first one the client's hello supports.
	cfg := &tls.Config{Certificates: certs}
	if err := b.smtpdTLSTuning(cfg); err != nil {
		return err
	}
	if ask, err := b.Bool("smtpd_tls_ask_ccert"); err != nil {
		return err
	} else if ask {
		cfg.ClientAuth = tls.RequestClientCert
	}
	b.srv.TLS = cfg
	return nil
}

// suggest names the smtpd_ parameter a misspelt name probably meant.
func suggest(name string) string {
	if strings.HasPrefix(name, "smtp_") {
		if alt := "smtpd_" + strings.TrimPrefix(name, "smtp_"); postfixconf.Defaults[alt] != "" || supported[alt] {
			return "did you mean " + alt + "?"
		}
	}
	return "check the spelling"
}
