package policyproto

import (
	"bufio"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/mxkit/mxkit/smtppolicy"
	"github.com/mxkit/mxkit/smtppolicy/smtppolicytest"
)

// A query as Postfix 3.7 sends it (captured from a real smtpd, values
// changed).
const postfixQuery = "request=smtpd_access_policy\nprotocol_state=RCPT\nprotocol_name=ESMTP\n" +
	"client_address=127.0.0.3\nclient_name=unknown\nclient_port=40312\nreverse_client_name=unknown\n" +
	"server_address=127.0.0.1\nserver_port=2525\nhelo_name=client.example\nsender=a@example.org\n" +
	"recipient=b@example.com\nrecipient_count=0\nqueue_id=\ninstance=1a2b.65f0c1d2.3e4f5.0\nsize=0\n" +
	"etrn_domain=\nstress=\nsasl_method=\nsasl_username=\nsasl_sender=\nccert_subject=\nccert_issuer=\n" +
	"ccert_fingerprint=\nccert_pubkey_fingerprint=\nencryption_protocol=\nencryption_cipher=\n" +
	"encryption_keysize=0\npolicy_context=\nfuture_attribute=x=y\n\n"

func TestReadRequestPostfix(t *testing.T) {
	br := bufio.NewReader(strings.NewReader(postfixQuery + postfixQuery))
	for i := 0; i < 2; i++ {
		r, err := ReadRequest(br, Limits{})
		if err != nil {
			t.Fatal(err)
		}
		want := Request{
			Request: "smtpd_access_policy", ProtocolState: "RCPT", ProtocolName: "ESMTP",
			ClientAddress: "127.0.0.3", ClientName: "unknown", ClientPort: 40312, ReverseClientName: "unknown",
			ServerAddress: "127.0.0.1", ServerPort: 2525, HeloName: "client.example", Sender: "a@example.org",
			Recipient: "b@example.com", Instance: "1a2b.65f0c1d2.3e4f5.0",
			Extra: Attrs{{"future_attribute", "x=y"}},
		}
		if !reflect.DeepEqual(r, want) {
			t.Fatalf("got  %+v\nwant %+v", r, want)
		}
	}
	if _, err := ReadRequest(br, Limits{}); err != io.EOF {
		t.Fatalf("after the last query: %v, want io.EOF", err)
	}
}

func TestReadAttrsRules(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Attrs
		err  string
	}{
		{in: "a=1\na=2\n\n", want: Attrs{{"a", "1"}, {"a", "2"}}},
		{in: "a=\r\nb==\r\n\r\n", want: Attrs{{"a", ""}, {"b", "="}}},
		{in: "\n", want: nil},
		{in: "novalue\n\n", err: `policyproto: malformed attribute list: line 1: no '=' in "novalue"`},
		{in: "=v\n\n", err: "policyproto: malformed attribute list: line 1: empty attribute name"},
		{in: "a=1\nb=x\x00y\n\n", err: "policyproto: malformed attribute list: line 2: NUL or CR byte"},
		{in: "a=" + strings.Repeat("x", 40) + "\n\n", err: "policyproto: malformed attribute list: line longer than 20 bytes"},
		{in: "a=1\nb=2\nc=3\n\n", err: "policyproto: malformed attribute list: more than 2 attributes"},
		{in: "a=1\nb=2", err: "unexpected EOF"},
		{in: "a=1\n", err: "unexpected EOF"},
	} {
		got, err := ReadAttrs(bufio.NewReaderSize(strings.NewReader(tc.in), 16), Limits{MaxLine: 20, MaxAttrs: 2})
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("%q: error %v, want %s", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q: %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestRepeatedAttributeLastWins(t *testing.T) {
	r, err := ReadRequest(bufio.NewReader(strings.NewReader("request=smtpd_access_policy\nsender=a@x\nsender=b@x\n\n")), Limits{})
	if err != nil || r.Sender != "b@x" {
		t.Fatalf("sender %q, %v; want b@x", r.Sender, err)
	}
	if v, _ := (Attrs{{"a", "1"}, {"a", "2"}}).Get("a"); v != "2" {
		t.Fatalf("Get: %q, want 2", v)
	}
}

func TestBadNumber(t *testing.T) {
	_, err := ReadRequest(bufio.NewReader(strings.NewReader("size=12k\n\n")), Limits{})
	if !errors.Is(err, ErrMalformed) || err.Error() != `line 1: policyproto: malformed attribute list: size="12k" is not a number` {
		t.Fatalf("error %v", err)
	}
}

func TestAppendAttrsRefuses(t *testing.T) {
	for _, a := range []Attr{{"a=b", "x"}, {"", "x"}, {"a", "x\ny"}, {"a", "x\x00"}} {
		if _, err := AppendAttrs(nil, Attrs{a}); err == nil {
			t.Errorf("%q accepted", a)
		}
	}
}

func TestReplies(t *testing.T) {
	got := string(AppendReply(nil, "REJECT bad\nthing"))
	if got != "action=REJECT bad thing\n\n" {
		t.Fatalf("AppendReply: %q", got)
	}
	a, err := ReadReply(bufio.NewReader(strings.NewReader("foo=bar\naction=DUNNO\n\n")), Limits{})
	if err != nil || a != "DUNNO" {
		t.Fatalf("ReadReply: %q, %v", a, err)
	}
	_, err = ReadReply(bufio.NewReader(strings.NewReader("foo=bar\n\n")), Limits{})
	if err == nil || err.Error() != "policyproto: malformed attribute list: reply without action=" {
		t.Fatalf("ReadReply without action: %v", err)
	}
}

func TestRequestRoundTrip(t *testing.T) {
	r1, err := ReadRequest(bufio.NewReader(strings.NewReader(postfixQuery)), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	r1.TLSSNI = "mx.example"
	b, err := r1.AppendTo(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(b), "request=smtpd_access_policy\nprotocol_state=RCPT\nprotocol_name=ESMTP\nhelo_name=client.example\n") ||
		!strings.HasSuffix(string(b), "tls_sni=mx.example\nfuture_attribute=x=y\n\n") {
		t.Fatalf("wire form:\n%s", b)
	}
	r2, err := ReadRequest(bufio.NewReader(strings.NewReader(string(b))), Limits{})
	if err != nil || !reflect.DeepEqual(r1, r2) {
		t.Fatalf("round trip: %v\n%+v\n%+v", err, r1, r2)
	}
}

func TestNewRequestStages(t *testing.T) {
	st := smtppolicytest.NewState("::ffff:192.0.2.1", smtppolicytest.WithHelo("c.example"))
	st.ESMTP, st.Stage = false, smtppolicy.StageHelo
	st.Recipient = "stale@x"
	r := NewRequest(&st, "")
	if r.ProtocolState != "HELO" || r.ProtocolName != "SMTP" || r.ClientAddress != "192.0.2.1" || r.Recipient != "" || r.ClientName != "unknown" {
		t.Fatalf("HELO: %+v", r)
	}
	st.Stage, st.Recipients, st.Recipient = smtppolicy.StageData, []string{"a@x", "b@x"}, ""
	if r := NewRequest(&st, ""); r.ProtocolState != "DATA" || r.RecipientCount != 2 {
		t.Fatalf("DATA: %+v", r)
	}
}
