package smtpdialog

import (
	"strings"
	"testing"
)

func FuzzParseReply(f *testing.F) {
	for _, s := range []string{
		"220 mx.example.test ESMTP\r\n",
		"250-mx.example.test\r\n250-PIPELINING\r\n250 CHUNKING\r\n",
		"554 5.7.1 <u@elsewhere.example>: Relay access denied\r\n",
		"550-5.1.1 a\r\n550 5.1.1 b\r\n",
		"250\r\n",
		"250 ok\n",
		"250-a\r\n251 b\r\n",
		"451 4.123.456\r\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		r, err := ParseReply(in)
		if err != nil {
			return
		}
		if r.Code < 200 || r.Code > 599 {
			t.Fatalf("code %d out of range for %q", r.Code, in)
		}
		if got := strings.Join(r.Lines, "\r\n") + "\r\n"; got != in {
			t.Fatalf("lines %q do not reproduce input %q", r.Lines, in)
		}
		if r.Enhanced != "" && r.Enhanced[0] != '2' && r.Enhanced[0] != '4' && r.Enhanced[0] != '5' {
			t.Fatalf("enhanced code %q has a bad class", r.Enhanced)
		}
		if n := strings.Count(r.Text, "\n") + 1; n != len(r.Lines) {
			t.Fatalf("text has %d lines, reply has %d", n, len(r.Lines))
		}
		again, err := ParseReply(in)
		if err != nil || again.String() != r.String() || again.Text != r.Text {
			t.Fatalf("reparse differs")
		}
	})
}
