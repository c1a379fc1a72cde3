// Package queue is mxkit's store-and-forward queue: the Message (envelope,
// per-recipient state and the DSN parameters of RFC 3461), the Store
// interface that keeps messages durably, and Spool, the default store on a
// local disk. Package queuetest holds a conformance suite for other stores.
//
// # Responsibility after 250
//
// RFC 5321 §4.2.5 and §6.1: once a server has sent the 250 reply to the
// end of DATA it has accepted responsibility for the message and must not
// lose it, even if it crashes. The SMTP server therefore calls Store.Put
// and sends 250 only after Put returned nil; an error from Put (full disk,
// failing fsync) is answered with a 4xx, so the client keeps the message
// and retries. Postfix does the same: cleanup(8) fsyncs the queue file
// before smtpd(8) answers.
//
// # What durable means for Spool
//
// A Put writes the body and the envelope (JSON) to files in tmp/, fsyncs
// each file, renames them into msg/ (body first, envelope last: the
// envelope is the commit record), and fsyncs the msg directory so that the
// names survive a power loss. Concurrent Puts share the directory fsync
// (group commit): a committer goroutine runs one fsync for all writers that
// arrived while the previous one ran. Update writes a new envelope the same
// way and renames it over the old one; Delete removes the envelope, then
// the body, then fsyncs the directory.
//
// At OpenSpool everything a crash left behind is recovered: files in tmp/
// are removed (never delivered), a body without envelope is removed (its
// Put never succeeded), and an envelope without body or one that does not
// parse is moved to quarantine/ for a human; each action is logged.
//
// # Known divergences and limits
//
//   - A crash between the renames and the directory fsync, or a failed
//     directory fsync whose undo does not reach the disk, may make a
//     message the client got a 4xx for reappear: a possible duplicate,
//     never a loss. Postfix has the same window.
//   - Spool keeps all envelopes in memory (scanned once at open); Due sorts
//     the due ones on each call.
//   - Postfix's queue directories (incoming, active, deferred, hold) and
//     parameters such as queue_directory are not mirrored: hold is a flag,
//     deferral is Message.NextAttempt. Retry policy (minimal_backoff_time,
//     maximal_backoff_time, maximal_queue_lifetime, delay_warning_time) is
//     the scheduler's, not the store's.
package queue
