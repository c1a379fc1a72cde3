package pgstore_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mxkit/mxkit/internal/testdb"
	"github.com/mxkit/mxkit/queue"
	"github.com/mxkit/mxkit/queue/pgstore"
)

// The runner test's environment: a child process started with these
// variables runs one queue runner until it is killed.
const (
	envRunnerDSN    = "MXKIT_PGSTORE_RUNNER_DSN"
	envRunnerPrefix = "MXKIT_PGSTORE_RUNNER_PREFIX"
	envRunnerOwner  = "MXKIT_PGSTORE_RUNNER_OWNER"
)

// sinkDeliverer records each delivery in a table of the same database,
// as an outside next hop would: not in the transaction of the queue
// (there is none), so a runner killed between a delivery and its Finish
// delivers that message twice.
type sinkDeliverer struct {
	pool  *pgxpool.Pool
	table string
	owner string
}

func (d *sinkDeliverer) Deliver(ctx context.Context, dl *queue.Delivery) []queue.Result {
	_, err := d.pool.Exec(ctx, "INSERT INTO "+d.table+" (msg, runner) VALUES ($1, $2)", dl.Message.Sender, d.owner)
	if err != nil {
		return queue.Results(len(dl.Rcpts), queue.Deferf("4.4.2", "sink: %v", err))
	}
	return queue.Results(len(dl.Rcpts), queue.Result{Status: queue.Delivered, DSN: "2.0.0", Text: "250 2.0.0 Ok", Remote: "sink"})
}

func runner(ctx context.Context, dsn, prefix, owner string) error {
	st, err := pgstore.Connect(ctx, dsn, pgstore.Options{TablePrefix: prefix, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	defer st.Close()
	q := &queue.Queue{
		Store: st,
		Router: queue.RouterFunc(func(context.Context, *queue.Message, string) (queue.Route, error) {
			return queue.Route{Transport: "sink", Nexthop: "sink"}, nil
		}),
		Transports: map[string]queue.Deliverer{"sink": &sinkDeliverer{pool: st.Pool(), table: prefix + "_delivered", owner: owner}},
		Owner:      owner,
		LeaseTTL:   6 * time.Second, // renewed every 2 s: 4 s of slack on a loaded CI machine
		MaxActive:  40,
		Poll:       50 * time.Millisecond,
		Logger:     slog.New(slog.DiscardHandler),
	}
	return q.Run(ctx)
}

// TestRunnerChildProcess is the body of the child process of
// TestTwoRunnersExactlyOnce; run alone it has nothing to do.
func TestRunnerChildProcess(t *testing.T) {
	dsn := os.Getenv(envRunnerDSN)
	if dsn == "" {
		t.Skip("the queue runner child process of TestTwoRunnersExactlyOnce")
	}
	if err := runner(context.Background(), dsn, os.Getenv(envRunnerPrefix), os.Getenv(envRunnerOwner)); err != nil {
		t.Fatal(err)
	}
}

// TestTwoRunnersExactlyOnce: two queue runners, one in this process and
// one in a child process, share one queue in PostgreSQL holding 10,000
// messages. The child is killed with SIGKILL mid-run; its leases expire
// and the other runner takes its messages over. Every message is
// delivered; only messages the killed runner had in flight may be
// delivered twice, and no message is delivered twice otherwise.
func TestTwoRunnersExactlyOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 messages")
	}
	p := testdb.StartPostgres(t)
	dsn := p.DSN() + "&pool_max_conns=12"
	const prefix = "runners"
	ctx := context.Background()
	st, err := pgstore.Connect(ctx, dsn, pgstore.Options{TablePrefix: prefix, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Pool().Exec(ctx, "CREATE TABLE "+prefix+"_delivered (msg text NOT NULL, runner text NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	const n = 10000
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			for i := w; i < n; i += 16 {
				m := &queue.Message{Sender: fmt.Sprintf("m%05d@example.org", i), Arrival: time.Now(), Recipients: []queue.Recipient{{Addr: "r@example.test"}}}
				if err := st.Put(ctx, m, strings.NewReader("Subject: x\r\n\r\ny\r\n")); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	count := func(q string, args ...any) int {
		t.Helper()
		var c int
		if err := st.Pool().QueryRow(ctx, q, args...).Scan(&c); err != nil {
			t.Fatal(err)
		}
		return c
	}

	child := exec.Command(os.Args[0], "-test.run=^TestRunnerChildProcess$", "-test.v")
	child.Env = append(os.Environ(), envRunnerDSN+"="+dsn, envRunnerPrefix+"="+prefix, envRunnerOwner+"=B")
	var childOut strings.Builder
	child.Stdout, child.Stderr = &childOut, &childOut
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	childDone := make(chan struct{})
	go func() { _ = child.Wait(); close(childDone) }()
	defer func() { _ = child.Process.Kill(); <-childDone }()

	rctx, stop := context.WithCancel(ctx)
	runDone := make(chan error, 1)
	go func() { runDone <- runner(rctx, dsn, prefix, "A") }()
	defer func() { stop(); <-runDone }()

	// Kill the child once it has delivered a good share.
	deadline := time.Now().Add(90 * time.Second)
	for count("SELECT count(*) FROM "+prefix+"_delivered WHERE runner = 'B'") < 1500 {
		select {
		case <-childDone:
			t.Fatalf("runner B exited early:\n%s", childOut.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("runner B delivered too little in 90 s:\n%s", childOut.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = child.Process.Kill() // SIGKILL
	<-childDone
	inFlight := count("SELECT count(*) FROM " + prefix + "_msg WHERE lease_owner = 'B' AND lease_until > now()")
	t.Logf("runner B killed with %d messages leased", inFlight)

	for count("SELECT count(DISTINCT msg) FROM "+prefix+"_delivered") < n {
		if time.Now().After(deadline.Add(60 * time.Second)) {
			t.Fatalf("only %d of %d messages delivered", count("SELECT count(DISTINCT msg) FROM "+prefix+"_delivered"), n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for count("SELECT count(*) FROM "+prefix+"_msg") > 0 {
		if time.Now().After(deadline.Add(60 * time.Second)) {
			t.Fatalf("%d messages still queued after all were delivered", count("SELECT count(*) FROM "+prefix+"_msg"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	total := count("SELECT count(*) FROM " + prefix + "_delivered")
	dups := total - n
	byA := count("SELECT count(*) FROM " + prefix + "_delivered WHERE runner = 'A'")
	t.Logf("two runners, %d messages: runner A delivered %d, runner B %d (killed), duplicates %d (B had %d leased at the kill)",
		n, byA, total-byA, dups, inFlight)
	// A duplicate is a message B delivered and could not Finish before
	// the kill: never more than B had leased.
	if dups > inFlight {
		t.Errorf("%d duplicate deliveries, more than the %d messages runner B had in flight", dups, inFlight)
	}
	if d := count("SELECT count(*) FROM (SELECT msg FROM " + prefix + "_delivered GROUP BY msg HAVING count(*) > 1 AND count(DISTINCT runner) = 1) x"); d != 0 {
		t.Errorf("%d messages delivered twice by the same runner", d)
	}
}
