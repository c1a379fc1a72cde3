package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mxkit/mxkit/queue"
	"github.com/mxkit/mxkit/queue/pgstore"
)

// The queue command line (postqueue and postsuper in one):
//
//	mx queue [-spool DIR] list
//	mx queue [-spool DIR] flush [DOMAIN]
//	mx queue [-spool DIR] hold|release|delete ID...
//
// It talks to the running MX over a UNIX socket in the spool folder
// (control.sock, mode 0600: whoever can use it can read the spool
// anyway). When no MX runs, it opens the spool itself; the spool's lock
// file keeps two processes from using one spool at once.

const controlSocket = "control.sock"

type controlRequest struct {
	Op   string   `json:"op"`
	Args []string `json:"args,omitempty"`
}

type controlResponse struct {
	Error    string           `json:"error,omitempty"`
	Count    int              `json:"count,omitempty"`
	Messages []*queue.Message `json:"messages,omitempty"`
	Errors   []string         `json:"errors,omitempty"`
}

// serveControl answers queue commands on dir/control.sock until ctx is done.
func serveControl(ctx context.Context, dir string, q *queue.Queue, log *slog.Logger) (stop func(), err error) {
	path := filepath.Join(dir, controlSocket)
	_ = os.Remove(path) // a socket left by a killed process; the spool lock says nobody else runs
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control socket: %w", err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(time.Minute))
				var req controlRequest
				if err := json.NewDecoder(bufio.NewReader(io.LimitReader(c, 1<<20))).Decode(&req); err != nil {
					_ = json.NewEncoder(c).Encode(controlResponse{Error: "bad request: " + err.Error()})
					return
				}
				log.Info("mx: queue command", "op", req.Op, "args", req.Args)
				_ = json.NewEncoder(c).Encode(execute(ctx, q, req))
			}()
		}
	}()
	return func() { ln.Close(); os.Remove(path) }, nil
}

func execute(ctx context.Context, q *queue.Queue, req controlRequest) controlResponse {
	var resp controlResponse
	switch req.Op {
	case "list":
		ms, err := q.List(ctx)
		if err != nil {
			resp.Error = err.Error()
		}
		resp.Messages = ms
	case "flush":
		domain := ""
		if len(req.Args) > 0 {
			domain = req.Args[0]
		}
		n, err := q.Flush(ctx, domain)
		if err != nil {
			resp.Error = err.Error()
		}
		resp.Count = n
	case "hold", "release", "delete":
		f := map[string]func(context.Context, string) error{"hold": q.Hold, "release": q.Release, "delete": q.Delete}[req.Op]
		for _, id := range req.Args {
			if err := f(ctx, id); err != nil {
				if errors.Is(err, queue.ErrNotFound) {
					resp.Errors = append(resp.Errors, id+": no such message")
				} else {
					resp.Errors = append(resp.Errors, id+": "+err.Error())
				}
				continue
			}
			resp.Count++
		}
	default:
		resp.Error = fmt.Sprintf("unknown command %q (list, flush, hold, release, delete)", req.Op)
	}
	return resp
}

// queueCommand runs "mx queue ...".
func queueCommand(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("mx queue", flag.ContinueOnError)
	fs.SetOutput(stdout)
	spool := fs.String("spool", defaultSpool(), "the MX's spool folder")
	queueDB := fs.String("queue-db", "", "the MX's PostgreSQL queue (its -queue-db), when no MX answers on the spool folder")
	fs.Usage = func() {
		fmt.Fprintln(stdout, "usage: mx queue [-spool DIR] list | flush [DOMAIN] | hold ID... | release ID... | delete ID...")
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return errors.New("no queue command")
	}
	req := controlRequest{Op: fs.Arg(0), Args: fs.Args()[1:]}
	switch req.Op {
	case "list", "flush":
	case "hold", "release", "delete":
		if len(req.Args) == 0 {
			return fmt.Errorf("%s needs message IDs", req.Op)
		}
	default:
		fs.Usage()
		return fmt.Errorf("unknown queue command %q", req.Op)
	}
	resp, err := ask(ctx, *spool, *queueDB, req)
	if err != nil {
		return err
	}
	if resp.Error != "" {
		return errors.New(resp.Error)
	}
	switch req.Op {
	case "list":
		printQueue(stdout, resp.Messages)
	case "flush":
		fmt.Fprintf(stdout, "%d messages made due\n", resp.Count)
	default:
		fmt.Fprintf(stdout, "%s: %d messages\n", req.Op, resp.Count)
	}
	if len(resp.Errors) > 0 {
		return errors.New(strings.Join(resp.Errors, "; "))
	}
	return nil
}

// ask sends req to the running MX, or, when none runs, executes it on
// the spool directly.
func ask(ctx context.Context, dir, queueDB string, req controlRequest) (controlResponse, error) {
	var resp controlResponse
	c, err := net.Dial("unix", filepath.Join(dir, controlSocket))
	if err == nil {
		defer c.Close()
		if err := json.NewEncoder(c).Encode(req); err != nil {
			return resp, err
		}
		err := json.NewDecoder(c).Decode(&resp)
		return resp, err
	}
	var store queue.Store
	if queueDB != "" {
		pg, oerr := pgstore.Connect(ctx, queueDB, pgstore.Options{Logger: slog.New(slog.DiscardHandler)})
		if oerr != nil {
			return resp, fmt.Errorf("no MX answers on %s (%v), and the queue database cannot be opened: %w", filepath.Join(dir, controlSocket), err, oerr)
		}
		defer pg.Close()
		store = pg
	} else {
		sp, oerr := queue.OpenSpool(dir, queue.SpoolOptions{Logger: slog.New(slog.DiscardHandler)})
		if oerr != nil {
			return resp, fmt.Errorf("no MX answers on %s (%v), and the spool cannot be opened: %w", filepath.Join(dir, controlSocket), err, oerr)
		}
		defer sp.Close()
		store = sp
	}
	q := &queue.Queue{Store: store, Logger: slog.New(slog.DiscardHandler)}
	return execute(ctx, q, req), nil
}

// printQueue lists messages as postqueue -p does: ID (with * when due,
// ! when on hold), size, arrival, sender; then each recipient still to
// deliver with the last reason it was deferred.
func printQueue(w io.Writer, ms []*queue.Message) {
	if len(ms) == 0 {
		fmt.Fprintln(w, "Mail queue is empty")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "-Queue ID-\t-Size-\t-Arrival Time-\t-Sender/Recipient-")
	total := int64(0)
	for _, m := range ms {
		mark := ""
		switch {
		case m.Hold:
			mark = "!"
		case m.NextAttempt.IsZero() || !m.NextAttempt.After(time.Now()):
			mark = "*"
		}
		sender := m.Sender
		if sender == "" {
			sender = "MAILER-DAEMON"
		}
		fmt.Fprintf(tw, "%s%s\t%d\t%s\t%s\n", m.ID, mark, m.Size, m.Arrival.Local().Format("Mon Jan _2 15:04:05"), sender)
		for _, r := range m.Recipients {
			if r.Status.Done() {
				continue
			}
			if r.Reply != "" {
				fmt.Fprintf(tw, "\t\t\t(%s)\n", r.Reply)
			}
			fmt.Fprintf(tw, "\t\t\t%s\n", r.Addr)
		}
		total += m.Size
	}
	tw.Flush()
	fmt.Fprintf(w, "-- %d Kbytes in %d Requests.\n", (total+1023)/1024, len(ms))
}
