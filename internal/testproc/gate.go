package testproc

import (
	"os"
	"testing"
)

// Require gates a test on a real peer: it returns when err is nil; else
// it skips the test ("no <what>: err"), except when the environment
// variable CI is "true", where it fails it: CI must never skip a test
// against a real peer because the peer is missing.
func Require(t testing.TB, what string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s required when CI=true: %v", what, err)
	}
	t.Skipf("no %s: %v", what, err)
}
