package metrics_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/moatmail/moat/metrics"
)

// TestHealthEndpoints checks /healthz and /readyz, including the 503 path
// that carries the readiness error.
func TestHealthEndpoints(t *testing.T) {
	t.Parallel()
	errState := errors.New("state backend unreachable: dial tcp 127.0.0.1:6379: connection refused")
	tests := []struct {
		name     string
		ready    func(context.Context) error
		method   string
		path     string
		wantCode int
		wantBody string
	}{
		{"alive", nil, http.MethodGet, "/healthz", 200, "ok"},
		{"alive while not ready", func(context.Context) error { return errState }, http.MethodGet, "/healthz", 200, "ok"},
		{"ready without a function", nil, http.MethodGet, "/readyz", 200, "ready"},
		{"ready", func(context.Context) error { return nil }, http.MethodGet, "/readyz", 200, "ready"},
		{"not ready", func(context.Context) error { return errState }, http.MethodGet, "/readyz", 503, errState.Error()},
		{"ready gets a deadline", func(ctx context.Context) error {
			if _, ok := ctx.Deadline(); !ok {
				return errors.New("no deadline")
			}
			return nil
		}, http.MethodGet, "/readyz", 200, "ready"},
		{"head", nil, http.MethodHead, "/healthz", 200, ""},
		{"post refused", nil, http.MethodPost, "/readyz", 405, ""},
		{"unknown path", nil, http.MethodGet, "/debug/pprof/", 404, ""},
	}
	m := metrics.New()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := httptest.NewRecorder()
			m.Handler(tt.ready).ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil))
			if rec.Code != tt.wantCode {
				t.Errorf("%s %s = %d, want %d", tt.method, tt.path, rec.Code, tt.wantCode)
			}
			if !strings.Contains(rec.Body.String(), tt.wantBody) {
				t.Errorf("body %q does not contain %q", rec.Body.String(), tt.wantBody)
			}
		})
	}
}

// TestReadyzOverTheNetwork flips readiness while a real listener serves it.
func TestReadyzOverTheNetwork(t *testing.T) {
	t.Parallel()
	var notReady error = errors.New("listeners starting")
	ch := make(chan error, 1)
	ch <- notReady
	ready := func(context.Context) error {
		err := <-ch
		ch <- err
		return err
	}
	base := serve(t, metrics.New().Handler(ready))
	if code, body := get(t, base+"/readyz"); code != 503 || !strings.Contains(body, "listeners starting") {
		t.Errorf("starting: %d %q, want 503 with the reason", code, body)
	}
	<-ch
	ch <- nil
	if code, body := get(t, base+"/readyz"); code != 200 {
		t.Errorf("started: %d %q, want 200", code, body)
	}
}

// TestServeStops checks Serve returns nil once its context ends and closes
// its listener, and reports a listener that fails.
func TestServeStops(t *testing.T) {
	t.Parallel()
	t.Run("context ends", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- metrics.Serve(ctx, l, metrics.New().Handler(nil)) }()
		if code, _ := get(t, "http://"+l.Addr().String()+"/healthz"); code != 200 {
			t.Fatalf("healthz = %d", code)
		}
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve = %v, want nil", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Serve did not return")
		}
		if c, err := net.DialTimeout("tcp", l.Addr().String(), time.Second); err == nil {
			c.Close()
			t.Errorf("listener still accepts after Serve returned")
		}
	})
	t.Run("listener fails", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		l.Close()
		if err := metrics.Serve(context.Background(), l, http.NotFoundHandler()); err == nil {
			t.Errorf("Serve on a closed listener = nil, want an error")
		}
	})
}
