// Package control is moat's admin socket: a Unix socket in data_dir over
// which `moat` subcommands (greylist, queue, users, training, …) ask a
// running `moat serve` to act, so they work while the server holds the
// embedded stores open. It is plain HTTP with JSON bodies on
// data_dir/moat.sock, readable only by moat's user.
package control

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// SocketName is the socket's file name inside data_dir.
const SocketName = "moat.sock"

// maxBody bounds a request or response body.
const maxBody = 16 << 20

// ErrNotRunning means no server answers on the data directory's socket.
var ErrNotRunning = errors.New("no moat server is running on this data_dir")

// Handler answers one command. req is the JSON request body (may be empty).
// The returned value is sent back as JSON.
type Handler func(ctx context.Context, req json.RawMessage) (any, error)

// Server serves commands on the socket.
type Server struct {
	path string
	log  *slog.Logger

	mu       sync.RWMutex
	handlers map[string]Handler

	srv *http.Server
	ln  net.Listener
}

// NewServer returns a server for the socket in dataDir. Register handlers,
// then call Listen and Serve.
func NewServer(dataDir string, log *slog.Logger) *Server {
	s := &Server{path: filepath.Join(dataDir, SocketName), log: log, handlers: map[string]Handler{}}
	s.Handle("ping", func(context.Context, json.RawMessage) (any, error) {
		return map[string]int{"pid": os.Getpid()}, nil
	})
	return s
}

// Handle registers the handler for a command name such as "greylist.list".
func (s *Server) Handle(name string, h Handler) {
	s.mu.Lock()
	s.handlers[name] = h
	s.mu.Unlock()
}

// Listen creates the socket. A stale socket left by a crashed server is
// replaced; one a live server answers on is an error.
func (s *Server) Listen(ctx context.Context) error {
	if err := NewClient(filepath.Dir(s.path)).Call(ctx, "ping", nil, nil); err == nil {
		return fmt.Errorf("control socket %s: another moat server is running on this data_dir", s.path)
	}
	_ = os.Remove(s.path)
	old := syscall.Umask(0o077)
	ln, err := net.Listen("unix", s.path)
	syscall.Umask(old)
	if err != nil {
		return fmt.Errorf("control socket: %w", err)
	}
	s.ln = ln
	s.srv = &http.Server{Handler: http.HandlerFunc(s.serveHTTP), ReadHeaderTimeout: 10 * time.Second}
	return nil
}

// Serve answers requests until Shutdown.
func (s *Server) Serve() error {
	err := s.srv.Serve(s.ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops the server and removes the socket.
func (s *Server) Shutdown(ctx context.Context) error {
	if s.srv == nil {
		return nil
	}
	err := s.srv.Shutdown(ctx)
	_ = os.Remove(s.path)
	return err
}

// response is the envelope of every answer.
type response struct {
	Result json.RawMessage `json:"result,omitempty"`
	Error  string          `json:"error,omitempty"`
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Path[1:]
	s.mu.RLock()
	h := s.handlers[name]
	s.mu.RUnlock()
	w.Header().Set("Content-Type", "application/json")
	if r.Method != http.MethodPost || h == nil {
		w.WriteHeader(http.StatusNotFound)
		_ = json.NewEncoder(w).Encode(response{Error: fmt.Sprintf("unknown command %q", name)})
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(response{Error: err.Error()})
		return
	}
	res, err := h(r.Context(), body)
	if err != nil {
		s.log.Warn("control command failed", "command", name, "err", err)
		w.WriteHeader(http.StatusUnprocessableEntity)
		_ = json.NewEncoder(w).Encode(response{Error: err.Error()})
		return
	}
	raw, err := json.Marshal(res)
	if err != nil {
		w.WriteHeader(http.StatusInternalServerError)
		_ = json.NewEncoder(w).Encode(response{Error: err.Error()})
		return
	}
	_ = json.NewEncoder(w).Encode(response{Result: raw})
}

// Client calls a running server.
type Client struct {
	path string
	http *http.Client
}

// NewClient returns a client for the socket in dataDir.
func NewClient(dataDir string) *Client {
	path := filepath.Join(dataDir, SocketName)
	return &Client{path: path, http: &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
	}}}
}

// Call runs a command: req is sent as JSON (nil for none) and the result is
// decoded into resp (nil to ignore it). It returns ErrNotRunning (wrapped)
// when no server answers, and the server's error text when the command
// failed.
func (c *Client) Call(ctx context.Context, name string, req, resp any) error {
	var body []byte
	if req != nil {
		var err error
		if body, err = json.Marshal(req); err != nil {
			return err
		}
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://moat/"+name, bytes.NewReader(body))
	if err != nil {
		return err
	}
	res, err := c.http.Do(hr)
	if err != nil {
		if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED) {
			return fmt.Errorf("%w (%s)", ErrNotRunning, c.path)
		}
		return fmt.Errorf("control socket %s: %w", c.path, err)
	}
	defer res.Body.Close()
	var env response
	if err := json.NewDecoder(io.LimitReader(res.Body, maxBody)).Decode(&env); err != nil {
		return fmt.Errorf("control socket %s: bad answer: %w", c.path, err)
	}
	if env.Error != "" {
		return errors.New(env.Error)
	}
	if resp != nil && len(env.Result) > 0 {
		if err := json.Unmarshal(env.Result, resp); err != nil {
			return fmt.Errorf("control socket %s: bad answer: %w", c.path, err)
		}
	}
	return nil
}
