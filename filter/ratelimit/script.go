package ratelimit

import (
	"fmt"
	"strconv"
	"time"

	"github.com/moatmail/moat/filter/state"
)

// The counting script, in Lua for Redis and in Go for the embedded store;
// TestScenariosBackends runs the same table against both.
//
// KEYS: the current window's counter, then (sliding windows only) the
// previous window's. ARGV: n, limit, mode, weight numerator and denominator
// of the previous window (the part of it inside the sliding window, in ms),
// and the TTL of the current counter in ms. The events fit when
// ceil(prev*num/den) + cur + n <= limit: rounding the previous window's
// share up never lets more than the limit through. Modes: take counts n
// only when they fit, add always counts them, peek never does, refund
// gives back n counted by a take (never below zero).
//
// Result: {fit (1 or 0), current count after the call, previous count}.
const (
	modeTake   = 0
	modePeek   = 1
	modeAdd    = 2
	modeRefund = 3
)

const countLua = `
local n, limit, mode = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local num, den, ttl = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local function counter(key)
  local v = redis.call('GET', key)
  if not v then return 0 end
  local x = tonumber(v)
  if x == nil then return redis.error_reply('ERR value is not an integer') end
  return x
end
local cur = counter(KEYS[1])
if type(cur) == 'table' then return cur end
local prev = 0
if #KEYS > 1 then
  prev = counter(KEYS[2])
  if type(prev) == 'table' then return prev end
end
if mode == 3 then
  if cur > 0 then
    cur = cur - n
    if cur <= 0 then
      cur = 0
      redis.call('DEL', KEYS[1])
    else
      redis.call('SET', KEYS[1], string.format('%d', cur), 'PX', ttl)
    end
  end
  return {1, cur, prev}
end
local share = 0
if prev > 0 and num > 0 then share = math.floor((prev * num + den - 1) / den) end
local fit = 0
if share + cur + n <= limit then fit = 1 end
if n > 0 and (mode == 2 or (mode == 0 and fit == 1)) then
  cur = redis.call('INCRBY', KEYS[1], n)
  redis.call('PEXPIRE', KEYS[1], ttl)
end
return {fit, cur, prev}
`

func countGo(tx state.Tx, keys []string, args []int64) ([]int64, error) {
	if len(keys) < 1 || len(keys) > 2 || len(args) != 6 {
		return nil, fmt.Errorf("%w: ratelimit script: %d keys, %d args", state.ErrBadOp, len(keys), len(args))
	}
	n, limit, mode, num, den, ttl := args[0], args[1], args[2], args[3], args[4], args[5]
	counter := func(key string) (int64, error) {
		v, ok, err := tx.Get(key)
		if err != nil || !ok {
			return 0, err
		}
		x, err := strconv.ParseInt(string(v), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%w: %s", state.ErrNotInteger, key)
		}
		return x, nil
	}
	cur, err := counter(keys[0])
	if err != nil {
		return nil, err
	}
	var prev int64
	if len(keys) > 1 {
		if prev, err = counter(keys[1]); err != nil {
			return nil, err
		}
	}
	ttlDur := time.Duration(ttl) * time.Millisecond
	if mode == modeRefund {
		if cur > 0 {
			cur -= n
			if cur <= 0 {
				cur = 0
				tx.Del(keys[0])
			} else {
				tx.Set(keys[0], strconv.AppendInt(nil, cur, 10), ttlDur)
			}
		}
		return []int64{1, cur, prev}, nil
	}
	fit := int64(0)
	if weighted(prev, num, den)+cur+n <= limit {
		fit = 1
	}
	if n > 0 && (mode == modeAdd || (mode == modeTake && fit == 1)) {
		cur += n
		tx.Set(keys[0], strconv.AppendInt(nil, cur, 10), ttlDur)
	}
	return []int64{fit, cur, prev}, nil
}

// weighted is ceil(prev*num/den), the previous window's share, as the Lua
// script computes it (exactly while prev*num stays under 2^53).
func weighted(prev, num, den int64) int64 {
	if prev <= 0 || num <= 0 || den <= 0 {
		return 0
	}
	return (prev*num + den - 1) / den
}

func newCountScript() *state.Script {
	return state.NewScript("ratelimit.count", countLua, countGo)
}
