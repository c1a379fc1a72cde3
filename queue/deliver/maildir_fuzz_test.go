package deliver

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mxkit/mxkit/queue"
)

// FuzzMaildirWrite feeds arbitrary message content (outside input) to
// the Maildir writer: it either detects a Delivered-To loop in the header
// section, or writes Return-Path, Delivered-To and the content with CRLF
// turned into LF, byte for byte.
func FuzzMaildirWrite(f *testing.F) {
	f.Add("Subject: hi\r\n\r\nbody\r\n", "bob@example.test")
	f.Add("Delivered-To: bob@example.test\r\nSubject: loop\r\n\r\nx\r\n", "bob@example.test")
	f.Add("Subject: no blank line, no final newline", "a@b")
	f.Add("X: "+strings.Repeat("y", 70000)+"\r\n\r\nDelivered-To: bob@example.test\r\n", "bob@example.test")
	f.Add("Subject: a\n\nlf only\n", "bob@example.test")
	f.Fuzz(func(t *testing.T, content, addr string) {
		dir := t.TempDir()
		path := filepath.Join(dir, "m")
		d := &queue.Delivery{
			Message: &queue.Message{Sender: "s@example.org"},
			Open: func(context.Context) (io.ReadCloser, error) {
				return io.NopCloser(strings.NewReader(content)), nil
			},
		}
		loop, err := writeMaildirFile(context.Background(), path, d, addr)
		if err != nil {
			t.Fatalf("write: %v", err)
		}
		if loop {
			head, _, _ := strings.Cut(content, "\n\n")
			head, _, _ = strings.Cut(head, "\r\n\r\n")
			if !strings.Contains(strings.ToLower(head), "delivered-to") {
				t.Fatalf("loop reported without a Delivered-To header in %q", head)
			}
			return
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		want := "Return-Path: <s@example.org>\nDelivered-To: " + addr + "\n" + strings.ReplaceAll(content, "\r\n", "\n")
		if string(got) != want {
			t.Fatalf("file content differs:\n got %q\nwant %q", got, want)
		}
	})
}
