package store

import (
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// maxGroup bounds how many updates share one index commit.
const maxGroup = 512

// commitReq is one update waiting for the committer: fn runs inside the
// group's write transaction; dir, when set, is a message directory that
// must be fsync'd before the commit that makes the index refer to it.
type commitReq struct {
	fn   func(*bolt.Tx) error
	dir  string
	done chan error
}

// update runs fn in a write transaction shared with whatever other updates
// are waiting (group commit), and returns once that transaction is on disk.
// fn may run more than once (when another update in its group fails, the
// group is retried without it), so it must set its results afresh on each
// run. dir is fsync'd before the commit when not empty.
func (s *Store) update(ctx context.Context, dir string, fn func(*bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	req := &commitReq{fn: fn, dir: dir, done: make(chan error, 1)}
	s.closeMu.RLock()
	if s.closed {
		s.closeMu.RUnlock()
		return ErrClosed
	}
	s.commits <- req
	s.closeMu.RUnlock()
	// Once handed over, the update is not abandoned even if ctx ends: the
	// caller must learn whether it committed.
	return <-req.done
}

// committer runs the group commits until Close.
func (s *Store) committer() {
	defer close(s.done)
	for {
		var first *commitReq
		select {
		case first = <-s.commits:
		case <-s.quit:
			return
		}
		group := []*commitReq{first}
	drain:
		for len(group) < maxGroup {
			select {
			case r := <-s.commits:
				group = append(group, r)
			default:
				break drain
			}
		}
		s.runGroup(group)
	}
}

// runGroup commits group in one transaction. When one update fails, it
// gets its error and the others are retried in a new transaction.
func (s *Store) runGroup(group []*commitReq) {
	synced := map[string]bool{}
	for _, r := range group {
		if r.dir == "" || synced[r.dir] {
			continue
		}
		synced[r.dir] = true
		if err := fsyncDir(r.dir); err != nil {
			err = fmt.Errorf("store: sync %s: %w", r.dir, err)
			for _, r := range group {
				r.done <- err
			}
			return
		}
	}
	for len(group) > 0 {
		failed, failErr := -1, error(nil)
		err := s.db.Update(func(tx *bolt.Tx) error {
			for i, r := range group {
				if err := r.fn(tx); err != nil {
					failed, failErr = i, err
					return err
				}
			}
			return nil
		})
		if failed < 0 {
			if err != nil {
				err = fmt.Errorf("store: commit: %w", err)
			}
			for _, r := range group {
				r.done <- err
			}
			return
		}
		group[failed].done <- failErr
		group = append(group[:failed:failed], group[failed+1:]...)
	}
}
