package queue

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
)

// MessageVersion is the envelope format version written by this package.
// Stores reject envelopes with a newer version instead of misreading them.
const MessageVersion = 1

// ErrNotFound is returned (possibly wrapped) when a message ID is not in the store.
var ErrNotFound = errors.New("queue: message not found")

// ErrClosed is returned by a store used after Close.
var ErrClosed = errors.New("queue: store closed")

// Status is the delivery state of one recipient. The zero value is Pending.
type Status int

// Recipient states.
const (
	Pending   Status = iota // not tried yet
	Delivered               // accepted by the next hop (or discarded on purpose)
	Bounced                 // failed permanently; a DSN may be due
	Deferred                // failed temporarily; will be retried
)

var statusNames = [...]string{"pending", "delivered", "bounced", "deferred"}

func (s Status) String() string {
	if s >= 0 && int(s) < len(statusNames) {
		return statusNames[s]
	}
	return fmt.Sprintf("Status(%d)", int(s))
}

// Done reports whether the recipient needs no further delivery attempt.
func (s Status) Done() bool { return s == Delivered || s == Bounced }

// MarshalText implements encoding.TextMarshaler.
func (s Status) MarshalText() ([]byte, error) {
	if s < 0 || int(s) >= len(statusNames) {
		return nil, fmt.Errorf("queue: invalid status %d", int(s))
	}
	return []byte(statusNames[s]), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *Status) UnmarshalText(b []byte) error {
	for i, n := range statusNames {
		if string(b) == n {
			*s = Status(i)
			return nil
		}
	}
	return fmt.Errorf("queue: unknown status %q", b)
}

// Notify holds the RFC 3461 §4.1 NOTIFY parameter of one recipient.
// The zero value means the client gave no NOTIFY parameter; RFC 3461 then
// lets the MTA behave as for NOTIFY=FAILURE,DELAY.
type Notify uint8

// NOTIFY flags. NotifyNever excludes the others.
const (
	NotifyNever Notify = 1 << iota
	NotifySuccess
	NotifyFailure
	NotifyDelay
)

// Has reports whether flag f is set, applying the RFC 3461 default
// (FAILURE,DELAY) when no NOTIFY parameter was given.
func (n Notify) Has(f Notify) bool {
	if n == 0 {
		return f == NotifyFailure || f == NotifyDelay
	}
	return n&f != 0
}

// String returns the parameter value as written in RCPT TO, e.g. "SUCCESS,FAILURE";
// "" when unset.
func (n Notify) String() string {
	if n&NotifyNever != 0 {
		return "NEVER"
	}
	var parts []string
	for _, p := range []struct {
		f Notify
		s string
	}{{NotifySuccess, "SUCCESS"}, {NotifyFailure, "FAILURE"}, {NotifyDelay, "DELAY"}} {
		if n&p.f != 0 {
			parts = append(parts, p.s)
		}
	}
	return strings.Join(parts, ",")
}

// MarshalText implements encoding.TextMarshaler.
func (n Notify) MarshalText() ([]byte, error) { return []byte(n.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler; it accepts the
// RFC 3461 syntax, case-insensitively. NEVER combined with another value is an error.
func (n *Notify) UnmarshalText(b []byte) error {
	v, err := ParseNotify(string(b))
	if err != nil {
		return err
	}
	*n = v
	return nil
}

// ParseNotify parses a NOTIFY parameter value such as "FAILURE,DELAY".
// The empty string yields 0 (no parameter).
func ParseNotify(s string) (Notify, error) {
	if s == "" {
		return 0, nil
	}
	var n Notify
	for p := range strings.SplitSeq(s, ",") {
		switch strings.ToUpper(strings.TrimSpace(p)) {
		case "NEVER":
			n |= NotifyNever
		case "SUCCESS":
			n |= NotifySuccess
		case "FAILURE":
			n |= NotifyFailure
		case "DELAY":
			n |= NotifyDelay
		default:
			return 0, fmt.Errorf("queue: invalid NOTIFY value %q", p)
		}
	}
	// RFC 3461 §4.1: NEVER must appear alone.
	if n&NotifyNever != 0 && n != NotifyNever {
		return 0, fmt.Errorf("queue: NOTIFY=NEVER combined with other values in %q", s)
	}
	return n, nil
}

// Ret is the RFC 3461 §4.3 RET parameter: what a failure DSN returns.
type Ret string

// RET values. The empty value means the parameter was absent.
const (
	RetDefault Ret = ""
	RetFull    Ret = "FULL"
	RetHeaders Ret = "HDRS"
)

// Client describes the SMTP client that submitted the message, for the
// Received header and the Received-From-MTA field of a DSN (RFC 3464 §2.2.4).
type Client struct {
	Helo     string `json:"helo,omitempty"`     // HELO/EHLO argument
	Name     string `json:"name,omitempty"`     // verified reverse name, or "unknown"
	Addr     string `json:"addr,omitempty"`     // IP address, without port
	Protocol string `json:"protocol,omitempty"` // "ESMTP", "ESMTPS", "LMTP", ...
}

// Recipient is one envelope recipient and its delivery state.
type Recipient struct {
	Addr   string `json:"addr"`
	ORCPT  string `json:"orcpt,omitempty"`  // RFC 3461 §4.2, as received ("rfc822;user@example.com"), xtext decoded
	Notify Notify `json:"notify,omitempty"` // RFC 3461 §4.1

	Status      Status    `json:"status"`
	Reply       string    `json:"reply,omitempty"`       // last reply text from the next hop, or our reason
	DSNCode     string    `json:"dsn,omitempty"`         // enhanced status code such as "5.1.1" (RFC 3463)
	Remote      string    `json:"remote,omitempty"`      // next hop that gave Reply, for Remote-MTA (RFC 3464 §2.3.5)
	FromRemote  bool      `json:"from_remote,omitempty"` // Reply is the next hop's SMTP/LMTP reply ("550 5.1.1 ...")
	Attempts    int       `json:"attempts,omitempty"`
	LastAttempt time.Time `json:"last,omitzero"`
	NextAttempt time.Time `json:"next,omitzero"`
}

// Message is the envelope and queue state of one queued message. The body
// is stored separately (see Store). Message is JSON-serialisable; Version
// records the format.
type Message struct {
	Version int    `json:"v"`
	ID      string `json:"id"` // assigned by Put when empty; letters, digits, '-' and '_' only

	Sender       string `json:"sender"`             // MAIL FROM address; "" is the null sender
	Ret          Ret    `json:"ret,omitempty"`      // RFC 3461 §4.3
	EnvID        string `json:"envid,omitempty"`    // RFC 3461 §4.4, xtext decoded
	SMTPUTF8     bool   `json:"smtputf8,omitempty"` // RFC 6531
	EightBitMIME bool   `json:"8bitmime,omitempty"` // BODY=8BITMIME (RFC 6152)
	// TLSOptional is RFC 8689's "TLS-Required: No": deliver without the
	// TLS policy (no table, DANE or MTA-STS), opportunistic TLS at most,
	// so that the message gets through where the policy would defer it.
	// TLS-RPT reports set it (RFC 8460 §5.4); nothing else does.
	TLSOptional bool      `json:"tls_optional,omitempty"`
	Arrival     time.Time `json:"arrival"`
	Client      Client    `json:"client,omitzero"`
	Size        int64     `json:"size"` // body size in bytes; set by Put

	Recipients []Recipient `json:"rcpts"`

	Hold        bool      `json:"hold,omitempty"` // held messages are never Due
	NextAttempt time.Time `json:"next,omitzero"`  // zero: due at once
	Attempts    int       `json:"attempts,omitempty"`
	DelayWarned bool      `json:"delay_warned,omitempty"`
}

// Clone returns a deep copy of m.
func (m *Message) Clone() *Message {
	c := *m
	c.Recipients = append([]Recipient(nil), m.Recipients...)
	return &c
}

// Done reports whether every recipient is Delivered or Bounced.
func (m *Message) Done() bool {
	for _, r := range m.Recipients {
		if !r.Status.Done() {
			return false
		}
	}
	return true
}

// NewID returns a fresh message ID: 12 hex digits of time (so IDs sort
// roughly by arrival) and 16 random hex digits.
func NewID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return fmt.Sprintf("%012x%s", time.Now().UnixMilli(), hex.EncodeToString(b[:]))
}

// ValidID reports whether id is usable as a message ID: 1 to 64 characters
// from [A-Za-z0-9_-]. Stores may use IDs as file names.
func ValidID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
