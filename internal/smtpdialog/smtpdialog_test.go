package smtpdialog

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseReply(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Reply
	}{
		{
			name: "single line with enhanced code",
			in:   "554 5.7.1 <u@elsewhere.example>: Relay access denied\r\n",
			want: Reply{Code: 554, Enhanced: "5.7.1",
				Lines: []string{"554 5.7.1 <u@elsewhere.example>: Relay access denied"},
				Text:  "<u@elsewhere.example>: Relay access denied"},
		},
		{
			name: "multi-line EHLO",
			in:   "250-mx.example.test\r\n250-PIPELINING\r\n250 CHUNKING\r\n",
			want: Reply{Code: 250,
				Lines: []string{"250-mx.example.test", "250-PIPELINING", "250 CHUNKING"},
				Text:  "mx.example.test\nPIPELINING\nCHUNKING"},
		},
		{
			name: "enhanced code repeated on each line",
			in:   "550-5.1.1 first\r\n550-5.1.1\r\n550 5.1.1 last\r\n",
			want: Reply{Code: 550, Enhanced: "5.1.1",
				Lines: []string{"550-5.1.1 first", "550-5.1.1", "550 5.1.1 last"},
				Text:  "first\n\nlast"},
		},
		{
			name: "code only",
			in:   "250\r\n",
			want: Reply{Code: 250, Lines: []string{"250"}, Text: ""},
		},
		{
			name: "enhanced code alone",
			in:   "250 2.0.0\r\n",
			want: Reply{Code: 250, Enhanced: "2.0.0", Lines: []string{"250 2.0.0"}, Text: ""},
		},
		{
			name: "not an enhanced code: glued text",
			in:   "250 2.0.0x ok\r\n",
			want: Reply{Code: 250, Lines: []string{"250 2.0.0x ok"}, Text: "2.0.0x ok"},
		},
		{
			name: "not an enhanced code: four-digit detail",
			in:   "250 2.0.1000 ok\r\n",
			want: Reply{Code: 250, Lines: []string{"250 2.0.1000 ok"}, Text: "2.0.1000 ok"},
		},
		{
			name: "not an enhanced code: class 3",
			in:   "354 3.0.0 go ahead\r\n",
			want: Reply{Code: 354, Lines: []string{"354 3.0.0 go ahead"}, Text: "3.0.0 go ahead"},
		},
		{
			name: "three-digit subject and detail",
			in:   "451 4.123.456 busy\r\n",
			want: Reply{Code: 451, Enhanced: "4.123.456", Lines: []string{"451 4.123.456 busy"}, Text: "busy"},
		},
		{
			name: "text keeps inner spaces",
			in:   "220 mx.example.test ESMTP  two  spaces \r\n",
			want: Reply{Code: 220, Lines: []string{"220 mx.example.test ESMTP  two  spaces "},
				Text: "mx.example.test ESMTP  two  spaces "},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseReply(tt.in)
			if err != nil {
				t.Fatalf("ParseReply(%q): %v", tt.in, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseReply(%q)\n got %#v\nwant %#v", tt.in, got, tt.want)
			}
			if want := strings.ReplaceAll(strings.TrimSuffix(tt.in, "\r\n"), "\r\n", "\n"); got.String() != want {
				t.Errorf("String() = %q does not reproduce %q", got.String(), tt.in)
			}
		})
	}
}

func TestParseReplyErrors(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		wantErr string
		is      error
	}{
		{"empty", "", "EOF", io.EOF},
		{"bare LF", "250 ok\n", "malformed SMTP reply: line not terminated by CRLF", ErrBareLF},
		{"bare LF in continuation", "250-a\r\n250 b\n", "malformed SMTP reply: line not terminated by CRLF", ErrBareLF},
		{"no line end", "250 ok", "unexpected EOF", io.ErrUnexpectedEOF},
		{"unfinished multi-line", "250-a\r\n", "unexpected EOF", io.ErrUnexpectedEOF},
		{"mixed codes", "250-a\r\n251 b\r\n", "malformed SMTP reply: line 2 has code 251, first line has 250", ErrMalformed},
		{"code 199", "199 x\r\n", `malformed SMTP reply: bad reply code in "199 x"`, ErrMalformed},
		{"code 600", "600 x\r\n", `malformed SMTP reply: bad reply code in "600 x"`, ErrMalformed},
		{"short code", "25\r\n", `malformed SMTP reply: bad reply code in "25"`, ErrMalformed},
		{"letters", "2x0 ok\r\n", `malformed SMTP reply: bad reply code in "2x0 ok"`, ErrMalformed},
		{"bad separator", "250_ok\r\n", `malformed SMTP reply: expected ' ' or '-' after the code in "250_ok"`, ErrMalformed},
		{"trailing data", "250 ok\r\n250 again\r\n", "malformed SMTP reply: data after the last reply line", ErrMalformed},
		{"too long", "250 " + strings.Repeat("x", MaxLineLen) + "\r\n", "malformed SMTP reply: line longer than 65536 octets", ErrMalformed},
		{"too many lines", strings.Repeat("250-x\r\n", MaxReplyLines) + "250 x\r\n", "malformed SMTP reply: more than 1000 lines", ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseReply(tt.in)
			if err == nil {
				t.Fatalf("ParseReply(%q): no error, want %q", clip(tt.in), tt.wantErr)
			}
			if err.Error() != tt.wantErr {
				t.Errorf("error = %q, want %q", err, tt.wantErr)
			}
			if !errors.Is(err, tt.is) {
				t.Errorf("error %v is not %v", err, tt.is)
			}
		})
	}
}

func TestEncodeBody(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ".\r\n"},
		{"Subject: x\n\nhello\n", "Subject: x\r\n\r\nhello\r\n.\r\n"},
		{"no final newline", "no final newline\r\n.\r\n"},
		{"crlf\r\nkept\r\n", "crlf\r\nkept\r\n.\r\n"},
		{".\n..two\nmid.dle\n", "..\r\n...two\r\nmid.dle\r\n.\r\n"},
		{"\n", "\r\n.\r\n"},
		{"a\n\n", "a\r\n\r\n.\r\n"},
	}
	for _, tt := range tests {
		if got := string(EncodeBody(tt.in)); got != tt.want {
			t.Errorf("EncodeBody(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// fakeServer accepts one connection on 127.0.0.1 and hands it to serve;
// what serve returns is delivered on the returned channel.
func fakeServer(t *testing.T, serve func(c net.Conn, br *bufio.Reader) string) (string, <-chan string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	out := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			out <- "accept: " + err.Error()
			return
		}
		defer c.Close()
		out <- serve(c, bufio.NewReader(c))
	}()
	return ln.Addr().String(), out
}

func TestRunScript(t *testing.T) {
	addr, got := fakeServer(t, func(c net.Conn, br *bufio.Reader) string {
		var seen strings.Builder
		seen.WriteString(c.RemoteAddr().(*net.TCPAddr).IP.String() + "|")
		io.WriteString(c, "220 fake ESMTP\r\n")
		for {
			line, err := br.ReadString('\n')
			seen.WriteString(line)
			if err != nil {
				return seen.String()
			}
			switch {
			case strings.HasPrefix(line, "EHLO"):
				io.WriteString(c, "250-fake\r\n250 8BITMIME\r\n")
			case line == "DATA\r\n":
				io.WriteString(c, "354 End data with <CR><LF>.<CR><LF>\r\n")
				for {
					l, err := br.ReadString('\n')
					seen.WriteString(l)
					if err != nil || l == ".\r\n" {
						break
					}
				}
				io.WriteString(c, "250 2.0.0 Ok: queued as ABC\r\n")
			case line == "QUIT\r\n":
				io.WriteString(c, "221 2.0.0 Bye\r\n")
				return seen.String()
			default:
				io.WriteString(c, "250 2.1.0 Ok\r\n")
			}
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	replies, err := Run(ctx, addr, "127.0.0.2", []string{
		"EHLO client.example", "MAIL FROM:<a@b.example>", "DATA",
		"DATA-BODY:Subject: t\n\n.hidden\nbody\n", "QUIT",
	})
	if err != nil {
		t.Fatal(err)
	}
	var wire []string
	for _, r := range replies {
		wire = append(wire, r.String())
	}
	want := []string{
		"220 fake ESMTP",
		"250-fake\n250 8BITMIME",
		"250 2.1.0 Ok",
		"354 End data with <CR><LF>.<CR><LF>",
		"250 2.0.0 Ok: queued as ABC",
		"221 2.0.0 Bye",
	}
	if !reflect.DeepEqual(wire, want) {
		t.Errorf("replies:\n got %q\nwant %q", wire, want)
	}
	wantSeen := "127.0.0.2|EHLO client.example\r\nMAIL FROM:<a@b.example>\r\nDATA\r\n" +
		"Subject: t\r\n\r\n..hidden\r\nbody\r\n.\r\nQUIT\r\n"
	if s := <-got; s != wantSeen {
		t.Errorf("server saw\n%q\nwant\n%q", s, wantSeen)
	}
}

func TestRunStopsAtClose(t *testing.T) {
	addr, done := fakeServer(t, func(c net.Conn, br *bufio.Reader) string {
		io.WriteString(c, "220 fake\r\n")
		br.ReadString('\n')
		io.WriteString(c, "421 4.7.0 fake closing\r\n")
		return ""
	})
	replies, err := Run(context.Background(), addr, "", []string{"HELO x", "NOOP", "QUIT"})
	<-done
	if err == nil {
		t.Fatal("no error after the server closed the connection")
	}
	if !errors.Is(err, io.EOF) && !strings.Contains(err.Error(), "connection reset") {
		t.Errorf("error %q is neither EOF nor a reset", err)
	}
	if !strings.HasPrefix(err.Error(), `smtpdialog: script entry 1 "NOOP": `) {
		t.Errorf("error %q does not name the failing entry", err)
	}
	if len(replies) != 2 || replies[1].Code != 421 || replies[1].Text != "fake closing" {
		t.Errorf("replies = %+v, want greeting and the 421", replies)
	}
}

func TestRunContextCancel(t *testing.T) {
	release := make(chan struct{})
	addr, done := fakeServer(t, func(c net.Conn, br *bufio.Reader) string {
		<-release // never greet
		return ""
	})
	defer func() { close(release); <-done }()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := Run(ctx, addr, "", []string{"QUIT"})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want context.DeadlineExceeded", err)
	}
}

func TestConnCmdRejectsLineBreaks(t *testing.T) {
	a, b := net.Pipe()
	defer b.Close()
	c := NewConn(a)
	defer c.Close()
	for _, line := range []string{"NOOP\r\nQUIT", "NOOP\n", "NO\rOP"} {
		if _, err := c.Cmd(line); err == nil || !strings.Contains(err.Error(), "contains CR or LF; use SendRaw") {
			t.Errorf("Cmd(%q) error = %v", line, err)
		}
	}
}

func TestConnPipelining(t *testing.T) {
	a, b := net.Pipe()
	c := NewConn(a)
	defer c.Close()
	read := make(chan struct{})
	go func() {
		defer b.Close()
		br := bufio.NewReader(b)
		for range 2 {
			br.ReadString('\n')
		}
		io.WriteString(b, "250 2.1.0 Ok\r\n554 5.7.1 <x@y>: Relay access denied\r\n")
		<-read // close only once both replies were read
	}()
	if err := c.SendRaw([]byte("MAIL FROM:<>\r\nRCPT TO:<x@y>\r\n")); err != nil {
		t.Fatal(err)
	}
	r1, err := c.ReadReply()
	if err != nil {
		t.Fatal(err)
	}
	r2, err := c.ReadReply()
	if err != nil {
		t.Fatal(err)
	}
	close(read)
	if r1.Code != 250 || r2.Code != 554 || r2.Enhanced != "5.7.1" || r2.Text != "<x@y>: Relay access denied" {
		t.Errorf("got %+v and %+v", r1, r2)
	}
	// The peer has closed: no third reply. (Depending on scheduling the
	// pipe reports io.EOF or io.ErrClosedPipe.)
	if _, err := c.ReadReply(); !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrClosedPipe) {
		t.Errorf("read after close: err = %v, want io.EOF", err)
	}
}

func TestDialBadLocal(t *testing.T) {
	_, err := Dial(context.Background(), "tcp", "127.0.0.1:1", "not-an-ip")
	if err == nil || err.Error() != `smtpdialog: local address "not-an-ip" is not an IP address` {
		t.Errorf("err = %v", err)
	}
}

func BenchmarkParseReply(b *testing.B) {
	in := "250-mx.example.test\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-ENHANCEDSTATUSCODES\r\n250 CHUNKING\r\n"
	for b.Loop() {
		if _, err := ParseReply(in); err != nil {
			b.Fatal(err)
		}
	}
}
