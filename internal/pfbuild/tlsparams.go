package pfbuild

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/mxkit/mxkit/internal/pflist"
)

// tlsProtocolOrder is Postfix's protocol list, oldest first; the Go
// version is 0 for those crypto/tls does not speak.
var tlsProtocolOrder = []struct {
	name string
	ver  uint16
}{
	{"SSLv2", 0}, {"SSLv3", 0}, {"TLSv1", tls.VersionTLS10}, {"TLSv1.1", tls.VersionTLS11},
	{"TLSv1.2", tls.VersionTLS12}, {"TLSv1.3", tls.VersionTLS13},
}

// TLSProtocols parses a Postfix protocol list (tls_*_protocols: "!SSLv2,
// !SSLv3", "TLSv1.2 TLSv1.3", ">=TLSv1.2", "<=TLSv1.2", or a mix) into
// crypto/tls's MinVersion and MaxVersion. Go offers a range of versions,
// not a set: a list that leaves a hole inside the range cannot be honoured
// and is an error. SSLv2 and SSLv3 are never spoken, whatever the list.
func TLSProtocols(spec string) (minV, maxV uint16, err error) {
	allowed := make([]bool, len(tlsProtocolOrder))
	for i := range allowed {
		allowed[i] = true
	}
	index := func(name string) int {
		for i, p := range tlsProtocolOrder {
			if strings.EqualFold(p.name, name) {
				return i
			}
		}
		return -1
	}
	var positive []int
	for _, tok := range pflist.Split(strings.ReplaceAll(spec, ":", " ")) {
		switch {
		case strings.HasPrefix(tok, ">="), strings.HasPrefix(tok, "<="):
			i := index(tok[2:])
			if i < 0 {
				return 0, 0, fmt.Errorf("unknown protocol %q", tok[2:])
			}
			for j := range allowed {
				if (tok[0] == '>' && j < i) || (tok[0] == '<' && j > i) {
					allowed[j] = false
				}
			}
		case strings.HasPrefix(tok, "!"):
			i := index(tok[1:])
			if i < 0 {
				return 0, 0, fmt.Errorf("unknown protocol %q", tok[1:])
			}
			allowed[i] = false
		default:
			i := index(tok)
			if i < 0 {
				return 0, 0, fmt.Errorf("unknown protocol %q", tok)
			}
			positive = append(positive, i)
		}
	}
	if len(positive) > 0 {
		for j := range allowed {
			if !slices.Contains(positive, j) {
				allowed[j] = false
			}
		}
	}
	var names []string
	for i, p := range tlsProtocolOrder {
		if p.ver == 0 || !allowed[i] {
			continue
		}
		if minV != 0 && maxV != tlsProtocolOrder[i-1].ver {
			return 0, 0, fmt.Errorf("protocols %s leave a gap: %w (Go takes a range of versions)", strings.Join(append(names, p.name), ", "), ErrUnsupported)
		}
		if minV == 0 {
			minV = p.ver
		}
		maxV = p.ver
		names = append(names, p.name)
	}
	if minV == 0 {
		return 0, 0, errors.New("no TLS protocol left")
	}
	return minV, maxV, nil
}

// absentInGo are OpenSSL cipher classes that crypto/tls never offers:
// excluding them changes nothing.
var absentInGo = []string{
	"aNULL", "eNULL", "NULL", "EXPORT", "EXP", "LOW", "RC4", "DES", "3DES", "MD5", "SSLv2", "SEED", "IDEA",
	"CAMELLIA", "ARIA", "PSK", "SRP", "aDSS", "DSS", "kRSA", "kDHE", "DHE", "EDH", "ADH", "AECDH", "aECDH",
	"kECDH", "CCM", "CCM8",
}

// TLSCiphers applies a cipher grade (tls_*_ciphers) and exclusions
// (tls_*_exclude_ciphers) to Go's TLS 1.2 cipher suites. Go's suites are
// all of OpenSSL's "medium" or "high" grade, so every grade but "null"
// gives Go's defaults; exclusions that name classes Go never offers are
// accepted as they are, SHA1 (or SHA), AES128, AES256, AES, AESGCM,
// CHACHA20 and CBC remove suites; anything else is an error. The result
// is nil for Go's defaults. TLS 1.3 suites are fixed by Go.
func TLSCiphers(grade string, exclude []string) ([]uint16, error) {
	switch strings.ToLower(grade) {
	case "", "export", "low", "medium", "high":
	case "null":
		return nil, fmt.Errorf("cipher grade null (no encryption) is %w", ErrUnsupported)
	default:
		return nil, fmt.Errorf("unknown cipher grade %q", grade)
	}
	var drop []func(name string) bool
	for _, x := range exclude {
		switch u := strings.ToUpper(x); {
		case slices.ContainsFunc(absentInGo, func(a string) bool { return strings.EqualFold(a, x) }):
		case u == "SHA1" || u == "SHA":
			drop = append(drop, func(n string) bool { return strings.HasSuffix(n, "_SHA") })
		case u == "AES128":
			drop = append(drop, func(n string) bool { return strings.Contains(n, "AES_128") })
		case u == "AES256":
			drop = append(drop, func(n string) bool { return strings.Contains(n, "AES_256") })
		case u == "AES":
			drop = append(drop, func(n string) bool { return strings.Contains(n, "_AES_") })
		case u == "AESGCM":
			drop = append(drop, func(n string) bool { return strings.Contains(n, "_AES_") && strings.Contains(n, "_GCM_") })
		case u == "CHACHA20":
			drop = append(drop, func(n string) bool { return strings.Contains(n, "CHACHA20") })
		case u == "CBC":
			drop = append(drop, func(n string) bool { return strings.Contains(n, "_CBC_") })
		default:
			return nil, fmt.Errorf("excluding cipher class %q is %w", x, ErrUnsupported)
		}
	}
	if len(drop) == 0 {
		return nil, nil
	}
	var out []uint16
	for _, cs := range tls.CipherSuites() {
		if cs.Insecure || !slices.Contains(cs.SupportedVersions, tls.VersionTLS12) {
			continue
		}
		if !slices.ContainsFunc(drop, func(f func(string) bool) bool { return f(cs.Name) }) {
			out = append(out, cs.ID)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("the exclusions leave no TLS 1.2 cipher suite")
	}
	return out, nil
}

// AddRootsFile adds the trust anchors of a CAfile (PEM, several
// certificates); "" adds nothing.
func AddRootsFile(pool *x509.CertPool, caFile string) error {
	if caFile == "" {
		return nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return err
	}
	if !pool.AppendCertsFromPEM(pem) {
		return fmt.Errorf("%s: no PEM certificate", caFile)
	}
	return nil
}

// AddRootsDir adds the trust anchors of a CApath: every regular file (or
// link to one) in the folder that holds PEM certificates; "" adds
// nothing.
func AddRootsDir(pool *x509.CertPool, caPath string) error {
	if caPath == "" {
		return nil
	}
	ents, err := os.ReadDir(caPath)
	if err != nil {
		return err
	}
	n := 0
	for _, e := range ents {
		p := filepath.Join(caPath, e.Name())
		if fi, err := os.Stat(p); err != nil || !fi.Mode().IsRegular() {
			continue
		}
		if pem, err := os.ReadFile(p); err == nil && pool.AppendCertsFromPEM(pem) {
			n++
		}
	}
	if n == 0 {
		return fmt.Errorf("%s: no PEM certificate", caPath)
	}
	return nil
}
