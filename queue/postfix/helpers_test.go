package postfix

import (
	"log/slog"
	"strings"
	"testing"

	inbound "github.com/mxkit/mxkit/smtppolicy/postfix"
)

var quiet = &inbound.Options{Logger: slog.New(slog.DiscardHandler)}

// built is both halves of one main.cf, so that a test reads the server's
// Ignored list and the queue side's settings from one value.
type built struct {
	*inbound.Server
	*Settings
	Queue *Settings
}

func (b *built) Close() error {
	b.Settings.Close()
	return b.Server.Close()
}

// tryBuild parses text as main.cf and builds both halves.
func tryBuild(t *testing.T, text string) (*built, error) {
	t.Helper()
	srv, qs, err := Parse(strings.NewReader(text), "main.cf", quiet)
	if err != nil {
		return nil, err
	}
	return &built{Server: srv, Settings: qs, Queue: qs}, nil
}

// buildString is tryBuild with compatibility_level = 3.6 first; an error
// fails the test.
func buildString(t *testing.T, text string) *built {
	t.Helper()
	b, err := tryBuild(t, "compatibility_level = 3.6\n"+text)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// A refusal is a main.cf tail and the start of the error it must give.
type refusal struct{ extra, want string }

// wantRefused checks that base plus each tail stops the build with its
// error.
func wantRefused(t *testing.T, base string, cases []refusal) {
	t.Helper()
	for _, tc := range cases {
		srv, err := tryBuild(t, base+tc.extra)
		if err == nil {
			srv.Close()
			t.Errorf("%q: no error", tc.extra)
			continue
		}
		if !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%q:\n got  %v\n want %s...", tc.extra, err, tc.want)
		}
	}
}
