package state

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// FileName is the embedded store's file in its directory.
const FileName = "state.db"

// Defaults of EmbeddedOptions.
const (
	DefaultFlushInterval = 100 * time.Millisecond
	DefaultSweepInterval = 5 * time.Minute
	DefaultLockTimeout   = 250 * time.Millisecond
)

var bucketKV = []byte("kv")

// EmbeddedOptions configure OpenEmbedded. Zero fields take the defaults.
type EmbeddedOptions struct {
	// Dir is the directory of the store file (normally data_dir); it is
	// created if needed. Required.
	Dir string
	// FlushInterval is how often buffered writes are committed to the
	// file: the most a crash can lose. Default 100 ms.
	FlushInterval time.Duration
	// SweepInterval is how often expired keys are removed from the file.
	// Default 5 minutes.
	SweepInterval time.Duration
	// LockTimeout is how long Open waits for another process to release
	// the file before failing with ErrLocked. Default 250 ms.
	LockTimeout time.Duration
	// Now is the clock used for expiry. Default time.Now.
	Now func() time.Time
	// Log receives commit and sweep failures. Default: discarded.
	Log *slog.Logger
}

// Embedded is the file-backed (or memory-only) store. It keeps recent
// writes in memory and commits them to a bbolt file in one transaction
// every FlushInterval and on Close; reads see the buffer first. All ops of
// one Do run under one mutex, so a batch is atomic.
type Embedded struct {
	mu       sync.Mutex
	db       *bbolt.DB         // nil: memory only
	pending  map[string][]byte // writes not committed yet; nil value = deleted
	flushing map[string][]byte // writes being committed
	closed   bool
	now      func() time.Time
	log      *slog.Logger
	path     string

	flushMu  sync.Mutex // one commit at a time
	failing  bool       // last commit failed (guarded by flushMu)
	stop     chan struct{}
	done     chan struct{}
	closeMu  sync.Mutex
	closeErr error
}

// OpenEmbedded opens (creating if needed) the store file in opts.Dir. It
// fails with an error wrapping ErrLocked when another process has it open.
func OpenEmbedded(opts EmbeddedOptions) (*Embedded, error) {
	if opts.Dir == "" {
		return nil, errors.New("state: embedded store needs a directory")
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = DefaultLockTimeout
	}
	path := filepath.Join(opts.Dir, FileName)
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: opts.LockTimeout, NoFreelistSync: true, FreelistType: bbolt.FreelistMapType})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("%w: %s is in use (is moat serve running on this data_dir?)", ErrLocked, path)
	}
	if err != nil {
		return nil, fmt.Errorf("state: open %s: %w", path, err)
	}
	if err := db.Update(func(tx *bbolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucketKV)
		return err
	}); err != nil {
		db.Close()
		return nil, fmt.Errorf("state: init %s: %w", path, err)
	}
	e := newEmbedded(opts.Now, opts.Log)
	e.db, e.path = db, path
	flush, sweep := opts.FlushInterval, opts.SweepInterval
	if flush <= 0 {
		flush = DefaultFlushInterval
	}
	if sweep <= 0 {
		sweep = DefaultSweepInterval
	}
	e.stop, e.done = make(chan struct{}), make(chan struct{})
	go e.loop(flush, sweep)
	return e, nil
}

// NewMemory returns an embedded store that keeps everything in memory and
// writes no file: for tests and side-effect-free runs. now is its clock
// (nil: time.Now). Expired keys are removed when read or by Sweep.
func NewMemory(now func() time.Time) *Embedded {
	return newEmbedded(now, nil)
}

func newEmbedded(now func() time.Time, log *slog.Logger) *Embedded {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Embedded{pending: make(map[string][]byte), now: now, log: log}
}

// Path returns the store file ("" for a memory store).
func (e *Embedded) Path() string { return e.path }

func (e *Embedded) loop(flushEvery, sweepEvery time.Duration) {
	defer close(e.done)
	flush := time.NewTicker(flushEvery)
	defer flush.Stop()
	sweep := time.NewTicker(sweepEvery)
	defer sweep.Stop()
	for {
		select {
		case <-e.stop:
			return
		case <-flush.C:
			_ = e.Flush()
		case <-sweep.C:
			if _, err := e.Sweep(); err != nil && !errors.Is(err, ErrClosed) {
				e.log.Warn("state: sweeping expired keys failed", "path", e.path, "err", err)
			}
		}
	}
}

// Flush commits the buffered writes now. A failed commit keeps the writes
// buffered for the next attempt. It is a no-op for a memory store.
func (e *Embedded) Flush() error {
	if e.db == nil {
		return nil
	}
	e.flushMu.Lock()
	defer e.flushMu.Unlock()
	e.mu.Lock()
	if len(e.pending) == 0 {
		e.mu.Unlock()
		return nil
	}
	batch := e.pending
	e.pending = make(map[string][]byte, len(batch))
	e.flushing = batch
	e.mu.Unlock()

	keys := make([]string, 0, len(batch))
	for k := range batch {
		keys = append(keys, k)
	}
	slices.Sort(keys) // sequential inserts are the cheapest for a B+tree
	err := e.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketKV)
		for _, k := range keys {
			var err error
			if v := batch[k]; v == nil {
				err = b.Delete([]byte(k))
			} else {
				err = b.Put([]byte(k), v)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})

	e.mu.Lock()
	if err != nil {
		for k, v := range batch { // newer writes win over the failed batch
			if _, ok := e.pending[k]; !ok {
				e.pending[k] = v
			}
		}
	}
	e.flushing = nil
	e.mu.Unlock()

	if err != nil {
		if !e.failing {
			e.log.Error("state: committing the embedded store failed; writes stay buffered", "path", e.path, "keys", len(batch), "err", err)
		}
		e.failing = true
		return fmt.Errorf("state: commit %s: %w", e.path, err)
	}
	if e.failing {
		e.log.Info("state: committing the embedded store works again", "path", e.path)
		e.failing = false
	}
	return nil
}

// Sweep removes expired keys and returns how many it removed (from the
// file at the next commit). The background loop calls it every
// SweepInterval.
func (e *Embedded) Sweep() (int, error) {
	now := e.now().UnixMilli()
	if e.db == nil {
		e.mu.Lock()
		defer e.mu.Unlock()
		n := 0
		for k, raw := range e.pending {
			if en, err := decodeHeader(raw); err == nil && expired(en.exp, now) {
				delete(e.pending, k)
				n++
			}
		}
		return n, nil
	}
	var cands []string // expired keys in the file
	err := e.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketKV).ForEach(func(k, v []byte) error {
			if en, err := decodeHeader(v); err == nil && expired(en.exp, now) {
				cands = append(cands, string(k))
			}
			return nil
		})
	})
	if err != nil {
		return 0, fmt.Errorf("state: sweep %s: %w", e.path, err)
	}
	// Re-check under the lock: a key may have been rewritten (and even
	// committed) since the scan. Expired keys still in the buffer go too.
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return 0, ErrClosed
	}
	x := &exec{e: e, now: now}
	defer x.finish()
	n := 0
	for _, k := range cands {
		if _, ok, err := x.load(k); err == nil && !ok {
			n++ // load wrote the tombstone
		}
	}
	for k, raw := range e.pending {
		if en, err := decodeHeader(raw); raw != nil && err == nil && expired(en.exp, now) {
			e.pending[k] = nil
			n++
		}
	}
	return n, nil
}

// Close commits the buffered writes and closes the file. Do fails with
// ErrClosed afterwards. Close is idempotent.
func (e *Embedded) Close() error {
	e.closeMu.Lock()
	defer e.closeMu.Unlock()
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return e.closeErr
	}
	e.mu.Unlock()
	if e.db == nil {
		e.mu.Lock()
		e.closed = true
		e.mu.Unlock()
		return nil
	}
	close(e.stop)
	<-e.done
	// Stop new ops, then commit what they left.
	e.mu.Lock()
	e.closed = true
	e.mu.Unlock()
	err := e.Flush()
	if cerr := e.db.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("state: close %s: %w", e.path, cerr)
	}
	e.closeErr = err
	return err
}

// Do implements Store.
func (e *Embedded) Do(ctx context.Context, ops ...*Op) error {
	if err := prepare(ops); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("state: %w", err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return ErrClosed
	}
	x := &exec{e: e, now: e.now().UnixMilli()}
	defer x.finish()
	for _, o := range ops {
		x.run(o)
	}
	return firstError(ops)
}

func expired(exp, now int64) bool { return exp != 0 && exp <= now }
