package queue

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"github.com/mxkit/mxkit/relaymaps"
)

// DSNTestReport is a notification taken apart by DSNTestParse (for the
// tests of this package).
type DSNTestReport struct {
	Header     mail.Header
	Parts      []DSNTestPart
	PerMessage textproto.MIMEHeader
	PerRcpt    []textproto.MIMEHeader
}

// DSNTestPart is one body part of a multipart/report.
type DSNTestPart struct {
	Header textproto.MIMEHeader
	Body   []byte
}

// DSNTestParse parses the content of a notification with net/mail,
// mime/multipart and net/textproto, checking its structure: CRLF line
// endings only, a multipart/report of report-type delivery-status with
// three parts, the second a (global-)delivery-status whose blocks are
// separated by single empty lines.
func DSNTestParse(content []byte) (*DSNTestReport, error) {
	for i, c := range content {
		if c == '\n' && (i == 0 || content[i-1] != '\r') || c == '\r' && (i+1 == len(content) || content[i+1] != '\n') {
			return nil, fmt.Errorf("bare CR or LF at offset %d", i)
		}
	}
	msg, err := mail.ReadMessage(bytes.NewReader(content))
	if err != nil {
		return nil, fmt.Errorf("net/mail: %w", err)
	}
	rep := &DSNTestReport{Header: msg.Header}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		return nil, fmt.Errorf("Content-Type: %w", err)
	}
	if mt != "multipart/report" || params["report-type"] != "delivery-status" || params["boundary"] == "" {
		return nil, fmt.Errorf("Content-Type %q %v", mt, params)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextRawPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("part %d: %w", len(rep.Parts)+1, err)
		}
		b, err := io.ReadAll(p)
		if err != nil {
			return nil, fmt.Errorf("part %d: %w", len(rep.Parts)+1, err)
		}
		rep.Parts = append(rep.Parts, DSNTestPart{Header: p.Header, Body: b})
	}
	if len(rep.Parts) != 3 {
		return nil, fmt.Errorf("%d parts, want 3", len(rep.Parts))
	}
	ct := rep.Parts[1].Header.Get("Content-Type")
	if ct != "message/delivery-status" && ct != "message/global-delivery-status" {
		return nil, fmt.Errorf("second part is %q", ct)
	}
	body := rep.Parts[1].Body
	if !bytes.HasSuffix(body, []byte("\r\n")) {
		return nil, fmt.Errorf("delivery-status does not end with CRLF: %q", body)
	}
	blocks := bytes.Split(bytes.TrimSuffix(body, []byte("\r\n")), []byte("\r\n\r\n"))
	for i, blk := range blocks {
		h, err := textproto.NewReader(bufio.NewReader(io.MultiReader(bytes.NewReader(blk), strings.NewReader("\r\n\r\n")))).ReadMIMEHeader()
		if err != nil {
			return nil, fmt.Errorf("delivery-status block %d: %w", i+1, err)
		}
		if len(h) == 0 {
			return nil, fmt.Errorf("delivery-status block %d is empty", i+1)
		}
		if i == 0 {
			rep.PerMessage = h
		} else {
			rep.PerRcpt = append(rep.PerRcpt, h)
		}
	}
	return rep, nil
}

func FuzzDSN(f *testing.F) {
	f.Add("Subject: hi\r\nFrom: a@example.com\r\n\r\nbody\r\n", "alice@example.com", "550 5.1.1 <bob@example.net>: no such user", "rfc822;bob@example.net", "ENV-1", uint8(0))
	f.Add("Subject: hi\nX-Long: a\n  b\n\nbody\n", "alice@example.com", "connect to x: refused", "", "", uint8(1<<2|1))
	f.Add("no blank line\r\nat all", "a@b", "", "", "", uint8(2))
	f.Add("A: b\r\n\tc\r\nD: e", "a@b", "x\r\nInjected: yes", "rfc822;x\r\ny", "id with space+=\x00", uint8(0x30))
	f.Add(" leading continuation\r\n\r\n", "ü@example.com", "550 ü", "utf-8;ü@example.org", "", uint8(1<<4|3))
	f.Add("Message-ID: <1@x>\r\nSubject: =_mxkit_\r\n\r\n--=_mxkit_\r\n", "a@b", "", "", "", uint8(1<<3))
	f.Fuzz(func(t *testing.T, body, sender, reply, orcpt, envid string, flags uint8) {
		// The header parser on its own, on raw and normalized input.
		_ = dsnHeaderSection([]byte(body), 64)
		norm := dsnCRLF([]byte(body))
		h := dsnHeaderSection(norm, dsnHeaderLimit)
		checkHeaderSection(t, norm, h, dsnHeaderLimit)
		checkHeaderSection(t, norm, dsnHeaderSection(norm, 40), 40)

		kind := DSNKind(flags & 3)
		rets := []Ret{RetDefault, RetFull, RetHeaders, "bogus"}
		m := &Message{
			ID:       "fuzz",
			Sender:   sender,
			Ret:      rets[flags>>2&3],
			EnvID:    envid,
			SMTPUTF8: flags&0x10 != 0,
			Arrival:  time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
			Recipients: []Recipient{
				{Addr: "one@example.net", ORCPT: orcpt, Reply: reply, DSNCode: reply, FromRemote: flags&0x20 != 0, Remote: reply},
				{Addr: sender, Reply: envid},
				{Addr: "three@example.net"},
			},
		}
		rcpts := []int{0, 1, 2}[:1+int(flags>>6)%3]
		opts := DSNOptions{ReportingMTA: "mx.example.net", MaxReturned: 100, Now: func() time.Time { return m.Arrival }}
		dm, content, err := NewDSN(opts, kind, m, rcpts, strings.NewReader(body))
		if sender == "" {
			if !errors.Is(err, ErrDSNNullSender) {
				t.Fatalf("null sender: err %v", err)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if dm.Sender != "" || len(dm.Recipients) != 1 || dm.Recipients[0].Addr != sender || dm.Recipients[0].Notify != NotifyNever {
			t.Fatalf("envelope %+v", dm)
		}
		rep, err := DSNTestParse(content)
		if err != nil {
			t.Fatalf("%v\n%s", err, content)
		}
		if len(rep.PerRcpt) != len(rcpts) {
			t.Fatalf("%d per-recipient blocks for %d recipients\n%s", len(rep.PerRcpt), len(rcpts), content)
		}
		for i, blk := range rep.PerRcpt {
			if got := blk.Get("Action"); got != dsnActions[kind] {
				t.Errorf("block %d: Action %q", i, got)
			}
			if st := blk.Get("Status"); !relaymaps.IsDSN(st) {
				t.Errorf("block %d: Status %q", i, st)
			}
			if blk.Get("Final-Recipient") == "" {
				t.Errorf("block %d: no Final-Recipient", i)
			}
		}
		if envid != "" && rep.PerMessage.Get("Original-Envelope-Id") != dsnXtext(envid) {
			t.Errorf("Original-Envelope-Id %q", rep.PerMessage.Get("Original-Envelope-Id"))
		}
		if !m.SMTPUTF8 && !dsnASCII(rep.Parts[1].Body) {
			t.Errorf("8-bit delivery-status without SMTPUTF8")
		}
		orig := rep.Parts[2]
		switch orig.Header.Get("Content-Type") {
		case "message/rfc822", "message/global":
			if !bytes.Equal(orig.Body, norm) {
				t.Errorf("returned message differs:\n%q\n%q", orig.Body, norm)
			}
		case "text/rfc822-headers", "message/global-headers":
			if !bytes.Equal(orig.Body, h) {
				t.Errorf("returned headers differ:\n%q\n%q", orig.Body, h)
			}
		default:
			t.Errorf("third part %q", orig.Header.Get("Content-Type"))
		}
	})
}

// checkHeaderSection checks the invariants of dsnHeaderSection(msg, limit).
func checkHeaderSection(t *testing.T, msg, h []byte, limit int) {
	t.Helper()
	if len(h) > limit {
		t.Fatalf("header section of %d bytes, limit %d", len(h), limit)
	}
	if !bytes.HasPrefix(msg, h) && !bytes.Equal(append(append([]byte(nil), msg...), '\r', '\n'), h) {
		t.Fatalf("header section %q is not a prefix of %q", h, msg)
	}
	if len(h) == 0 {
		return
	}
	if !bytes.HasSuffix(h, []byte("\r\n")) {
		t.Fatalf("header section %q does not end with CRLF", h)
	}
	lines := bytes.Split(bytes.TrimSuffix(h, []byte("\r\n")), []byte("\r\n"))
	for i, l := range lines {
		cont := len(l) > 0 && (l[0] == ' ' || l[0] == '\t')
		if i == 0 && cont || !cont && !dsnIsField(l) {
			t.Fatalf("line %d %q of header section %q", i+1, l, h)
		}
	}
}

func TestDSNHeaderSection(t *testing.T) {
	for _, tc := range []struct {
		in    string
		limit int
		want  string
	}{
		{"A: 1\r\nB: 2\r\n\r\nbody\r\n", 1000, "A: 1\r\nB: 2\r\n"},
		{"A: 1\nB: 2\n\nC: body\n", 1000, "A: 1\r\nB: 2\r\n"},
		{"A: 1\rB: 2\r\rC: body\r", 1000, "A: 1\r\nB: 2\r\n"},
		{"A: 1\r\nB: 2", 1000, "A: 1\r\nB: 2\r\n"},
		{"A: 1\r\nB:\r\n\t2\r\n", 1000, "A: 1\r\nB:\r\n\t2\r\n"},
		{"A: 1\r\nnot a header\r\nB: 2\r\n", 1000, "A: 1\r\n"},
		{"A: 1\r\n: no name\r\n", 1000, "A: 1\r\n"},
		{"Subject : obsolete\r\n\r\n", 1000, "Subject : obsolete\r\n"},
		{" A: 1\r\nB: 2\r\n", 1000, ""},
		{"From alice@example.org Sun Mar  1 10:00:00 2026\r\nA: 1\r\n", 1000, ""},
		{"", 1000, ""},
		{"\r\nA: 1\r\n", 1000, ""},
		{"A: 12345\r\nB: 1\r\n 2\r\nC: 3\r\n", 14, "A: 12345\r\n"},
		{"A: 12345\r\nB: 1\r\n 2\r\nC: 3\r\n", 17, "A: 12345\r\n"},
		{"A: 12345\r\nB: 1\r\n 2\r\nC: 3\r\n", 20, "A: 12345\r\nB: 1\r\n 2\r\n"},
		{"A: 12345\r\nB: 1\r\n 2\r\nC: 3\r\n", 26, "A: 12345\r\nB: 1\r\n 2\r\nC: 3\r\n"},
		{"A: 12345\r\n", 5, ""},
	} {
		if got := string(dsnHeaderSection(dsnCRLF([]byte(tc.in)), tc.limit)); got != tc.want {
			t.Errorf("%q (limit %d): %q, want %q", tc.in, tc.limit, got, tc.want)
		}
	}
}

// TestDSNLongHeaderSection: a header section beyond header_size_limit is
// cut after the last whole field that fits.
func TestDSNLongHeaderSection(t *testing.T) {
	var b strings.Builder
	for i := range 5000 {
		fmt.Fprintf(&b, "X-Field-%04d: %s\r\n\t%s\r\n", i, strings.Repeat("v", 20), strings.Repeat("w", 10))
	}
	b.WriteString("\r\nbody\r\n")
	field := len("X-Field-0000: \r\n\t\r\n") + 30
	m := &Message{ID: "long", Sender: "a@example.org", Ret: RetHeaders, Recipients: []Recipient{{Addr: "b@example.net"}}}
	_, content, err := NewDSN(DSNOptions{ReportingMTA: "mx.example.net"}, DSNFailure, m, []int{0}, strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := DSNTestParse(content)
	if err != nil {
		t.Fatal(err)
	}
	got := rep.Parts[2].Body
	if want := dsnHeaderLimit / field * field; len(got) != want {
		t.Errorf("returned %d bytes of headers, want %d", len(got), want)
	}
	if !strings.HasPrefix(b.String(), string(got)) || !bytes.HasSuffix(got, []byte("\r\n\t"+strings.Repeat("w", 10)+"\r\n")) {
		t.Errorf("returned headers end with %q", got[len(got)-40:])
	}
}
