package testnginx_test

import (
	"fmt"
	"strings"

	"github.com/mxkit/mxkit/internal/testnginx"
)

// Pad makes a policy one byte over RFC 8461's 64 KiB cap, keeping its
// line endings.
func ExamplePad() {
	body := testnginx.Pad("version: STSv1\r\nmode: enforce\r\n", 64*1024+1)
	fmt.Println(len(body), strings.Count(body, "\r\n") == strings.Count(body, "\n"))
	fmt.Printf("%q\n", testnginx.Pad("mode: none", 20))
	// Output:
	// 65537 true
	// "mode: none\npad: xxx\n"
}

// CertKind names the certificates a site can present.
func ExampleCertKind() {
	for _, k := range []testnginx.CertKind{testnginx.CertValid, testnginx.CertWrongName, testnginx.CertExpired, testnginx.CertSelfSigned} {
		fmt.Println(k)
	}
	// Output:
	// valid
	// wrong-name
	// expired
	// self-signed
}
