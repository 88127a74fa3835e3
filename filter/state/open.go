package state

import (
	"context"
	"log/slog"
	"time"
)

// Options choose and configure the backend for Open.
type Options struct {
	// Redis is the state.redis URL; empty selects the embedded store.
	Redis string
	// Prefix is the Redis key prefix (default "moat:").
	Prefix string
	// DataDir is the embedded store's directory (normally data_dir).
	DataDir string
	// LockTimeout is how long to wait for another process holding the
	// embedded store (default 250 ms) before failing with ErrLocked.
	LockTimeout time.Duration
	// Now is the embedded store's clock (default time.Now).
	Now func() time.Time
	// Log receives backend warnings (default: discarded).
	Log *slog.Logger
}

// Open returns the Redis store when opts.Redis is set, else the embedded
// store in opts.DataDir. See OpenRedis and OpenEmbedded for the errors
// (notably ErrLocked).
func Open(ctx context.Context, opts Options) (Store, error) {
	if opts.Redis != "" {
		return OpenRedis(ctx, RedisOptions{URL: opts.Redis, Prefix: opts.Prefix, Log: opts.Log})
	}
	return OpenEmbedded(EmbeddedOptions{Dir: opts.DataDir, LockTimeout: opts.LockTimeout, Now: opts.Now, Log: opts.Log})
}
