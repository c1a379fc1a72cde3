package pgstore_test

import (
	"context"
	"fmt"
	"log"
	"strings"
	"time"

	"github.com/mxkit/mxkit/queue"
	"github.com/mxkit/mxkit/queue/pgstore"
)

// Example needs a PostgreSQL server, so it is compiled but not run.
func Example() {
	ctx := context.Background()
	st, err := pgstore.Connect(ctx, "postgres://mxkit:secret@db.example.net/mail", pgstore.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()

	// The SMTP server: answer 250 only after Put returned nil.
	m := &queue.Message{
		Sender:     "alice@example.org",
		Arrival:    time.Now(),
		Recipients: []queue.Recipient{{Addr: "bob@example.test"}},
	}
	if err := st.Put(ctx, m, strings.NewReader("Subject: hi\r\n\r\nHello\r\n")); err != nil {
		fmt.Println("451 4.3.0 Error: queue file write error")
		return
	}

	// A queue runner on any node: lease due messages, deliver, finish.
	const owner = "mx1.example.net/4711"
	leased, err := st.Lease(ctx, owner, time.Now(), 10, 5*time.Minute)
	if err != nil {
		log.Fatal(err)
	}
	for _, m := range leased {
		// ... deliver m ...
		if err := st.Finish(ctx, owner, m.ID); err != nil {
			log.Print(err) // queue.ErrLeaseLost: another runner has it now
		}
	}
}
