// Package relaymaps holds Postfix-style lookup tables, match lists and the
// key derivations that Postfix applies when it searches them.
//
// # Tables
//
// A Map answers Lookup(ctx, key) with a value, found or not, or an error
// (ErrTemporary: 451 4.3.0; ErrConfig: 451 4.3.5). Open builds one from a
// Postfix "type:name" spec; Register adds types (SQL, socketmap and regexp
// tables plug in there without changes to Open). Built in:
//
//	static:VALUE, static:{ text }   every key found, value VALUE (dict_static)
//	inline:{ k=v, { k = text } }    in-memory fixed table (Postfix 3.0)
//	cidr:/path, cidr:{ {rule} }     cidr_table(5), with !pattern and if/endif (3.2), inline form (3.7)
//	texthash:/path                  access(5)/virtual(5) source text, reloaded when it changes
//	hash:, btree:, lmdb:, cdb:, dbm:  aliases of texthash: the SOURCE file is read
//	unionmap:{ type:name, ... }     all members' values joined with "," (Postfix 3.0)
//	socketmap:inet:host:port:name, socketmap:unix:/path:name   socketmap_table(5) client
//	regexp:/path, regexp:{ {rule} }  regexp_table(5) with RE2 syntax (see RegexpTable), keys not folded
//	pgsql:/path, mysql:/path, sqlite:/path  pgsql_table(5), mysql_table(5), sqlite_table(5) (see SQLTable),
//	                                 when their driver package is imported (below)
//
// SQL tables (SQLTable, OpenSQL) read Postfix's *_table(5) file (hosts,
// user, password, dbname or dbpath, query, result_format, domain,
// expansion_limit, idle_interval, retry_interval, plus timeout and
// max_connections) and run the query as a parameterized statement: each
// %s %u %d %S %U %D %1..%9 becomes a placeholder, and a quoted literal
// holding expansions ('%u@%d') becomes one placeholder with the literal's
// text, so keys are never spliced into SQL. Importing relaymaps links no
// database driver: each SQL type is registered (RegisterSQL) by a
// subpackage imported for its side effect, as database/sql drivers are:
// relaymaps/pgsql (pgx: PostgreSQL), relaymaps/mysql
// (go-sql-driver/mysql: MySQL, MariaDB) and relaymaps/sqlite
// (modernc.org/sqlite, pure Go, the file opened read-only); without it,
// Open names the package to import. Package smtppolicy/postfix imports
// all three, so SQL tables in main.cf work. Each host has a database/sql pool; each query
// has a deadline (timeout, default 10s). All columns of all rows are
// joined with ","; NULLs and empty values are skipped. A database that is
// down or slow gives ErrTemporary, never "not found", and the next lookup
// reconnects; bad SQL, missing tables and denied access give ErrConfig.
//
// Socketmap is a socketmap client (netstring "name key" requests on pooled
// persistent connections; TEMP and TIMEOUT replies are ErrTemporary, PERM
// ErrConfig; Postfix's 10000-byte query and 100000-byte reply limits; a
// broken connection retried once). It sends keys unfolded, as Postfix does
// for pattern tables. SocketmapServer serves any Map to Postfix: an unknown
// socketmap name is answered "PERM unknown map NAME", and keys reach the
// table as Postfix sent them.
//
// NewCache wraps any Map in a cache: TTL and negative TTL, a size bound
// (least recently used first), one table lookup for many concurrent misses,
// errors never cached, and an OnLookup hook for metrics.
//
// Values are opaque strings: "DUNNO", "OK" or "REJECT" mean nothing here.
// Keys are folded to lower case by every table of this package (except
// socketmap, whose server decides). Fixed tables (IsFixed) are also asked
// the partial keys Postfix derives; pattern tables (cidr, socketmap) only
// the full key.
//
// # Match lists
//
// DomainList (relay_domains, mydestination, virtual_alias_domains,
// virtual_mailbox_domains) and HostList (mynetworks,
// permit_mx_backup_networks) implement Postfix match lists: entries
// separated by commas or whitespace, first match wins, "!pattern" excludes,
// "/file/name" inlines a file, "type:table" matches when the table finds
// the key. parent_domain_matches_subdomains is the
// ParentMatchesSubdomains field (on by default, as for relay_domains and
// mynetworks; turn it off for mydestination).
//
// # Key derivation
//
// HostKeys and AddrKeys (check_client_access, check_helo_access),
// AccessAddressKeys (check_sender_access, check_recipient_access: access(5)
// "user+ext@domain, user@domain, domain, parents, user+ext@, user@") and
// RecipientKeys (mail_addr_find: relay_recipient_maps, virtual_alias_maps,
// local_recipient_maps) derive keys; Find searches a list of tables with
// them, each key going to every table before the next key is tried.
// Extensions follow recipient_delimiter (a set: "+-" means '+' or '-') and
// owner_request_special=yes (owner-* and *-request are not split when '-'
// is a delimiter; postmaster, mailer-daemon and double-bounce never are).
//
// ExpandVirtual performs virtual(5) alias expansion (recursive, bounded
// by virtual_alias_recursion_limit and virtual_alias_expansion_limit,
// unmatched extensions propagated); ValidRecipient is the
// relay_recipient_maps check. TransportKeys and ParseTransport cover
// transport(5) keys and values; ParseTLSPolicy parses
// smtp_tls_policy_maps values and fails closed.
//
// # Postfix parameters and formats covered
//
// mynetworks, relay_domains, mydestination, virtual_alias_domains,
// parent_domain_matches_subdomains, recipient_delimiter,
// owner_request_special; access(5), virtual(5), cidr_table(5),
// pgsql_table(5), mysql_table(5) and sqlite_table(5) table formats;
// static, inline, texthash and unionmap tables.
//
// # Divergences from Postfix
//
//   - Berkeley DB, LMDB, CDB and DBM files are never read: "hash:/etc/postfix/access"
//     reads the text file /etc/postfix/access that postmap would compile.
//   - File tables reload themselves when the file changes (checked at most
//     once per second, during lookups); Postfix daemons re-open tables
//     only when they restart. A file that fails to parse keeps the old
//     contents.
//   - Malformed table lines are errors that refuse the whole table
//     (*SyntaxError, "relaymaps: /path:LINE: message"); Postfix logs a
//     warning and skips the line. This covers cidr host bits, bad
//     addresses, unbalanced if/endif, keys without values and indented
//     first lines.
//   - A leading zero in an IPv4 octet of a cidr pattern is an error;
//     cidr_table(5) documents it as octal but inet_pton rejects it.
//   - Duplicate keys in a text table keep the first entry and log a
//     warning (postmap's default); inline tables keep the last, as Postfix.
//   - In match lists, ".example.com" matches subdomains also when parent
//     matching is on (Postfix's match_hostname then matches nothing with
//     it); a "#" word starts a comment to the end of the line (Postfix
//     ignores the rest of the whole list with a warning); an unbracketed
//     IPv6 address or network is accepted in a HostList; "{...}" braces
//     group a table spec such as "inline:{a=b, c=d}" into one entry.
//   - Address literals ("[192.0.2.1]") get no parent-domain keys.
//   - regexp tables use Go's RE2 syntax and leftmost-first submatches, not
//     POSIX regcomp(3); flag "x" (basic regular expressions) is rejected.
//     See RegexpTable.
//   - SQL tables: the legacy table/select_field/where_field/
//     additional_conditions/select_function parameters, mysql's
//     option_file, option_group and tls_* parameters and any unknown or
//     repeated parameter are errors naming file:line; expansions inside
//     quoted identifiers, comments, E-prefixed or dollar-quoted strings are
//     refused. Keys with a NUL byte or invalid UTF-8 are not found without
//     a query (Postfix keys have no NUL; Postfix with smtputf8_enable does
//     the same for invalid UTF-8). An exceeded expansion_limit is
//     ErrConfig (Postfix: temporary). "domain" is a DomainList without
//     parent matching, so ".example.com" entries match subdomains. A
//     PostgreSQL literal with expansions whose type the context does not
//     fix (SELECT '%d') needs a cast ('%d'::text). Hosts are tried in
//     random order, recently failed ones last but still tried.
//   - An address without "@" gives AccessAddressKeys "user+ext", "user",
//     "user+ext@", "user@"; Postfix only looks up fully qualified addresses,
//     so qualify addresses (with $myorigin) before deriving keys.
package relaymaps
