package queue_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/mxkit/mxkit/queue"
)

func Example() {
	dir, err := os.MkdirTemp("", "spool")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	spool, err := queue.OpenSpool(dir, queue.SpoolOptions{})
	if err != nil {
		log.Fatal(err)
	}
	defer spool.Close()
	ctx := context.Background()

	notify, _ := queue.ParseNotify("FAILURE,DELAY")
	m := &queue.Message{
		ID:         "example1",
		Sender:     "alice@example.org",
		Arrival:    time.Now(),
		Recipients: []queue.Recipient{{Addr: "bob@example.test", Notify: notify}},
	}
	// Answer 250 only after Put returned nil; on error answer 451.
	if err := spool.Put(ctx, m, strings.NewReader("Subject: hi\r\n\r\nHello\r\n")); err != nil {
		fmt.Println("451 4.3.0 Error: queue file write error")
		return
	}
	fmt.Println("250 2.0.0 Ok: queued as", m.ID)

	due, _ := spool.Due(ctx, time.Now(), 10)
	for _, d := range due {
		body, _ := spool.Body(ctx, d.ID)
		b, _ := io.ReadAll(body)
		body.Close()
		fmt.Printf("deliver %s from <%s> to %s (NOTIFY=%s): %q\n", d.ID, d.Sender, d.Recipients[0].Addr, d.Recipients[0].Notify, b)
		_ = spool.Delete(ctx, d.ID)
	}
	// Output:
	// 250 2.0.0 Ok: queued as example1
	// deliver example1 from <alice@example.org> to bob@example.test (NOTIFY=FAILURE,DELAY): "Subject: hi\r\n\r\nHello\r\n"
}

// Example_queue runs the scheduler over a spool: one message, two
// recipients on two routes; the "error:" route bounces, so the sender gets
// a notification, which is queued like any message.
func Example_queue() {
	dir, err := os.MkdirTemp("", "spool")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	spool, err := queue.OpenSpool(dir, queue.SpoolOptions{})
	if err != nil {
		log.Fatal(err)
	}
	defer spool.Close()

	delivered := make(chan string, 10)
	q := &queue.Queue{
		Store: spool,
		// Routes as transport_maps would give them.
		Router: queue.RouterFunc(func(_ context.Context, m *queue.Message, rcpt string) (queue.Route, error) {
			switch {
			case m.Sender == "":
				return queue.Route{Transport: "mailbox"}, nil // notifications
			case strings.HasPrefix(rcpt, "nobody@"):
				return queue.Route{Transport: "error", Nexthop: "5.1.1 no such user"}, nil
			}
			return queue.Route{Transport: "mailbox"}, nil
		}),
		Transports: map[string]queue.Deliverer{
			"mailbox": queue.DelivererFunc(func(_ context.Context, d *queue.Delivery) []queue.Result {
				for _, a := range d.Addrs() {
					from := d.Message.Sender
					if from == "" {
						from = "MAILER-DAEMON"
					}
					delivered <- fmt.Sprintf("%s -> %s", from, a)
				}
				return queue.Results(len(d.Rcpts), queue.Result{Status: queue.Delivered, DSN: "2.0.0", Text: "stored"})
			}),
			"error": queue.DelivererFunc(func(_ context.Context, d *queue.Delivery) []queue.Result {
				return queue.Results(len(d.Rcpts), queue.Result{Status: queue.Bounced, DSN: "5.1.1", Text: "no such user"})
			}),
		},
		DSN:    queue.DSNOptions{ReportingMTA: "mx.example.test"},
		Logger: slog.New(slog.DiscardHandler),
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- q.Run(ctx) }()

	m := &queue.Message{Sender: "alice@example.org", Arrival: time.Now(), Recipients: []queue.Recipient{
		{Addr: "bob@example.test"}, {Addr: "nobody@example.test"},
	}}
	if err := spool.Put(ctx, m, strings.NewReader("Subject: hi\r\n\r\nHello\r\n")); err != nil {
		log.Fatal(err)
	}
	q.Kick()
	fmt.Println(<-delivered)
	fmt.Println(<-delivered) // the failure notice for nobody@
	cancel()
	<-done
	s := q.Stats()
	fmt.Printf("delivered %d, bounced %d, notifications %d\n", s.Delivered, s.Bounced, s.Notifications)
	// Output:
	// alice@example.org -> bob@example.test
	// MAILER-DAEMON -> alice@example.org
	// delivered 2, bounced 1, notifications 1
}
