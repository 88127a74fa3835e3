package state

import (
	"crypto/sha1"
	"encoding/hex"
	"time"
)

// Script is an atomic read-modify-write over a few keys that costs one
// round trip: Redis runs Lua (EVALSHA), the embedded store runs the
// equivalent Go function under its lock. The two must implement the same
// logic; test them with the same table against both backends.
//
// In Lua, KEYS are the op's keys (with the Redis prefix) and ARGV its
// integer args as decimal strings; the script returns an integer, an array
// of integers, or nil. In Go, Func gets the keys (without prefix) and args
// and returns the same integers. Scripts must read the time from their args,
// never from the server, so that an injected clock works.
type Script struct {
	lua  string
	sha  string
	fn   ScriptFunc
	name string
}

// ScriptFunc is the embedded store's implementation of a Script.
type ScriptFunc func(tx Tx, keys []string, args []int64) ([]int64, error)

// NewScript returns a script; name is used in errors.
func NewScript(name, lua string, fn ScriptFunc) *Script {
	sum := sha1.Sum([]byte(lua))
	return &Script{lua: lua, sha: hex.EncodeToString(sum[:]), fn: fn, name: name}
}

// Name returns the script's name.
func (s *Script) Name() string { return s.name }

// Tx is what a ScriptFunc can do to the embedded store, mirroring the Redis
// commands a Lua script would call. Expiry works as in Redis: an expired key
// does not exist.
type Tx interface {
	// Get reads a string key (GET).
	Get(key string) ([]byte, bool, error)
	// Set stores a string with an expiry (SET … PX ttl; ttl 0: none).
	Set(key string, value []byte, ttl time.Duration)
	// Del deletes a key and reports whether it existed (DEL).
	Del(key string) bool
	// HGetAll reads a hash; nil when missing (HGETALL).
	HGetAll(key string) (map[string]int64, error)
	// HSet sets hash fields, keeping the expiry (HSET).
	HSet(key string, fields map[string]int64) error
	// Expire sets the expiry (PEXPIRE; ttl 0 is PERSIST) and reports
	// whether the key exists.
	Expire(key string, ttl time.Duration) bool
}
