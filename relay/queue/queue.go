package queue

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Errors returned by the queue.
var (
	ErrClosed   = errors.New("queue: closed")
	ErrNotFound = errors.New("queue: no such message")
	ErrReadOnly = errors.New("queue: opened read-only")
	ErrLocked   = errors.New("queue: directory in use by another process")
)

// Options configures a Queue. Zero values take the documented defaults.
type Options struct {
	Dir         string           // the queue directory (data_dir/queue); created if missing
	Courier     Courier          // nil: messages are stored but not delivered
	Hostname    string           // DSN Reporting-MTA and From: MAILER-DAEMON@Hostname; default os.Hostname
	MaxAge      time.Duration    // give up on a recipient this long after Received; default 5 days
	MinBackoff  time.Duration    // first retry delay; default 1 minute
	MaxBackoff  time.Duration    // longest retry delay; default 1 hour
	Workers     int              // concurrent transactions in all; default 32
	PerRoute    int              // concurrent transactions per route; default 4
	SegmentSize int64            // log segment size; default 64 MiB
	ReadOnly    bool             // inspect only (List, Show, Stats): no lock, no workers, no writes
	Log         *slog.Logger     // default: discard
	Now         func() time.Time // default time.Now
	Jitter      func() float64   // uniform in [0,1), spreads retries; default math/rand/v2
}

func (o *Options) defaults() error {
	if o.Dir == "" {
		return errors.New("queue: no directory")
	}
	if o.Hostname == "" {
		h, err := os.Hostname()
		if err != nil {
			h = "localhost"
		}
		o.Hostname = h
	}
	if o.MaxAge <= 0 {
		o.MaxAge = 5 * 24 * time.Hour
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = time.Minute
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = time.Hour
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = o.MinBackoff
	}
	if o.Workers <= 0 {
		o.Workers = 32
	}
	if o.PerRoute <= 0 {
		o.PerRoute = 4
	}
	if o.SegmentSize <= 0 {
		o.SegmentSize = 64 << 20
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Jitter == nil {
		o.Jitter = mrand.Float64
	}
	return nil
}

// Envelope is what the queue needs to know of an accepted message.
type Envelope struct {
	ID       string    // moat's transaction id, used as the queue id if free; generated if empty
	From     string    // reverse path; "" is the null sender (a bounce: never bounced)
	Rcpts    []string  // forward paths
	Received time.Time // arrival; MaxAge counts from here (default: now)
	Spam     bool      // judged spam: failures are dropped and logged, never bounced
	DSN      DSNOptions
}

// DSNOptions carries the client's RFC 3461 parameters.
type DSNOptions struct {
	Ret   string        // "FULL" returns the whole message in a DSN; else headers only
	EnvID string        // ENVID, echoed as Original-Envelope-Id
	Rcpts []RcptOptions // per recipient, in Envelope.Rcpts order; may be shorter or nil
}

// RcptOptions are one recipient's RFC 3461 parameters.
type RcptOptions struct {
	Notify []string // "NEVER", or some of "SUCCESS", "FAILURE", "DELAY"; nil means FAILURE
	ORcpt  string   // ORCPT value, "rfc822;user@example.org"
}

// Queue is the durable queue. Its methods are safe for concurrent use.
type Queue struct {
	opt     Options
	log     *slog.Logger
	now     func() time.Time
	wal     *wal       // nil when read-only
	segsRO  []*segment // the segments read, when read-only
	lock    *os.File
	segSize int64

	runCtx    context.Context // deliveries; canceled when Close runs out of time
	cancelRun context.CancelFunc
	stop      chan struct{} // closed by Close: background loops end
	wake      chan struct{} // the scheduler looks at the heap again
	compactC  chan struct{} // the compactor looks at the oldest segment
	wg        sync.WaitGroup

	mu        sync.Mutex
	workCond  sync.Cond // workers wait for ready jobs
	msgs      map[string]*message
	reserved  map[string]bool // ids of enqueues in progress
	heap      msgHeap
	routes    map[string]*routeState
	down      map[string]routeDownState
	ready     []*job
	liveBytes int64
	closing   bool
	closed    bool

	stats counters
}

// counters are the cumulative figures of Stats.
type counters struct {
	enqueued, delivered, deferred, bounced, dropped, dsns, expired atomic.Uint64
}

// message is a queued message in memory.
type message struct {
	id       string
	d        diskMsg // envelope and recipient states; states change under Queue.mu
	seg      *segment
	recSize  int64
	bodyOff  int64
	bodySize int64

	// Scheduling, under Queue.mu.
	next    time.Time
	heapIdx int  // position in the heap, -1 when out of it
	busy    bool // taken by the scheduler, a worker or the compactor
	jobs    int  // jobs not yet done
	deleted bool // removed by Delete (maybe while busy)
	tombed  bool // Delete's record is durable
}

// Open loads the queue in opt.Dir (creating it if needed), drops torn
// records left by a crash, and starts delivering.
func Open(ctx context.Context, opt Options) (*Queue, error) {
	if err := opt.defaults(); err != nil {
		return nil, err
	}
	q := &Queue{
		opt:      opt,
		log:      opt.Log,
		now:      opt.Now,
		segSize:  opt.SegmentSize,
		stop:     make(chan struct{}),
		wake:     make(chan struct{}, 1),
		compactC: make(chan struct{}, 1),
		msgs:     make(map[string]*message),
		reserved: make(map[string]bool),
		routes:   make(map[string]*routeState),
		down:     make(map[string]routeDownState),
	}
	q.workCond.L = &q.mu
	q.runCtx, q.cancelRun = context.WithCancel(context.WithoutCancel(ctx))
	if !opt.ReadOnly {
		if err := os.MkdirAll(opt.Dir, 0o700); err != nil {
			return nil, fmt.Errorf("queue: %w", err)
		}
		l, err := lockDir(opt.Dir)
		if err != nil {
			return nil, err
		}
		q.lock = l
	}
	segs, err := q.load(ctx)
	if err != nil {
		q.release(segs)
		return nil, err
	}
	if opt.ReadOnly {
		q.closing = true
		q.segsRO = segs
		return q, nil
	}
	q.wal = newWAL(opt.Dir, opt.SegmentSize, segs)
	q.start()
	return q, nil
}

// release closes segment files and the lock after a failed Open.
func (q *Queue) release(segs []*segment) {
	for _, s := range segs {
		s.f.Close()
	}
	if q.lock != nil {
		q.lock.Close()
	}
}

// start schedules everything loaded and starts the background goroutines.
func (q *Queue) start() {
	q.mu.Lock()
	for _, m := range q.msgs {
		m.next = m.nextAttempt(q.now())
		q.heap.push(m)
	}
	q.mu.Unlock()
	if q.opt.Courier != nil {
		for range q.opt.Workers {
			q.wg.Add(1)
			go q.worker()
		}
		q.wg.Add(1)
		go q.scheduler()
	}
	q.wg.Add(1)
	go q.compactor()
}

// Enqueue stores a message and returns its queue id once the message and
// its envelope are on disk. body is read to its end (it should be spooled
// already: the log is locked while it is copied). ctx is checked before
// the write only: once written the message is queued.
func (q *Queue) Enqueue(ctx context.Context, env Envelope, body io.Reader) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("queue: enqueue: %w", err)
	}
	if q.wal == nil {
		return "", ErrReadOnly
	}
	if err := checkEnvelope(&env); err != nil {
		return "", err
	}
	now := q.now()
	d := diskMsg{
		From:     env.From,
		Received: env.Received,
		Enqueued: now,
		Spam:     env.Spam,
		Ret:      strings.ToUpper(env.DSN.Ret),
		EnvID:    env.DSN.EnvID,
		Rcpts:    make([]diskRcpt, len(env.Rcpts)),
	}
	if d.Received.IsZero() {
		d.Received = now
	}
	seen := make(map[string]bool, len(env.Rcpts))
	d.Rcpts = d.Rcpts[:0]
	for i, r := range env.Rcpts {
		if seen[r] {
			continue // one copy per recipient
		}
		seen[r] = true
		dr := diskRcpt{Addr: r}
		if i < len(env.DSN.Rcpts) {
			dr.Notify = env.DSN.Rcpts[i].Notify
			dr.ORcpt = env.DSN.Rcpts[i].ORcpt
		}
		d.Rcpts = append(d.Rcpts, dr)
	}
	id, err := q.add(env.ID, d, body)
	if err != nil {
		return "", err
	}
	q.stats.enqueued.Add(1)
	return id, nil
}

// checkEnvelope refuses what cannot be stored or sent.
func checkEnvelope(env *Envelope) error {
	if len(env.Rcpts) == 0 {
		return errors.New("queue: no recipients")
	}
	bad := func(s string) bool { return strings.ContainsAny(s, "\r\n\x00") || len(s) > 1024 }
	if bad(env.From) || bad(env.ID) || bad(env.DSN.EnvID) {
		return errors.New("queue: invalid envelope")
	}
	for _, r := range env.Rcpts {
		if r == "" || bad(r) {
			return fmt.Errorf("queue: invalid recipient %q", r)
		}
	}
	for _, o := range env.DSN.Rcpts {
		if bad(o.ORcpt) {
			return errors.New("queue: invalid ORCPT")
		}
	}
	return nil
}

// add appends an enqueue record for d, waits for it to be durable, and
// schedules the message for immediate delivery.
func (q *Queue) add(want string, d diskMsg, body io.Reader) (string, error) {
	id := q.reserve(want)
	defer func() {
		q.mu.Lock()
		delete(q.reserved, id)
		q.mu.Unlock()
	}()
	meta, err := jsonMarshal(d)
	if err != nil {
		return "", err
	}
	pos, err := q.wal.append(payloadPrefix(recEnqueue, id, meta), body)
	if err != nil {
		return "", err
	}
	if err := q.wal.sync(pos.lsn); err != nil {
		return "", err
	}
	m := &message{id: id, d: d, seg: pos.seg, recSize: pos.bodyOff + pos.bodySize - pos.off,
		bodyOff: pos.bodyOff, bodySize: pos.bodySize, heapIdx: -1}
	q.mu.Lock()
	q.msgs[id] = m
	q.account(m, +1)
	if q.closing {
		q.mu.Unlock()
		return id, nil
	}
	m.busy = true
	m.next = q.now()
	q.mu.Unlock()
	if pos.off == segHeaderLen {
		q.kickCompactor() // the first record of a new segment: the log rotated
	}
	if q.opt.Courier == nil {
		q.settle(m, false)
		return id, nil
	}
	q.plan(m)
	return id, nil
}

// reserve picks a free id: want if given and free, else want with a
// suffix, else a random one.
func (q *Queue) reserve(want string) string {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(want) > maxIDLen-16 {
		want = want[:maxIDLen-16]
	}
	id := want
	if id == "" {
		id = newID()
	}
	for n := 2; q.msgs[id] != nil || q.reserved[id] || id == "all"; n++ {
		if want == "" {
			id = newID()
		} else {
			id = fmt.Sprintf("%s.%d", want, n)
		}
	}
	q.reserved[id] = true
	return id
}

var idEncoding = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

// newID returns a random queue id.
func newID() string {
	var b [10]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read does not fail
	return "q" + idEncoding.EncodeToString(b[:])
}

// account adds (+1) or removes (-1) m's record from its segment's live
// figures. Under q.mu.
func (q *Queue) account(m *message, sign int) {
	m.seg.live += sign
	m.seg.liveBytes += int64(sign) * m.recSize
	q.liveBytes += int64(sign) * m.recSize
}

// Kick makes the scheduler look for due messages now (after a test
// advanced its clock, say).
func (q *Queue) Kick() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *Queue) kickCompactor() {
	select {
	case q.compactC <- struct{}{}:
	default:
	}
}

// Close stops the workers, waits for the deliveries in flight until ctx is
// done (then cancels them: they are tried again after the next Open), and
// closes the log. Messages still queued stay on disk.
func (q *Queue) Close(ctx context.Context) error {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return nil
	}
	q.closed = true
	q.closing = true
	q.workCond.Broadcast()
	q.mu.Unlock()
	if q.wal == nil {
		q.cancelRun()
		for _, s := range q.segsRO {
			s.f.Close()
		}
		return nil
	}
	close(q.stop)
	done := make(chan struct{})
	go func() {
		q.wg.Wait()
		close(done)
	}()
	var werr error
	select {
	case <-done:
	case <-ctx.Done():
		q.cancelRun()
		<-done
		werr = fmt.Errorf("queue: close: %w", ctx.Err())
	}
	q.cancelRun()
	err := q.wal.close()
	q.mu.Lock()
	for _, s := range q.wal.segs {
		s.f.Close()
	}
	q.mu.Unlock()
	if q.lock != nil {
		q.lock.Close()
	}
	return errors.Join(werr, err)
}
