package policyproto

import (
	"bufio"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/tls"
	"fmt"
	"hash"
	"net/netip"
	"strconv"
	"strings"

	"github.com/mxkit/mxkit/internal/tlsnames"
	"github.com/mxkit/mxkit/smtppolicy"
)

// RequestType is the value of request= in a policy query.
const RequestType = "smtpd_access_policy"

// Request is one policy query: every attribute Postfix 3.8 sends, plus
// tls_sni (3.12). String fields are "" when Postfix would send an empty
// value; numbers are 0.
type Request struct {
	Request       string // "smtpd_access_policy"
	ProtocolState string // CONNECT, EHLO, HELO, MAIL, RCPT, DATA, END-OF-MESSAGE, VRFY, ETRN
	ProtocolName  string // SMTP or ESMTP
	HeloName      string
	QueueID       string
	// Sender is "" for the null sender. Recipient is set at RCPT, and at
	// DATA and END-OF-MESSAGE when there is exactly one recipient.
	Sender, Recipient string
	// RecipientCount is non-zero only at DATA and END-OF-MESSAGE.
	RecipientCount int
	// ClientAddress is the client's IP address; ClientName its verified
	// name or "unknown"; ReverseClientName its PTR name or "unknown".
	ClientAddress, ClientName, ReverseClientName string
	// Instance is the same for all queries about one message.
	Instance string

	SASLMethod, SASLUsername, SASLSender string
	// Size is MAIL FROM's SIZE=, then the actual size at END-OF-MESSAGE.
	Size int64

	// Client certificate facts, sent only when the certificate is trusted.
	CCertSubject, CCertIssuer, CCertFingerprint, CCertPubkeyFingerprint string

	EncryptionProtocol, EncryptionCipher string
	EncryptionKeysize                    int

	ETRNDomain string
	Stress     string // "yes" under stress, else ""

	ClientPort    int
	PolicyContext string
	ServerAddress string
	ServerPort    int

	CompatibilityLevel, MailVersion string
	TLSSNI                          string

	// Extra holds the attributes not named above, in the order received.
	Extra Attrs
}

// fields lists the attributes in the order Postfix sends them, with
// accessors; numbers are kept as text here and converted by the callers.
var fieldNames = [...]string{
	"request", "protocol_state", "protocol_name", "helo_name", "queue_id", "sender", "recipient",
	"recipient_count", "client_address", "client_name", "reverse_client_name", "instance",
	"sasl_method", "sasl_username", "sasl_sender", "size", "ccert_subject", "ccert_issuer",
	"ccert_fingerprint", "ccert_pubkey_fingerprint", "encryption_protocol", "encryption_cipher",
	"encryption_keysize", "etrn_domain", "stress", "client_port", "policy_context",
	"server_address", "server_port", "compatibility_level", "mail_version", "tls_sni",
}

// str returns a pointer to the string field for name, or nil.
func (r *Request) str(name string) *string {
	switch name {
	case "request":
		return &r.Request
	case "protocol_state":
		return &r.ProtocolState
	case "protocol_name":
		return &r.ProtocolName
	case "helo_name":
		return &r.HeloName
	case "queue_id":
		return &r.QueueID
	case "sender":
		return &r.Sender
	case "recipient":
		return &r.Recipient
	case "client_address":
		return &r.ClientAddress
	case "client_name":
		return &r.ClientName
	case "reverse_client_name":
		return &r.ReverseClientName
	case "instance":
		return &r.Instance
	case "sasl_method":
		return &r.SASLMethod
	case "sasl_username":
		return &r.SASLUsername
	case "sasl_sender":
		return &r.SASLSender
	case "ccert_subject":
		return &r.CCertSubject
	case "ccert_issuer":
		return &r.CCertIssuer
	case "ccert_fingerprint":
		return &r.CCertFingerprint
	case "ccert_pubkey_fingerprint":
		return &r.CCertPubkeyFingerprint
	case "encryption_protocol":
		return &r.EncryptionProtocol
	case "encryption_cipher":
		return &r.EncryptionCipher
	case "etrn_domain":
		return &r.ETRNDomain
	case "stress":
		return &r.Stress
	case "policy_context":
		return &r.PolicyContext
	case "server_address":
		return &r.ServerAddress
	case "compatibility_level":
		return &r.CompatibilityLevel
	case "mail_version":
		return &r.MailVersion
	case "tls_sni":
		return &r.TLSSNI
	}
	return nil
}

// set stores one attribute; the last occurrence of a name wins.
func (r *Request) set(name, value []byte) error {
	switch string(name) {
	case "recipient_count":
		n, err := parseUint("recipient_count", value, 31)
		r.RecipientCount = int(n)
		return err
	case "size":
		n, err := parseUint("size", value, 63)
		r.Size = int64(n)
		return err
	case "encryption_keysize":
		n, err := parseUint("encryption_keysize", value, 31)
		r.EncryptionKeysize = int(n)
		return err
	case "client_port":
		n, err := parseUint("client_port", value, 16)
		r.ClientPort = int(n)
		return err
	case "server_port":
		n, err := parseUint("server_port", value, 16)
		r.ServerPort = int(n)
		return err
	}
	if p := r.str(string(name)); p != nil {
		if *p != string(value) {
			*p = string(value)
		}
		return nil
	}
	r.Extra = append(r.Extra, Attr{string(name), string(value)})
	return nil
}

// ReadRequest reads one query. It checks the syntax only: callers decide
// what to do with a query whose request= is not smtpd_access_policy.
// Numeric attributes must be empty or decimal numbers. A repeated
// attribute keeps its last value. br should be at least Limits.MaxLine+2
// bytes large (bufio.NewReaderSize).
func ReadRequest(br *bufio.Reader, lim Limits) (Request, error) {
	var r Request
	err := scanAttrs(br, lim, r.set)
	return r, err
}

// ParseRequest builds a Request from attributes.
func ParseRequest(attrs Attrs) (Request, error) {
	var r Request
	for _, a := range attrs {
		if err := r.set([]byte(a.Name), []byte(a.Value)); err != nil {
			return Request{}, err
		}
	}
	return r, nil
}

// Attrs returns the query as attributes, in Postfix's order, then Extra.
// Every attribute Postfix 3.8 sends is present, empty or 0 when unknown;
// tls_sni only when set.
func (r *Request) Attrs() Attrs {
	out := make(Attrs, 0, len(fieldNames)+len(r.Extra))
	for _, name := range fieldNames {
		v, ok := r.value(name)
		if ok {
			out = append(out, Attr{name, v})
		}
	}
	return append(out, r.Extra...)
}

func (r *Request) value(name string) (string, bool) {
	switch name {
	case "recipient_count":
		return strconv.Itoa(r.RecipientCount), true
	case "size":
		return strconv.FormatInt(r.Size, 10), true
	case "encryption_keysize":
		return strconv.Itoa(r.EncryptionKeysize), true
	case "client_port":
		return strconv.Itoa(r.ClientPort), true
	case "server_port":
		return strconv.Itoa(r.ServerPort), true
	case "tls_sni":
		return r.TLSSNI, r.TLSSNI != ""
	}
	return *r.str(name), true
}

// AppendTo appends the wire form of the query. Characters that cannot be
// sent (NUL, CR, LF) are an error.
func (r *Request) AppendTo(dst []byte) ([]byte, error) {
	return AppendAttrs(dst, r.Attrs())
}

// NewRequest describes st as Postfix would in a query at st.Stage.
// digest is the certificate fingerprint digest (smtpd_tls_fingerprint_digest:
// "sha256" when empty, "sha1" or "md5"). QueueID, Instance, SASLSender,
// Stress, PolicyContext, CompatibilityLevel and MailVersion are left for
// the caller: the State does not know them.
func NewRequest(st *smtppolicy.State, digest string) Request {
	r := Request{
		Request:           RequestType,
		ProtocolState:     st.Stage.String(),
		ProtocolName:      "SMTP",
		HeloName:          st.Helo,
		Sender:            st.Sender,
		Recipient:         st.Recipient,
		ClientName:        orUnknown(st.ClientName),
		ReverseClientName: orUnknown(st.ReverseName),
		SASLMethod:        st.SASLMethod,
		SASLUsername:      st.SASLUsername,
		Size:              st.Size,
		ClientPort:        st.ClientPort,
	}
	if st.ESMTP {
		r.ProtocolName = "ESMTP"
	}
	if st.Stage == smtppolicy.StageHelo && !st.ESMTP {
		r.ProtocolState = "HELO"
	}
	if st.ClientAddr.IsValid() {
		r.ClientAddress = st.ClientAddr.Unmap().String()
	}
	if st.ServerAddr.IsValid() {
		r.ServerAddress = st.ServerAddr.Addr().Unmap().String()
		r.ServerPort = int(st.ServerAddr.Port())
	}
	switch st.Stage {
	case smtppolicy.StageData, smtppolicy.StageEndOfData:
		r.RecipientCount = len(st.Recipients)
	case smtppolicy.StageRcpt:
	default:
		r.Recipient = ""
	}
	if t := st.TLS; t != nil {
		r.EncryptionProtocol = tlsnames.Protocol(t.Version)
		r.EncryptionCipher = tls.CipherSuiteName(t.CipherSuite)
		r.EncryptionKeysize = tlsnames.CipherBits(r.EncryptionCipher)
		r.TLSSNI = t.ServerName
		if len(t.VerifiedChains) > 0 && len(t.PeerCertificates) > 0 {
			c := t.PeerCertificates[0]
			r.CCertSubject = c.Subject.CommonName
			r.CCertIssuer = c.Issuer.CommonName
			r.CCertFingerprint = fingerprint(digest, c.Raw)
			r.CCertPubkeyFingerprint = fingerprint(digest, c.RawSubjectPublicKeyInfo)
		}
	}
	return r
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// fingerprint is Postfix's colon-separated upper-case hex digest.
func fingerprint(digest string, der []byte) string {
	var h hash.Hash
	switch strings.ToLower(digest) {
	case "sha1":
		h = sha1.New()
	case "md5":
		h = md5.New()
	default:
		h = sha256.New()
	}
	h.Write(der)
	sum := h.Sum(nil)
	const hexd = "0123456789ABCDEF"
	b := make([]byte, 0, 3*len(sum))
	for i, c := range sum {
		if i > 0 {
			b = append(b, ':')
		}
		b = append(b, hexd[c>>4], hexd[c&15])
	}
	return string(b)
}

// State returns the connection and transaction facts of the query as a
// State for a new smtppolicy.Session: client address, port and names,
// server address, HELO name and ESMTP, SASL login. TLS is not
// reconstructed (see the package documentation). An unparsable
// client_address is an error.
func (r *Request) State() (*smtppolicy.State, error) {
	st := &smtppolicy.State{
		ClientPort:   r.ClientPort,
		ClientName:   orUnknown(r.ClientName),
		ReverseName:  orUnknown(r.ReverseClientName),
		Helo:         r.HeloName,
		ESMTP:        r.ProtocolName == "ESMTP",
		SASLMethod:   r.SASLMethod,
		SASLUsername: r.SASLUsername,
	}
	a, err := netip.ParseAddr(r.ClientAddress)
	if err != nil {
		return nil, fmt.Errorf("%w: client_address=%q", ErrMalformed, r.ClientAddress)
	}
	st.ClientAddr = a
	if sa, err := netip.ParseAddr(r.ServerAddress); err == nil {
		st.ServerAddr = netip.AddrPortFrom(sa, uint16(r.ServerPort))
	}
	return st, nil
}
