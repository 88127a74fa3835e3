package statetest

import (
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/moatmail/moat/filter/state"
)

// Backend opens a fresh, empty store of one kind for a test.
type Backend struct {
	// Name is "embedded" or "redis", for subtest names.
	Name string
	// Clocked reports whether the store's expiry follows the clock given
	// to Open (embedded) rather than real time (Redis).
	Clocked bool
	// Open returns a new empty store closed in t.Cleanup. now is the
	// embedded store's clock; Redis keeps its own.
	Open func(t testing.TB, now func() time.Time) state.Store
}

// Backends returns the embedded backend (a file in t.TempDir()) and the
// Redis backend on a private redis-server started for t (each store gets
// its own key prefix). When redis-server is not available the Redis
// backend's Open skips the subtest calling it with a message (fails it
// under CI).
func Backends(t *testing.T) []Backend {
	t.Helper()
	if !redisAvailable() {
		return []Backend{Embedded(), {Name: "redis", Open: func(t testing.TB, _ func() time.Time) state.Store {
			t.Helper()
			RequireRedis(t)
			return nil
		}}}
	}
	return []Backend{Embedded(), RedisBackend(StartRedis(t))}
}

func redisAvailable() bool {
	if os.Getenv("REDIS_URL") != "" {
		return true
	}
	_, err := exec.LookPath("redis-server")
	return err == nil
}

// Embedded is the embedded backend in t.TempDir().
func Embedded() Backend {
	return Backend{Name: "embedded", Clocked: true, Open: func(t testing.TB, now func() time.Time) state.Store {
		t.Helper()
		s, err := state.OpenEmbedded(state.EmbeddedOptions{Dir: t.TempDir(), Now: now})
		if err != nil {
			t.Fatalf("OpenEmbedded: %v", err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}}
}

// RedisBackend is the Redis backend on srv; each store gets a unique prefix.
func RedisBackend(srv *RedisServer, hooks ...redis.Hook) Backend {
	return Backend{Name: "redis", Open: func(t testing.TB, _ func() time.Time) state.Store {
		t.Helper()
		return OpenRedis(t, srv, hooks...)
	}}
}

// OpenRedis opens a store with a unique prefix on srv, closed in t.Cleanup.
func OpenRedis(t testing.TB, srv *RedisServer, hooks ...redis.Hook) *state.Redis {
	t.Helper()
	return OpenRedisPrefix(t, srv, UniquePrefix(), hooks...)
}

// OpenRedisPrefix opens a store with the given prefix on srv (a second
// store on the same keys, as a second moat process), closed in t.Cleanup.
func OpenRedisPrefix(t testing.TB, srv *RedisServer, prefix string, hooks ...redis.Hook) *state.Redis {
	t.Helper()
	s, err := state.OpenRedis(ctx(t), state.RedisOptions{URL: srv.URL, Prefix: prefix, Hooks: hooks})
	if err != nil {
		t.Fatalf("OpenRedis: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}
