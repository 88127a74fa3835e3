package store

import (
	"fmt"
	"sync"
)

// watchBuffer is how many changes a watcher may fall behind before it is
// told to re-read everything.
const watchBuffer = 64

// watcher is one Watch registration.
type watcher struct {
	s    *Store
	user string
	ch   chan Change

	mu     sync.Mutex
	closed bool
}

// Watch reports the changes to user's mailboxes (after each commit) until
// the watcher is cancelled or the store closed. A watcher that falls behind
// loses the changes it missed and gets one ChangeMailboxes instead.
func (s *Store) Watch(user string) Watcher {
	n, err := NormalizeUser(user)
	if err != nil {
		n = user
	}
	w := &watcher{s: s, user: n, ch: make(chan Change, watchBuffer)}
	s.watchMu.Lock()
	defer s.watchMu.Unlock()
	s.closeMu.RLock()
	closed := s.closed
	s.closeMu.RUnlock()
	if closed {
		w.closed = true
		close(w.ch)
		return w
	}
	if s.watchers[n] == nil {
		s.watchers[n] = map[*watcher]struct{}{}
	}
	s.watchers[n][w] = struct{}{}
	return w
}

// Changes returns the channel of changes; it is closed by Cancel.
func (w *watcher) Changes() <-chan Change { return w.ch }

// Cancel stops the watcher and closes its channel. It may be called more
// than once.
func (w *watcher) Cancel() {
	w.s.watchMu.Lock()
	if m := w.s.watchers[w.user]; m != nil {
		delete(m, w)
		if len(m) == 0 {
			delete(w.s.watchers, w.user)
		}
	}
	w.s.watchMu.Unlock()
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.closed {
		w.closed = true
		close(w.ch)
	}
}

// send delivers c without blocking; on overflow the pending changes are
// replaced by one ChangeMailboxes.
func (w *watcher) send(c Change) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return
	}
	select {
	case w.ch <- c:
		return
	default:
	}
drain:
	for {
		select {
		case <-w.ch:
		default:
			break drain
		}
	}
	w.ch <- Change{User: w.user, Kind: ChangeMailboxes}
}

// publish sends changes to the watchers of their users.
func (s *Store) publish(changes []Change) {
	for _, c := range changes {
		s.watchMu.Lock()
		ws := make([]*watcher, 0, len(s.watchers[c.User]))
		for w := range s.watchers[c.User] {
			ws = append(ws, w)
		}
		s.watchMu.Unlock()
		for _, w := range ws {
			w.send(c)
		}
	}
}

// LockMaildrop gives one POP3 session at a time user's maildrop: it
// returns ErrLocked while another holds it. unlock may be called more than
// once.
func (s *Store) LockMaildrop(user string) (unlock func(), err error) {
	n, err := NormalizeUser(user)
	if err != nil {
		return nil, err
	}
	s.lockMu.Lock()
	defer s.lockMu.Unlock()
	if s.locked[n] {
		return nil, fmt.Errorf("%w: %s", ErrLocked, n)
	}
	s.locked[n] = true
	var once sync.Once
	return func() {
		once.Do(func() {
			s.lockMu.Lock()
			delete(s.locked, n)
			s.lockMu.Unlock()
		})
	}, nil
}
