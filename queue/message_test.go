package queue_test

import (
	"encoding/json"
	"testing"

	"github.com/mxkit/mxkit/queue"
)

func TestParseNotify(t *testing.T) {
	for _, tc := range []struct {
		in, out, err string
	}{
		{"", "", ""},
		{"never", "NEVER", ""},
		{"delay,Success", "SUCCESS,DELAY", ""},
		{"FAILURE", "FAILURE", ""},
		{"NEVER,DELAY", "", `queue: NOTIFY=NEVER combined with other values in "NEVER,DELAY"`},
		{"SOMETIMES", "", `queue: invalid NOTIFY value "SOMETIMES"`},
	} {
		n, err := queue.ParseNotify(tc.in)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("ParseNotify(%q) err = %v, want %s", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || n.String() != tc.out {
			t.Errorf("ParseNotify(%q) = %q, %v; want %q", tc.in, n, err, tc.out)
		}
	}
	var zero queue.Notify
	if !zero.Has(queue.NotifyFailure) || !zero.Has(queue.NotifyDelay) || zero.Has(queue.NotifySuccess) {
		t.Error("unset NOTIFY must mean FAILURE,DELAY (RFC 3461 §4.1)")
	}
}

func TestStatusJSON(t *testing.T) {
	r := queue.Recipient{Addr: "a@b", Status: queue.Deferred, Notify: queue.NotifySuccess}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"addr":"a@b","notify":"SUCCESS","status":"deferred"}`; string(b) != want {
		t.Errorf("JSON = %s, want %s", b, want)
	}
	var back queue.Recipient
	if err := json.Unmarshal(b, &back); err != nil || back != r {
		t.Errorf("round trip = %+v, %v", back, err)
	}
	if err := json.Unmarshal([]byte(`{"status":"lost"}`), &back); err == nil || err.Error() != `queue: unknown status "lost"` {
		t.Errorf("bad status err = %v", err)
	}
}

func TestValidID(t *testing.T) {
	for id, want := range map[string]bool{"abc-DEF_09": true, "": false, "a/b": false, "..": false, "a.b": false} {
		if got := queue.ValidID(id); got != want {
			t.Errorf("ValidID(%q) = %v", id, got)
		}
	}
	if id := queue.NewID(); !queue.ValidID(id) || len(id) != 28 {
		t.Errorf("NewID() = %q", id)
	}
}

func FuzzParseNotify(f *testing.F) {
	for _, s := range []string{"", "NEVER", "SUCCESS,FAILURE,DELAY", "delay", "NEVER,SUCCESS", " failure , delay ", ",,"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := queue.ParseNotify(s)
		if err != nil {
			return
		}
		if n&queue.NotifyNever != 0 && n != queue.NotifyNever {
			t.Fatalf("ParseNotify(%q) = %d: NEVER combined", s, n)
		}
		back, err := queue.ParseNotify(n.String())
		if err != nil || back != n {
			t.Fatalf("ParseNotify(%q) = %q; reparse = %d, %v", s, n, back, err)
		}
	})
}
