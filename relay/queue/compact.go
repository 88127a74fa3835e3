package queue

import (
	"slices"
	"time"
)

// compactor reclaims log segments: it removes the oldest segment once no
// queued message lives in it, and copies the live messages of the oldest
// segment forward when the log holds more than twice the live data (plus
// a segment), so that one long-deferred message cannot pin the whole log.
func (q *Queue) compactor() {
	defer q.wg.Done()
	tick := time.NewTicker(30 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-q.stop:
			return
		case <-q.compactC:
		case <-tick.C:
		}
		if err := q.compact(); err != nil {
			q.log.Error("queue: compaction", "err", err)
		}
	}
}

// compact reclaims what it can now.
func (q *Queue) compact() error {
	for {
		select {
		case <-q.stop:
			return nil
		default:
		}
		seg, sealed := q.wal.oldest()
		if !sealed {
			return nil
		}
		q.mu.Lock()
		live := seg.live
		liveBytes := q.liveBytes
		q.mu.Unlock()
		if live == 0 {
			if err := q.wal.dropOldest(seg); err != nil {
				return err
			}
			q.mu.Lock()
			seg.removed = true
			if seg.refs == 0 {
				seg.f.Close()
			}
			q.mu.Unlock()
			continue
		}
		if q.wal.totalSize() <= 2*liveBytes+q.segSize {
			return nil
		}
		moved, err := q.moveForward(seg)
		if err != nil || moved == 0 {
			return err // the rest is busy: next time
		}
	}
}

// moveForward copies the idle messages living in seg to the end of the
// log, with their current states, and returns how many it moved.
func (q *Queue) moveForward(seg *segment) (int, error) {
	q.mu.Lock()
	var ms []*message
	for _, m := range q.msgs {
		if m.seg == seg && !m.busy {
			q.heap.remove(m)
			m.busy = true
			ms = append(ms, m)
		}
	}
	q.mu.Unlock()
	type moved struct {
		m   *message
		pos recPos
	}
	var done []moved
	var err error
	for _, m := range ms {
		q.mu.Lock()
		meta, merr := jsonMarshal(m.d)
		q.mu.Unlock()
		if merr != nil {
			err = merr
			break
		}
		body, release := q.body(m)
		pos, aerr := q.wal.append(payloadPrefix(recEnqueue, m.id, meta), body)
		release()
		if aerr != nil {
			err = aerr
			break
		}
		done = append(done, moved{m, pos})
	}
	if len(done) > 0 {
		if serr := q.wal.sync(done[len(done)-1].pos.lsn); serr != nil {
			err = serr
			done = nil // not durable: keep the originals
		}
	}
	var redelete []*message
	q.mu.Lock()
	for _, d := range done {
		m := d.m
		if !m.deleted {
			q.account(m, -1)
		}
		m.seg, m.bodyOff, m.bodySize = d.pos.seg, d.pos.bodyOff, d.pos.bodySize
		m.recSize = d.pos.bodyOff + d.pos.bodySize - d.pos.off
		if m.deleted {
			// Deleted while being copied: the copy must not bring it
			// back after a restart. It stays busy (its id reserved)
			// until the new delete record is durable.
			redelete = append(redelete, m)
			continue
		}
		q.account(m, +1)
	}
	for _, m := range ms {
		if slices.Contains(redelete, m) {
			continue
		}
		m.busy = false
		if m.deleted {
			q.releaseID(m)
		} else {
			q.heap.push(m)
		}
	}
	q.mu.Unlock()
	q.Kick()
	for _, m := range redelete {
		if derr := q.writeDelete(m.id); derr != nil && err == nil {
			err = derr
		}
		q.mu.Lock()
		m.busy = false
		q.releaseID(m)
		q.mu.Unlock()
	}
	return len(done), err
}
