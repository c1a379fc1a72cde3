package tlspolicy

import (
	"go/build"
	"strings"
	"testing"
)

// DESIGN: queue/deliver → tlspolicy → {dane, mtasts}. tlspolicy reaches the
// DNS layer only through dane's exported names, and knows nothing of the
// queue or of smtppolicy.
func TestImports(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range pkg.Imports {
		for _, bad := range []string{"/internal/dnssec", "/internal/testdns", "miekg/dns", "/queue", "/smtppolicy", "/postfixconf", "/examples"} {
			if strings.Contains(imp, bad) {
				t.Errorf("tlspolicy imports %s", imp)
			}
		}
	}
}
