package mxkit_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mxkit/mxkit/internal/testproc"
)

// maxTrackedSize is the largest file git may track: sources, corpora and
// test data stay far below it; a build output does not.
const maxTrackedSize = 1 << 20

// TestNoBinariesTracked fails when git tracks an executable (an ELF,
// Mach-O or PE file, or a file with the executable bit that is not a
// "#!" script) or a file over 1 MiB. A 24.6 MB example binary was
// committed once; .gitignore lists the build outputs. The test skips
// outside a git checkout, and when git is missing (failing then under
// CI=true).
func TestNoBinariesTracked(t *testing.T) {
	_, err := exec.LookPath("git")
	testproc.Require(t, "git", err)
	out, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		t.Skipf("not in a git checkout: %v", err)
	}
	top := strings.TrimSpace(string(out))
	// -s: "mode object stage\tpath"; -z: paths as they are, NUL-ended.
	out, err = exec.Command("git", "-C", top, "ls-files", "-s", "-z").Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	n := 0
	for _, rec := range bytes.Split(out, []byte{0}) {
		if len(rec) == 0 {
			continue
		}
		meta, name, ok := strings.Cut(string(rec), "\t")
		if !ok {
			t.Fatalf("git ls-files -s: unexpected record %q", rec)
		}
		mode, _, _ := strings.Cut(meta, " ")
		if mode == "120000" || mode == "160000" { // symbolic link, submodule
			continue
		}
		n++
		if problem, err := checkTracked(filepath.Join(top, filepath.FromSlash(name)), mode == "100755"); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue // deleted in the work tree, not yet in the index
			}
			t.Errorf("%s: %v", name, err)
		} else if problem != "" {
			t.Errorf("git tracks %s: %s (git rm --cached it and list it in .gitignore)", name, problem)
		}
	}
	if n == 0 {
		t.Fatal("git ls-files listed no files")
	}
}

// checkTracked says what is wrong with tracking the file at path, or "".
func checkTracked(path string, executableBit bool) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("stat: %w", err)
	}
	head := make([]byte, 4096) // enough for a PE header
	k, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read: %w", err)
	}
	head = head[:k]
	if kind := executableFormat(head); kind != "" {
		return "an executable (" + kind + ")", nil
	}
	if executableBit && !bytes.HasPrefix(head, []byte("#!")) {
		return "the executable bit on a file that is not a #! script", nil
	}
	if fi.Size() > maxTrackedSize {
		return fmt.Sprintf("%d bytes, over the %d-byte limit", fi.Size(), maxTrackedSize), nil
	}
	return "", nil
}

// executableFormat names the executable format that head starts with, or
// returns "".
func executableFormat(head []byte) string {
	if bytes.HasPrefix(head, []byte("\x7fELF")) {
		return "ELF"
	}
	if len(head) >= 4 {
		switch binary.BigEndian.Uint32(head) {
		case 0xfeedface, 0xfeedfacf, 0xcefaedfe, 0xcffaedfe:
			return "Mach-O"
		case 0xcafebabe, 0xbebafeca: // fat binary (or a Java class file)
			return "Mach-O universal"
		}
	}
	// PE: "MZ", and at 0x3c the offset of the "PE\0\0" signature.
	if len(head) >= 0x40 && bytes.HasPrefix(head, []byte("MZ")) {
		off := binary.LittleEndian.Uint32(head[0x3c:])
		if int(off)+4 <= len(head) && string(head[off:off+4]) == "PE\x00\x00" {
			return "PE"
		}
	}
	return ""
}

func TestExecutableFormat(t *testing.T) {
	pe := make([]byte, 0x90)
	copy(pe, "MZ")
	binary.LittleEndian.PutUint32(pe[0x3c:], 0x80)
	copy(pe[0x80:], "PE\x00\x00")
	for _, tt := range []struct {
		head []byte
		want string
	}{
		{[]byte("\x7fELF\x02\x01\x01"), "ELF"},
		{[]byte{0xcf, 0xfa, 0xed, 0xfe, 7, 0, 0, 1}, "Mach-O"},
		{[]byte{0xfe, 0xed, 0xfa, 0xce}, "Mach-O"},
		{[]byte{0xca, 0xfe, 0xba, 0xbe}, "Mach-O universal"},
		{pe, "PE"},
		{[]byte("MZ is a text file that happens to start with MZ, long enough to have a PE offset"), ""},
		{[]byte("package mxkit\n"), ""},
		{[]byte("#!/usr/bin/env bash\n"), ""},
		{nil, ""},
	} {
		if got := executableFormat(tt.head); got != tt.want {
			t.Errorf("executableFormat(%q) = %q, want %q", tt.head, got, tt.want)
		}
	}
}
