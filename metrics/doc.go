// Package metrics is moat's observability surface: Prometheus metrics and
// the health endpoints served on listen.metrics.
//
// New returns a *Metrics with its own registry (never the global one) that
// holds the Go runtime and process collectors and every moat_* metric.
// Packages record events through its methods (ConnOpened, Transaction,
// Delivery, SessionOpened, Trained, RateLimited, …). Every method is safe
// for concurrent use and a nil *Metrics is a no-op, so a package can take an
// optional *Metrics and tests can pass nil.
//
// Values owned by other components are read at scrape time, not pushed:
// RegisterQueue (queue sizes by state), RegisterDNS (the resolver's
// counters) and RegisterDNSBL (DNS list zone health) take functions that the
// registry calls on each scrape. Registering again replaces the function,
// which suits a configuration reload.
//
// Handler serves /metrics (Prometheus text exposition), /healthz (200 while
// the process runs) and /readyz (200 when the given readiness function
// returns nil, 503 with its error otherwise); Serve runs it on a listener
// until its context ends.
//
// Label values come from configuration and from check and symbol names, all
// bounded sets; never label by client address, sender or message id.
package metrics
