package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Timeouts of the metrics HTTP server.
const (
	// ReadyTimeout bounds one call of the readiness function.
	ReadyTimeout = 5 * time.Second
	// ShutdownTimeout is how long Serve waits for requests in flight once
	// its context ends.
	ShutdownTimeout = 5 * time.Second
)

// Handler returns the HTTP handler of listen.metrics:
//
//   - GET /metrics: the registry in the Prometheus text format (404 on a
//     nil *Metrics);
//   - GET /healthz: 200 "ok" while the process serves requests;
//   - GET /readyz: 200 "ready" when ready returns nil, 503 with its error
//     otherwise. ready gets the request's context bounded by ReadyTimeout
//     and should report whether the listeners are up and the state backend
//     is reachable (or knowingly failing open). A nil ready is always ready.
func (m *Metrics) Handler(ready func(ctx context.Context) error) http.Handler {
	mux := http.NewServeMux()
	if m != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
			Registry:            m.reg, // promhttp_metric_handler_errors_total
			ErrorHandling:       promhttp.ContinueOnError,
			MaxRequestsInFlight: 4,
			Timeout:             10 * time.Second,
		}))
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		text(w, http.StatusOK, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if ready == nil {
			text(w, http.StatusOK, "ready")
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), ReadyTimeout)
		defer cancel()
		if err := ready(ctx); err != nil {
			text(w, http.StatusServiceUnavailable, "not ready: "+err.Error())
			return
		}
		text(w, http.StatusOK, "ready")
	})
	return mux
}

func text(w http.ResponseWriter, code int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = fmt.Fprintln(w, body)
}

// Serve serves h on l until ctx ends, then stops accepting, waits up to
// ShutdownTimeout for requests in flight and returns nil. It returns an
// error when serving fails for another reason. l is closed on return.
func Serve(ctx context.Context, l net.Listener, h http.Handler) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	done := make(chan struct{})
	stopped := make(chan error, 1)
	go func() {
		select {
		case <-ctx.Done():
		case <-done:
			stopped <- nil
			return
		}
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ShutdownTimeout)
		defer cancel()
		stopped <- srv.Shutdown(sctx)
	}()
	err := srv.Serve(l)
	close(done)
	shutdownErr := <-stopped
	if !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("metrics: serve %s: %w", l.Addr(), err)
	}
	if shutdownErr != nil {
		return fmt.Errorf("metrics: shutdown: %w", shutdownErr)
	}
	return nil
}
