package main

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"sync"

	"github.com/mxkit/mxkit/queue"
	"github.com/mxkit/mxkit/smtppolicy/postfix"
	"github.com/mxkit/mxkit/tlspolicy/tlsrpt"
	"github.com/mxkit/mxkit/tlspolicy/tlsrpt/tlsrptpg"
	"github.com/mxkit/mxkit/tlspolicy/tlsrpt/tlsrptqueue"
)

// tlsReporting is the MX's TLS-RPT (RFC 8460) sending side: an
// aggregator that the smtp deliverer records into, and a reporter that
// sends yesterday's reports through the queue.
type tlsReporting struct {
	agg    *tlsrpt.Aggregator
	rep    *tlsrpt.Reporter
	closer func()
	wg     sync.WaitGroup
}

// startTLSRPT opens the results' store: SPOOL/tlsrpt, or the queue's
// PostgreSQL database, which several MXs share so that each report goes
// out once.
func startTLSRPT(ctx context.Context, spool, queueDB string, srv *postfix.Server, log *slog.Logger) (*tlsReporting, error) {
	if srv.DNS == nil {
		return nil, errors.New("mx: -tlsrpt needs a DNS resolver (the reports' addresses are in _smtp._tls TXT records)")
	}
	r := &tlsReporting{closer: func() {}}
	var store tlsrpt.Store
	if queueDB != "" {
		pg, err := tlsrptpg.Connect(ctx, queueDB, tlsrptpg.Options{Logger: log})
		if err != nil {
			return nil, err
		}
		store, r.closer = pg, func() { pg.Close() }
	} else {
		fs, err := tlsrpt.OpenFileStore(filepath.Join(spool, "tlsrpt"), log)
		if err != nil {
			return nil, err
		}
		store, r.closer = fs, func() { fs.Close() }
	}
	r.agg = &tlsrpt.Aggregator{Store: store, Logger: log}
	r.rep = &tlsrpt.Reporter{Store: store, Aggregator: r.agg, Resolver: srv.DNS, Submitter: srv.Hostname,
		HTTPS: true, Logger: log}
	log.Info("mx: TLS-RPT on: results are kept and reported daily", "submitter", srv.Hostname)
	return r, nil
}

// run starts the aggregator and the reporter; mail reports go into st
// and q is kicked to send them.
func (r *tlsReporting) run(ctx context.Context, st queue.Store, q *queue.Queue) {
	r.rep.Mail = &tlsrptqueue.Submitter{Store: st, Kick: q.Kick}
	r.wg.Add(2)
	go func() { defer r.wg.Done(); _ = r.agg.Run(ctx) }()
	go func() { defer r.wg.Done(); _ = r.rep.Run(ctx) }()
}

func (r *tlsReporting) close() {
	r.wg.Wait()
	r.closer()
}
