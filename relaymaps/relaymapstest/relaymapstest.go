// Package relaymapstest checks that a relaymaps.Map behaves as the rest of
// mxkit expects. Run TestMap from your own tests against your own Map
// implementations (an SQL table, a socketmap client, a cache).
package relaymapstest

import (
	"context"
	"slices"
	"sort"
	"sync"
	"testing"

	"github.com/mxkit/mxkit/relaymaps"
)

// TestMap checks m against the expected contents:
//   - every key of want is found with its value and no error;
//   - every key in missing is not found, with no error;
//   - lookups from several goroutines at once give the same answers (run
//     the test with -race to catch data races);
//   - a lookup with a cancelled context does not panic and, if it
//     answers without error, answers correctly.
//
// Keys are passed exactly as given; include upper-case variants in want if
// the table should fold case.
func TestMap(t *testing.T, m relaymaps.Map, want map[string]string, missing []string) {
	t.Helper()
	ctx := context.Background()
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	sort.Strings(keys)

	check := func(ctx context.Context, report func(format string, args ...any)) {
		for _, k := range keys {
			v, found, err := m.Lookup(ctx, k)
			switch {
			case err != nil:
				report("%s: Lookup(%q): unexpected error: %v", relaymaps.NameOf(m), k, err)
			case !found:
				report("%s: Lookup(%q): not found, want %q", relaymaps.NameOf(m), k, want[k])
			case v != want[k]:
				report("%s: Lookup(%q) = %q, want %q", relaymaps.NameOf(m), k, v, want[k])
			}
		}
		for _, k := range missing {
			v, found, err := m.Lookup(ctx, k)
			switch {
			case err != nil:
				report("%s: Lookup(%q): unexpected error: %v", relaymaps.NameOf(m), k, err)
			case found:
				report("%s: Lookup(%q) = %q, want not found", relaymaps.NameOf(m), k, v)
			}
		}
	}

	check(ctx, t.Errorf)
	if t.Failed() {
		return
	}

	// Concurrent lookups.
	const workers = 8
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range 4 {
				check(ctx, t.Errorf)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}

	// A cancelled context: any answer without error must be right.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	for _, k := range slices.Concat(keys, missing) {
		v, found, err := m.Lookup(cctx, k)
		if err != nil {
			continue
		}
		w, ok := want[k]
		if found != ok || found && v != w {
			t.Errorf("%s: Lookup(%q) with cancelled context = %q, %v; want %q, %v", relaymaps.NameOf(m), k, v, found, w, ok)
		}
	}
}
