package testdb

import (
	"context"
	"fmt"
	"net/url"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mxkit/mxkit/internal/testproc"
)

// PostgreSQL's binary directories on Debian (postgresql-NN packages).
const postgresBinGlob = "/usr/lib/postgresql/*/bin"

// Role and database created in every instance.
const (
	pgUser     = "mxkit"
	pgPassword = "mxkit-test-pw"
	pgDatabase = "mxkit"
)

// PostgresAvailable reports why StartPostgres cannot work here, or nil.
func PostgresAvailable() error {
	_, _, _, err := postgresSetup()
	return err
}

func postgresSetup() (initdb, postgres string, a account, err error) {
	if initdb, err = findBinary([]string{"initdb"}, postgresBinGlob); err != nil {
		return
	}
	if postgres, err = findBinary([]string{"postgres"}, filepath.Dir(initdb), postgresBinGlob); err != nil {
		return
	}
	a, err = serviceAccount("postgres")
	return
}

// RequirePostgres skips the test when PostgreSQL's server binaries are
// missing, or fails it when the environment variable CI is "true".
func RequirePostgres(t testing.TB) {
	t.Helper()
	testproc.Require(t, "PostgreSQL", PostgresAvailable())
}

// Postgres is a PostgreSQL server started for one test.
type Postgres struct {
	server
	// Host and Port are the TCP address the server listens on
	// (127.0.0.1 only).
	Host string
	Port int
	// SocketDir holds the server's Unix-domain socket.
	SocketDir string
	// User, Password and DBName name a role that owns the database
	// DBName; the role logs in over TCP with SCRAM-SHA-256.
	User, Password, DBName string

	bin     string
	dataDir string
	acct    account
}

// StartPostgres initialises a cluster in a fresh temporary directory
// (initdb), starts "postgres -D DIR -k DIR -c listen_addresses=127.0.0.1
// -p PORT" (as the "postgres" user when the test runs as root, since
// PostgreSQL refuses to run as root), waits until it answers queries and
// creates the role User and the database DBName. The server is stopped and
// its directory removed when the test ends; its log is printed if the test
// failed.
func StartPostgres(t testing.TB) *Postgres {
	t.Helper()
	RequirePostgres(t)
	initdb, bin, a, _ := postgresSetup()
	dir := tempDir(t, "mxkit-pg-", a)
	p := &Postgres{
		server:    server{t: t, logPath: filepath.Join(dir, "postgres.log")},
		Host:      "127.0.0.1",
		SocketDir: dir,
		User:      pgUser, Password: pgPassword, DBName: pgDatabase,
		bin: bin, dataDir: filepath.Join(dir, "data"), acct: a,
	}
	t.Cleanup(p.cleanup)
	cmd := a.command(nil, initdb, "-D", p.dataDir, "-U", "postgres", "-A", "trust",
		"--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C", "-N")
	cmd.Dir = dir
	if err := run(cmd); err != nil {
		t.Fatalf("testdb: initdb: %v", err)
	}
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	p.Port = port
	if err := p.start(); err != nil {
		t.Fatalf("testdb: start postgres: %v", err)
	}
	if err := p.superExec("postgres",
		fmt.Sprintf("CREATE ROLE %s LOGIN PASSWORD '%s'", pgUser, pgPassword),
		fmt.Sprintf("CREATE DATABASE %s OWNER %s", pgDatabase, pgUser),
	); err != nil {
		t.Fatalf("testdb: postgres setup: %v", err)
	}
	return p
}

// DSN returns a URL for pgx and libpq: the role User on DBName over TCP,
// without TLS.
func (p *Postgres) DSN() string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(p.User, p.Password),
		Host:     p.Host + ":" + strconv.Itoa(p.Port),
		Path:     "/" + p.DBName,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// Exec runs SQL statements as User in DBName, failing the test on error.
func (p *Postgres) Exec(t testing.TB, stmts ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, p.DSN())
	if err != nil {
		t.Fatalf("testdb: connect: %v", err)
	}
	defer conn.Close(ctx)
	for _, s := range stmts {
		if _, err := conn.Exec(ctx, s); err != nil {
			t.Fatalf("testdb: %q: %v", s, err)
		}
	}
}

// superExec runs statements as the superuser over the Unix socket.
func (p *Postgres) superExec(db string, stmts ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, p.superDSN(db))
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	for _, s := range stmts {
		if _, err := conn.Exec(ctx, s); err != nil {
			return fmt.Errorf("%q: %w", s, err)
		}
	}
	return nil
}

func (p *Postgres) superDSN(db string) string {
	return fmt.Sprintf("host=%s port=%d user=postgres dbname=%s sslmode=disable connect_timeout=5", p.SocketDir, p.Port, db)
}

func (p *Postgres) start() error {
	log, err := openLog(p.logPath, p.acct)
	if err != nil {
		return err
	}
	defer log.Close()
	cmd := p.acct.command(log, p.bin, "-D", p.dataDir, "-k", p.SocketDir,
		"-c", "listen_addresses=127.0.0.1", "-p", strconv.Itoa(p.Port),
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "max_connections=100", "-c", "shared_buffers=16MB")
	cmd.Dir = p.SocketDir
	began := time.Now()
	// SIGQUIT is PostgreSQL's immediate shutdown.
	proc, err := start(cmd, syscall.SIGQUIT)
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.proc = proc
	p.mu.Unlock()
	if err := proc.waitReady(func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, p.superDSN("postgres"))
		if err != nil {
			return err
		}
		return conn.Close(ctx)
	}); err != nil {
		_ = proc.stop(syscall.SIGQUIT)
		return fmt.Errorf("%w\n%s", err, p.Log())
	}
	p.mu.Lock()
	p.started = time.Since(began)
	p.mu.Unlock()
	return nil
}

// Stop shuts the server down (fast shutdown: clients are disconnected)
// and waits until it has exited. The data stays; Start starts it again.
func (p *Postgres) Stop() {
	p.t.Helper()
	p.mu.Lock()
	proc := p.proc
	p.proc = nil
	p.mu.Unlock()
	if err := proc.stop(syscall.SIGINT); err != nil {
		p.t.Errorf("testdb: stop postgres: %v", err)
	}
}

// Start starts a stopped server again on the same port and data.
func (p *Postgres) Start() {
	p.t.Helper()
	p.mu.Lock()
	running := p.proc != nil
	p.mu.Unlock()
	if running {
		return
	}
	if err := p.start(); err != nil {
		p.t.Fatalf("testdb: restart postgres: %v", err)
	}
}

func (p *Postgres) cleanup() {
	p.mu.Lock()
	proc := p.proc
	p.proc = nil
	p.mu.Unlock()
	if err := proc.stop(syscall.SIGINT); err != nil {
		p.t.Errorf("testdb: stop postgres: %v", err)
	}
	p.logOnFailure()
}
