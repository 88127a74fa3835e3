// Package statetest helps tests run against both state backends: it starts
// a private redis-server on a free port of 127.0.0.1 (never the machine's
// 6379) and opens stores on it or on an embedded store in a temporary
// directory.
//
// When redis-server is not on PATH, Redis tests are skipped with a message,
// except under CI (the CI environment variable set), where that is a
// failure. REDIS_URL points the tests at an external server instead; tests
// that need to stop and restart the server skip then.
package statetest

import (
	"bufio"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// RedisServer is a redis-server process owned by a test.
type RedisServer struct {
	// URL is the redis:// URL of the server.
	URL string
	// Addr is its host:port.
	Addr string

	t        testing.TB
	port     int
	external bool

	mu  sync.Mutex
	cmd *exec.Cmd
	dir string
}

// RequireRedis skips the test (fails it under CI) when redis-server is not
// on PATH and REDIS_URL is not set.
func RequireRedis(t testing.TB) {
	t.Helper()
	if os.Getenv("REDIS_URL") != "" {
		return
	}
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("redis-server is not on PATH (needed under CI): install it (apt-get install redis-server)")
		}
		t.Skip("redis-server is not on PATH: skipping the Redis backend (install redis-server, or set REDIS_URL)")
	}
}

// StartRedis starts a private redis-server for the test, without
// persistence, and stops it in t.Cleanup.
func StartRedis(t testing.TB) *RedisServer {
	t.Helper()
	RequireRedis(t)
	if u := os.Getenv("REDIS_URL"); u != "" {
		return &RedisServer{URL: u, t: t, external: true}
	}
	s := &RedisServer{t: t, dir: t.TempDir()}
	var err error
	for range 5 { // the free port may be taken between probe and start
		if s.port, err = freePort(); err != nil {
			continue
		}
		if err = s.start(); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("starting redis-server: %v", err)
	}
	s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
	s.URL = "redis://" + s.Addr
	t.Cleanup(s.Stop)
	return s
}

// CanRestart reports whether Stop and Restart work (not with REDIS_URL).
func (s *RedisServer) CanRestart() bool { return !s.external }

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// start runs redis-server on s.port and waits for its readiness line.
func (s *RedisServer) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cmd := exec.Command("redis-server",
		"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", s.dir,
		"--loglevel", "notice", "--logfile", "")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return err
	}
	ready := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(out)
		var tail []string
		for sc.Scan() {
			line := sc.Text()
			if strings.Contains(line, "Ready to accept connections") {
				ready <- nil
				_, _ = io.Copy(io.Discard, out)
				return
			}
			tail = append(tail, line)
		}
		ready <- fmt.Errorf("redis-server exited before it was ready: %s", strings.Join(tail, " | "))
	}()
	select {
	case err := <-ready:
		if err != nil {
			_ = cmd.Wait()
			return err
		}
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return fmt.Errorf("redis-server on port %d not ready after 10s", s.port)
	}
	s.cmd = cmd
	return nil
}

// Stop kills the server (as a crash would). Calling it again is a no-op.
func (s *RedisServer) Stop() {
	if s.external {
		s.t.Fatalf("statetest: cannot stop an external Redis (REDIS_URL)")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}

// Restart starts the server again on the same port, empty.
func (s *RedisServer) Restart() {
	s.t.Helper()
	if s.external {
		s.t.Fatalf("statetest: cannot restart an external Redis (REDIS_URL)")
	}
	if err := s.start(); err != nil {
		s.t.Fatalf("restarting redis-server on port %d: %v", s.port, err)
	}
}

// UniquePrefix returns a random key prefix, so that stores sharing one
// server do not see each other's keys.
func UniquePrefix() string {
	return "test-" + rand.Text()[:12] + ":"
}

// ctx returns a context bounded for helper calls.
func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}
