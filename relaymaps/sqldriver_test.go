package relaymaps

import (
	"errors"
	"os/exec"
	"strings"
	"testing"

	"github.com/mxkit/mxkit/internal/testproc"
)

// TestNoSQLDriverLinked checks the promise of RegisterSQL: importing
// relaymaps links no database driver.
func TestNoSQLDriverLinked(t *testing.T) {
	gobin, err := exec.LookPath("go")
	testproc.Require(t, "the go command", err)
	out, err := exec.Command(gobin, "list", "-deps", "github.com/mxkit/mxkit/relaymaps").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 {
		t.Fatalf("go list -deps printed only %q", deps)
	}
	for _, dep := range deps {
		for _, driver := range []string{"github.com/jackc/pgx", "github.com/go-sql-driver/mysql", "modernc.org/sqlite"} {
			if dep == driver || strings.HasPrefix(dep, driver+"/") {
				t.Errorf("relaymaps links %s", dep)
			}
		}
	}
}

// TestSQLWithoutDriver opens a mysql: table as a program that does not
// import relaymaps/mysql would (the drivers this test binary links are
// unregistered for the test).
func TestSQLWithoutDriver(t *testing.T) {
	for _, typ := range []string{"mysql", "pgsql", "sqlite"} {
		registry.Lock()
		opener := registry.m[typ]
		delete(registry.m, typ)
		registry.Unlock()
		sqlDrivers.Lock()
		drv, had := sqlDrivers.m[sqlTypes[typ].dialect]
		delete(sqlDrivers.m, sqlTypes[typ].dialect)
		sqlDrivers.Unlock()
		t.Cleanup(func() {
			registry.Lock()
			if opener != nil {
				registry.m[typ] = opener
			}
			registry.Unlock()
			sqlDrivers.Lock()
			if had {
				sqlDrivers.m[sqlTypes[typ].dialect] = drv
			}
			sqlDrivers.Unlock()
		})
		want := `relaymaps: table type "` + typ + `" needs its driver: import _ "github.com/mxkit/mxkit/relaymaps/` + typ + `"`
		_, err := Open(typ+":/etc/postfix/x.cf", nil)
		if err == nil || err.Error() != want || !errors.Is(err, ErrConfig) {
			t.Errorf("Open(%s:...) = %v, want %q wrapping ErrConfig", typ, err, want)
		}
		_, err = OpenSQL(strings.ToUpper(typ), "/etc/postfix/x.cf", nil)
		if err == nil || !strings.Contains(err.Error(), "relaymaps/"+typ) {
			t.Errorf("OpenSQL(%s) = %v, want the package named", typ, err)
		}
	}
}
