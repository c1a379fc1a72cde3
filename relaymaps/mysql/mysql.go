// Package mysql registers the mysql: table type of package relaymaps
// (Postfix's mysql_table(5)) with the driver github.com/go-sql-driver/mysql.
// Import it for its side effect:
//
//	import _ "github.com/mxkit/mxkit/relaymaps/mysql"
//
// It serves MySQL and MariaDB. Connections use utf8mb4, so that any valid
// UTF-8 key reaches the server intact; the file's timeout is the connect,
// read and write timeout.
package mysql

import (
	"database/sql"
	"errors"
	"net"
	"strconv"

	"github.com/go-sql-driver/mysql"

	"github.com/mxkit/mxkit/relaymaps"
)

func init() {
	relaymaps.RegisterSQL("mysql", relaymaps.SQLDriver{Open: open, Permanent: permanent})
}

func open(c relaymaps.SQLConnect) (*sql.DB, error) {
	network, addr, port, err := relaymaps.SplitSQLHost(c.Host, 3306)
	if err != nil {
		return nil, err
	}
	mc := mysql.NewConfig()
	mc.Net, mc.Addr = network, addr
	if network == "tcp" {
		mc.Addr = net.JoinHostPort(addr, strconv.Itoa(port))
	}
	mc.User, mc.Passwd, mc.DBName = c.User, c.Password, c.DBName
	mc.Timeout, mc.ReadTimeout, mc.WriteTimeout = c.Timeout, c.Timeout, c.Timeout
	if err := mc.Apply(mysql.Charset("utf8mb4", "")); err != nil {
		return nil, err
	}
	conn, err := mysql.NewConnector(mc)
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(conn), nil
}

// permanent reports the server errors that are the query's or the
// configuration's fault: access denied, unknown database, table or
// column, syntax, and the like.
func permanent(err error) bool {
	var e *mysql.MySQLError
	if !errors.As(err, &e) {
		return false
	}
	switch e.Number {
	case 1044, 1045, 1049, 1052, 1054, 1064, 1109, 1142, 1143, 1146, 1149,
		1210, 1222, 1241, 1242, 1267, 1270, 1271, 1305, 1370, 1698:
		return true
	}
	return false
}
