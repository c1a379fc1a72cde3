package testpostfix

import (
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
)

func FuzzParamNames(f *testing.F) {
	for _, s := range []string{
		"mynetworks = 127.0.0.0/8\n",
		"# c\nsmtpd_relay_restrictions = permit_mynetworks,\n  reject_unauth_destination\n",
		"a=b\r\n\tcont\n",
		"queue_directory = /x",
		"novalue\n",
		"= x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		names, err := paramNames(text)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "testpostfix: MainCF:") {
				t.Fatalf("error %q lacks the MainCF:LINE: prefix", err)
			}
			return
		}
		lines := strings.Split(text, "\n")
		for name, n := range names {
			if name == "" || strings.ContainsAny(name, " \t=") || reservedParams[name] {
				t.Fatalf("bad name %q", name)
			}
			if n < 1 || n > len(lines) || !strings.Contains(lines[n-1], name) {
				t.Fatalf("name %q at line %d of %q", name, n, text)
			}
		}
		mainCF, err := RenderMainCF("/d", netip.MustParseAddr("127.0.0.1"), text)
		if err != nil {
			t.Fatalf("RenderMainCF failed after paramNames passed: %v", err)
		}
		if !strings.Contains(mainCF, text) {
			t.Fatalf("main.cf lost the extra text")
		}
	})
}

func FuzzParsePostfixFiles(f *testing.F) {
	for _, s := range []string{
		"$queue_directory:d:root:-:755:uc\n$queue_directory/active:d:$mail_owner:-:700:ucr\n",
		"$data_directory:d:$mail_owner:-:700:uc",
		"$queue_directory/maildrop:d:$mail_owner:$setgid_group:730:uc",
		"$queue_directory/x:d:root",
		"# only a comment",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		specs, err := parsePostfixFiles("pf", text)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "pf:") {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		for _, s := range specs {
			if s.base != "queue" && s.base != "data" || s.mode > 0o777 || s.owner == "" || s.group == "" {
				t.Fatalf("bad spec %+v", s)
			}
			if s.rel != "" && !filepath.IsLocal(s.rel) {
				t.Fatalf("escaping path %q", s.rel)
			}
		}
	})
}
