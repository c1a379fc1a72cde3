// Package tlsrptpg keeps TLS-RPT aggregates (tlsrpt.Store) in PostgreSQL,
// so that several MXs add their sessions to the same counts and one
// report per domain and day is sent, not one per MX. It works on any
// pgx pool, for instance the one of a queue/pgstore queue
// (pgstore.Store.Pool), with tables of its own.
//
// # Schema
//
// Open creates, if missing (CREATE TABLE IF NOT EXISTS, in one
// transaction under an advisory lock derived from the prefix, as
// queue/pgstore does):
//
//	PREFIX_schema  one row: version (SchemaVersion), creation time
//	PREFIX_day     (domain, day) primary key, sent_at, state (JSON: attempts,
//	               first and next attempt, rua done), created
//	PREFIX_count   (domain, day, key) primary key referencing PREFIX_day
//	               ON DELETE CASCADE; policy and failure as canonical JSON
//	               ("" for the successes), sessions
//
// key is the SHA-256 of the policy and failure JSON, so that long
// MTA-STS policies or TLSA sets stay within PostgreSQL's index row limit.
//
// # Sharing
//
// Add is one transaction that creates the day rows (ON CONFLICT DO
// NOTHING) and adds the counts (ON CONFLICT DO UPDATE SET sessions =
// sessions + EXCLUDED.sessions), in key order so that MXs adding to the
// same rows at once wait for each other but never deadlock. Claim is one
// transaction: SELECT ... FOR NO KEY UPDATE SKIP LOCKED on the day row
// where sent_at IS NULL (another MX sending the same report makes it
// return false at once; NO KEY so that concurrent Adds' foreign key
// checks do not wait), the counts, the caller's function (which sends),
// and the new state and sent_at. A crash while sending rolls back and
// releases the lock: the report is sent again later, possibly twice
// (when the crash came after the delivery), never lost.
//
// What Claim reads back is checked (tlsrpt.Aggregate.Check); a row that
// does not parse makes Claim fail with an error naming the table.
package tlsrptpg
