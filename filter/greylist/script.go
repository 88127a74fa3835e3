package greylist

import (
	"time"

	"github.com/moatmail/moat/filter/state"
)

// The decision is one script over two keys that share a Redis Cluster slot:
// the triplet and its client. Lua (Redis) and Go (embedded store) implement
// the same steps; TestDecisions runs the same table against both. Times are
// Unix milliseconds from the caller's clock; each record keeps its own
// logical expiry (field e) and the key's TTL only garbage-collects it
// (gcSlack later), so an injected clock behaves the same on both backends.
//
// Triplet hash: f first seen, l last seen, n attempts, p passed at (0:
// waiting), e expiry, r released (1: pass at the next retry).
// Client hash: c passed triplets counted, a auto-allowed until, m allowed by
// an administrator (0: no, -1: forever, else until), e expiry of c and a,
// l last pass.

// Script result codes: {code, first seen, passed at}.
const (
	codeNew           = 1
	codeEarly         = 2
	codePass          = 3
	codeAutoAllowed   = 4
	codeManualAllowed = 5
)

// gcSlack is how long past its logical expiry a record stays in the store.
const gcSlack = time.Hour

const decideLua = `
local now, delay, window, passttl, after = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local slack = tonumber(ARGV[6])
local function load(key)
  local raw = redis.call('HGETALL', key)
  local h = {}
  for i = 1, #raw, 2 do h[raw[i]] = tonumber(raw[i + 1]) end
  return h
end
local function save(key, h, gc)
  local args = {}
  for k, v in pairs(h) do
    args[#args + 1] = k
    args[#args + 1] = string.format('%d', v)
  end
  redis.call('HSET', key, unpack(args))
  if gc < 0 then redis.call('PERSIST', key) else redis.call('PEXPIRE', key, gc) end
end
local function clientgc(c)
  if c.m == -1 then return -1 end
  return math.max(c.e or 0, c.m or 0) - now + slack
end
local c = load(KEYS[2])
c.m = c.m or 0
if c.m == -1 or c.m > now then return {5, 0, 0} end
local alive = (c.e or 0) > now
if alive and (c.a or 0) > now then
  c.a = now + passttl
  c.e = now + passttl
  save(KEYS[2], c, clientgc(c))
  return {4, 0, 0}
end
local t = load(KEYS[1])
if (t.e or 0) > now then
  t.n = (t.n or 0) + 1
  t.l = now
  if (t.p or 0) > 0 then
    t.e = now + passttl
    save(KEYS[1], t, passttl + slack)
    return {3, t.f, t.p}
  end
  if t.r == 1 or now - t.f >= delay then
    t.p = now
    t.e = now + passttl
    save(KEYS[1], t, passttl + slack)
    if not alive then
      c.c = 0
      c.a = 0
    end
    c.c = (c.c or 0) + 1
    c.a = c.a or 0
    c.e = now + passttl
    c.l = now
    if after > 0 and c.c >= after then c.a = now + passttl end
    save(KEYS[2], c, clientgc(c))
    return {3, t.f, t.p}
  end
  save(KEYS[1], t, t.e - now + slack)
  return {2, t.f, 0}
end
t = {f = now, l = now, n = 1, p = 0, e = now + window, r = 0}
save(KEYS[1], t, window + slack)
return {1, now, 0}
`

// decideGo is decideLua for the embedded store.
func decideGo(tx state.Tx, keys []string, args []int64) ([]int64, error) {
	now, delay, window, passTTL, after, slack := args[0], args[1], args[2], args[3], args[4], args[5]
	c, err := tx.HGetAll(keys[1])
	if err != nil {
		return nil, err
	}
	if c == nil {
		c = map[string]int64{}
	}
	if m := c["m"]; m == -1 || m > now {
		return []int64{codeManualAllowed, 0, 0}, nil
	}
	ensure(c, "m") // as the Lua script, which writes the field
	alive := c["e"] > now
	if alive && c["a"] > now {
		c["a"], c["e"] = now+passTTL, now+passTTL
		saveHash(tx, keys[1], c, clientGC(c, now, slack))
		return []int64{codeAutoAllowed, 0, 0}, nil
	}
	t, err := tx.HGetAll(keys[0])
	if err != nil {
		return nil, err
	}
	if t["e"] > now {
		t["n"]++
		t["l"] = now
		if t["p"] > 0 {
			t["e"] = now + passTTL
			saveHash(tx, keys[0], t, passTTL+slack)
			return []int64{codePass, t["f"], t["p"]}, nil
		}
		if t["r"] == 1 || now-t["f"] >= delay {
			t["p"], t["e"] = now, now+passTTL
			saveHash(tx, keys[0], t, passTTL+slack)
			if !alive {
				c["c"], c["a"] = 0, 0
			}
			c["c"]++
			ensure(c, "a")
			c["e"], c["l"] = now+passTTL, now
			if after > 0 && c["c"] >= after {
				c["a"] = now + passTTL
			}
			saveHash(tx, keys[1], c, clientGC(c, now, slack))
			return []int64{codePass, t["f"], t["p"]}, nil
		}
		saveHash(tx, keys[0], t, t["e"]-now+slack)
		return []int64{codeEarly, t["f"], 0}, nil
	}
	t = map[string]int64{"f": now, "l": now, "n": 1, "p": 0, "e": now + window, "r": 0}
	saveHash(tx, keys[0], t, window+slack)
	return []int64{codeNew, now, 0}, nil
}

// ensure gives h the fields, 0 when missing.
func ensure(h map[string]int64, fields ...string) {
	for _, f := range fields {
		if _, ok := h[f]; !ok {
			h[f] = 0
		}
	}
}

// saveHash writes h and sets the key's TTL to gc ms (negative: none).
func saveHash(tx state.Tx, key string, h map[string]int64, gc int64) {
	_ = tx.HSet(key, h) // the key was just read as a hash: no type error
	if gc < 0 {
		tx.Expire(key, 0)
		return
	}
	tx.Expire(key, time.Duration(max(gc, 1))*time.Millisecond)
}

func clientGC(c map[string]int64, now, slack int64) int64 {
	if c["m"] == -1 {
		return -1
	}
	return max(c["e"], c["m"]) - now + slack
}

// allowClientLua sets or clears (m = 0) an administrator's allow on a
// client: ARGV now, m, slack. A record left with nothing alive is deleted.
const allowClientLua = `
local now, m, slack = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local e = tonumber(redis.call('HGET', KEYS[1], 'e') or '0')
if m == 0 and e <= now then
  redis.call('DEL', KEYS[1])
  return 0
end
redis.call('HSET', KEYS[1], 'm', string.format('%d', m))
if m == -1 then redis.call('PERSIST', KEYS[1]) else redis.call('PEXPIRE', KEYS[1], math.max(e, m) - now + slack) end
return 1
`

func allowClientGo(tx state.Tx, keys []string, args []int64) ([]int64, error) {
	now, m, slack := args[0], args[1], args[2]
	c, err := tx.HGetAll(keys[0])
	if err != nil {
		return nil, err
	}
	if m == 0 && c["e"] <= now {
		tx.Del(keys[0])
		return []int64{0}, nil
	}
	if err := tx.HSet(keys[0], map[string]int64{"m": m}); err != nil {
		return nil, err
	}
	if c == nil {
		c = map[string]int64{}
	}
	c["m"] = m
	saveExpiry(tx, keys[0], clientGC(c, now, slack))
	return []int64{1}, nil
}

func saveExpiry(tx state.Tx, key string, gc int64) {
	if gc < 0 {
		tx.Expire(key, 0)
		return
	}
	tx.Expire(key, time.Duration(max(gc, 1))*time.Millisecond)
}

// releaseLua marks a live, waiting triplet released: ARGV now. Returns 1
// when it did.
const releaseLua = `
local now = tonumber(ARGV[1])
local e = tonumber(redis.call('HGET', KEYS[1], 'e') or '0')
local p = tonumber(redis.call('HGET', KEYS[1], 'p') or '0')
if e <= now or p > 0 then return 0 end
redis.call('HSET', KEYS[1], 'r', '1')
return 1
`

func releaseGo(tx state.Tx, keys []string, args []int64) ([]int64, error) {
	t, err := tx.HGetAll(keys[0])
	if err != nil {
		return nil, err
	}
	if t["e"] <= args[0] || t["p"] > 0 {
		return []int64{0}, nil
	}
	if err := tx.HSet(keys[0], map[string]int64{"r": 1}); err != nil {
		return nil, err
	}
	return []int64{1}, nil
}

// scripts are the greylist's scripts, built once per Greylist.
type scripts struct {
	decide, allowClient, release *state.Script
}

func newScripts() scripts {
	return scripts{
		decide:      state.NewScript("greylist.decide", decideLua, decideGo),
		allowClient: state.NewScript("greylist.allow", allowClientLua, allowClientGo),
		release:     state.NewScript("greylist.release", releaseLua, releaseGo),
	}
}
