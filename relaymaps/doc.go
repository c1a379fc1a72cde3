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
//
// Values are opaque strings: "DUNNO", "OK" or "REJECT" mean nothing here.
// Keys are folded to lower case by every table of this package. Fixed
// tables (IsFixed) are also asked the partial keys Postfix derives; pattern
// tables (cidr) only the full key.
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
// # Postfix parameters and formats covered
//
// mynetworks, relay_domains, mydestination, virtual_alias_domains,
// parent_domain_matches_subdomains, recipient_delimiter,
// owner_request_special; access(5), virtual(5) and cidr_table(5) table
// formats; static, inline, texthash and unionmap tables.
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
//   - An address without "@" gives AccessAddressKeys "user+ext", "user",
//     "user+ext@", "user@"; Postfix only looks up fully qualified addresses,
//     so qualify addresses (with $myorigin) before deriving keys.
package relaymaps
