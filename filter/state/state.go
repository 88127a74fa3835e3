package state

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Store is a shared key/value store with expiry, counters, integer hashes
// and atomic scripts. Implementations are safe for concurrent use.
type Store interface {
	// Do runs ops, in order, as one batch: one round trip to Redis (one per
	// node in a cluster), one critical section in the embedded store (so
	// the batch is atomic there; on Redis only each op is). Results are set
	// on the ops. Do honours ctx's deadline. When an op fails its Err is set
	// and Do returns an error wrapping the first failure; a connection
	// failure fails every op.
	Do(ctx context.Context, ops ...*Op) error
	// Scan calls fn with every live key that starts with prefix (without the
	// Redis key prefix). A key is reported at most once; keys created or
	// deleted during the scan may or may not be. An error from fn stops the
	// scan and is returned.
	Scan(ctx context.Context, prefix string, fn func(key string) error) error
	// Close releases the store. The embedded store commits its buffer first.
	Close() error
}

// Errors reported by stores; match them with errors.Is.
var (
	// ErrWrongType: the op needs a string and the key holds a hash, or the
	// other way round.
	ErrWrongType = errors.New("state: key holds a value of the wrong type")
	// ErrNotInteger: a counter or hash field does not hold an integer.
	ErrNotInteger = errors.New("state: value is not an integer")
	// ErrClosed: the store has been closed.
	ErrClosed = errors.New("state: store closed")
	// ErrLocked: another process (normally `moat serve`) holds the embedded
	// store's file.
	ErrLocked = errors.New("state: store is locked by another process")
	// ErrBadOp: an op's arguments are invalid (empty key, negative TTL, …).
	ErrBadOp = errors.New("state: invalid operation")
)

type opKind uint8

const (
	opGet opKind = iota + 1
	opSet
	opDel
	opIncr
	opExpire
	opTTL
	opHSet
	opHIncrBy
	opHMGet
	opHGetAll
	opRun
)

var opNames = [...]string{
	opGet: "GET", opSet: "SET", opDel: "DEL", opIncr: "INCR", opExpire: "EXPIRE",
	opTTL: "TTL", opHSet: "HSET", opHIncrBy: "HINCRBY", opHMGet: "HMGET",
	opHGetAll: "HGETALL", opRun: "RUN",
}

// Op is one operation for Store.Do, built by a constructor, and its result
// once Do has run. An Op may be run again; each run resets its result. An Op
// must not be used by two Do calls at the same time.
type Op struct {
	kind   opKind
	key    string
	keys   []string
	value  []byte
	ttl    time.Duration
	delta  int64
	fields []string
	hash   map[string]int64
	script *Script
	args   []int64

	found   bool
	bytes   []byte
	n       int64
	ints    []int64
	hashOut map[string]int64
	dur     time.Duration
	err     error
}

// Get reads a string key: Found, Bytes.
func Get(key string) *Op { return &Op{kind: opGet, key: key} }

// Set stores value at key, replacing any value (of any type) and its expiry.
// The key expires after ttl; ttl 0 means never.
func Set(key string, value []byte, ttl time.Duration) *Op {
	return &Op{kind: opSet, key: key, value: value, ttl: ttl}
}

// Del deletes keys: Int is how many existed.
func Del(keys ...string) *Op { return &Op{kind: opDel, keys: keys} }

// Incr adds delta to the integer counter at key (a missing key counts as 0)
// and sets Int to the new value. When ttl > 0 and the key has no expiry (it
// was just created), the key expires after ttl: a fixed-window counter. An
// existing expiry is left alone.
func Incr(key string, delta int64, ttl time.Duration) *Op {
	return &Op{kind: opIncr, key: key, delta: delta, ttl: ttl}
}

// Expire sets the key to expire after ttl (ttl 0: never). Found reports
// whether the key exists.
func Expire(key string, ttl time.Duration) *Op { return &Op{kind: opExpire, key: key, ttl: ttl} }

// TTL reads the key's remaining time to live: Found reports whether the key
// exists, Duration is the time left (0 when it never expires).
func TTL(key string) *Op { return &Op{kind: opTTL, key: key} }

// HSet sets integer fields of the hash at key, creating it if needed. When
// ttl > 0 the key's expiry is set to ttl; ttl 0 leaves the expiry as is.
func HSet(key string, fields map[string]int64, ttl time.Duration) *Op {
	return &Op{kind: opHSet, key: key, hash: fields, ttl: ttl}
}

// HIncrBy adds each delta to its field of the hash at key (missing fields
// count as 0). Like Incr, ttl > 0 applies only when the key has no expiry.
func HIncrBy(key string, deltas map[string]int64, ttl time.Duration) *Op {
	return &Op{kind: opHIncrBy, key: key, hash: deltas, ttl: ttl}
}

// HMGet reads fields of the hash at key: Ints holds one value per field (0
// for a missing field), Found reports whether any field exists.
func HMGet(key string, fields ...string) *Op { return &Op{kind: opHMGet, key: key, fields: fields} }

// HGetAll reads the whole hash at key: Hash (nil when missing), Found.
func HGetAll(key string) *Op { return &Op{kind: opHGetAll, key: key} }

// Run runs script on keys with integer args: Ints is its result. All keys
// of one script must be in the same Redis Cluster slot (use a {hash tag}).
func Run(script *Script, keys []string, args ...int64) *Op {
	return &Op{kind: opRun, script: script, keys: keys, args: args}
}

// Err returns the op's error from the last Do, or nil.
func (o *Op) Err() error { return o.err }

// Found reports whether the key (Get, Expire, TTL, HGetAll) or any of the
// fields (HMGet) existed.
func (o *Op) Found() bool { return o.found }

// Bytes returns the value read by Get (nil when missing).
func (o *Op) Bytes() []byte { return o.bytes }

// Int returns the counter value after Incr, or the number of keys Del
// deleted.
func (o *Op) Int() int64 { return o.n }

// Ints returns the field values read by HMGet or the result of Run.
func (o *Op) Ints() []int64 { return o.ints }

// Hash returns the hash read by HGetAll (nil when missing). The caller owns
// it.
func (o *Op) Hash() map[string]int64 { return o.hashOut }

// Duration returns the time to live read by TTL (0: no expiry).
func (o *Op) Duration() time.Duration { return o.dur }

// String names the op for errors ("INCR key").
func (o *Op) String() string {
	k := o.key
	if o.kind == opDel || o.kind == opRun {
		if len(o.keys) > 0 {
			k = o.keys[0]
		}
	}
	return opNames[o.kind] + " " + k
}

func (o *Op) reset() {
	o.found, o.bytes, o.n, o.ints, o.hashOut, o.dur, o.err = false, nil, 0, nil, nil, 0, nil
}

// validate checks the op's arguments before anything runs.
func (o *Op) validate() error {
	bad := func(why string) error { return fmt.Errorf("%w: %s: %s", ErrBadOp, o, why) }
	if o.kind == 0 || int(o.kind) >= len(opNames) {
		return fmt.Errorf("%w: zero Op (use a constructor)", ErrBadOp)
	}
	if o.ttl < 0 {
		return bad("negative TTL")
	}
	if o.ttl > 0 && o.ttl < time.Millisecond {
		return bad("TTL under a millisecond")
	}
	switch o.kind {
	case opDel:
		for _, k := range o.keys {
			if k == "" {
				return bad("empty key")
			}
		}
		return nil
	case opRun:
		if o.script == nil {
			return bad("nil script")
		}
		for _, k := range o.keys {
			if k == "" {
				return bad("empty key")
			}
		}
		return nil
	case opHMGet:
		if len(o.fields) == 0 {
			return bad("no fields")
		}
	case opHSet, opHIncrBy:
		if len(o.hash) == 0 {
			return bad("no fields")
		}
		for f := range o.hash {
			if f == "" {
				return bad("empty field name")
			}
		}
	}
	if o.key == "" {
		return bad("empty key")
	}
	return nil
}

// prepare validates and resets every op.
func prepare(ops []*Op) error {
	for _, o := range ops {
		if o == nil {
			return fmt.Errorf("%w: nil Op", ErrBadOp)
		}
		if err := o.validate(); err != nil {
			return err
		}
		o.reset()
	}
	return nil
}

// firstError returns an error wrapping the first failed op's error.
func firstError(ops []*Op) error {
	for _, o := range ops {
		if o.err != nil {
			return fmt.Errorf("state: %s: %w", o, o.err)
		}
	}
	return nil
}
