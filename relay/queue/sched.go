package queue

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"
)

// job is one transaction: some recipients of one message on one route.
type job struct {
	m     *message
	route string
	idx   []int    // recipient indexes in m.d.Rcpts
	rcpts []string // their addresses
	err   error    // the route lookup failed: record this instead of delivering
	final bool     // nothing to deliver: queue the DSN if any and settle
}

// routeDownState is a route whose last transaction failed as a whole.
type routeDownState struct {
	until time.Time
	err   error
}

// routeState limits the transactions in flight on one route.
type routeState struct {
	active  int
	waiting []*job
}

// scheduler hands due messages to plan, and sleeps until the next one is
// due or Kick, Retry or a settled message wakes it.
func (q *Queue) scheduler() {
	defer q.wg.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		q.mu.Lock()
		if q.closing {
			q.mu.Unlock()
			return
		}
		now := q.now()
		var due []*message
		for len(q.heap) > 0 && !q.heap[0].next.After(now) && len(due) < 256 {
			m := q.heap.popMin()
			m.busy = true
			due = append(due, m)
		}
		wait := time.Minute // the clock may be a test's, or jump
		if len(q.heap) > 0 {
			wait = min(wait, q.heap[0].next.Sub(now))
		}
		q.mu.Unlock()
		for _, m := range due {
			q.plan(m)
		}
		if len(due) > 0 {
			continue
		}
		timer.Reset(max(wait, time.Millisecond))
		select {
		case <-q.stop:
			return
		case <-q.wake:
		case <-timer.C:
		}
	}
}

// plan turns m's due recipients into jobs, one per route. m is busy.
func (q *Queue) plan(m *message) {
	type due struct {
		i    int
		addr string
	}
	q.mu.Lock()
	if m.deleted {
		m.busy = false
		q.releaseID(m)
		q.mu.Unlock()
		return
	}
	now := q.now()
	var list []due
	for i := range m.d.Rcpts {
		r := &m.d.Rcpts[i]
		if r.State == Pending && !r.Next.After(now) {
			list = append(list, due{i, r.Addr})
		}
	}
	q.mu.Unlock()

	var jobs []*job
	byRoute := make(map[string]*job)
	for _, d := range list {
		route, err := q.opt.Courier.Route(d.addr)
		if err != nil {
			jobs = append(jobs, &job{m: m, idx: []int{d.i}, rcpts: []string{d.addr},
				err: fmt.Errorf("route: %w", err)})
			continue
		}
		j := byRoute[route]
		if j == nil {
			j = &job{m: m, route: route}
			byRoute[route] = j
			jobs = append(jobs, j)
		}
		j.idx = append(j.idx, d.i)
		j.rcpts = append(j.rcpts, d.addr)
	}
	if len(jobs) == 0 {
		jobs = append(jobs, &job{m: m, final: true})
	}

	q.mu.Lock()
	m.jobs = len(jobs)
	for _, j := range jobs {
		if j.err != nil || j.final {
			q.ready = append(q.ready, j)
			q.workCond.Signal()
			continue
		}
		rs := q.routes[j.route]
		if rs == nil {
			rs = &routeState{}
			q.routes[j.route] = rs
		}
		if rs.active < q.opt.PerRoute {
			rs.active++
			q.ready = append(q.ready, j)
			q.workCond.Signal()
		} else {
			rs.waiting = append(rs.waiting, j)
		}
	}
	q.mu.Unlock()
}

// worker runs ready jobs until Close.
func (q *Queue) worker() {
	defer q.wg.Done()
	for {
		q.mu.Lock()
		for len(q.ready) == 0 && !q.closing {
			q.workCond.Wait()
		}
		if q.closing {
			q.mu.Unlock()
			return
		}
		j := q.ready[0]
		q.ready[0] = nil
		q.ready = q.ready[1:]
		q.mu.Unlock()
		q.run(j)
	}
}

// run carries out one job: the transaction, then the recipients' new
// states, durably, before the worker takes another job.
func (q *Queue) run(j *job) {
	m := j.m
	if j.final {
		q.jobDone(m)
		return
	}
	err := j.err
	var results []Result
	if err == nil {
		if err = q.routeDown(j.route); err != nil {
			// The last transaction on this route could not even start:
			// the others wait for its backoff instead of trying too.
			q.releaseRoute(j.route)
		} else {
			body, release := q.body(m)
			results, err = q.opt.Courier.Deliver(q.runCtx, j.route, m.d.From, j.rcpts, body)
			release()
			q.releaseRoute(j.route)
			if q.runCtx.Err() != nil {
				// Shutting down: the attempt does not count; it is made
				// again after the next Open.
				q.jobDone(m)
				return
			}
			if err == nil && len(results) != len(j.rcpts) {
				err = fmt.Errorf("courier: %d results for %d recipients", len(results), len(j.rcpts))
			}
			q.noteRoute(j.route, err)
		}
	}
	now := q.now()
	st := make([]rcptStatus, len(j.idx))
	q.mu.Lock()
	for k, i := range j.idx {
		res := Result{}
		if err != nil {
			res = resultOf(err)
		} else {
			res = results[k]
		}
		r := m.d.Rcpts[i].rcptStatus
		q.outcome(m, i, &r, res, now)
		r.Idx = i
		st[k] = r
		if !m.deleted {
			m.d.Rcpts[i].rcptStatus = r
		}
	}
	deleted := m.deleted
	q.mu.Unlock()
	for k, r := range st {
		msg, level := "queue: delivery", slog.LevelInfo
		if r.State == Dropped {
			msg, level = "queue: delivery failed; no DSN (null sender, spam or NOTIFY)", slog.LevelWarn
		}
		q.log.Log(context.Background(), level, msg, "id", m.id, "rcpt", j.rcpts[k], "route", j.route,
			"state", r.State.String(), "attempts", r.Attempts, "reply", replyText(r), "expired", r.Expired,
			"spam", m.d.Spam, "delay", now.Sub(m.d.Received).Round(time.Millisecond))
	}
	if !deleted {
		if err := q.writeStatus(m.id, st); err != nil {
			q.log.Error("queue: cannot record delivery status", "id", m.id, "err", err)
		}
	}
	q.jobDone(m)
}

// outcome sets r, the status of recipient i of m, from the answer res.
// Under q.mu.
func (q *Queue) outcome(m *message, i int, r *rcptStatus, res Result, now time.Time) {
	r.Attempts++
	r.Last = now
	r.Code, r.Enh, r.Text = res.Code, res.Enhanced, res.Text
	r.Next = time.Time{}
	switch {
	case res.Code >= 200 && res.Code < 300:
		r.State = Delivered
		q.stats.delivered.Add(1)
	case res.Code >= 500 && res.Code < 600:
		r.State = q.failState(m, i)
	default:
		deadline := m.d.Received.Add(q.opt.MaxAge)
		if !now.Before(deadline) {
			r.Expired = true
			q.stats.expired.Add(1)
			r.State = q.failState(m, i)
			return
		}
		r.State = Pending
		r.Next = now.Add(q.backoff(r.Attempts))
		if r.Next.After(deadline) {
			r.Next = deadline
		}
		q.stats.deferred.Add(1)
	}
}

// failState is Failed (a DSN is due) or Dropped when no DSN may be sent:
// null sender, spam, or the recipient's NOTIFY does not ask for failures.
func (q *Queue) failState(m *message, i int) State {
	if m.d.From == "" || m.d.Spam || !notifyFailure(m.d.Rcpts[i].Notify) {
		q.stats.dropped.Add(1)
		return Dropped
	}
	return Failed
}

// notifyFailure reports whether a NOTIFY list asks for failure DSNs
// (RFC 3461: the default does).
func notifyFailure(notify []string) bool {
	if notify == nil {
		return true
	}
	for _, n := range notify {
		if strings.EqualFold(n, "FAILURE") {
			return true
		}
	}
	return false
}

// backoff is the delay before attempt attempts+1: MinBackoff doubling per
// attempt, times a jitter in [0.5, 1.5), within [MinBackoff, MaxBackoff].
func (q *Queue) backoff(attempts int) time.Duration {
	d := q.opt.MinBackoff
	for i := 1; i < attempts && d < q.opt.MaxBackoff; i++ {
		d *= 2
	}
	d = time.Duration(float64(d) * (0.5 + q.opt.Jitter()))
	return min(max(d, q.opt.MinBackoff), q.opt.MaxBackoff)
}

// replyText formats a recipient's last answer.
func replyText(r rcptStatus) string {
	if r.Code == 0 {
		return ""
	}
	return Result{Code: r.Code, Enhanced: r.Enh, Text: r.Text}.String()
}

// writeStatus appends a status record and waits until it is durable.
func (q *Queue) writeStatus(id string, st []rcptStatus) error {
	meta, err := jsonMarshal(st)
	if err != nil {
		return err
	}
	pos, err := q.wal.append(payloadPrefix(recStatus, id, meta), nil)
	if err != nil {
		return err
	}
	return q.wal.sync(pos.lsn)
}

// body returns a reader of m's message and a function to call when done
// with it (the segment file stays open until then).
func (q *Queue) body(m *message) (*io.SectionReader, func()) {
	q.mu.Lock()
	seg := m.seg
	seg.refs++
	r := io.NewSectionReader(seg.f, m.bodyOff, m.bodySize)
	q.mu.Unlock()
	return r, func() {
		q.mu.Lock()
		seg.refs--
		if seg.removed && seg.refs == 0 {
			seg.f.Close()
		}
		q.mu.Unlock()
	}
}

// routeDown returns the error that marked route down, if it still is.
func (q *Queue) routeDown(route string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	d, ok := q.down[route]
	if !ok {
		return nil
	}
	if d.until.After(q.now()) {
		return d.err
	}
	delete(q.down, route)
	return nil
}

// noteRoute marks route down for MinBackoff after a network failure
// (connection refused, timeout, connection lost, …), and up again after a
// transaction. A server's refusal of one transaction (a 4xx to MAIL, say)
// concerns that message only.
func (q *Queue) noteRoute(route string, err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if err == nil {
		delete(q.down, route)
		return
	}
	if networkFailure(err) {
		q.down[route] = routeDownState{until: q.now().Add(q.opt.MinBackoff), err: err}
	}
}

// networkFailure reports whether a temporary transaction error came from
// the network rather than from a server's answer: a *DeliveryError with an
// underlying error, an error wrapping a net.Error, or an error carrying no
// SMTP answer at all.
func networkFailure(err error) bool {
	if resultOf(err).Code >= 500 {
		return false
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	var de *DeliveryError
	if errors.As(err, &de) {
		return de.Err != nil
	}
	var rs interface{ Result() Result }
	var pe interface{ Permanent() bool }
	return !errors.As(err, &rs) && !errors.As(err, &pe)
}

// releaseRoute ends a transaction on route: the next waiting job of the
// route takes its place.
func (q *Queue) releaseRoute(route string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	rs := q.routes[route]
	if len(rs.waiting) > 0 {
		j := rs.waiting[0]
		rs.waiting[0] = nil
		rs.waiting = rs.waiting[1:]
		q.ready = append(q.ready, j)
		q.workCond.Signal()
		return
	}
	rs.active--
	if rs.active == 0 {
		delete(q.routes, route)
	}
}

// jobDone notes the end of one of m's jobs; the last one queues the DSN
// if any and settles m.
func (q *Queue) jobDone(m *message) {
	q.mu.Lock()
	m.jobs--
	last := m.jobs == 0
	needDSN := !m.deleted && m.has(Failed)
	q.mu.Unlock()
	if !last {
		return
	}
	retryDSN := false
	if needDSN && q.runCtx.Err() == nil {
		if err := q.bounce(m); err != nil {
			q.log.Error("queue: cannot queue a DSN; will try again", "id", m.id, "err", err)
			retryDSN = true
		}
	}
	q.settle(m, retryDSN)
}

// has reports whether a recipient of m is in state s. Under q.mu.
func (m *message) has(s State) bool {
	for i := range m.d.Rcpts {
		if m.d.Rcpts[i].State == s {
			return true
		}
	}
	return false
}

// settle ends m's busy time: a finished message leaves the queue, others
// wait in the heap for their next attempt.
func (q *Queue) settle(m *message, retryDSN bool) {
	q.mu.Lock()
	m.busy = false
	if m.deleted {
		q.releaseID(m)
		q.mu.Unlock()
		return
	}
	if m.done() {
		delete(q.msgs, m.id)
		q.account(m, -1)
		empty := m.seg.live == 0
		q.mu.Unlock()
		if empty {
			q.kickCompactor()
		}
		return
	}
	now := q.now()
	failedDue := now
	if retryDSN {
		failedDue = now.Add(q.opt.MinBackoff)
	}
	m.next = m.nextAttempt(failedDue)
	q.heap.push(m)
	first := q.heap[0] == m
	q.mu.Unlock()
	if first {
		q.Kick()
	}
}
