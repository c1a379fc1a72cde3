package testdb

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/mxkit/mxkit/internal/testproc"
)

// User and database created in every instance.
const (
	myUser     = "mxkit"
	myPassword = "mxkit-test-pw"
	myDatabase = "mxkit"
)

// MariaDBAvailable reports why StartMariaDB cannot work here, or nil.
func MariaDBAvailable() error {
	_, _, _, err := mariadbSetup()
	return err
}

func mariadbSetup() (install, server string, a account, err error) {
	if install, err = findBinary([]string{"mariadb-install-db", "mysql_install_db"}, "/usr/bin", "/usr/local/bin"); err != nil {
		return
	}
	if server, err = findBinary([]string{"mariadbd", "mysqld"}, "/usr/sbin", "/usr/local/sbin", "/usr/libexec"); err != nil {
		return
	}
	a, err = serviceAccount("mysql")
	return
}

// RequireMariaDB skips the test when MariaDB's (or MySQL's) server
// binaries are missing, or fails it when the environment variable CI is
// "true".
func RequireMariaDB(t testing.TB) {
	t.Helper()
	testproc.Require(t, "MariaDB", MariaDBAvailable())
}

// MariaDB is a MariaDB server started for one test.
type MariaDB struct {
	server
	// Host and Port are the TCP address the server listens on
	// (127.0.0.1 only).
	Host string
	Port int
	// Socket is the server's Unix-domain socket.
	Socket string
	// User and Password name an account (User@'%') with all privileges
	// on the database DBName.
	User, Password, DBName string

	bin     string
	dir     string
	dataDir string
	acct    account
}

// StartMariaDB initialises a data directory in a fresh temporary
// directory (mariadb-install-db), starts mariadbd with its --datadir and
// --socket there and --port on 127.0.0.1 (as the "mysql" user when the
// test runs as root), waits until it answers queries and creates the
// account User and the database DBName. No option file is read
// (--no-defaults). The server is stopped and its directory removed when
// the test ends; its log is printed if the test failed.
func StartMariaDB(t testing.TB) *MariaDB {
	t.Helper()
	RequireMariaDB(t)
	install, bin, a, _ := mariadbSetup()
	dir := tempDir(t, "mxkit-my-", a)
	m := &MariaDB{
		server: server{t: t, logPath: filepath.Join(dir, "mariadb.log")},
		Host:   "127.0.0.1",
		Socket: filepath.Join(dir, "mysqld.sock"),
		User:   myUser, Password: myPassword, DBName: myDatabase,
		bin: bin, dir: dir, dataDir: filepath.Join(dir, "data"), acct: a,
	}
	t.Cleanup(m.cleanup)
	cmd := a.command(nil, install, "--no-defaults", "--datadir="+m.dataDir,
		"--auth-root-authentication-method=normal", "--skip-test-db", "--skip-name-resolve")
	cmd.Dir = dir
	if err := run(cmd); err != nil {
		t.Fatalf("testdb: mariadb-install-db: %v", err)
	}
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	m.Port = port
	if err := m.start(); err != nil {
		t.Fatalf("testdb: start mariadbd: %v", err)
	}
	if err := m.rootExec(
		"CREATE DATABASE "+myDatabase+" CHARACTER SET utf8mb4 COLLATE utf8mb4_bin",
		fmt.Sprintf("CREATE USER '%s'@'%%' IDENTIFIED BY '%s'", myUser, myPassword),
		fmt.Sprintf("GRANT ALL ON %s.* TO '%s'@'%%'", myDatabase, myUser),
	); err != nil {
		t.Fatalf("testdb: mariadb setup: %v", err)
	}
	return m
}

// Config returns a go-sql-driver/mysql configuration for User on DBName
// over TCP.
func (m *MariaDB) Config() *mysql.Config {
	c := mysql.NewConfig()
	c.Net, c.Addr = "tcp", m.Host+":"+strconv.Itoa(m.Port)
	c.User, c.Passwd, c.DBName = m.User, m.Password, m.DBName
	c.Timeout = 5 * time.Second
	return c
}

// DSN returns Config as a go-sql-driver/mysql DSN.
func (m *MariaDB) DSN() string { return m.Config().FormatDSN() }

// Exec runs SQL statements as User in DBName, failing the test on error.
func (m *MariaDB) Exec(t testing.TB, stmts ...string) {
	t.Helper()
	if err := execAll(m.DSN(), stmts); err != nil {
		t.Fatalf("testdb: %v", err)
	}
}

func (m *MariaDB) rootExec(stmts ...string) error {
	c := mysql.NewConfig()
	c.Net, c.Addr, c.User = "unix", m.Socket, "root"
	c.Timeout = 5 * time.Second
	return execAll(c.FormatDSN(), stmts)
}

func execAll(dsn string, stmts []string) error {
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, s := range stmts {
		if _, err := db.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("%q: %w", s, err)
		}
	}
	return nil
}

func (m *MariaDB) start() error {
	log, err := openLog(m.logPath, m.acct)
	if err != nil {
		return err
	}
	defer log.Close()
	// The server runs as the mysql user from the start (rather than
	// with --user=mysql) so that its parent-death signal survives.
	cmd := m.acct.command(log, m.bin, "--no-defaults",
		"--datadir="+m.dataDir, "--socket="+m.Socket,
		"--port="+strconv.Itoa(m.Port), "--bind-address=127.0.0.1",
		"--pid-file="+filepath.Join(m.dir, "mysqld.pid"),
		"--skip-name-resolve", "--skip-log-bin", "--innodb-buffer-pool-size=16M",
		"--innodb-flush-log-at-trx-commit=0", "--innodb-doublewrite=0",
		"--character-set-server=utf8mb4", "--collation-server=utf8mb4_bin",
		"--max-connections=100")
	cmd.Dir = m.dir
	began := time.Now()
	proc, err := start(cmd, syscall.SIGKILL)
	if err != nil {
		return err
	}
	m.mu.Lock()
	m.proc = proc
	m.mu.Unlock()
	if err := proc.waitReady(func() error { return m.rootExec("SELECT 1") }); err != nil {
		_ = proc.stop(syscall.SIGKILL)
		return fmt.Errorf("%w\n%s", err, m.Log())
	}
	m.mu.Lock()
	m.started = time.Since(began)
	m.mu.Unlock()
	return nil
}

// Stop shuts the server down (SIGTERM) and waits until it has exited. The
// data stays; Start starts it again.
func (m *MariaDB) Stop() {
	m.t.Helper()
	m.mu.Lock()
	proc := m.proc
	m.proc = nil
	m.mu.Unlock()
	if err := proc.stop(syscall.SIGTERM); err != nil {
		m.t.Errorf("testdb: stop mariadbd: %v", err)
	}
}

// Start starts a stopped server again on the same port and data.
func (m *MariaDB) Start() {
	m.t.Helper()
	m.mu.Lock()
	running := m.proc != nil
	m.mu.Unlock()
	if running {
		return
	}
	if err := m.start(); err != nil {
		m.t.Fatalf("testdb: restart mariadbd: %v", err)
	}
}

func (m *MariaDB) cleanup() {
	m.mu.Lock()
	proc := m.proc
	m.proc = nil
	m.mu.Unlock()
	if err := proc.stop(syscall.SIGTERM); err != nil {
		m.t.Errorf("testdb: stop mariadbd: %v", err)
	}
	m.logOnFailure()
}
