package imap

import (
	"testing"

	"github.com/emersion/go-imap/v2"
)

func TestParsedCache(t *testing.T) {
	key := func(uid uint32) parsedKey {
		return parsedKey{user: alice, mailbox: "INBOX", uidValidity: 7, uid: uid}
	}
	env := func(s string) *imap.Envelope { return &imap.Envelope{Subject: s} }
	one := parsedSize(key(1), parsed{env: env("s")})

	t.Run("get what was added", func(t *testing.T) {
		c := newParsedCache(1 << 20)
		c.add(key(1), parsed{env: env("one")})
		if got := c.get(key(1)); got.env == nil || got.env.Subject != "one" {
			t.Errorf("get = %+v", got)
		}
		if got := c.get(key(2)); got.env != nil || got.bs != nil {
			t.Errorf("get of a missing key = %+v", got)
		}
		other := key(1)
		other.uidValidity = 8
		if got := c.get(other); got.env != nil {
			t.Error("another UIDVALIDITY hit the cache")
		}
	})
	t.Run("merges envelope and body structure", func(t *testing.T) {
		c := newParsedCache(1 << 20)
		c.add(key(1), parsed{env: env("one")})
		c.add(key(1), parsed{bs: &imap.BodyStructureSinglePart{Type: "text", Subtype: "plain"}})
		got := c.get(key(1))
		if got.env == nil || got.bs == nil {
			t.Errorf("after two adds: %+v, want both", got)
		}
		if c.order.Len() != 1 {
			t.Errorf("%d entries, want 1", c.order.Len())
		}
	})
	t.Run("evicts the least recently used", func(t *testing.T) {
		c := newParsedCache(3*one + one/2)
		for uid := uint32(1); uid <= 3; uid++ {
			c.add(key(uid), parsed{env: env("s")})
		}
		c.get(key(1)) // 2 is now the oldest
		c.add(key(4), parsed{env: env("s")})
		if c.get(key(2)).env != nil {
			t.Error("least recently used entry kept")
		}
		for _, uid := range []uint32{1, 3, 4} {
			if c.get(key(uid)).env == nil {
				t.Errorf("entry %d evicted", uid)
			}
		}
		if c.size > c.max {
			t.Errorf("size %d over the bound %d", c.size, c.max)
		}
	})
	t.Run("disabled", func(t *testing.T) {
		c := newParsedCache(0)
		c.add(key(1), parsed{env: env("s")})
		if c.get(key(1)).env != nil || c.size != 0 {
			t.Error("a zero-sized cache kept an entry")
		}
	})
}
