package deliver

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/mxkit/mxkit/queue"
)

func TestMaildir(t *testing.T) {
	base := t.TempDir()
	body := "Subject: hi\r\nTo: Bob <bob@example.test>\r\n\r\nline one\r\n.dot\r\nlast"
	d := msg(queue.Route{Transport: "maildir", Nexthop: base}, "alice@example.org", body,
		"Bob@Example.TEST", "carol@example.test", "../x@example.test", "bob@..", ".hidden@example.test", "nul\x00@example.test", "noat", "a/b@example.test")
	got := Maildir{Hostname: "mx:1/a", Logger: quiet}.Deliver(context.Background(), d)
	bad := func(msg string) queue.Result {
		return queue.Result{Status: queue.Bounced, DSN: "5.1.3", Text: "maildir: bad recipient address: " + msg}
	}
	wantResults(t, got, []queue.Result{
		{Status: queue.Delivered, DSN: "2.0.0", Text: "delivered to maildir " + filepath.Join(base, "example.test", "bob")},
		{Status: queue.Delivered, DSN: "2.0.0", Text: "delivered to maildir " + filepath.Join(base, "example.test", "carol")},
		bad(`unsafe local part "../x"`),
		bad(`unsafe domain ".."`),
		bad(`unsafe local part ".hidden"`),
		bad(`unsafe local part "nul\x00"`),
		bad(`address "noat" has no domain`),
		bad(`unsafe local part "a/b"`),
	})
	for _, rc := range []string{"bob", "carol"} {
		dir := filepath.Join(base, "example.test", rc)
		for _, sub := range []string{"tmp", "cur"} {
			if ents, err := os.ReadDir(filepath.Join(dir, sub)); err != nil || len(ents) != 0 {
				t.Errorf("%s/%s: %v %v", rc, sub, ents, err)
			}
		}
		ents, err := os.ReadDir(filepath.Join(dir, "new"))
		if err != nil || len(ents) != 1 {
			t.Fatalf("%s/new: %v %v", rc, ents, err)
		}
		name := ents[0].Name()
		if !regexp.MustCompile(`^\d+\.M\d+P\d+R[0-9a-f]{16}\.mx\\0721\\057a$`).MatchString(name) {
			t.Errorf("file name %q", name)
		}
		b, err := os.ReadFile(filepath.Join(dir, "new", name))
		if err != nil {
			t.Fatal(err)
		}
		addr := map[string]string{"bob": "Bob@Example.TEST", "carol": "carol@example.test"}[rc]
		want := "Return-Path: <alice@example.org>\nDelivered-To: " + addr + "\n" + strings.ReplaceAll(body, "\r\n", "\n")
		if string(b) != want {
			t.Errorf("%s: file content\n%q\nwant\n%q", rc, b, want)
		}
		if fi, _ := os.Stat(filepath.Join(dir, "new", name)); fi.Mode().Perm() != 0o600 {
			t.Errorf("mode %v", fi.Mode())
		}
	}
	if ents, _ := os.ReadDir(base); len(ents) != 1 {
		t.Errorf("base has %d entries, want only example.test", len(ents))
	}
}

func TestMaildirLoopAndErrors(t *testing.T) {
	base := t.TempDir()
	body := "Delivered-To: bob@example.test\r\nSubject: loop\r\n\r\nx\r\n"
	got := Maildir{Logger: quiet}.Deliver(context.Background(), msg(queue.Route{Transport: "maildir", Nexthop: base}, "", body, "bob@example.test", "carol@example.test"))
	wantResults(t, got, []queue.Result{
		{Status: queue.Bounced, DSN: "5.4.6", Text: "mail forwarding loop for bob@example.test"},
		{Status: queue.Delivered, DSN: "2.0.0", Text: "delivered to maildir " + filepath.Join(base, "example.test", "carol")},
	})
	if ents, _ := os.ReadDir(filepath.Join(base, "example.test", "bob", "tmp")); len(ents) != 0 {
		t.Errorf("loop left %v in tmp", ents)
	}
	b, _ := os.ReadFile(firstFile(t, filepath.Join(base, "example.test", "carol", "new")))
	if !strings.HasPrefix(string(b), "Return-Path: <>\n") {
		t.Errorf("null sender: %q", b)
	}

	// A file where the domain folder should be: a disk error, deferred.
	if err := os.WriteFile(filepath.Join(base, "blocked.test"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	got = Maildir{Logger: quiet}.Deliver(context.Background(), msg(queue.Route{Transport: "maildir", Nexthop: base}, "", "x\r\n", "u@blocked.test"))
	if got[0].Status != queue.Deferred || got[0].DSN != "4.3.0" || !strings.HasPrefix(got[0].Text, "maildir delivery failed: ") {
		t.Errorf("%+v", got[0])
	}
	got = Maildir{Logger: quiet}.Deliver(context.Background(), msg(queue.Route{Transport: "maildir"}, "", "x\r\n", "u@example.test"))
	wantResults(t, got, []queue.Result{queue.Deferf("4.3.5", "maildir: empty base folder in route maildir:")})
}

func firstFile(t *testing.T, dir string) string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil || len(ents) == 0 {
		t.Fatalf("%s: %v %v", dir, ents, err)
	}
	return filepath.Join(dir, ents[0].Name())
}

func FuzzMaildirPath(f *testing.F) {
	for _, s := range []string{"bob@example.test", "../x@y", "a@..", "a@b/c", ".x@y", "a@@b", "A.B@C.D"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, addr string) {
		p, err := MaildirPath("/base", addr)
		if err != nil {
			return
		}
		rel, err := filepath.Rel("/base", p)
		if err != nil || strings.HasPrefix(rel, "..") || strings.Count(rel, "/") != 1 || filepath.Clean(p) != p {
			t.Fatalf("MaildirPath(%q) = %q escapes or is not two levels deep", addr, p)
		}
	})
}
