package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// load replays the segments of the queue directory into q.msgs and returns
// them, oldest first (with at least one segment unless read-only).
func (q *Queue) load(ctx context.Context) ([]*segment, error) {
	entries, err := os.ReadDir(q.opt.Dir)
	if err != nil {
		if q.opt.ReadOnly && os.IsNotExist(err) {
			return nil, nil // no queue yet: an empty one
		}
		return nil, fmt.Errorf("queue: %w", err)
	}
	var seqs []uint64
	for _, e := range entries {
		name := e.Name()
		if strings.HasSuffix(name, ".tmp") && !q.opt.ReadOnly {
			// Nothing in the queue writes temporary files today; remove
			// any left by other versions.
			if err := os.Remove(filepath.Join(q.opt.Dir, name)); err != nil {
				return nil, fmt.Errorf("queue: %w", err)
			}
			continue
		}
		hex, ok := strings.CutSuffix(name, ".seg")
		if !ok {
			continue
		}
		seq, err := strconv.ParseUint(hex, 16, 64)
		if err != nil {
			continue
		}
		seqs = append(seqs, seq)
	}
	slices.Sort(seqs)
	var segs []*segment
	for i, seq := range seqs {
		if err := ctx.Err(); err != nil {
			return segs, fmt.Errorf("queue: load: %w", err)
		}
		last := i == len(seqs)-1
		path := segPath(q.opt.Dir, seq)
		seg, torn, err := readSegment(path, seq, q.opt.ReadOnly, q.apply)
		if err != nil {
			if q.opt.ReadOnly && (os.IsNotExist(err) || last && errors.Is(err, errBadSegment)) {
				continue // removed, or being created, by the running server
			}
			if last && errors.Is(err, errBadSegment) {
				// Created by a rotation that the crash interrupted
				// before its header was durable: nothing was appended.
				q.log.Info("queue: removing a segment left incomplete by a crash", "segment", path)
				if err := os.Remove(path); err != nil {
					return segs, fmt.Errorf("queue: %w", err)
				}
				if err := syncDir(q.opt.Dir); err != nil {
					return segs, err
				}
				continue
			}
			return segs, err
		}
		segs = append(segs, seg)
		if !torn {
			continue
		}
		if !last {
			q.log.Error("queue: corrupt record in a sealed segment; the rest of the segment is skipped",
				"segment", path, "offset", seg.size)
			continue
		}
		if q.opt.ReadOnly {
			continue // the server may be writing it right now
		}
		// A record that was being written when the process died: it
		// was never acknowledged. Cut it so that appends follow the
		// last good record.
		q.log.Info("queue: dropping a torn record after a crash", "segment", path, "offset", seg.size)
		if err := seg.f.Truncate(seg.size); err != nil {
			return segs, fmt.Errorf("queue: truncate: %w", err)
		}
		if err := datasync(seg.f); err != nil {
			return segs, fmt.Errorf("queue: sync: %w", err)
		}
	}
	if len(segs) == 0 && !q.opt.ReadOnly {
		seg, err := createSegment(q.opt.Dir, 1)
		if err != nil {
			return nil, err
		}
		segs = append(segs, seg)
	}
	for _, m := range q.msgs {
		q.account(m, +1)
	}
	return segs, nil
}

// apply replays one record.
func (q *Queue) apply(seg *segment, rec *record) error {
	switch rec.kind {
	case recEnqueue:
		var d diskMsg
		if err := json.Unmarshal(rec.meta, &d); err != nil {
			q.log.Error("queue: unreadable envelope; message skipped", "id", rec.id, "err", err)
			return nil
		}
		m := &message{id: rec.id, d: d, seg: seg, recSize: rec.size(),
			bodyOff: rec.bodyOff, bodySize: rec.bodySize, heapIdx: -1}
		q.msgs[rec.id] = m // a copy made by the compactor replaces the original
		if x := q.msgs[d.BounceOf]; x != nil && d.BounceOf != "" {
			// The DSN is queued: its recipients are bounced even if the
			// status record saying so did not make it to the disk.
			for _, i := range d.BounceRcpts {
				if i >= 0 && i < len(x.d.Rcpts) && x.d.Rcpts[i].State == Failed {
					x.d.Rcpts[i].State = Bounced
				}
			}
			q.dropIfDone(x)
		}
		q.dropIfDone(m)
	case recStatus:
		m := q.msgs[rec.id]
		if m == nil {
			return nil // finished, deleted or copied forward later in the log
		}
		st, err := decodeStatus(rec.meta)
		if err != nil {
			q.log.Error("queue: unreadable status record; skipped", "id", rec.id, "err", err)
			return nil
		}
		for _, s := range st {
			if s.Idx >= 0 && s.Idx < len(m.d.Rcpts) {
				m.d.Rcpts[s.Idx].rcptStatus = s
			}
		}
		q.dropIfDone(m)
	case recDelete:
		delete(q.msgs, rec.id)
	}
	return nil
}

// dropIfDone forgets a replayed message whose recipients are all final.
func (q *Queue) dropIfDone(m *message) {
	if m.done() {
		delete(q.msgs, m.id)
	}
}

// done reports whether every recipient is in a final state.
func (m *message) done() bool {
	for i := range m.d.Rcpts {
		if !m.d.Rcpts[i].State.final() {
			return false
		}
	}
	return true
}

// nextAttempt is when m needs attention: its earliest pending recipient's
// next attempt, or failedDue when a DSN is still to be queued.
func (m *message) nextAttempt(failedDue time.Time) time.Time {
	var next time.Time
	for i := range m.d.Rcpts {
		r := &m.d.Rcpts[i].rcptStatus
		t := r.Next
		switch r.State {
		case Pending:
		case Failed:
			t = failedDue
		default:
			continue
		}
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	return next
}

// jsonMarshal is json.Marshal with a wrapped error.
func jsonMarshal(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("queue: encode: %w", err)
	}
	return b, nil
}
