package main

import (
	"context"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver, for cache type postgres
	"github.com/miekg/dns"
	_ "modernc.org/sqlite" // the "sqlite" driver, for cache type sqlite

	"github.com/mxkit/mxkit/dnsres"
	"github.com/mxkit/mxkit/internal/sdnotify"
	"github.com/mxkit/mxkit/mtasts"
	"github.com/mxkit/mxkit/relaymaps"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stderr, hooks{}); err != nil {
		fmt.Fprintln(os.Stderr, "mta-sts-resolver:", err)
		os.Exit(1)
	}
}

// hooks are for tests.
type hooks struct {
	// ready receives the listening address.
	ready chan<- string
	// dial replaces the dialer of policy fetches (tests reach an
	// httptest server on another port than 443).
	dial func(ctx context.Context, network, address string) (net.Conn, error)
	// cache, if set, is used instead of the configured one.
	cache mtasts.Cache
}

// maxRequest is the largest request read, in bytes, as in
// postfix-mta-sts-resolver (REQUEST_LIMIT).
const maxRequest = 1024

// idleTimeout closes a connection without a request for this long
// (Postfix closes its idle socketmap connections after 10 s).
const idleTimeout = 5 * time.Minute

// lookupTimeout bounds one request (Postfix waits 100 s).
const lookupTimeout = 100 * time.Second

// run serves until ctx is done, then shuts down within shutdown_timeout.
func run(ctx context.Context, args []string, stderr io.Writer, h hooks) error {
	fs := flag.NewFlagSet("mta-sts-resolver", flag.ContinueOnError)
	fs.SetOutput(stderr)
	config := fs.String("config", "", "mta-sts-daemon.yml (required)")
	verbosity := fs.String("v", "info", "log level: debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *config == "" {
		return errNoConfig
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*verbosity)); err != nil {
		return fmt.Errorf("-v: %w", err)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	cfg, err := LoadConfig(*config)
	if err != nil {
		return err
	}
	d, err := newDaemon(ctx, cfg, log, h)
	if err != nil {
		return err
	}
	defer d.close()

	l, err := listen(cfg)
	if err != nil {
		return err
	}
	log.Info("listening", "addr", l.Addr().String(), "cache", cfg.Cache.Type, "zones", len(cfg.Zones))
	errc := make(chan error, 1)
	go func() { errc <- d.srv.Serve(l) }()
	// Under systemd (Type=notify): ready once listening.
	if _, err := sdnotify.Notify(sdnotify.Ready + "\nSTATUS=listening on " + l.Addr().String()); err != nil {
		log.Warn("sd_notify failed", "err", err)
	}
	if h.ready != nil {
		h.ready <- l.Addr().String()
	}
	var refreshDone chan struct{}
	rctx, stopRefresh := context.WithCancel(ctx)
	defer stopRefresh()
	if cfg.Proactive.Enabled {
		refreshDone = make(chan struct{})
		go func() {
			defer close(refreshDone)
			d.refreshLoop(rctx, cfg.Proactive)
		}()
	}
	select {
	case err := <-errc:
		d.srv.Close()
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down", "timeout", cfg.ShutdownTimeout)
	if _, err := sdnotify.Notify(sdnotify.Stopping); err != nil {
		log.Warn("sd_notify failed", "err", err)
	}
	stopRefresh()
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := d.srv.Shutdown(sctx); err != nil {
		log.Warn("shutdown timeout expired, remaining connections closed")
	}
	if err := <-errc; err != nil && !errors.Is(err, relaymaps.ErrServerClosed) {
		return err
	}
	if refreshDone != nil {
		<-refreshDone
	}
	return nil
}

func listen(cfg *Config) (net.Listener, error) {
	if cfg.Path != "" {
		if fi, err := os.Lstat(cfg.Path); err == nil && fi.Mode()&os.ModeSocket != 0 {
			os.Remove(cfg.Path) // a stale socket of a previous run
		}
		l, err := net.Listen("unix", cfg.Path)
		if err != nil {
			return nil, err
		}
		if cfg.Mode != 0 {
			if err := os.Chmod(cfg.Path, cfg.Mode); err != nil {
				l.Close()
				return nil, err
			}
		}
		return l, nil
	}
	lc := net.ListenConfig{}
	if cfg.ReusePort {
		lc.Control = reusePort
	}
	return lc.Listen(context.Background(), "tcp", net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)))
}

// daemon is the configured resolver: zones, cache and server.
type daemon struct {
	log    *slog.Logger
	cache  mtasts.Cache
	closer io.Closer // the SQL cache, if any
	def    *zoneResponder
	srv    *relaymaps.SocketmapServer
}

// resolverAddr returns the validating resolver as "ADDR:PORT".
func resolverAddr(s string) (string, error) {
	if s == "" {
		cc, err := dns.ClientConfigFromFile("/etc/resolv.conf")
		if err != nil {
			return "", fmt.Errorf("no resolver configured and %w", err)
		}
		if len(cc.Servers) == 0 {
			return "", errors.New("no resolver configured and no nameserver in /etc/resolv.conf")
		}
		return net.JoinHostPort(cc.Servers[0], cc.Port), nil
	}
	if _, _, err := net.SplitHostPort(s); err == nil {
		return s, nil
	}
	return net.JoinHostPort(strings.Trim(s, "[]"), "53"), nil
}

func newDaemon(ctx context.Context, cfg *Config, log *slog.Logger, h hooks) (*daemon, error) {
	addr, err := resolverAddr(cfg.Resolver)
	if err != nil {
		return nil, err
	}
	var roots *x509.CertPool
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ca_file: %w", err)
		}
		roots, err = x509.SystemCertPool()
		if err != nil || roots == nil {
			roots = x509.NewCertPool()
		}
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_file %s: no PEM certificate found", cfg.CAFile)
		}
	}
	d := &daemon{log: log}
	switch {
	case h.cache != nil:
		d.cache = h.cache
	case cfg.Cache.Type == "internal":
		d.cache = &boundedCache{max: cfg.Cache.CacheSize}
	case cfg.Cache.Type == "file":
		fc, err := mtasts.OpenFileCache(cfg.Cache.Dir)
		if err != nil {
			return nil, err
		}
		d.cache = fc
	case cfg.Cache.Type == "sqlite" || cfg.Cache.Type == "postgres":
		driver, dsn := "pgx", cfg.Cache.DSN
		if cfg.Cache.Type == "sqlite" {
			driver = "sqlite"
			dsn = "file:" + cfg.Cache.Filename + "?_pragma=busy_timeout(" + strconv.FormatInt(cfg.Cache.Timeout.Milliseconds(), 10) + ")"
		}
		octx, cancel := context.WithTimeout(ctx, 30*time.Second)
		sc, err := mtasts.OpenSQLCache(octx, driver, dsn)
		cancel()
		if err != nil {
			return nil, err
		}
		d.cache, d.closer = sc, sc
	}
	mk := func(name string, z Zone) (*zoneResponder, error) {
		// One DNS layer per zone (its timeout is the zone's), shared by
		// MTA-STS and DANE.
		r, err := dnsres.New(dnsres.Options{Servers: []string{addr}, Timeout: z.Timeout, Logger: log})
		if err != nil {
			return nil, err
		}
		f := &mtasts.Fetcher{Resolver: r, RootCAs: roots, Timeout: z.Timeout * 2, Dial: h.dial}
		zr := &zoneResponder{
			name:   name,
			zone:   z,
			client: &mtasts.Client{Resolver: r, Fetcher: f, Cache: d.cache, Grace: cfg.CacheGrace, Logger: log},
			log:    log,
		}
		if z.DaneFirst {
			zr.dane = &daneChecker{r: r, ttl: cfg.CacheGrace, max: max(cfg.Cache.CacheSize, 1000)}
		}
		return zr, nil
	}
	d.def, err = mk("default_zone", cfg.DefaultZone)
	if err != nil {
		d.close()
		return nil, err
	}
	// The socketmap NAME selects the zone; unknown names get default_zone.
	d.srv = &relaymaps.SocketmapServer{Maps: map[string]relaymaps.Map{}, Default: d.def, Logger: log,
		MaxRequest: maxRequest, IdleTimeout: idleTimeout, LookupTimeout: lookupTimeout}
	for name, z := range cfg.Zones {
		zr, err := mk(name, z)
		if err != nil {
			d.close()
			return nil, err
		}
		d.srv.Maps[name] = zr
	}
	return d, nil
}

func (d *daemon) close() {
	if d.closer != nil {
		d.closer.Close()
	}
}

// refreshLoop is proactive_policy_fetching: every interval, refresh the
// cached, unexpired policies fetched more than interval/grace_ratio ago,
// concurrency_limit at a time, with the default zone's client.
func (d *daemon) refreshLoop(ctx context.Context, p ProactiveConfig) {
	t := time.NewTicker(p.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			n, err := d.refreshOnce(ctx, p)
			if err != nil {
				d.log.Warn("proactive fetch: cannot list the cache", "err", err)
				continue
			}
			d.log.Info("proactive fetch done", "refreshed", n)
		}
	}
}

func (d *daemon) refreshOnce(ctx context.Context, p ProactiveConfig) (int, error) {
	entries, err := d.cache.List(ctx)
	if err != nil {
		return 0, err
	}
	minAge := time.Duration(float64(p.Interval) / p.GraceRatio)
	now := time.Now()
	var due []string
	for _, e := range entries {
		if now.Before(e.Expires()) && now.Sub(e.Fetched) >= minAge {
			due = append(due, e.Domain)
		}
	}
	return d.def.client.RefreshDomains(ctx, due, p.Concurrency), nil
}

// boundedCache is cache type internal: a MemoryCache of at most max
// entries; when full, the entry fetched longest ago is dropped (the
// Python daemon drops the least recently used).
type boundedCache struct {
	mtasts.MemoryCache
	max int
	mu  sync.Mutex
}

// Put implements mtasts.Cache.
func (c *boundedCache) Put(ctx context.Context, e *mtasts.Entry) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.Len() >= c.max {
		if old, _ := c.MemoryCache.Get(ctx, e.Domain); old == nil {
			all, _ := c.List(ctx)
			var oldest *mtasts.Entry
			for _, x := range all {
				if oldest == nil || x.Fetched.Before(oldest.Fetched) {
					oldest = x
				}
			}
			if oldest != nil {
				c.Delete(ctx, oldest.Domain)
			}
		}
	}
	return c.MemoryCache.Put(ctx, e)
}
