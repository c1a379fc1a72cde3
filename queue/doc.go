// Package queue is mxkit's store-and-forward queue: the Message (envelope,
// per-recipient state and the DSN parameters of RFC 3461), the Store
// interface that keeps messages durably (Spool, the default store on a
// local disk; package pgstore for several machines sharing PostgreSQL;
// package queuetest, a conformance suite for other stores), the
// scheduler Queue that delivers through Deliverers (package deliver has
// SMTP, LMTP, maildir, error, retry and discard), and the delivery status
// notifications of RFC 3464.
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
// A Put writes one file in tmp/ (a fixed-width header line, the envelope
// as JSON, then the content as received), renames it into msg/, and waits
// for a group commit that makes the file and its name survive a power
// loss: a committer goroutine runs one commit for all writers that
// arrived while the previous one ran. On Linux the commit is one
// syncfs(2) of the spool's file system, which flushes every written file
// and name at once (so a Put needs no fsync of its own); elsewhere, or
// with SpoolOptions.FileSync, each Put fsyncs its file and the commit is
// an fsync of the msg directory. Update writes the new envelope to msg/ID.env the same
// way (tmp, fsync, rename, directory fsync); Delete removes the message
// file, then the envelope, and leaves the directory fsync to the next
// commit (at most LazyDeleteSync later): a power loss in between may bring
// a delivered message back, a duplicate, never a loss. The spool's lock
// file keeps a second process from opening the same spool.
//
// At OpenSpool everything a crash left behind is recovered: files in tmp/
// are removed (never delivered), an envelope without its message file
// (an interrupted Delete) is removed, and a message file that does not
// parse or is shorter than its header says is moved to quarantine/ for a
// human; each action is logged.
//
// # The scheduler
//
// Queue takes due messages from its Store (at once after Kick, else every
// Poll), routes each recipient (Router: transport(5) results; package
// queue/postfix builds one from main.cf), groups recipients by
// route, splits groups at Limit.Recipients and delivers each group with
// the route's Deliverer, at most Limit.Concurrency at a time per
// destination and Limit.RateDelay apart (Postfix's
// default_destination_concurrency_limit, default_destination_rate_delay
// and default_destination_recipient_limit; TransportLimits overrides them
// per transport). A destination that does not answer at all (every
// recipient deferred with 4.4.1 or 4.4.2 and no reply) is suspended for
// the minimal backoff time: the rest of its mail is deferred with
// "delivery temporarily suspended" without a connection attempt each,
// as Postfix does with a dead destination; Flush lifts suspensions.
//
// The retry schedule is data (Schedule): by default Postfix's rule, the
// next attempt after the message's age bounded by minimal_backoff_time
// (300 s) and maximal_backoff_time (4000 s), so the interval roughly
// doubles, with ±10 % jitter; or an explicit list of intervals. A message
// older than maximal_queue_lifetime (5 days; bounce_queue_lifetime for
// notifications) is returned to its sender. Delay warnings
// (delay_warning_time) are off by default, as in Postfix; one is sent per
// message. SoftBounce (soft_bounce = yes) turns every permanent failure
// into a temporary one and keeps expired mail: nothing is ever bounced.
// Hold, Release, Delete and Flush (everything, or one domain, as ETRN)
// are postsuper's and postqueue's operations; List shows the queue.
//
// When the store cannot record an attempt (full disk, lost database), the
// runner keeps the outcome in memory and writes it before it delivers
// the message again, so a storage fault does not repeat deliveries at
// every poll. A runner that stops (its context canceled) records what its
// deliveries achieved; an interrupted attempt is not counted and the
// message stays due. Several runners may share a Store that implements
// Leaser: each message is leased to one runner at a time and the lease
// expires if that runner dies; the work of a runner whose lease was lost
// is discarded, so only deliveries in flight when a runner dies may be
// repeated.
//
// # Notifications
//
// NewDSN writes RFC 3464 notifications (multipart/report, RFC 6522) with
// RFC 6533's global types for SMTPUTF8 messages. The scheduler sends a
// failure notice for bounced recipients with NOTIFY=FAILURE (or no
// NOTIFY), a delay notice when configured (NOTIFY=DELAY or none), and a
// success notice for NOTIFY=SUCCESS ("delivered" by lmtp, maildir,
// local, virtual, discard; "relayed" by other transports unless the next
// hop took the DSN parameters over). Notifications are never sent for a
// message with the null sender (RFC 3461 §6.2; RFC 5321 §4.5.5): its
// undeliverable recipients are logged and dropped. A failure notice
// returns the whole message for RET=FULL or no RET, up to
// DSNOptions.MaxReturned (bounce_size_limit, 50,000 bytes), else its
// header section; delay and success notices return headers only.
//
// # Known divergences and limits
//
//   - A crash between the rename and the directory fsync, or a failed
//     directory fsync whose undo does not reach the disk, may make a
//     message the client got a 4xx for reappear: a possible duplicate,
//     never a loss. Postfix has the same window.
//   - Spool keeps all envelopes in memory (about 1 kB per message,
//     scanned once at open); Due scans and sorts the due ones on each
//     call.
//   - Postfix's queue directories (incoming, active, deferred, hold) are
//     not mirrored: hold is a flag, deferral is Message.NextAttempt.
//     Postfix's queue_run_delay is replaced by Queue.Poll.
//   - A message waiting for a slot of a busy destination keeps its place
//     among the MaxActive (5000) messages in delivery: a backlog of more
//     than MaxActive messages for one slow destination delays the others
//     until it shrinks. Postfix's qmgr keeps up to 20,000 messages in
//     memory (qmgr_message_active_limit). A waiting message costs a
//     copy of its envelope and two parked goroutines.
//   - No postmaster copies of bounces (notify_classes,
//     bounce_notice_recipient), no double bounces, no bounce templates.
//   - On a store shared by several runners that does not implement
//     Rescheduler, Hold, Release and Flush write the envelope as the
//     administrator read it; a runner's attempt recorded in between is
//     then lost (a possible duplicate delivery, never a lost message).
//     Spool and pgstore implement Rescheduler.
package queue
