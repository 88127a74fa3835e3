package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/moatmail/moat/filter"
	"github.com/moatmail/moat/filter/dnsx"
	"github.com/moatmail/moat/filter/state"
	"github.com/moatmail/moat/metrics"
	"github.com/moatmail/moat/policies"
	"github.com/moatmail/moat/relay"
	"github.com/moatmail/moat/relay/courier"
	"github.com/moatmail/moat/relay/queue"
	"github.com/moatmail/moat/store"
)

// newCourier returns the outbound delivery client: each relayed domain's
// route, MX for every other domain (bounces, authenticated senders' mail).
func newCourier(cfg *policies.Config, res *dnsx.Resolver, cache state.Store, log *slog.Logger) (*courier.Courier, error) {
	routes := make(map[string]courier.Route)
	for name, d := range cfg.Domains {
		if d.Deliver != policies.DeliverRelay {
			continue
		}
		r := courier.Route{
			LMTP: d.LMTP, TLS: d.TLS, TLSVerify: d.TLSVerify, TLSServerName: d.TLSServerName,
			Username: d.Username, Password: d.Password,
		}
		if d.Relay == policies.RelayMX {
			r.MX = true
		} else {
			host, port, err := net.SplitHostPort(d.Relay)
			if err != nil {
				return nil, fmt.Errorf("domains.%s.relay: %w", name, err)
			}
			r.Host = host
			r.Port, _ = strconv.Atoi(port)
		}
		routes[name] = r
	}
	return courier.New(courier.Options{
		Hostname:          cfg.Hostname,
		Routes:            func(domain string) (courier.Route, bool) { r, ok := routes[domain]; return r, ok },
		Default:           &courier.Route{MX: true},
		Resolver:          res,
		Timeout:           cfg.Limits.RelayTimeout.D(),
		PerDestination:    cfg.Queue.PerRoute,
		Cache:             cache,
		VerifyPositiveTTL: cfg.Callout.PositiveTTL.D(),
		VerifyNegativeTTL: cfg.Callout.NegativeTTL.D(),
		Log:               log.With("component", "courier"),
	})
}

// routeLocal is the queue route of recipients in deliver: local domains
// (bounces to local senders).
const routeLocal = "local:store"

// localCourier delivers queued mail for local domains into the store and
// hands every other recipient to the courier; it counts deliveries.
type localCourier struct {
	cfg   *policies.Config
	st    *store.Store
	out   *courier.Courier
	count *metrics.Metrics
}

// Route implements queue.Courier.
func (c localCourier) Route(rcpt string) (string, error) {
	_, domain, _ := strings.Cut(rcpt, "@")
	if d, ok := c.cfg.Domains[strings.ToLower(domain)]; ok && d.Deliver == policies.DeliverLocal {
		return routeLocal, nil
	}
	return c.out.Route(rcpt)
}

// Deliver implements queue.Courier.
func (c localCourier) Deliver(ctx context.Context, route, from string, rcpts []string, msg io.Reader) ([]queue.Result, error) {
	if route != routeLocal {
		res, err := c.out.Deliver(ctx, route, from, rcpts, msg)
		c.countResults(route, res, err)
		return res, err
	}
	body, err := io.ReadAll(msg)
	if err != nil {
		return nil, err
	}
	junk := isJunk(body)
	res := make([]queue.Result, len(rcpts))
	for i, r := range rcpts {
		err := c.st.Deliver(ctx, r, junk, bytes.NewReader(body))
		code, enh, text := relay.LocalStatus(err)
		res[i] = queue.Result{Code: code, Enhanced: enh, Text: text}
	}
	c.countResults(route, res, nil)
	return res, nil
}

// isJunk reports whether moat judged the message junk: its X-Spam-Action
// field, which moat adds after removing every incoming X-Spam-* field, says
// "junk" (as the relay's own local delivery decides the folder).
func isJunk(msg []byte) bool {
	h, _, _ := filter.ParseHeader(msg) // the only error, a NUL, still leaves the fields before it
	return strings.EqualFold(h.Get("X-Spam-Action"), policies.Junk.String())
}

func (c localCourier) countResults(route string, res []queue.Result, err error) {
	if err != nil {
		result := metrics.DeliveryDeferred
		if courier.IsPermanent(err) {
			result = metrics.DeliveryFailed
		}
		c.count.Delivery(route, result)
		return
	}
	for _, r := range res {
		switch r.Code / 100 {
		case 2:
			c.count.Delivery(route, metrics.DeliveryDelivered)
		case 4:
			c.count.Delivery(route, metrics.DeliveryDeferred)
		default:
			c.count.Delivery(route, metrics.DeliveryFailed)
		}
	}
}

// openQueue opens the durable relay queue in data_dir/queue.
func openQueue(ctx context.Context, cfg *policies.Config, c queue.Courier, readOnly bool, log *slog.Logger) (*queue.Queue, error) {
	q, err := queue.Open(ctx, queue.Options{
		Dir:        filepath.Join(cfg.DataDir, "queue"),
		Courier:    c,
		Hostname:   cfg.Hostname,
		MaxAge:     cfg.Queue.MaxAge.D(),
		MinBackoff: cfg.Queue.MinBackoff.D(),
		MaxBackoff: cfg.Queue.MaxBackoff.D(),
		Workers:    cfg.Queue.Workers,
		PerRoute:   cfg.Queue.PerRoute,
		ReadOnly:   readOnly,
		Log:        log.With("component", "queue"),
	})
	if err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	return q, nil
}

// enqueuer adapts the queue to relay.Enqueuer.
type enqueuer struct{ q *queue.Queue }

func (e enqueuer) Enqueue(ctx context.Context, env relay.Envelope, msg io.Reader) (string, error) {
	qe := queue.Envelope{ID: env.ID, From: env.From, Rcpts: env.Rcpts, Received: env.Received, Spam: env.Spam,
		DSN: queue.DSNOptions{Ret: env.Ret, EnvID: env.EnvID}}
	for _, r := range env.Rcpt {
		qe.DSN.Rcpts = append(qe.DSN.Rcpts, queue.RcptOptions{Notify: r.Notify, ORcpt: r.ORcpt})
	}
	return e.q.Enqueue(ctx, qe, msg)
}

// verifier adapts the courier's callouts to relay.Verifier.
type verifier struct{ c *courier.Courier }

func (v verifier) VerifyRecipient(ctx context.Context, rcpt string) (int, string, error) {
	r, err := v.c.Verify(ctx, rcpt)
	if err != nil {
		return relay.RcptUnsure, "", err
	}
	text := strings.TrimSpace(fmt.Sprintf("%d %s %s", r.Code, r.Enhanced, r.Text))
	switch r.Status {
	case courier.VerifyExists:
		return relay.RcptExists, text, nil
	case courier.VerifyUnknown:
		return relay.RcptUnknown, text, nil
	}
	return relay.RcptUnsure, text, r.Err
}

// queueSizes reports the queue's figures for the metrics.
func queueSizes(q *queue.Queue) func() map[string]int {
	return func() map[string]int {
		s := q.Stats()
		return map[string]int{"active": s.Counts.Active, "deferred": s.Counts.Deferred, "bouncing": s.Counts.Bouncing}
	}
}
