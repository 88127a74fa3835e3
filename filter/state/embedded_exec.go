package state

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"go.etcd.io/bbolt"
)

// exec runs ops inside one critical section of an Embedded store (e.mu
// held). It opens a bbolt read transaction on the first read that misses
// the buffers, and implements Tx for scripts.
type exec struct {
	e   *Embedded
	now int64 // Unix ms
	rtx *bbolt.Tx
	err error // a failure to read the file
}

func (x *exec) finish() {
	if x.rtx != nil {
		_ = x.rtx.Rollback()
	}
}

// load returns the live entry at key. Bytes from the file are only valid
// until finish: callers copy what they keep. An expired key is deleted.
func (x *exec) load(key string) (entry, bool, error) {
	e := x.e
	raw, ok := e.pending[key]
	if !ok && e.flushing != nil {
		raw, ok = e.flushing[key]
	}
	if !ok && e.db != nil {
		if x.rtx == nil {
			tx, err := e.db.Begin(false)
			if err != nil {
				return entry{}, false, fmt.Errorf("state: read %s: %w", e.path, err)
			}
			x.rtx = tx
		}
		raw = x.rtx.Bucket(bucketKV).Get([]byte(key))
	}
	if raw == nil {
		return entry{}, false, nil
	}
	en, err := decodeHeader(raw)
	if err != nil {
		return entry{}, false, fmt.Errorf("%w: key %q", err, key)
	}
	if expired(en.exp, x.now) {
		x.write(key, nil)
		return entry{}, false, nil
	}
	return en, true, nil
}

// write buffers a new value (nil: delete).
func (x *exec) write(key string, raw []byte) {
	if raw == nil && x.e.db == nil {
		delete(x.e.pending, key)
		return
	}
	x.e.pending[key] = raw
}

// expiry turns a TTL into an absolute expiry (0: never).
func (x *exec) expiry(ttl time.Duration) int64 {
	if ttl <= 0 {
		return 0
	}
	return x.now + ttl.Milliseconds()
}

// loadHash returns the hash at key (nil when missing) and its expiry.
func (x *exec) loadHash(key string) (map[string]int64, int64, error) {
	en, ok, err := x.load(key)
	if err != nil || !ok {
		return nil, 0, err
	}
	if en.typ != typeHash {
		return nil, 0, ErrWrongType
	}
	h, err := decodeHash(en.payload())
	if err != nil {
		return nil, 0, fmt.Errorf("%w: key %q", err, key)
	}
	return h, en.exp, nil
}

func addInt(a, b int64) (int64, error) {
	if (b > 0 && a > math.MaxInt64-b) || (b < 0 && a < math.MinInt64-b) {
		return 0, fmt.Errorf("%w: increment would overflow", ErrNotInteger)
	}
	return a + b, nil
}

func (x *exec) run(o *Op) {
	x.err = nil
	switch o.kind {
	case opGet:
		var v []byte
		v, o.found, o.err = x.Get(o.key)
		o.bytes = v
	case opSet:
		x.Set(o.key, o.value, o.ttl)
	case opDel:
		for _, k := range o.keys {
			if x.Del(k) {
				o.n++
			}
		}
	case opIncr:
		o.n, o.err = x.incr(o.key, o.delta, o.ttl)
	case opExpire:
		o.found = x.Expire(o.key, o.ttl)
	case opTTL:
		en, ok, err := x.load(o.key)
		o.found, o.err = ok, err
		if ok && en.exp != 0 {
			o.dur = time.Duration(en.exp-x.now) * time.Millisecond
		}
	case opHSet:
		o.err = x.hupdate(o.key, o.hash, o.ttl, false)
	case opHIncrBy:
		o.err = x.hupdate(o.key, o.hash, o.ttl, true)
	case opHMGet:
		h, _, err := x.loadHash(o.key)
		o.err = err
		o.ints = make([]int64, len(o.fields))
		for i, f := range o.fields {
			v, ok := h[f]
			o.ints[i] = v
			o.found = o.found || ok
		}
	case opHGetAll:
		o.hashOut, _, o.err = x.loadHash(o.key)
		o.found = o.hashOut != nil
	case opRun:
		if o.script.fn == nil {
			o.err = fmt.Errorf("%w: script %s has no Go implementation", ErrBadOp, o.script.name)
			return
		}
		o.ints, o.err = o.script.fn(x, o.keys, o.args)
	}
	if o.err == nil && x.err != nil {
		o.err = x.err
	}
}

func (x *exec) incr(key string, delta int64, ttl time.Duration) (int64, error) {
	en, ok, err := x.load(key)
	if err != nil {
		return 0, err
	}
	var cur, exp int64
	if ok {
		if en.typ != typeString {
			return 0, ErrWrongType
		}
		if cur, err = strconv.ParseInt(string(en.payload()), 10, 64); err != nil {
			return 0, ErrNotInteger
		}
		exp = en.exp
	}
	if cur, err = addInt(cur, delta); err != nil {
		return 0, err
	}
	if exp == 0 {
		exp = x.expiry(ttl)
	}
	x.write(key, encodeString(strconv.AppendInt(nil, cur, 10), exp))
	return cur, nil
}

// hupdate sets (add false) or increments (add true) hash fields. Set with
// ttl > 0 resets the expiry; increment sets it only when there is none.
func (x *exec) hupdate(key string, fields map[string]int64, ttl time.Duration, add bool) error {
	h, exp, err := x.loadHash(key)
	if err != nil {
		return err
	}
	if h == nil {
		h = make(map[string]int64, len(fields))
	}
	for f, v := range fields {
		if add {
			if v, err = addInt(h[f], v); err != nil {
				return err
			}
		}
		h[f] = v
	}
	if ttl > 0 && (!add || exp == 0) {
		exp = x.expiry(ttl)
	}
	x.write(key, encodeHash(h, exp))
	return nil
}

// Get implements Tx.
func (x *exec) Get(key string) ([]byte, bool, error) {
	en, ok, err := x.load(key)
	if err != nil || !ok {
		return nil, false, err
	}
	if en.typ != typeString {
		return nil, false, ErrWrongType
	}
	return slices.Clone(en.payload()), true, nil
}

// Set implements Tx.
func (x *exec) Set(key string, value []byte, ttl time.Duration) {
	x.write(key, encodeString(value, x.expiry(ttl)))
}

// Del implements Tx.
func (x *exec) Del(key string) bool {
	_, ok, err := x.load(key)
	if err != nil {
		x.err = err
		return false
	}
	if ok {
		x.write(key, nil)
	}
	return ok
}

// HGetAll implements Tx.
func (x *exec) HGetAll(key string) (map[string]int64, error) {
	h, _, err := x.loadHash(key)
	return h, err
}

// HSet implements Tx.
func (x *exec) HSet(key string, fields map[string]int64) error {
	if len(fields) == 0 {
		return nil
	}
	return x.hupdate(key, fields, 0, false)
}

// Expire implements Tx.
func (x *exec) Expire(key string, ttl time.Duration) bool {
	en, ok, err := x.load(key)
	if err != nil {
		x.err = err
		return false
	}
	if ok {
		x.write(key, withExpiry(en.raw, x.expiry(ttl)))
	}
	return ok
}
