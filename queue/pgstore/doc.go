// Package pgstore keeps mxkit's queue in PostgreSQL, so that several queue
// runners (processes, machines) can share one queue. Store implements
// queue.Store and queue.Leaser; it works with any PostgreSQL from 12 on,
// through a pgx connection pool (github.com/jackc/pgx/v5/pgxpool).
//
// # Responsibility after 250
//
// RFC 5321 §4.2.5 and §6.1: after the 250 reply to the end of DATA the
// server is responsible for the message and must not lose it. Put returns
// nil only after the transaction that inserted the envelope and the body
// has committed; the SMTP server sends 250 only then, and answers an error
// (database down, connection lost, body too large) with a 4xx, so the
// client keeps the message and retries. Every other change (Update,
// Delete, Release, Finish, Lease, Renew) is likewise one transaction,
// durable when the method returns nil.
//
// Committed means durable only if the server's commit is: with
// synchronous_commit=off PostgreSQL acknowledges a commit before its WAL
// record is on disk, and a crash of the database server loses the last
// transactions — messages the client already got 250 for. Store therefore
// sets synchronous_commit=on for its own write transactions when the
// session has it off (SET LOCAL semantics; other values such as
// remote_apply are left alone). It cannot repair fsync=off, which loses
// data in a machine crash; Open logs a warning when the server runs so.
//
// If the connection breaks during COMMIT the outcome is unknown: Put
// returns an error although the message may have been stored, so the
// client's retry may create a duplicate. Never a loss; Postfix has the
// same window.
//
// # Why the body is in the database
//
// Bodies are stored in the database (table PREFIX_body, bytea), inserted
// in the same transaction as the envelope. Keeping them on shared storage
// (NFS, an object store) would add a second failure domain and a second
// commit protocol between two systems that can fail independently,
// with orphaned or missing bodies to repair after every crash. The cost:
// Put reads the body into memory, Body returns it from memory, and a body
// is limited to Options.MaxBodySize (at most 1 GiB, PostgreSQL's limit for
// one value; Postfix's message_size_limit default is 10 MB).
//
// # Schema
//
// Open creates, if missing, in the current schema (search_path), inside
// one transaction holding an advisory lock derived from the prefix, so
// that nodes starting at once do not race:
//
//	PREFIX_schema  one row: version (SchemaVersion), creation time
//	PREFIX_msg     id text COLLATE "C" PRIMARY KEY, version, envelope text,
//	               hold, next_attempt, size, lease_owner, lease_until, created
//	PREFIX_body    id (references PREFIX_msg ON DELETE CASCADE), body bytea
//
// The envelope is the JSON form of queue.Message, as the spool writes it;
// text, not jsonb, because jsonb rejects the \u0000 escape a reply text
// from a remote server could contain. The columns hold, size and
// next_attempt are the truth for Message.Hold, Size and the Due order;
// the envelope keeps NextAttempt with nanoseconds. Open refuses tables
// whose recorded schema version is newer than SchemaVersion; Lease skips
// messages whose envelope version is newer than queue.MessageVersion
// (written by a newer runner during a rolling upgrade) and Get reports
// them as an error.
//
// # Leases
//
// Lease claims due messages with UPDATE ... WHERE id IN (SELECT ... ORDER
// BY next_attempt, id LIMIT n FOR UPDATE SKIP LOCKED) RETURNING ..., so
// concurrent runners never block on, or receive, the same message. A lease
// ends at lease_until, computed and compared with the database server's
// clock (now()), so runners need not agree on the time; due-ness is judged
// by the now the caller passes. Release, Finish and Renew act only while
// lease_owner is the caller and lease_until has not passed; an expired
// lease counts as lost even if no other runner has taken the message yet.
// Release leaves the hold column alone, so an administrator's hold during
// a delivery attempt wins. Update and Delete are administrator actions and
// ignore leases; the runner then gets queue.ErrLeaseLost (and, for a
// deleted message, queue.ErrNotFound) from Release and Finish.
//
// # Known divergences and limits
//
//   - next_attempt has microsecond precision: Due and Lease compare
//     truncated times, so a message may be due up to 1µs early, and
//     messages due within the same microsecond are ordered by ID only.
//   - Due ignores leases (it reports what is due, leased or not); runners
//     sharing the queue use Lease.
//   - An envelope that does not parse is found when read, not at open as
//     in the spool: Lease logs it and puts the message on hold (the
//     spool's quarantine), Due logs and skips it, and Get and List fail
//     with an error naming the table and the row.
//   - Postfix's queue directories and queue_directory have no equivalent;
//     hold is a column, deferral is next_attempt. Retry policy
//     (minimal_backoff_time, maximal_queue_lifetime, ...) is the
//     scheduler's, not the store's.
package pgstore
