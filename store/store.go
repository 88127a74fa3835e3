package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// More errors returned by the store (see api.go for the others).
var (
	// ErrStoreLocked is returned by Open when another process holds the
	// store's index (typically a running `moat serve`).
	ErrStoreLocked = errors.New("store: index is locked by another process (is moat serve running?)")
	// ErrClosed is returned by every method of a closed Store.
	ErrClosed = errors.New("store: closed")
	// ErrInvalidPassword is returned for an empty password.
	ErrInvalidPassword = errors.New("store: invalid password")
	// ErrInvalidQuota is returned for a negative quota.
	ErrInvalidQuota = errors.New("store: invalid quota")
)

// lockTimeout is how long Open waits for another process's lock on the
// index before failing with ErrStoreLocked.
const lockTimeout = 300 * time.Millisecond

// Store is the mail store: users, their mailboxes and messages. Message
// bodies are files under Dir/msgs/XX/ (written, fsync'd, their directory
// fsync'd before the index refers to them); everything else lives in a
// bbolt index at Dir/index.db whose commits are grouped so concurrent
// deliveries share fsyncs. A Store is safe for concurrent use by one
// process; a second process fails to Open it with ErrStoreLocked.
type Store struct {
	dir     string
	db      *bolt.DB
	trainer Trainer
	quota   int64
	log     *slog.Logger
	now     func() time.Time
	kdf     kdfParams

	commits chan *commitReq
	quit    chan struct{}
	done    chan struct{}
	closeMu sync.RWMutex
	closed  bool

	watchMu  sync.Mutex
	watchers map[string]map[*watcher]struct{}

	lockMu sync.Mutex
	locked map[string]bool
}

// Open opens (creating if needed) the store in o.Dir and recovers from an
// earlier crash: message files the index does not know are removed, index
// entries whose file is missing are dropped, counters are recomputed; each
// repair is logged.
func Open(ctx context.Context, o Options) (*Store, error) {
	if o.Dir == "" {
		return nil, errors.New("store: empty directory")
	}
	s := &Store{
		dir:      o.Dir,
		trainer:  o.Trainer,
		quota:    o.DefaultQuota,
		log:      o.Log,
		now:      o.Now,
		kdf:      defaultKDF(),
		commits:  make(chan *commitReq),
		quit:     make(chan struct{}),
		done:     make(chan struct{}),
		watchers: make(map[string]map[*watcher]struct{}),
		locked:   make(map[string]bool),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if err := s.makeDirs(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("store: open: %w", err)
	}
	db, err := bolt.Open(filepath.Join(o.Dir, "index.db"), 0o600, &bolt.Options{
		Timeout:        lockTimeout,
		NoFreelistSync: true,
		FreelistType:   bolt.FreelistMapType,
	})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("%w: %s", ErrStoreLocked, o.Dir)
	}
	if err != nil {
		return nil, fmt.Errorf("store: open index: %w", err)
	}
	s.db = db
	if err := s.recover(ctx); err != nil {
		db.Close()
		return nil, err
	}
	go s.committer()
	return s, nil
}

// makeDirs creates Dir, Dir/msgs and its 256 shard directories durably.
func (s *Store) makeDirs() error {
	msgs := filepath.Join(s.dir, "msgs")
	if err := os.MkdirAll(msgs, 0o700); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	for i := range 256 {
		d := filepath.Join(msgs, fmt.Sprintf("%02x", i))
		if err := os.Mkdir(d, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("store: %w", err)
		}
	}
	for _, d := range []string{msgs, s.dir, filepath.Dir(s.dir)} {
		if err := fsyncDir(d); err != nil {
			return fmt.Errorf("store: %w", err)
		}
	}
	return nil
}

// Close stops the store: it waits for commits under way, then closes the
// index. Watchers' channels are closed. Methods called afterwards return
// ErrClosed.
func (s *Store) Close() error {
	s.closeMu.Lock()
	if s.closed {
		s.closeMu.Unlock()
		return nil
	}
	s.closed = true
	close(s.quit)
	s.closeMu.Unlock()
	<-s.done
	s.watchMu.Lock()
	var ws []*watcher
	for _, m := range s.watchers {
		for w := range m {
			ws = append(ws, w)
		}
	}
	s.watchMu.Unlock()
	for _, w := range ws {
		w.Cancel()
	}
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	return nil
}

// view runs fn in a read transaction.
func (s *Store) view(ctx context.Context, fn func(*bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	return s.db.View(fn)
}
