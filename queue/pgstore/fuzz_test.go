package pgstore

import (
	"testing"
	"time"

	"github.com/mxkit/mxkit/queue"
)

// FuzzDecode feeds decode envelope texts as a database row could hold
// them: it must not panic, must accept only supported versions and the
// row's own ID, and what it accepts must survive encode and decode again.
func FuzzDecode(f *testing.F) {
	f.Add(`{"v":1,"id":"m1","sender":"a@example.org","arrival":"2026-01-02T03:04:05Z","size":0,"rcpts":[{"addr":"b@example.test","status":"pending"}]}`)
	f.Add(`{"v":2,"id":"m1"}`)
	f.Add(`{"v":1,"id":"other"}`)
	f.Add(`{"v":1,"id":"m1","rcpts":[{"addr":"x","status":"deferred","notify":"NEVER","reply":"450 \u0000 x"}],"next":"2026-01-02T03:04:05.123456789+02:00"}`)
	f.Add(`not json`)
	f.Fuzz(func(t *testing.T, env string) {
		m, err := decode("t_msg", "m1", env, true, 42, time.Time{})
		if err != nil {
			return
		}
		if m.ID != "m1" || m.Version < 1 || m.Version > queue.MessageVersion || !m.Hold || m.Size != 42 {
			t.Fatalf("decode accepted %q as ID %q version %d hold %v size %d", env, m.ID, m.Version, m.Hold, m.Size)
		}
		e1, err := encode(m)
		if err != nil {
			return // e.g. a year beyond 9999, which JSON cannot hold
		}
		m2, err := decode("t_msg", "m1", e1, true, 42, time.Time{})
		if err != nil {
			t.Fatalf("re-decoding %q: %v", e1, err)
		}
		if e2, err := encode(m2); err != nil || e2 != e1 {
			t.Fatalf("round trip differs:\n%s\n%s (%v)", e1, e2, err)
		}
	})
}
