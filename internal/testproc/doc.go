// Package testproc starts the real servers that tests run (nginx, Knot,
// Unbound, ...) so that they die with the test binary: each runs in its
// own process group with a parent-death signal, and the group is killed
// on Stop. Require skips a test whose peer is missing, or fails it when
// CI=true. It is shared by the internal/test* harnesses.
package testproc
