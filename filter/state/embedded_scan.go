package state

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
)

// scanPageSize is how many keys one locked step of Scan examines, so a
// long listing never holds the store's lock for long.
const scanPageSize = 512

// Scan implements Store. Keys come in byte order, page by page; fn runs
// without the store's lock held, so it may call Do.
func (e *Embedded) Scan(ctx context.Context, prefix string, fn func(key string) error) error {
	after, first := "", true
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("state: %w", err)
		}
		keys, last, more, err := e.scanPage(prefix, after, first)
		if err != nil {
			return err
		}
		for _, k := range keys {
			if err := fn(k); err != nil {
				return err
			}
		}
		if !more {
			return nil
		}
		after, first = last, false
	}
}

// scanPage examines up to scanPageSize keys with prefix after `after` (from
// the start of the prefix when first) and returns the live ones, the last
// key examined and whether more keys may follow.
func (e *Embedded) scanPage(prefix, after string, first bool) (live []string, last string, more bool, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, "", false, ErrClosed
	}
	x := &exec{e: e, now: e.now().UnixMilli()}
	defer x.finish()

	beyond := func(k string) bool { return strings.HasPrefix(k, prefix) && (first || k > after) }
	var cands []string
	dbMore := false
	if e.db != nil {
		tx, err := e.db.Begin(false)
		if err != nil {
			return nil, "", false, fmt.Errorf("state: scan %s: %w", e.path, err)
		}
		x.rtx = tx // reused by load, rolled back by finish
		c := tx.Bucket(bucketKV).Cursor()
		seek := []byte(prefix)
		if !first {
			seek = []byte(after)
		}
		for k, _ := c.Seek(seek); k != nil && bytes.HasPrefix(k, []byte(prefix)); k, _ = c.Next() {
			if !first && string(k) == after {
				continue
			}
			if len(cands) == scanPageSize {
				dbMore = true
				break
			}
			cands = append(cands, string(k))
		}
	}
	cut := "" // with more keys in the file, buffered keys past the page wait
	if dbMore {
		cut = cands[len(cands)-1]
	}
	bufMore := false
	for _, m := range []map[string][]byte{e.pending, e.flushing} {
		for k := range m {
			if !beyond(k) {
				continue
			}
			if dbMore && k > cut {
				bufMore = true
				continue
			}
			cands = append(cands, k)
		}
	}
	slices.Sort(cands)
	cands = slices.Compact(cands)
	for _, k := range cands {
		if _, ok, err := x.load(k); err != nil {
			return nil, "", false, err
		} else if ok {
			live = append(live, k)
		}
	}
	if len(cands) > 0 {
		last = cands[len(cands)-1]
	}
	return live, last, dbMore || bufMore, nil
}
