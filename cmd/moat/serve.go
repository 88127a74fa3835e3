package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/moatmail/moat/control"
	"github.com/moatmail/moat/filter"
	"github.com/moatmail/moat/filter/bayes"
	"github.com/moatmail/moat/filter/dnsbl"
	"github.com/moatmail/moat/filter/state"
	"github.com/moatmail/moat/metrics"
	"github.com/moatmail/moat/policies"
	"github.com/moatmail/moat/relay"
	"github.com/moatmail/moat/rules"
	"github.com/moatmail/moat/store"
)

// shutdownGrace is how long SIGTERM waits for transactions in flight.
const shutdownGrace = 30 * time.Second

// gcPercent is the GC target moat runs with unless GOGC is set.
const gcPercent = 400

// cmdServe runs the gateway: `moat serve [-c FILE]`.
func cmdServe(ctx context.Context, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("c", "", "configuration `FILE` (default ./moat.yaml if present, else built-in defaults)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := policies.LoadOrDefault(*cfgPath)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	log, err := newLogger(cfg, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "moat:", err)
		return 1
	}
	if os.Getenv("GOGC") == "" {
		// moat's heap is small and short-lived (per-message buffers); a
		// higher GC target trades a few MiB for about 15% less CPU per
		// message. GOGC in the environment still wins.
		debug.SetGCPercent(gcPercent)
	}
	if err := serve(ctx, cfg, log); err != nil {
		log.Error("moat stopped", "err", err)
		return 1
	}
	return 0
}

func serve(ctx context.Context, cfg *policies.Config, log *slog.Logger) error {
	pol, err := cfg.CompilePolicy()
	if err != nil {
		return err
	}
	live := policies.NewLive(pol)
	rs, err := loadRules(cfg)
	if err != nil {
		return err
	}
	rulesCheck := rules.NewCheck(rs, rules.WithLogger(log))
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data_dir: %w", err)
	}
	m := metrics.New()
	certs, err := newTLS(cfg, log)
	if err != nil {
		return err
	}
	var tlsCfg *tls.Config
	if certs != nil {
		tlsCfg = certs.Config()
	}
	st, err := state.Open(ctx, state.Options{
		Redis: cfg.State.Redis, Prefix: cfg.State.Prefix, DataDir: cfg.DataDir,
		LockTimeout: 5 * time.Second, Log: log,
	})
	if err != nil {
		return fmt.Errorf("state: %w", err)
	}
	defer st.Close()
	gl, err := newGreylist(cfg, st, log)
	if err != nil {
		return err
	}
	bs, err := newBayes(cfg, st, log)
	if err != nil {
		return err
	}
	dc, err := newDNSChecks(cfg, log, m.DNSListResult)
	if err != nil {
		return err
	}
	defer dc.close()
	res, err := resolverOf(cfg, dc, log)
	if err != nil {
		return err
	}
	if dc == nil {
		defer res.Close()
	}
	signer, err := newSigner(cfg)
	if err != nil {
		return err
	}
	dctx, stopDNS := context.WithCancel(ctx)
	defer stopDNS()
	dc.run(dctx)
	m.RegisterDNS(res.Stats)
	if dc != nil {
		var health []func() []dnsbl.ZoneHealth
		if dc.ip != nil {
			health = append(health, dc.ip.Health)
		}
		if dc.uri != nil {
			health = append(health, dc.uri.Health)
		}
		m.RegisterDNSBL(health...)
	}

	so := store.Options{Dir: filepath.Join(cfg.DataDir, "store"), DefaultQuota: cfg.Store.Quota, Log: log.With("component", "store")}
	if bs != nil {
		so.Trainer = bayesTrainer{b: bs, perUser: cfg.Bayes.PerUser, count: m, log: log}
	}
	mailStore, err := store.Open(ctx, so)
	if err != nil {
		return err
	}
	defer mailStore.Close()

	out, err := newCourier(cfg, res, st, log)
	if err != nil {
		return err
	}
	defer out.Close()
	q, err := openQueue(ctx, cfg, localCourier{cfg: cfg, st: mailStore, out: out, count: m}, false, log)
	if err != nil {
		return err
	}
	m.RegisterQueue(queueSizes(q))
	defer func() {
		qctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := q.Close(qctx); err != nil {
			log.Error("closing the queue", "err", err)
		}
	}()

	lim := newLimiter(st)
	guard := newAuthGuard(cfg, lim, log)
	wrap, err := proxyWrapper(cfg, m, log)
	if err != nil {
		return err
	}
	ro := relay.Options{
		Config:   cfg,
		Pipeline: filter.NewPipeline(buildChecks(components{live: live, greylist: gl, dns: dc, rules: rulesCheck, bayes: bs}), cfg.Limits.CheckTimeout.D(), log),
		Policy:   live,
		Local:    mailStore,
		Users:    mailStore,
		Greylist: gl,
		Bayes:    bs,
		Auth:     dc.authOf(),
		Signer:   signer,
		Log:      log,
		TLS:      tlsCfg,
		Limiter:  limiter{lim},
		Queue:    enqueuer{q},
		Verifier: verifier{out},
		Metrics:  m,
		Wrap:     wrap,
	}
	var lg loginGuard
	if guard != nil {
		ro.Guard, lg = guard, guard
	}
	srv, err := relay.NewServer(ro)
	if err != nil {
		return err
	}
	if err := srv.Listen(); err != nil {
		return err
	}
	mail, err := startMailServers(cfg, mailStore, tlsCfg, lg, wrap, m, log)
	if err != nil {
		srv.Shutdown(ctx)
		return err
	}
	ctl := control.NewServer(cfg.DataDir, log)
	registerGreylist(ctl, gl)
	registerBayes(ctl, bs)
	registerUsers(ctl, mailStore)
	registerQueue(ctl, q)
	if bs != nil {
		go maintainBayes(dctx, bs, log)
	}
	if err := ctl.Listen(ctx); err != nil {
		srv.Shutdown(ctx)
		mail.shutdown(ctx)
		return err
	}
	go func() {
		if err := ctl.Serve(); err != nil {
			log.Error("control socket stopped", "err", err)
		}
	}()
	defer ctl.Shutdown(context.Background())

	var stopping atomic.Bool
	if cfg.Listen.Metrics != "" {
		ml, err := net.Listen("tcp", cfg.Listen.Metrics)
		if err != nil {
			srv.Shutdown(ctx)
			mail.shutdown(ctx)
			return fmt.Errorf("listen metrics %s: %w", cfg.Listen.Metrics, err)
		}
		ready := func(ctx context.Context) error {
			if stopping.Load() {
				return errors.New("shutting down")
			}
			return nil // listeners are up; state failures fail open by design
		}
		go func() {
			if err := metrics.Serve(dctx, ml, m.Handler(ready)); err != nil {
				log.Error("metrics listener stopped", "err", err)
			}
		}()
	}

	source := cfg.File
	if source == "" {
		source = "built-in defaults"
	}
	addrs := make([]string, 0, len(srv.Addrs()))
	for _, a := range srv.Addrs() {
		addrs = append(addrs, a.String())
	}
	stateName := "embedded"
	if cfg.State.Redis != "" {
		stateName = state.RedactURL(cfg.State.Redis)
	}
	log.Info("moat listening", "smtp", addrs, "imap_pop3", mail.addrs(), "metrics", cfg.Listen.Metrics, "config", source, "data_dir", cfg.DataDir, "hostname", cfg.Hostname,
		"tls", tlsCfg != nil, "state", stateName, "greylist", greylistMode(cfg))

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve() }()

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-hup:
			reload(cfg.File, live, rulesCheck, log)
			if certs != nil {
				if err := certs.Reload(); err != nil {
					log.Error("reload: keeping the running certificate", "err", err)
				} else {
					log.Info("certificate reloaded")
				}
			}
		case err := <-errc:
			mail.shutdown(context.Background())
			return err
		case <-ctx.Done():
			stopping.Store(true)
			log.Info("shutting down", "grace", shutdownGrace)
			sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
			defer cancel()
			var wg sync.WaitGroup
			wg.Add(1)
			go func() { defer wg.Done(); mail.shutdown(sctx) }()
			err := srv.Shutdown(sctx)
			wg.Wait()
			if err != nil {
				return fmt.Errorf("shutdown: %w", err)
			}
			<-errc
			log.Info("stopped: listeners closed; the queue and the store are flushed on exit")
			return nil
		}
	}
}

// reload re-reads the configuration file and swaps in its policy and its
// rule set, both or neither: an invalid file or rule keeps what runs.
// Listener, limit, domain, DNS, greylisting and authentication changes
// need a restart.
func reload(path string, live *policies.Live, rc *rules.Check, log *slog.Logger) {
	if path == "" {
		log.Warn("reload: running on built-in defaults, nothing to reload")
		return
	}
	fail := func(err error) {
		log.Error("reload failed; keeping the running policy and rules", "file", path, "err", err)
	}
	cfg, err := policies.Load(path)
	if err != nil {
		fail(err)
		return
	}
	pol, err := cfg.CompilePolicy()
	if err != nil {
		fail(err)
		return
	}
	rs, err := loadRules(cfg)
	if err != nil {
		fail(err)
		return
	}
	live.Store(pol)
	rc.Swap(rs)
	log.Info("policy reloaded", "file", path, "rules", len(rs.Rules()))
}

func greylistMode(cfg *policies.Config) string {
	if !cfg.Greylist.Enabled {
		return "off"
	}
	return cfg.Greylist.Mode
}

// maintainBayes prunes the Bayes models once a day until ctx ends.
func maintainBayes(ctx context.Context, b *bayes.Bayes, log *slog.Logger) {
	t := time.NewTicker(24 * time.Hour)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := b.Maintain(ctx); err != nil {
				log.Warn("bayes maintenance failed", "err", err)
			}
		}
	}
}
