package bayes

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/moatmail/moat/filter/state"
)

// The cache keeps the buckets read from the store in memory, per model,
// for CacheTTL: one open-addressing hash table per model from token to
// packed counts, filled a whole bucket at a time, so a token missing from
// a cached bucket is known to be unseen. Lookups share a read lock;
// filling takes the write lock briefly. Learning through this Bayes drops
// the buckets it changed; learning by another process (another moat
// sharing Redis) shows after CacheTTL.

// metaEntry is a model's cached meta hash.
type metaEntry struct {
	at                int64
	spam, ham, tokens int64
	bits              uint
}

// tokenTable is one model's cached tokens.
type tokenTable struct {
	bits    uint
	shift   uint     // 64 − log2(len(keys))
	keys    []uint64 // bucket<<fieldBits | field, plus 1; 0: empty
	vals    []int64
	n       int
	fetched []int64  // per bucket: fetch time, Unix ns; 0: not cached
	recs    [][]byte // per bucket: the records cached
}

func newTokenTable(bits uint) *tokenTable {
	t := &tokenTable{bits: bits, fetched: make([]int64, 1<<bits), recs: make([][]byte, 1<<bits)}
	t.alloc(1 << 12)
	return t
}

func (t *tokenTable) alloc(size int) {
	t.keys = make([]uint64, size)
	t.vals = make([]int64, size)
	t.shift = 64
	for s := size; s > 1; s >>= 1 {
		t.shift--
	}
	t.n = 0
}

func tableKey(b, field uint64) uint64 { return (b<<fieldBits | field) + 1 }

func (t *tokenTable) home(k uint64) int { return int((k * 0x9e3779b97f4a7c15) >> t.shift) }

func (t *tokenTable) get(k uint64) int64 {
	mask := len(t.keys) - 1
	for i := t.home(k); ; i = (i + 1) & mask {
		switch t.keys[i] {
		case k:
			return t.vals[i]
		case 0:
			return 0
		}
	}
}

func (t *tokenTable) put(k uint64, v int64) {
	if 2*(t.n+1) > len(t.keys) {
		oldK, oldV := t.keys, t.vals
		t.alloc(2 * len(oldK))
		for i, ok := range oldK {
			if ok != 0 {
				t.put(ok, oldV[i])
			}
		}
	}
	mask := len(t.keys) - 1
	for i := t.home(k); ; i = (i + 1) & mask {
		switch t.keys[i] {
		case k:
			t.vals[i] = v
			return
		case 0:
			t.keys[i], t.vals[i] = k, v
			t.n++
			return
		}
	}
}

// del removes k, shifting later entries of its probe run back.
func (t *tokenTable) del(k uint64) {
	mask := len(t.keys) - 1
	i := t.home(k)
	for ; t.keys[i] != k; i = (i + 1) & mask {
		if t.keys[i] == 0 {
			return
		}
	}
	for j := (i + 1) & mask; t.keys[j] != 0; j = (j + 1) & mask {
		h := t.home(t.keys[j])
		// Move j back to i if its home is not in (i, j].
		if (j > i && (h <= i || h > j)) || (j < i && h <= i && h > j) {
			t.keys[i], t.vals[i] = t.keys[j], t.vals[j]
			i = j
		}
	}
	t.keys[i], t.vals[i] = 0, 0
	t.n--
}

// setBucket replaces bucket b's tokens; it returns the change in size.
func (t *tokenTable) setBucket(b uint64, recs []byte, at int64) int {
	before := t.n
	for i := 0; i < len(t.recs[b])/recordLen; i++ {
		f, _ := record(t.recs[b], i)
		t.del(tableKey(b, f))
	}
	for i := 0; i < len(recs)/recordLen; i++ {
		f, v := record(recs, i)
		t.put(tableKey(b, f), v)
	}
	t.recs[b] = recs
	t.fetched[b] = at
	return t.n - before
}

// modelCache caches one model.
type modelCache struct {
	ref     modelRef
	meta    atomic.Pointer[metaEntry]
	lastUse atomic.Int64

	mu  sync.RWMutex
	tab *tokenTable // nil until used, and after eviction
}

// cache holds the model caches.
type cache struct {
	ttl       time.Duration
	maxTokens int64 // cached tokens over all models before eviction
	maxUsers  int
	now       func() time.Time

	mu     sync.Mutex
	models map[string]*modelCache // by root
	total  atomic.Int64
}

func newCache(ttl time.Duration, maxTokens int64, maxUsers int, now func() time.Time) *cache {
	return &cache{ttl: ttl, maxTokens: maxTokens, maxUsers: maxUsers, now: now, models: map[string]*modelCache{}}
}

// model returns the cache of a model, creating it.
func (c *cache) model(ref modelRef) *modelCache {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.models[ref.root]
	if m == nil {
		m = &modelCache{ref: ref}
		c.models[ref.root] = m
		c.evictUsersLocked()
	}
	m.lastUse.Store(c.now().UnixNano())
	return m
}

// evictUsersLocked drops the least recently used user models while there
// are too many of them or too many cached tokens.
func (c *cache) evictUsersLocked() {
	for {
		users := 0
		var oldest *modelCache
		for _, m := range c.models {
			if m.ref.user == "" {
				continue
			}
			users++
			if oldest == nil || m.lastUse.Load() < oldest.lastUse.Load() {
				oldest = m
			}
		}
		if oldest == nil || (users <= c.maxUsers && c.total.Load() <= c.maxTokens) {
			return
		}
		oldest.drop(c)
		delete(c.models, oldest.ref.root)
	}
}

// fresh reports whether something fetched at at is still usable at now
// (Unix nanoseconds).
func (c *cache) fresh(at, now int64) bool {
	return c.ttl > 0 && now-at < int64(c.ttl)
}

// getMeta returns the model's meta, from the cache or the store.
func (c *cache) getMeta(ctx context.Context, st state.Store, m *modelCache) (metaEntry, error) {
	if e := m.meta.Load(); e != nil && c.fresh(e.at, c.now().UnixNano()) {
		return *e, nil
	}
	op := state.HMGet(m.ref.metaKey(), "spam", "ham", "tokens", "bits")
	if err := st.Do(ctx, op); err != nil {
		return metaEntry{}, fmt.Errorf("bayes: reading %s: %w", m.ref.metaKey(), err)
	}
	v := op.Ints()
	e := metaEntry{at: c.now().UnixNano(), spam: v[0], ham: v[1], tokens: v[2], bits: uint(v[3])}
	if e.bits == 0 || e.bits > maxBits {
		e.bits = m.ref.bits
	}
	m.meta.Store(&e)
	return e, nil
}

// lookup fills vals[i] with the packed counts of ids[i] in the model
// (whose bucket bits are bits).
func (c *cache) lookup(ctx context.Context, st state.Store, m *modelCache, bits uint, ids []uint64, vals []int64) error {
	now := c.now().UnixNano()
	var miss []int // indexes into ids
	m.mu.RLock()
	t := m.tab
	if t != nil && t.bits == bits {
		for i, id := range ids {
			b := bucketOf(id, bits)
			if c.fresh(t.fetched[b], now) {
				vals[i] = t.get(tableKey(b, id&fieldMask))
			} else {
				miss = append(miss, i)
			}
		}
	}
	m.mu.RUnlock()
	if t == nil || t.bits != bits {
		miss = make([]int, len(ids))
		for i := range miss {
			miss[i] = i
		}
	}
	if len(miss) == 0 {
		return nil
	}
	fetched := make(map[uint64][]byte, len(miss))
	var buckets []uint64
	for _, i := range miss {
		b := bucketOf(ids[i], bits)
		if _, ok := fetched[b]; !ok {
			fetched[b] = nil
			buckets = append(buckets, b)
		}
	}
	for rest := buckets; len(rest) > 0; {
		chunk := rest[:min(len(rest), maxOpsPerDo)]
		rest = rest[len(chunk):]
		ops := make([]*state.Op, len(chunk))
		for j, b := range chunk {
			ops[j] = state.Get(bucketKey(m.ref.root, b))
		}
		if err := st.Do(ctx, ops...); err != nil {
			return fmt.Errorf("bayes: reading tokens: %w", err)
		}
		for j, b := range chunk {
			fetched[b] = ops[j].Bytes()
		}
	}
	for _, i := range miss {
		vals[i] = findRecord(fetched[bucketOf(ids[i], bits)], ids[i]&fieldMask)
	}
	if c.ttl <= 0 {
		return nil
	}
	m.mu.Lock()
	if m.tab == nil || m.tab.bits != bits {
		if m.tab != nil {
			c.total.Add(-int64(m.tab.n))
		}
		m.tab = newTokenTable(bits)
	}
	d := 0
	for _, b := range buckets {
		d += m.tab.setBucket(b, fetched[b], now)
	}
	m.mu.Unlock()
	if c.total.Add(int64(d)) > c.maxTokens {
		c.evict()
	}
	return nil
}

// maxOpsPerDo bounds one store batch, so that the embedded store's lock
// is never held long and Redis pipelines stay moderate.
const maxOpsPerDo = 256

// evict drops least recently used user models, then every model, until
// the cache holds at most maxTokens tokens.
func (c *cache) evict() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.evictUsersLocked()
	if c.total.Load() <= c.maxTokens {
		return
	}
	for _, m := range c.models {
		m.drop(c)
	}
}

// drop forgets the model's cached tokens.
func (m *modelCache) drop(c *cache) {
	m.mu.Lock()
	if m.tab != nil {
		c.total.Add(-int64(m.tab.n))
		m.tab = nil
	}
	m.mu.Unlock()
}

// invalidate drops what learning changed: the model's meta and buckets.
func (c *cache) invalidate(ref modelRef, buckets []uint64) {
	c.mu.Lock()
	m := c.models[ref.root]
	c.mu.Unlock()
	if m == nil {
		return
	}
	m.meta.Store(nil)
	m.mu.Lock()
	if t := m.tab; t != nil {
		for _, b := range buckets {
			if b < uint64(len(t.fetched)) {
				t.fetched[b] = 0
			}
		}
	}
	m.mu.Unlock()
}
