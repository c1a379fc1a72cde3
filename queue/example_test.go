package queue_test

import (
	"context"
	"fmt"
	"io"
	"log"
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
