package smtpdialog

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// DataBodyPrefix marks a Run script entry that is a message body rather
// than a command: the text after the prefix is sent as by Conn.Data.
const DataBodyPrefix = "DATA-BODY:"

// Run connects to addr over TCP (from the IP address local, unless it is
// ""), reads the greeting and plays script: each entry is a command line
// sent with CRLF, except entries starting with DataBodyPrefix, which send
// a message body (the script must have sent "DATA" before). The replies
// are returned in order, the greeting first, so on success
// len(replies) == len(script)+1. On error the replies read so far are
// returned with it. The connection is closed at the end, whether or not
// the script ended with QUIT. ctx bounds the whole dialogue.
func Run(ctx context.Context, addr, local string, script []string) ([]Reply, error) {
	c, err := Dial(ctx, "tcp", addr, local)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { _ = c.Close() })
	defer stop()

	fail := func(replies []Reply, step string, err error) ([]Reply, error) {
		if ctxErr := ctx.Err(); ctxErr != nil {
			err = errors.Join(ctxErr, err)
		}
		return replies, fmt.Errorf("smtpdialog: %s: %w", step, err)
	}
	replies := make([]Reply, 0, len(script)+1)
	r, err := c.Greeting()
	if err != nil {
		return fail(replies, "greeting", err)
	}
	replies = append(replies, r)
	for i, entry := range script {
		if body, ok := strings.CutPrefix(entry, DataBodyPrefix); ok {
			r, err = c.Data(body)
		} else {
			r, err = c.Cmd(entry)
		}
		if err != nil {
			return fail(replies, fmt.Sprintf("script entry %d %q", i, clip(entry)), err)
		}
		replies = append(replies, r)
	}
	return replies, nil
}
