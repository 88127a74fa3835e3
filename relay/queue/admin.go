package queue

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// RcptStatus is one recipient of a queued message.
type RcptStatus struct {
	Addr        string
	State       State
	Attempts    int
	LastAttempt time.Time // zero before the first attempt
	NextAttempt time.Time // pending recipients only
	LastError   string    // the last answer when it was not a success, "451 4.4.1 …"
	Expired     bool      // failed because MaxAge passed
}

// Summary describes a queued message.
type Summary struct {
	ID          string
	From        string
	Rcpts       []RcptStatus
	Received    time.Time
	Age         time.Duration
	Attempts    int       // the most attempts of any recipient
	NextAttempt time.Time // the earliest next attempt of a pending recipient
	Size        int64     // message bytes
	LastError   string    // the latest failure of any recipient
	State       string    // "active" (due or being delivered), "deferred" or "bouncing"
	Spam        bool
}

// Detail is a message as Show describes it.
type Detail struct {
	Summary
	Enqueued time.Time
	Ret      string // DSN RET
	EnvID    string // DSN ENVID
	BounceOf string // for a DSN: the queue id of the message it reports on
	Headers  string // the message's header section
}

// Counts are the queue's current figures.
type Counts struct {
	Messages   int           // queued messages
	Active     int           // due now or being delivered
	Deferred   int           // waiting for a retry
	Bouncing   int           // failed recipients whose DSN is not queued yet
	Recipients map[State]int // recipients of queued messages by state
	Bytes      int64         // message bytes queued
}

// Stats are the queue's counters since Open, and its current figures.
type Stats struct {
	Counts
	Enqueued  uint64 // messages accepted by Enqueue (DSNs not included)
	Delivered uint64 // recipients delivered
	Deferred  uint64 // attempts that failed temporarily
	Bounced   uint64 // recipients reported in a DSN
	Dropped   uint64 // recipients failed with no DSN (null sender, spam, NOTIFY)
	Expired   uint64 // recipients given up after MaxAge
	DSNs      uint64 // DSN messages queued
	LogBytes  int64  // size of the log on disk
}

// summary describes m. Under q.mu.
func (q *Queue) summary(m *message, now time.Time) Summary {
	s := Summary{
		ID:       m.id,
		From:     m.d.From,
		Received: m.d.Received,
		Age:      now.Sub(m.d.Received),
		Size:     m.bodySize,
		Spam:     m.d.Spam,
	}
	var lastFail time.Time
	for i := range m.d.Rcpts {
		r := &m.d.Rcpts[i]
		rs := RcptStatus{Addr: r.Addr, State: r.State, Attempts: r.Attempts, LastAttempt: r.Last, Expired: r.Expired}
		if r.Code != 0 && (r.Code < 200 || r.Code >= 300) {
			rs.LastError = replyText(r.rcptStatus)
			if !r.Last.Before(lastFail) {
				lastFail = r.Last
				s.LastError = rs.LastError
			}
		}
		if r.State == Pending {
			rs.NextAttempt = r.Next
			if s.NextAttempt.IsZero() || r.Next.Before(s.NextAttempt) {
				s.NextAttempt = r.Next
			}
		}
		s.Attempts = max(s.Attempts, r.Attempts)
		s.Rcpts = append(s.Rcpts, rs)
	}
	s.State = m.state(now)
	return s
}

// state is m's state for an administrator: "bouncing" (a DSN is still to
// be queued), "active" (being delivered or due) or "deferred". Under q.mu.
func (m *message) state(now time.Time) string {
	switch {
	case m.has(Failed):
		return "bouncing"
	case m.busy || !m.next.After(now):
		return "active"
	}
	return "deferred"
}

// List describes every queued message, oldest first, and counts them.
func (q *Queue) List(ctx context.Context) ([]Summary, Counts, error) {
	if err := ctx.Err(); err != nil {
		return nil, Counts{}, fmt.Errorf("queue: list: %w", err)
	}
	now := q.now()
	c := Counts{Recipients: make(map[State]int)}
	q.mu.Lock()
	list := make([]Summary, 0, len(q.msgs))
	for _, m := range q.msgs {
		list = append(list, q.summary(m, now))
		c.count(m, now)
	}
	q.mu.Unlock()
	slices.SortFunc(list, func(a, b Summary) int {
		if c := a.Received.Compare(b.Received); c != 0 {
			return c
		}
		return compareStrings(a.ID, b.ID)
	})
	return list, c, nil
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// count adds m to c. Under q.mu.
func (c *Counts) count(m *message, now time.Time) {
	c.Messages++
	c.Bytes += m.bodySize
	switch m.state(now) {
	case "active":
		c.Active++
	case "deferred":
		c.Deferred++
	case "bouncing":
		c.Bouncing++
	}
	for i := range m.d.Rcpts {
		c.Recipients[m.d.Rcpts[i].State]++
	}
}

// Show describes one message, with its envelope and headers.
func (q *Queue) Show(ctx context.Context, id string) (Detail, error) {
	if err := ctx.Err(); err != nil {
		return Detail{}, fmt.Errorf("queue: show: %w", err)
	}
	q.mu.Lock()
	m := q.msgs[id]
	if m == nil {
		q.mu.Unlock()
		return Detail{}, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	d := Detail{
		Summary:  q.summary(m, q.now()),
		Enqueued: m.d.Enqueued,
		Ret:      m.d.Ret,
		EnvID:    m.d.EnvID,
		BounceOf: m.d.BounceOf,
	}
	q.mu.Unlock()
	body, release := q.body(m)
	h, err := headerBlock(body)
	release()
	if err != nil {
		return Detail{}, err
	}
	d.Headers = string(h)
	return d, nil
}

// Retry makes the message id (or, with id "all", every waiting message)
// due now, and returns how many messages it made due. It also forgets
// which routes were marked down, so the retry really connects.
func (q *Queue) Retry(ctx context.Context, id string) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("queue: retry: %w", err)
	}
	if q.wal == nil {
		return 0, ErrReadOnly
	}
	now := q.now()
	n := 0
	q.mu.Lock()
	clear(q.down)
	retry := func(m *message) {
		for i := range m.d.Rcpts {
			if r := &m.d.Rcpts[i]; r.State == Pending && r.Next.After(now) {
				r.Next = now
			}
		}
		if m.heapIdx >= 0 && m.next.After(now) {
			m.next = now
			q.heap.fix(m)
			n++
		}
	}
	if id == "all" {
		for _, m := range q.msgs {
			retry(m)
		}
	} else {
		m := q.msgs[id]
		if m == nil {
			q.mu.Unlock()
			return 0, fmt.Errorf("%w: %s", ErrNotFound, id)
		}
		retry(m)
	}
	q.mu.Unlock()
	q.Kick()
	return n, nil
}

// Delete removes a message from the queue, durably. A delivery in flight
// finishes but is not recorded, and no DSN is sent.
func (q *Queue) Delete(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("queue: delete: %w", err)
	}
	if q.wal == nil {
		return ErrReadOnly
	}
	q.mu.Lock()
	m := q.msgs[id]
	if m == nil {
		q.mu.Unlock()
		return fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	delete(q.msgs, id)
	q.account(m, -1)
	q.heap.remove(m)
	m.deleted = true
	// The id stays reserved until no record of the deleted message can
	// follow a new message's enqueue record with the same id.
	q.reserved[id] = true
	empty := m.seg.live == 0
	q.mu.Unlock()
	q.log.Info("queue: message deleted", "id", id)
	if empty {
		q.kickCompactor()
	}
	err := q.writeDelete(id)
	q.mu.Lock()
	m.tombed = true
	q.releaseID(m)
	q.mu.Unlock()
	return err
}

// releaseID frees a deleted message's id once its delete record is
// durable and no worker or compactor holds it. Under q.mu.
func (q *Queue) releaseID(m *message) {
	if m.deleted && m.tombed && !m.busy {
		delete(q.reserved, m.id)
	}
}

// writeDelete appends a delete record and waits until it is durable.
func (q *Queue) writeDelete(id string) error {
	pos, err := q.wal.append(payloadPrefix(recDelete, id, nil), nil)
	if err != nil {
		return err
	}
	return q.wal.sync(pos.lsn)
}

// Stats returns the counters and current figures, for metrics.
func (q *Queue) Stats() Stats {
	now := q.now()
	c := Counts{Recipients: make(map[State]int)}
	q.mu.Lock()
	for _, m := range q.msgs {
		c.count(m, now)
	}
	q.mu.Unlock()
	st := Stats{
		Counts:    c,
		Enqueued:  q.stats.enqueued.Load(),
		Delivered: q.stats.delivered.Load(),
		Deferred:  q.stats.deferred.Load(),
		Bounced:   q.stats.bounced.Load(),
		Dropped:   q.stats.dropped.Load(),
		Expired:   q.stats.expired.Load(),
		DSNs:      q.stats.dsns.Load(),
	}
	if q.wal != nil {
		st.LogBytes = q.wal.totalSize()
	} else {
		for _, s := range q.segsRO {
			st.LogBytes += s.size
		}
	}
	return st
}
