package dnsx

import (
	"hash/maphash"
	"net"
	"net/netip"
	"sync"
	"time"
)

// cacheKey identifies one question: a normalised name (lower case, no
// trailing dot) and a query type.
type cacheKey struct {
	name  string
	qtype uint16
}

// entry is one answer, positive or negative, as the lookup methods use it.
// Entries are shared between callers and never modified once built.
type entry struct {
	addrs []netip.Addr // A, AAAA
	names []string     // PTR: lower case, no trailing dot
	txts  []string     // TXT: one string per record, its strings joined
	mxs   []net.MX     // MX: Host with its trailing dot, like net.LookupMX
	// err is the *net.DNSError of a negative answer (NXDOMAIN, NODATA).
	err     error
	ttl     time.Duration
	expires time.Time
}

const cacheShards = 16

// cache is a bounded, sharded LRU cache of entries that expire with their
// TTL. It is safe for concurrent use.
type cache struct {
	seed   maphash.Seed
	shards [cacheShards]cacheShard
}

type cacheShard struct {
	mu    sync.Mutex
	max   int
	items map[cacheKey]*cacheNode
	// lru is the sentinel of a circular list: lru.next is the most recently
	// used node, lru.prev the least.
	lru cacheNode
}

type cacheNode struct {
	key        cacheKey
	ent        *entry
	prev, next *cacheNode
}

// newCache returns a cache holding at most size entries (at least one per
// shard).
func newCache(size int) *cache {
	c := &cache{seed: maphash.MakeSeed()}
	per := max((size+cacheShards-1)/cacheShards, 1)
	for i := range c.shards {
		s := &c.shards[i]
		s.max = per
		s.items = make(map[cacheKey]*cacheNode)
		s.lru.next, s.lru.prev = &s.lru, &s.lru
	}
	return c
}

func (c *cache) shard(k cacheKey) *cacheShard {
	h := maphash.String(c.seed, k.name) ^ uint64(k.qtype)
	return &c.shards[h%cacheShards]
}

// get returns the entry for k if it has not expired at now.
func (c *cache) get(k cacheKey, now time.Time) *entry {
	s := c.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.items[k]
	if n == nil {
		return nil
	}
	if !now.Before(n.ent.expires) {
		s.unlink(n)
		delete(s.items, k)
		return nil
	}
	s.unlink(n)
	s.pushFront(n)
	return n.ent
}

// put stores e under k, evicting the least recently used entry of the shard
// when it is full.
func (c *cache) put(k cacheKey, e *entry) {
	s := c.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := s.items[k]; n != nil {
		n.ent = e
		s.unlink(n)
		s.pushFront(n)
		return
	}
	n := &cacheNode{key: k, ent: e}
	s.items[k] = n
	s.pushFront(n)
	if len(s.items) > s.max {
		old := s.lru.prev
		s.unlink(old)
		delete(s.items, old.key)
	}
}

// len returns the number of entries held, expired or not.
func (c *cache) len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		n += len(s.items)
		s.mu.Unlock()
	}
	return n
}

func (s *cacheShard) unlink(n *cacheNode) {
	n.prev.next = n.next
	n.next.prev = n.prev
	n.prev, n.next = nil, nil
}

func (s *cacheShard) pushFront(n *cacheNode) {
	n.prev = &s.lru
	n.next = s.lru.next
	s.lru.next.prev = n
	s.lru.next = n
}
