package control

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func startServer(t *testing.T, dir string) *Server {
	t.Helper()
	s := NewServer(dir, slog.New(slog.NewTextHandler(io.Discard, nil)))
	s.Handle("echo", func(_ context.Context, req json.RawMessage) (any, error) {
		var v map[string]string
		if err := json.Unmarshal(req, &v); err != nil {
			return nil, err
		}
		return v, nil
	})
	s.Handle("fail", func(context.Context, json.RawMessage) (any, error) {
		return nil, errors.New("greylist store is locked")
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Listen(ctx); err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	return s
}

func TestCallRoundTrip(t *testing.T) {
	dir := t.TempDir()
	startServer(t, dir)
	ctx := context.Background()
	c := NewClient(dir)
	var got map[string]string
	if err := c.Call(ctx, "echo", map[string]string{"a": "b"}, &got); err != nil {
		t.Fatal(err)
	}
	if got["a"] != "b" {
		t.Errorf("echo = %v", got)
	}
	if err := c.Call(ctx, "fail", nil, nil); err == nil || err.Error() != "greylist store is locked" {
		t.Errorf("fail: %v", err)
	}
	if err := c.Call(ctx, "nope", nil, nil); err == nil {
		t.Error("unknown command succeeded")
	}
	info, err := os.Stat(filepath.Join(dir, SocketName))
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm&0o077 != 0 {
		t.Errorf("socket mode %v, want no group/other access", perm)
	}
}

func TestNotRunning(t *testing.T) {
	dir := t.TempDir()
	err := NewClient(dir).Call(context.Background(), "ping", nil, nil)
	if !errors.Is(err, ErrNotRunning) {
		t.Errorf("no socket: %v, want ErrNotRunning", err)
	}
	// A stale socket file (a crashed server) also means not running, and a
	// new server replaces it.
	ln, err := net.Listen("unix", filepath.Join(dir, SocketName))
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close() // the file stays, nobody answers
	if _, err := os.Stat(filepath.Join(dir, SocketName)); err != nil {
		t.Fatal(err)
	}
	err = NewClient(dir).Call(context.Background(), "ping", nil, nil)
	if !errors.Is(err, ErrNotRunning) {
		t.Errorf("stale socket: %v, want ErrNotRunning", err)
	}
	startServer(t, dir)
	if err := NewClient(dir).Call(context.Background(), "ping", nil, nil); err != nil {
		t.Errorf("after restart: %v", err)
	}
}

func TestSecondServerRefused(t *testing.T) {
	dir := t.TempDir()
	startServer(t, dir)
	s := NewServer(dir, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := s.Listen(context.Background()); err == nil {
		t.Fatal("a second server took over a live socket")
	}
}
