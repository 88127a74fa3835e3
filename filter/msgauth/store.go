package msgauth

import (
	"slices"
	"sync"
	"time"
)

// store keeps each transaction's results, keyed by transaction id, until
// Forget or until they expire. It is safe for concurrent use. Its size is
// bounded: past max entries it drops expired entries first and then the
// ones that expire soonest.
type store struct {
	mu        sync.Mutex
	m         map[string]*entry
	ttl       time.Duration
	max       int
	now       func() time.Time
	lastSweep time.Time
}

type entry struct {
	res     Results
	expires time.Time
}

func newStore(ttl time.Duration, max int, now func() time.Time) *store {
	return &store{m: make(map[string]*entry), ttl: ttl, max: max, now: now, lastSweep: now()}
}

// update applies f to the results of transaction id, creating them if need
// be, and refreshes their expiry.
func (s *store) update(id string, f func(r *Results)) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.m[id]
	if e == nil {
		s.makeRoom(now)
		e = &entry{}
		s.m[id] = e
	}
	e.expires = now.Add(s.ttl)
	f(&e.res)
}

// get returns a copy of the results of transaction id (nil fields for what
// is not known).
func (s *store) get(id string) Results {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.m[id]
	if e == nil || !now.Before(e.expires) {
		return Results{}
	}
	return e.res
}

// forget drops the results of transaction id.
func (s *store) forget(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, id)
}

// len returns the number of entries held.
func (s *store) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

// makeRoom drops expired entries every quarter TTL, and when the store is
// full; then, if it is still full, the entries closest to expiry. The
// caller holds s.mu.
func (s *store) makeRoom(now time.Time) {
	full := len(s.m) >= s.max
	if !full && now.Sub(s.lastSweep) < s.ttl/4 {
		return
	}
	s.lastSweep = now
	for id, e := range s.m {
		if !now.Before(e.expires) {
			delete(s.m, id)
		}
	}
	if len(s.m) < s.max {
		return
	}
	// Still full of live entries: drop the eighth closest to expiry, so
	// the next inserts do not each pay for a scan.
	exp := make([]time.Time, 0, len(s.m))
	for _, e := range s.m {
		exp = append(exp, e.expires)
	}
	slices.SortFunc(exp, time.Time.Compare)
	cut := exp[min(len(exp)-1, len(exp)/8)]
	for id, e := range s.m {
		if !e.expires.After(cut) {
			delete(s.m, id)
		}
	}
}
