package imap

import (
	"container/list"
	"sync"

	"github.com/emersion/go-imap/v2"
)

// defaultCacheBytes bounds the parsed-message cache (about 40,000
// envelopes of ordinary mail).
const defaultCacheBytes = 32 << 20

// parsedKey names a message for good: a mailbox's UIDVALIDITY changes
// when it is recreated, and a UID is never reused within one, so the
// message behind a key never changes.
type parsedKey struct {
	user, mailbox    string
	uidValidity, uid uint32
}

// parsed is what FETCH ENVELOPE and BODYSTRUCTURE need from a message;
// either may be nil until first asked for.
type parsed struct {
	env *imap.Envelope
	bs  imap.BodyStructure
}

type cacheEntry struct {
	key  parsedKey
	val  parsed
	size int64
}

// parsedCache is a least-recently-used cache, shared by the server's
// sessions, of parsed envelopes and body structures, so that clients
// listing a mailbox again (and other sessions) do not open and parse
// every message. Values are never modified once stored.
type parsedCache struct {
	max int64

	mu    sync.Mutex
	size  int64
	order *list.List // front: most recently used
	byKey map[parsedKey]*list.Element
}

func newParsedCache(maxBytes int64) *parsedCache {
	return &parsedCache{max: maxBytes, order: list.New(), byKey: make(map[parsedKey]*list.Element)}
}

func (c *parsedCache) get(k parsedKey) parsed {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.byKey[k]
	if !ok {
		return parsed{}
	}
	c.order.MoveToFront(e)
	return e.Value.(*cacheEntry).val
}

// add merges what was parsed into the entry for k.
func (c *parsedCache) add(k parsedKey, p parsed) {
	if p.env == nil && p.bs == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.byKey[k]; ok {
		ce := e.Value.(*cacheEntry)
		if p.env == nil {
			p.env = ce.val.env
		}
		if p.bs == nil {
			p.bs = ce.val.bs
		}
		c.size -= ce.size
		ce.val, ce.size = p, parsedSize(k, p)
		c.size += ce.size
		c.order.MoveToFront(e)
	} else {
		ce := &cacheEntry{key: k, val: p, size: parsedSize(k, p)}
		c.byKey[k] = c.order.PushFront(ce)
		c.size += ce.size
	}
	for c.size > c.max && c.order.Len() > 0 {
		last := c.order.Back()
		ce := last.Value.(*cacheEntry)
		c.order.Remove(last)
		delete(c.byKey, ce.key)
		c.size -= ce.size
	}
}

// parsedSize estimates the memory an entry holds.
func parsedSize(k parsedKey, p parsed) int64 {
	n := int64(160 + len(k.user) + len(k.mailbox))
	if env := p.env; env != nil {
		n += 200 + int64(len(env.Subject)+len(env.MessageID))
		for _, id := range env.InReplyTo {
			n += int64(len(id))
		}
		for _, l := range [][]imap.Address{env.From, env.Sender, env.ReplyTo, env.To, env.Cc, env.Bcc} {
			for _, a := range l {
				n += 64 + int64(len(a.Name)+len(a.Mailbox)+len(a.Host))
			}
		}
	}
	if p.bs != nil {
		p.bs.Walk(func(path []int, part imap.BodyStructure) bool {
			n += 384
			return true
		})
	}
	return n
}
