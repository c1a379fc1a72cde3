package dane

import (
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// TLSA usages, selectors and matching types (RFC 6698 §2.1, RFC 7218).
const (
	UsagePKIXTA = 0 // PKIX-TA: not usable for SMTP (RFC 7672 §3.1.3)
	UsagePKIXEE = 1 // PKIX-EE: not usable for SMTP
	UsageDANETA = 2 // DANE-TA
	UsageDANEEE = 3 // DANE-EE

	SelectorCert = 0 // full certificate
	SelectorSPKI = 1 // SubjectPublicKeyInfo

	MatchFull   = 0 // exact contents
	MatchSHA256 = 1 // SHA2-256 digest
	MatchSHA512 = 2 // SHA2-512 digest
)

// TLSA is one TLSA record's data (RFC 6698 §2.1).
type TLSA struct {
	Usage, Selector, MatchingType uint8
	Data                          []byte // certificate association data
}

// Usable reports whether an SMTP client uses the record (RFC 7672 §3.1):
// usage DANE-TA or DANE-EE, selector 0 or 1, matching type 0, 1 or 2, and
// data of the right length for a digest (non-empty for full data).
func (t TLSA) Usable() bool {
	if t.Usage != UsageDANETA && t.Usage != UsageDANEEE {
		return false
	}
	if t.Selector > SelectorSPKI {
		return false
	}
	switch t.MatchingType {
	case MatchFull:
		return len(t.Data) > 0
	case MatchSHA256:
		return len(t.Data) == sha256.Size
	case MatchSHA512:
		return len(t.Data) == sha512.Size
	}
	return false
}

// String returns the record's presentation form, "3 1 1 <lower-case hex>".
func (t TLSA) String() string {
	return fmt.Sprintf("%d %d %d %s", t.Usage, t.Selector, t.MatchingType, hex.EncodeToString(t.Data))
}

// Matches reports whether cert matches the record's selector, matching
// type and data; it ignores the usage. An unusable selector or matching
// type never matches.
func (t TLSA) Matches(cert *x509.Certificate) bool {
	if cert == nil {
		return false
	}
	d, err := association(cert, t.Selector, t.MatchingType)
	return err == nil && len(d) == len(t.Data) && subtle.ConstantTimeCompare(d, t.Data) == 1
}

func association(cert *x509.Certificate, selector, mtype uint8) ([]byte, error) {
	var b []byte
	switch selector {
	case SelectorCert:
		b = cert.Raw
	case SelectorSPKI:
		b = cert.RawSubjectPublicKeyInfo
	default:
		return nil, fmt.Errorf("dane: unsupported selector %d", selector)
	}
	switch mtype {
	case MatchFull:
		return b, nil
	case MatchSHA256:
		s := sha256.Sum256(b)
		return s[:], nil
	case MatchSHA512:
		s := sha512.Sum512(b)
		return s[:], nil
	}
	return nil, fmt.Errorf("dane: unsupported matching type %d", mtype)
}

// RecordFor returns the TLSA record of cert for usage, selector and
// matching type. It fails for a selector other than 0 or 1 or a matching
// type other than 0, 1 or 2.
func RecordFor(cert *x509.Certificate, usage, selector, mtype uint8) (TLSA, error) {
	if cert == nil {
		return TLSA{}, errors.New("dane: nil certificate")
	}
	d, err := association(cert, selector, mtype)
	if err != nil {
		return TLSA{}, err
	}
	return TLSA{Usage: usage, Selector: selector, MatchingType: mtype, Data: append([]byte(nil), d...)}, nil
}

// ParseTLSA parses a record's presentation form: three decimal fields
// (0..255) and hexadecimal data, which may be split by white space and is
// case-insensitive ("3 1 1 AB12 cd34"). The data may be wrapped in
// parentheses as in a zone file. The RR owner, class and type are not
// accepted: pass the RDATA only.
func ParseTLSA(s string) (TLSA, error) {
	s = strings.NewReplacer("(", " ", ")", " ").Replace(s)
	f := strings.Fields(s)
	if len(f) < 4 {
		return TLSA{}, fmt.Errorf("dane: TLSA %q: want \"USAGE SELECTOR MTYPE HEXDATA\"", s)
	}
	var n [3]uint8
	for i, name := range []string{"usage", "selector", "matching type"} {
		v, err := strconv.ParseUint(f[i], 10, 8)
		if err != nil {
			return TLSA{}, fmt.Errorf("dane: TLSA %s %q: not a number 0..255", name, f[i])
		}
		n[i] = uint8(v)
	}
	data, err := hex.DecodeString(strings.Join(f[3:], ""))
	if err != nil {
		return TLSA{}, fmt.Errorf("dane: TLSA data: %w", err)
	}
	if len(data) == 0 {
		return TLSA{}, errors.New("dane: TLSA data is empty")
	}
	return TLSA{Usage: n[0], Selector: n[1], MatchingType: n[2], Data: data}, nil
}

// ParseTLSAWire parses a record's wire-format RDATA (RFC 6698 §2.1).
func ParseTLSAWire(rdata []byte) (TLSA, error) {
	if len(rdata) < 4 {
		return TLSA{}, fmt.Errorf("dane: TLSA RDATA of %d bytes is too short", len(rdata))
	}
	return TLSA{Usage: rdata[0], Selector: rdata[1], MatchingType: rdata[2], Data: append([]byte(nil), rdata[3:]...)}, nil
}

// AppendWire appends the record's wire-format RDATA to b.
func (t TLSA) AppendWire(b []byte) []byte {
	return append(append(b, t.Usage, t.Selector, t.MatchingType), t.Data...)
}
