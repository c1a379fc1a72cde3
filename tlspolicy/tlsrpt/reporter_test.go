package tlsrpt_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/mxkit/mxkit/dnsres"
	"github.com/mxkit/mxkit/tlspolicy/tlsrpt"
	"github.com/mxkit/mxkit/tlspolicy/tlsrpt/tlsrpttest"
)

// txtResolver answers TXT lookups from a map; names not in it are
// NXDOMAIN. No DNS query leaves the test.
type txtResolver struct {
	mu    sync.Mutex
	txt   map[string][]string
	err   error // returned instead, when set
	asked []string
}

func (r *txtResolver) LookupTXT(_ context.Context, name string) ([]string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.asked = append(r.asked, name)
	if r.err != nil {
		return nil, r.err
	}
	if t, ok := r.txt[name]; ok {
		return t, nil
	}
	return nil, &dnsres.Error{Name: name, Type: "TXT", Kind: dnsres.ErrNXDomain, Rcode: 3}
}

func (r *txtResolver) questions() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.asked...)
}

type sent struct {
	from string
	to   []string
	msg  []byte
	at   time.Time
}

// outbox is a MailSubmitter that keeps what it gets.
type outbox struct {
	mu   sync.Mutex
	msgs []sent
	err  error
}

func (o *outbox) Submit(_ context.Context, from string, to []string, msg []byte) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.err != nil {
		return o.err
	}
	o.msgs = append(o.msgs, sent{from, to, msg, time.Now()})
	return nil
}

func (o *outbox) all() []sent {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]sent(nil), o.msgs...)
}

// row21 records outbound.md §6 row 21: 2 successes and 1
// starttls-not-supported to example.com under its sts policy on
// 2026-03-01 UTC.
func row21(g *tlsrpt.Aggregator) {
	day := tlsrpttest.Day
	f := tlsrpttest.Failure
	g.Record(tlsrpt.Result{Time: day.Add(9 * time.Hour), Domain: "example.com", Policy: tlsrpttest.STS})
	g.Record(tlsrpt.Result{Time: day.Add(13 * time.Hour), Domain: "Example.COM.", Policy: tlsrpttest.STS, Failure: &f})
	g.Record(tlsrpt.Result{Time: day.Add(23*time.Hour + 59*time.Minute + 59*time.Second), Domain: "example.com", Policy: tlsrpttest.STS})
}

const row21JSON = `{"organization-name":"Sub Org","date-range":{"start-datetime":"2026-03-01T00:00:00Z","end-datetime":"2026-03-01T23:59:59Z"},` +
	`"contact-info":"mailto:tlsrpt@sub","report-id":"20260301.example.com@sub","policies":[{"policy":{"policy-type":"sts",` +
	`"policy-string":["version: STSv1","mode: enforce","mx: *.example.com","max_age: 86400"],"policy-domain":"example.com",` +
	`"mx-host":["*.example.com"]},"summary":{"total-successful-session-count":2,"total-failure-session-count":1},` +
	`"failure-details":[{"result-type":"starttls-not-supported","sending-mta-ip":"192.0.2.10","receiving-mx-hostname":"mx1.example.com",` +
	`"receiving-mx-helo":"mx1.example.com","receiving-ip":"192.0.2.1","failed-session-count":1}]}]}`

var dkimKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))

func dkimLookup(domain string) ([]string, error) {
	if domain != "sel._domainkey.sub" {
		return nil, fmt.Errorf("no key at %s", domain)
	}
	return []string{"v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(dkimKey.Public().(ed25519.PublicKey))}, nil
}

func newReporter(store tlsrpt.Store, g *tlsrpt.Aggregator, res *txtResolver, out *outbox, now *time.Time) *tlsrpt.Reporter {
	return &tlsrpt.Reporter{
		Store: store, Aggregator: g, Resolver: res, Mail: out,
		Submitter: "sub", OrganizationName: "Sub Org", ContactInfo: "mailto:tlsrpt@sub", From: "tlsrpt@sub",
		DKIM:   &dkim.SignOptions{Domain: "sub", Selector: "sel", Signer: dkimKey},
		Now:    func() time.Time { return *now },
		Logger: quiet,
	}
}

// TestRow21 is outbound.md §6 row 21: one report, totals 2/1, one
// failure-detail with mx, ip and helo, the day's date range, a
// multipart/report; report-type="tlsrpt" mail with the TLS-Report headers
// and the attachment sub!example.com!1772323200!1772409599.json.gz,
// DKIM-signed (the TLS-Report headers too) and marked TLS-Required: No.
func TestRow21(t *testing.T) {
	ctx := context.Background()
	store := &tlsrpt.MemoryStore{}
	g := &tlsrpt.Aggregator{Store: store}
	row21(g)
	res := &txtResolver{txt: map[string][]string{
		"_smtp._tls.example.com": {"v=spf1 -all", "v=TLSRPTv1; rua=mailto:tlsrpt@example.com"},
	}}
	out := &outbox{}
	now := time.Date(2026, 3, 1, 23, 59, 59, 0, time.UTC)
	r := newReporter(store, g, res, out, &now)

	// Before the day is over nothing is sent.
	if _, err := r.SendDue(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(out.all()); n != 0 {
		t.Fatalf("%d messages before the day is over", n)
	}
	now = time.Date(2026, 3, 2, 0, 5, 0, 0, time.UTC)
	retry, err := r.SendDue(ctx)
	if err != nil || retry {
		t.Fatalf("SendDue = %v, %v", retry, err)
	}
	msgs := out.all()
	if len(msgs) != 1 {
		t.Fatalf("%d messages, want 1", len(msgs))
	}
	m := msgs[0]
	if m.from != "tlsrpt@sub" || len(m.to) != 1 || m.to[0] != "tlsrpt@example.com" {
		t.Errorf("envelope %s → %v", m.from, m.to)
	}
	checkReportMail(t, m.msg, "example.com", row21JSON)

	// The report goes once.
	if _, err := r.SendDue(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(out.all()); n != 1 {
		t.Errorf("%d messages after a second round, want 1", n)
	}
}

func checkReportMail(t *testing.T, raw []byte, domain, wantJSON string) {
	t.Helper()
	if bytes.Contains(bytes.ReplaceAll(raw, []byte("\r\n"), nil), []byte("\n")) {
		t.Error("bare LF in the message")
	}
	vs, err := dkim.VerifyWithOptions(bytes.NewReader(raw), &dkim.VerifyOptions{LookupTXT: dkimLookup})
	if err != nil || len(vs) != 1 || vs[0].Err != nil {
		t.Fatalf("DKIM: %v %+v", err, vs)
	}
	signed := strings.ToLower(strings.Join(vs[0].HeaderKeys, ":"))
	for _, h := range []string{"from", "tls-report-domain", "tls-report-submitter", "subject", "tls-required"} {
		if !strings.Contains(signed, h) {
			t.Errorf("DKIM h= %q lacks %s", signed, h)
		}
	}
	sig, _, _ := strings.Cut(string(raw), "\r\nFrom:")
	if !strings.HasPrefix(sig, "DKIM-Signature:") || !strings.Contains(sig, "c=relaxed/relaxed") || strings.Contains(sig, " l=") {
		t.Errorf("signature %q: want the first field, relaxed/relaxed, no l=", sig)
	}
	if vs[0].Domain != "sub" {
		t.Errorf("DKIM d=%s", vs[0].Domain)
	}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	h := msg.Header
	for name, want := range map[string]string{
		"TLS-Report-Domain":    domain,
		"TLS-Report-Submitter": "sub",
		"TLS-Required":         "No",
		"Subject":              "Report Domain: " + domain + " Submitter: sub Report-ID: <20260301." + domain + "@sub>",
		"From":                 "<tlsrpt@sub>",
		"MIME-Version":         "1.0",
	} {
		if got := h.Get(name); got != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
	if _, err := h.Date(); err != nil {
		t.Errorf("Date: %v", err)
	}
	if id := h.Get("Message-ID"); !strings.HasPrefix(id, "<") || !strings.HasSuffix(id, "@sub>") {
		t.Errorf("Message-ID %q", id)
	}
	mt, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil || mt != "multipart/report" || params["report-type"] != "tlsrpt" {
		t.Fatalf("Content-Type %q: %v %v", h.Get("Content-Type"), mt, params)
	}
	if !strings.Contains(h.Get("Content-Type"), `report-type="tlsrpt"`) {
		t.Errorf("Content-Type %q: report-type not quoted as in RFC 8460 §5.3", h.Get("Content-Type"))
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	p1, err := mr.NextPart()
	if err != nil {
		t.Fatal(err)
	}
	if ct := p1.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("first part %q", ct)
	}
	p2, err := mr.NextPart()
	if err != nil {
		t.Fatal(err)
	}
	ct, cparams, _ := mime.ParseMediaType(p2.Header.Get("Content-Type"))
	_, dparams, _ := mime.ParseMediaType(p2.Header.Get("Content-Disposition"))
	wantName := "sub!" + domain + "!1772323200!1772409599.json.gz"
	if ct != "application/tlsrpt+gzip" || p2.Header.Get("Content-Transfer-Encoding") != "base64" ||
		cparams["name"] != wantName || dparams["filename"] != wantName {
		t.Errorf("attachment %v", p2.Header)
	}
	zr, err := gzip.NewReader(base64.NewDecoder(base64.StdEncoding, p2))
	if err != nil {
		t.Fatal(err)
	}
	js, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if string(js) != wantJSON {
		t.Errorf("report:\n got %s\nwant %s", js, wantJSON)
	}
	if _, err := mr.NextPart(); err != io.EOF {
		t.Errorf("more parts: %v", err)
	}
}

// TestNoFailures: by default a day without failures sends nothing, and
// is done; SendWithoutFailures sends it.
func TestNoFailures(t *testing.T) {
	for _, all := range []bool{false, true} {
		ctx := context.Background()
		store := &tlsrpt.MemoryStore{}
		g := &tlsrpt.Aggregator{Store: store}
		g.Record(tlsrpt.Result{Time: tlsrpttest.Day.Add(time.Hour), Policy: tlsrpttest.STS})
		res := &txtResolver{txt: map[string][]string{"_smtp._tls.example.com": {"v=TLSRPTv1;rua=mailto:r@example.com"}}}
		out := &outbox{}
		now := tlsrpttest.Day.Add(30 * time.Hour)
		r := newReporter(store, g, res, out, &now)
		r.SendWithoutFailures = all
		if _, err := r.SendDue(ctx); err != nil {
			t.Fatal(err)
		}
		want := 0
		if all {
			want = 1
		}
		if n := len(out.all()); n != want {
			t.Errorf("SendWithoutFailures=%v: %d messages, want %d", all, n, want)
		}
		if !all && len(res.questions()) != 0 {
			t.Errorf("DNS asked %v for a report not sent", res.questions())
		}
		if keys, _ := store.Unsent(ctx, now); len(keys) != 0 {
			t.Errorf("still unsent: %v", keys)
		}
	}
}

// TestZeroValue: the zero Reporter and Aggregator send and record
// nothing.
func TestZeroValue(t *testing.T) {
	var g tlsrpt.Aggregator
	g.Record(tlsrpt.Result{Policy: tlsrpttest.STS})
	var nilg *tlsrpt.Aggregator
	nilg.Record(tlsrpt.Result{Policy: tlsrpttest.STS})
	if err := nilg.Flush(context.Background()); err != nil {
		t.Error(err)
	}
	var r tlsrpt.Reporter
	if retry, err := r.SendDue(context.Background()); retry || err != nil {
		t.Errorf("SendDue = %v, %v", retry, err)
	}
	if err := r.Run(context.Background()); err != nil {
		t.Errorf("Run = %v", err)
	}
}

// TestHTTPS posts the report to an https rua (httptest on loopback): a
// 500 is retried after RetryInterval, the mailto rua that worked is not
// sent twice.
func TestHTTPS(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	var bodies [][]byte
	fail := true
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodPost || req.Header.Get("Content-Type") != "application/tlsrpt+gzip" || req.URL.Path != "/tlsrpt" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		zr, err := gzip.NewReader(req.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		b, _ := io.ReadAll(zr)
		mu.Lock()
		defer mu.Unlock()
		if fail {
			fail = false
			http.Error(w, "try later", http.StatusInternalServerError)
			return
		}
		bodies = append(bodies, b)
	}))
	defer srv.Close()

	store := &tlsrpt.MemoryStore{}
	g := &tlsrpt.Aggregator{Store: store}
	row21(g)
	res := &txtResolver{txt: map[string][]string{
		"_smtp._tls.example.com": {"v=TLSRPTv1; rua=mailto:tlsrpt@example.com," + srv.URL + "/tlsrpt"},
	}}
	out := &outbox{}
	now := time.Date(2026, 3, 2, 0, 5, 0, 0, time.UTC)
	r := newReporter(store, g, res, out, &now)
	r.HTTPS = true
	r.HTTPClient = srv.Client()

	retry, err := r.SendDue(ctx)
	if err != nil || !retry {
		t.Fatalf("SendDue = %v, %v; want a retry", retry, err)
	}
	// Not before RetryInterval.
	now = now.Add(10 * time.Minute)
	if _, err := r.SendDue(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	n := len(bodies)
	mu.Unlock()
	if n != 0 {
		t.Fatalf("posted before the retry time")
	}
	now = now.Add(tlsrpt.DefaultRetryInterval)
	retry, err = r.SendDue(ctx)
	if err != nil || retry {
		t.Fatalf("SendDue = %v, %v", retry, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(bodies) != 1 || string(bodies[0]) != row21JSON {
		t.Errorf("posted %q", bodies)
	}
	if n := len(out.all()); n != 1 {
		t.Errorf("%d mails, want 1", n)
	}
}

// TestRetryGiveUp: a temporary DNS failure is retried, and 24 hours
// after the first attempt the report is given up.
func TestRetryGiveUp(t *testing.T) {
	ctx := context.Background()
	store := &tlsrpt.MemoryStore{}
	g := &tlsrpt.Aggregator{Store: store}
	row21(g)
	res := &txtResolver{err: &dnsres.Error{Name: "x", Type: "TXT", Kind: dnsres.ErrTemporary, Rcode: 2}}
	out := &outbox{}
	now := time.Date(2026, 3, 2, 0, 5, 0, 0, time.UTC)
	r := newReporter(store, g, res, out, &now)
	attempts := 0
	for ; attempts < 100; attempts++ {
		retry, err := r.SendDue(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !retry {
			break
		}
		now = now.Add(tlsrpt.DefaultRetryInterval)
	}
	if attempts != 48 {
		t.Errorf("gave up after %d rounds, want 48 (24 h every 30 min)", attempts)
	}
	if len(out.all()) != 0 {
		t.Error("sent")
	}
	// Submission failures are retried too.
	res.err = nil
	res.txt = map[string][]string{"_smtp._tls.example.org": {"v=TLSRPTv1; rua=mailto:r@example.org"}}
	f := tlsrpttest.Failure
	g.Record(tlsrpt.Result{Time: now.Add(-24 * time.Hour), Policy: tlsrpt.Policy{Type: tlsrpt.PolicyNoPolicyFound, Domain: "example.org"}, Failure: &f})
	out.err = errors.New("queue full")
	if retry, _ := r.SendDue(ctx); !retry {
		t.Error("no retry after a submission failure")
	}
	out.err = nil
	now = now.Add(time.Hour)
	if retry, _ := r.SendDue(ctx); retry || len(out.all()) != 1 {
		t.Errorf("retry = %v, %d messages", retry, len(out.all()))
	}
}

// TestWhichRUA: the record is read at send time; none, several or an
// invalid one send nothing; https rua are skipped unless HTTPS is on.
func TestWhichRUA(t *testing.T) {
	for _, tc := range []struct {
		name string
		txt  []string
		want int
	}{
		{"none", nil, 0},
		{"two", []string{"v=TLSRPTv1; rua=mailto:a@example.com", "v=TLSRPTv1; rua=mailto:b@example.com"}, 0},
		{"invalid", []string{"v=TLSRPTv1; rua=ftp://x"}, 0},
		{"httpsOnly", []string{"v=TLSRPTv1; rua=https://127.0.0.1/x"}, 0},
		{"version-prefix", []string{"v=TLSRPTv10; rua=mailto:a@example.com", "v=TLSRPTv1;rua=mailto:a@example.com,mailto:b@example.com"}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := &tlsrpt.MemoryStore{}
			g := &tlsrpt.Aggregator{Store: store}
			row21(g)
			res := &txtResolver{txt: map[string][]string{}}
			if tc.txt != nil {
				res.txt["_smtp._tls.example.com"] = tc.txt
			}
			out := &outbox{}
			now := time.Date(2026, 3, 2, 0, 5, 0, 0, time.UTC)
			r := newReporter(store, g, res, out, &now)
			if retry, err := r.SendDue(context.Background()); retry || err != nil {
				t.Fatalf("SendDue = %v, %v", retry, err)
			}
			if n := len(out.all()); n != tc.want {
				t.Errorf("%d messages, want %d", n, tc.want)
			}
			if q := res.questions(); len(q) != 1 || q[0] != "_smtp._tls.example.com" {
				t.Errorf("asked %v", q)
			}
		})
	}
}

// TestTLSAPolicy: a DANE result goes to the next-hop domain's record,
// with the TLSA base domain as policy-domain and no mx-host.
func TestTLSAPolicy(t *testing.T) {
	store := &tlsrpt.MemoryStore{}
	g := &tlsrpt.Aggregator{Store: store}
	tlsa := tlsrpt.Policy{Type: tlsrpt.PolicyTLSA, Strings: []string{"3 1 1 0123ABCD"}, Domain: "mx.example.net"}
	f := tlsrpt.Failure{ResultType: tlsrpt.ResultValidationFailure, ReceivingIP: netip.MustParseAddr("2001:db8::1"),
		ReceivingMXHostname: "mx.example.net", FailureReasonCode: "dane-no-match"}
	for range 3 {
		g.Record(tlsrpt.Result{Time: tlsrpttest.Day, Domain: "example.org", Policy: tlsa, Failure: &f})
	}
	g.Record(tlsrpt.Result{Time: tlsrpttest.Day, Domain: "bad domain", Policy: tlsa})
	if err := g.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	a := store.Get(tlsrpt.Key{Domain: "example.org", Day: tlsrpttest.Day})
	if a == nil {
		t.Fatal("no aggregate")
	}
	rep := tlsrpt.BuildReport(a, tlsrpt.ReportOptions{Submitter: "sub"})
	js, _ := rep.JSON()
	want := `{"organization-name":"sub","date-range":{"start-datetime":"2026-03-01T00:00:00Z","end-datetime":"2026-03-01T23:59:59Z"},` +
		`"contact-info":"postmaster@sub","report-id":"20260301.example.org@sub","policies":[{"policy":{"policy-type":"tlsa",` +
		`"policy-string":["3 1 1 0123ABCD"],"policy-domain":"mx.example.net"},"summary":{"total-successful-session-count":0,` +
		`"total-failure-session-count":3},"failure-details":[{"result-type":"validation-failure","receiving-mx-hostname":"mx.example.net",` +
		`"receiving-ip":"2001:db8::1","failure-reason-code":"dane-no-match","failed-session-count":3}]}]}`
	if string(js) != want {
		t.Errorf("report:\n got %s\nwant %s", js, want)
	}
	if keys, _ := store.Unsent(context.Background(), tlsrpttest.Day.Add(48*time.Hour)); len(keys) != 1 {
		t.Errorf("keys %v: the bad domain was recorded", keys)
	}
}
