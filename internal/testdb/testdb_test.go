package testdb

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestPostgres(t *testing.T) {
	p := StartPostgres(t)
	t.Logf("postgres started in %v", p.StartupTime())
	p.Exec(t, "CREATE TABLE t (k text PRIMARY KEY, v text)", "INSERT INTO t VALUES ('a', 'b')")
	query := func() (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, p.DSN())
		if err != nil {
			return "", err
		}
		defer conn.Close(ctx)
		var v string
		err = conn.QueryRow(ctx, "SELECT v FROM t WHERE k = $1", "a").Scan(&v)
		return v, err
	}
	if v, err := query(); err != nil || v != "b" {
		t.Fatalf("query = %q, %v; want \"b\", nil", v, err)
	}
	p.Stop()
	if _, err := query(); err == nil {
		t.Fatal("query succeeded with the server stopped")
	}
	p.Start()
	t.Logf("postgres restarted in %v", p.StartupTime())
	if v, err := query(); err != nil || v != "b" {
		t.Fatalf("after restart: query = %q, %v; want \"b\", nil", v, err)
	}
}

func TestMariaDB(t *testing.T) {
	m := StartMariaDB(t)
	t.Logf("mariadb started in %v", m.StartupTime())
	m.Exec(t, "CREATE TABLE t (k varchar(64) PRIMARY KEY, v text)", "INSERT INTO t VALUES ('a', 'b')")
	query := func() (string, error) {
		db, err := sql.Open("mysql", m.DSN())
		if err != nil {
			return "", err
		}
		defer db.Close()
		var v string
		err = db.QueryRow("SELECT v FROM t WHERE k = ?", "a").Scan(&v)
		return v, err
	}
	if v, err := query(); err != nil || v != "b" {
		t.Fatalf("query = %q, %v; want \"b\", nil", v, err)
	}
	m.Stop()
	if _, err := query(); err == nil {
		t.Fatal("query succeeded with the server stopped")
	}
	m.Start()
	t.Logf("mariadb restarted in %v", m.StartupTime())
	if v, err := query(); err != nil || v != "b" {
		t.Fatalf("after restart: query = %q, %v; want \"b\", nil", v, err)
	}
}
