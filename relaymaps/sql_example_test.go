package relaymaps_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"

	"github.com/mxkit/mxkit/relaymaps"
	_ "github.com/mxkit/mxkit/relaymaps/sqlite" // the sqlite: table type
)

// An sqlite_table(5) file: virtual(5)-style lookups, the address first and
// then the domain's catch-all, several rows joined with commas.
func ExampleOpenSQL() {
	dir, err := os.MkdirTemp("", "relaymaps-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)

	// Fill a database (any tool would do; here the same pure-Go driver).
	dbPath := filepath.Join(dir, "virtual.sqlite")
	db, err := sql.Open("sqlite", dbPath)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, stmt := range []string{
		"CREATE TABLE alias (address TEXT, goto TEXT)",
		"INSERT INTO alias VALUES ('info@example.com', 'alice@example.net')",
		"INSERT INTO alias VALUES ('info@example.com', 'bob@example.net')",
		"INSERT INTO alias VALUES ('@example.org', 'catchall@example.net')",
	} {
		if _, err := db.Exec(stmt); err != nil {
			fmt.Println(err)
			return
		}
	}
	db.Close()

	cf := filepath.Join(dir, "virtual.cf")
	os.WriteFile(cf, []byte(`
dbpath = `+dbPath+`
# '%u@%d' and '@%d' each become one query parameter.
query = SELECT goto FROM alias WHERE address = '%u@%d'
    OR (address = '@%d' AND NOT EXISTS (SELECT 1 FROM alias WHERE address = '%u@%d'))
    ORDER BY goto
`), 0o644)

	m, err := relaymaps.Open("sqlite:"+cf, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.(relaymaps.Closer).Close()
	ctx := context.Background()
	for _, key := range []string{"Info@Example.com", "anyone@example.org", "x' OR '1'='1@example.com", "example.com"} {
		v, found, err := m.Lookup(ctx, key)
		fmt.Printf("%s: %q found=%v err=%v\n", key, v, found, err)
	}

	os.WriteFile(cf, []byte("dbpath = x.sqlite\nquery = SELECT goto FROM alias WHERE address = '%s'\nwhere_field = address\n"), 0o644)
	_, err = relaymaps.Open("sqlite:"+cf, nil)
	fmt.Println(err != nil, relaymaps.IsConfig(err))
	// Output:
	// Info@Example.com: "alice@example.net,bob@example.net" found=true err=<nil>
	// anyone@example.org: "catchall@example.net" found=true err=<nil>
	// x' OR '1'='1@example.com: "" found=false err=<nil>
	// example.com: "" found=false err=<nil>
	// true true
}
