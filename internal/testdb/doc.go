// Package testdb starts real database servers on the loopback interface
// for tests: PostgreSQL (StartPostgres) and MariaDB (StartMariaDB), each
// in a fresh temporary directory, listening on 127.0.0.1 and a free port,
// so that the system's own servers (if any) are never touched.
//
// RequirePostgres and RequireMariaDB skip a test when the server binaries
// are missing and fail it when the environment variable CI is "true", so
// that a CI run can never pass by skipping. On Debian 12 the binaries come
// from the packages postgresql (initdb and postgres under
// /usr/lib/postgresql/15/bin) and mariadb-server (mariadb-install-db and
// /usr/sbin/mariadbd). When the tests run as root, the servers run as the
// "postgres" and "mysql" users those packages create (PostgreSQL refuses
// to run as root).
//
// Each server gets a parent-death signal, so a test binary that dies
// without cleaning up takes its servers with it. Stop and Start stop and
// restart a server on the same port with the same data, for tests of
// outages and recovery.
package testdb
