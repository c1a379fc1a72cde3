// Package postfixconf reads Postfix main.cf files: the syntax of
// postconf(5), $name expansion, Postfix's built-in defaults, typed
// values, and the list and "type:table" syntax that parameter values use.
// It does no I/O beyond reading the file, opens no tables and imports no
// other mxkit package. It is internal to the optional main.cf layer that
// lets a Postfix operator bring an existing configuration to mxkit:
// users call smtppolicy/postfix (Load, Parse, Options.Overrides), which
// parses main.cf with this package.
//
// # main.cf syntax (postconf(5) "SYNTAX", readlline(3), split_nameval(3))
//
//   - Each logical line is "name = value"; whitespace around "=" and at
//     the end is ignored. The name is the text up to the first blank or
//     "="; names outside [A-Za-z0-9_] are accepted with a warning.
//   - Empty lines, whitespace-only lines and lines whose first
//     non-whitespace character is "#" are ignored, also in the middle of a
//     multi-line value. "#" after other text is not a comment.
//   - A line that starts with whitespace continues the logical line
//     before it. Continuation lines are joined as Postfix joins them: the
//     line break is dropped and the leading whitespace kept, so the value
//     "a,\n    b" reads "a,    b". A continuation line with no line before
//     it is ignored with a warning.
//   - A later definition overrides an earlier one; Definitions returns
//     both, and a warning notes the override when the values differ.
//   - Lines that are not "name = value" are errors naming file and line:
//     main.cf:12: missing '=' after parameter name: "mydomain example.com".
//
// # Expansion
//
// Get and Expand implement $name, ${name}, $(name), ${name?text},
// ${name:text}, the Postfix 3.0 forms ${name?{text1}:{text2}} and
// ${{a} == {b} ? {t1} : {t2}} with ==, !=, <, <=, >=, > and the "level"
// suffix that compares compatibility levels (used by Postfix's own
// defaults), and $$. Undefined names expand to empty and add a warning.
// Reference loops are errors naming the parameters
// ("parameter expansion loop: a -> b -> a").
//
// # Defaults
//
// Defaults holds the built-in default of each of Postfix's parameters
// (826 of them, from postconf -d of Postfix 3.7.11, with the 3.9 values of
// smtpd_forbid_unauth_pipelining and smtpd_forbid_bare_newline).
// Defaults that depend on compatibility_level stay as Postfix's
// conditional expressions, so a main.cf without compatibility_level gets
// Postfix's level-0 behaviour (relay_domains = $mydestination,
// smtpd_relay_restrictions empty, ...), as Postfix does. myhostname,
// mydomain and mynetworks, which Postfix computes from the host, are empty
// for the caller to set. mail_name keeps Postfix's default ("Postfix");
// package smtppolicy/postfix, which builds a server, defaults it to
// "mxkit".
//
// Parameters covered by name in this package: compatibility_level,
// config_directory (set from the file's directory by ParseFile), and the
// time units of the parameters whose bare numbers are hours or days
// (delay_warning_time, maximal_queue_lifetime, ...).
//
// # Known divergences and limits
//
//   - master.cf is not read: per-service "-o name=value" overrides are
//     the caller's to apply with Set, and parameters that Postfix derives
//     from master.cf service names (smtp_destination_concurrency_limit
//     and the like) have no default here.
//   - "postconf -o", -e, -X, -# and the other editing modes of postconf(1)
//     are not implemented; Set is the in-memory equivalent of -o.
//   - Only the chosen branch of a conditional is checked for syntax, as in
//     Postfix's daemons; postconf(1) checks both.
//   - The expansion is capped at 1 MiB of output and 100000 macro
//     evaluations; Postfix has no such caps.
//   - Comparisons of all-digit operands of any length are numeric; Postfix
//     stops with a fatal error on numbers beyond a C long.
//   - A "\r" at the end of a line is dropped (Postfix keeps it inside
//     multi-line values).
//   - Bool accepts true and false besides yes and no.
//   - Size takes plain numbers only, as Postfix does: no k/m/g suffixes.
//   - Unused reports names that are neither Postfix parameters nor
//     referenced from other values; names used only in master.cf are
//     reported too.
package postfixconf
