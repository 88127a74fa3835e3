package bayes

import (
	"encoding/hex"
	"strconv"
	"strings"
	"time"

	"github.com/moatmail/moat/filter/state"
)

// The token store in filter/state. Every model (the global one, and one
// per user) lives under its own key root:
//
//	bayes:g:                      the global model
//	bayes:u:<user>:               the model of one user
//	<root>meta                    hash: spam, ham (messages learned),
//	                              tokens (distinct tokens, approximate),
//	                              v (format), bits (bucket bits)
//	<root>t:<bucket, 4 hex>       string: the bucket's tokens
//	<root>m:<digest, 32 hex>      string "s" or "h": the message was
//	                              learned as spam or ham
//	bayes:users                   hash: user → 1, every user with a model
//
// A token id's top bits choose its bucket; its low 48 bits are its field.
// A bucket is a string of 13-byte records sorted by field: the field (6
// bytes, big-endian) and the packed value (7 bytes, big-endian). The value
// packs the token's counts and the day it was last learned into 53 bits,
// so that Lua's doubles hold it exactly: spam count (19 bits) << 34 | ham
// count (19 bits) << 15 | day (15 bits, days since 2020-01-01). A count
// that would overflow halves both counts. Updates are scripts (Lua on
// Redis, Go on the embedded store), one per bucket, each atomic. Whole
// buckets are read (GET) and cached.

const (
	formatVersion = 1
	// DefaultGlobalBits and DefaultUserBits size the models' bucket
	// tables (16384 and 1024 buckets).
	DefaultGlobalBits = 14
	DefaultUserBits   = 10
	maxBits           = 14
	fieldBits         = 48
	fieldMask         = 1<<fieldBits - 1
	recordLen         = 13

	spamShift = 34
	hamShift  = 15
	maxCount  = 1<<19 - 1
	dayMask   = 1<<15 - 1
)

// dayEpoch is day 0 of the packed last-learned day.
var dayEpoch = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

// dayOf returns the packed day number of t (1 … 32767).
func dayOf(t time.Time) int64 {
	d := int64(t.Sub(dayEpoch) / (24 * time.Hour))
	return min(max(d, 1), dayMask)
}

func pack(s, h, day int64) int64 { return s<<spamShift | h<<hamShift | day }

func unpack(v int64) (s, h, day int64) {
	return v >> spamShift, (v >> hamShift) & maxCount, v & dayMask
}

// modelRef names one model in the store.
type modelRef struct {
	user string // "" for the global model
	root string
	bits uint // default bucket bits for a new model
}

func globalRef() modelRef { return modelRef{root: "bayes:g:", bits: DefaultGlobalBits} }

func userRef(user string, bits uint) modelRef {
	return modelRef{user: user, root: "bayes:u:" + escapeUser(user) + ":", bits: bits}
}

// usersKey lists the users that have a model.
const usersKey = "bayes:users"

// escapeUser keeps a user name from breaking the key layout or Redis
// Cluster hash tags: ':', '{', '}', '%', spaces and control bytes are
// percent-encoded.
func escapeUser(u string) string {
	if !strings.ContainsAny(u, ":{}% \t\r\n") {
		return u
	}
	var b strings.Builder
	for i := 0; i < len(u); i++ {
		c := u[i]
		switch {
		case c == ':' || c == '{' || c == '}' || c == '%' || c <= ' ':
			b.WriteByte('%')
			b.WriteString(strconv.FormatUint(uint64(c)>>4, 16))
			b.WriteString(strconv.FormatUint(uint64(c)&15, 16))
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func (m modelRef) metaKey() string { return m.root + "meta" }

func (m modelRef) digestKey(d Digest) string { return m.root + "m:" + hex.EncodeToString(d[:]) }

func bucketKey(root string, b uint64) string {
	const digits = "0123456789abcdef"
	k := make([]byte, 0, len(root)+6)
	k = append(k, root...)
	k = append(k, 't', ':', digits[b>>12&15], digits[b>>8&15], digits[b>>4&15], digits[b&15])
	return string(k)
}

func bucketOf(id uint64, bits uint) uint64 { return id >> (64 - bits) }

// record reads the i-th record of a bucket.
func record(b []byte, i int) (field uint64, val int64) {
	r := b[i*recordLen : (i+1)*recordLen]
	field = uint64(r[0])<<40 | uint64(r[1])<<32 | uint64(r[2])<<24 | uint64(r[3])<<16 | uint64(r[4])<<8 | uint64(r[5])
	val = int64(r[6])<<48 | int64(r[7])<<40 | int64(r[8])<<32 | int64(r[9])<<24 | int64(r[10])<<16 | int64(r[11])<<8 | int64(r[12])
	return field, val
}

// appendRecord appends a record to a bucket.
func appendRecord(b []byte, field uint64, val int64) []byte {
	return append(b, byte(field>>40), byte(field>>32), byte(field>>24), byte(field>>16), byte(field>>8), byte(field),
		byte(val>>48), byte(val>>40), byte(val>>32), byte(val>>24), byte(val>>16), byte(val>>8), byte(val))
}

// findRecord returns the value of field in a bucket (0: absent).
func findRecord(b []byte, field uint64) int64 {
	lo, hi := 0, len(b)/recordLen
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		f, v := record(b, mid)
		switch {
		case f == field:
			return v
		case f < field:
			lo = mid + 1
		default:
			hi = mid
		}
	}
	return 0
}

// Both scripts decode and encode the records the same way in Lua: rd
// reads an n-byte big-endian number at i, wr writes one.
const luaRecords = `
local function rd(s, i, n)
  local v = 0
  for k = i, i + n - 1 do v = v * 256 + string.byte(s, k) end
  return v
end
local function wr(v, n)
  local t = {}
  for k = n, 1, -1 do
    t[k] = string.char(v % 256)
    v = math.floor(v / 256)
  end
  return table.concat(t)
end
local S, H, MAXC = 17179869184, 32768, 524287
local function unpack3(v)
  local s = math.floor(v / S)
  local rest = v - s * S
  local h = math.floor(rest / H)
  return s, h, rest - h * H
end
`

// trainLua applies count deltas to tokens of one bucket. ARGV: today,
// then (field, spam delta, ham delta) triples sorted by field. Returns
// {created, deleted}.
const trainLua = luaRecords + `
local key = KEYS[1]
local today = tonumber(ARGV[1])
local old = redis.call('GET', key) or ''
local out = {}
local i, n, j = 1, #old, 2
local created, deleted = 0, 0
while i + 12 <= n or j <= #ARGV do
  local fo, fn
  if i + 12 <= n then fo = rd(old, i, 6) end
  if j <= #ARGV then fn = tonumber(ARGV[j]) end
  if fo and (not fn or fo < fn) then
    out[#out + 1] = string.sub(old, i, i + 12)
    i = i + 13
  else
    local v = 0
    if fo == fn then
      v = rd(old, i + 6, 7)
      i = i + 13
    end
    local ds, dh = tonumber(ARGV[j + 1]), tonumber(ARGV[j + 2])
    local s, h, d = unpack3(v)
    s = math.max(s + ds, 0)
    h = math.max(h + dh, 0)
    while s > MAXC or h > MAXC do
      s = math.ceil(s / 2)
      h = math.ceil(h / 2)
    end
    if s + h == 0 then
      if v > 0 then deleted = deleted + 1 end
    else
      if ds > 0 or dh > 0 then d = today end
      out[#out + 1] = wr(fn, 6) .. wr(s * S + h * H + d, 7)
      if v == 0 then created = created + 1 end
    end
    j = j + 3
  end
end
if #out == 0 then
  redis.call('DEL', key)
else
  redis.call('SET', key, table.concat(out))
end
return {created, deleted}
`

// trainGo is trainLua for the embedded store.
func trainGo(tx state.Tx, keys []string, args []int64) ([]int64, error) {
	old, _, err := tx.Get(keys[0])
	if err != nil {
		return nil, err
	}
	today := args[0]
	out := make([]byte, 0, len(old)+recordLen*((len(args)-1)/3))
	var created, deleted int64
	i, n := 0, len(old)/recordLen
	for j := 1; i < n || j+2 < len(args); {
		var fo uint64
		var vo int64
		if i < n {
			fo, vo = record(old, i)
		}
		if i < n && (j+2 >= len(args) || fo < uint64(args[j])) {
			out = append(out, old[i*recordLen:(i+1)*recordLen]...)
			i++
			continue
		}
		fn := uint64(args[j])
		var v int64
		if i < n && fo == fn {
			v = vo
			i++
		}
		ds, dh := args[j+1], args[j+2]
		j += 3
		s, h, d := unpack(v)
		s, h = max(s+ds, 0), max(h+dh, 0)
		for s > maxCount || h > maxCount {
			s, h = (s+1)/2, (h+1)/2
		}
		if s+h == 0 {
			if v > 0 {
				deleted++
			}
			continue
		}
		if ds > 0 || dh > 0 {
			d = today
		}
		out = appendRecord(out, fn, pack(s, h, d))
		if v == 0 {
			created++
		}
	}
	if len(out) == 0 {
		tx.Del(keys[0])
	} else {
		tx.Set(keys[0], out, 0)
	}
	return []int64{created, deleted}, nil
}

// pruneLua deletes the tokens of one bucket that are rare and old. ARGV:
// today, c, dmin, frac, rare, div: a token goes when seen in fewer than c
// messages; or in exactly c and not learned for more than dmin days; or
// in exactly c and not learned for exactly dmin days (the boundary group)
// when floor(field / div) mod 1024 is below frac; or (rare > 0) in at
// most one message and not learned for rare days. Returns {deleted, kept,
// deleted of the boundary group}.
const pruneLua = luaRecords + `
local key = KEYS[1]
local today, c, dmin, frac, rare, div = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local old = redis.call('GET', key) or ''
local out = {}
local deleted, boundary = 0, 0
for i = 1, #old - 12, 13 do
  local s, h, d = unpack3(rd(old, i + 6, 7))
  local n, age = s + h, today - d
  local b = n == c and age == dmin and math.floor(rd(old, i, 6) / div) % 1024 < frac
  if b or n < c or (n == c and age > dmin) or (rare > 0 and n <= 1 and age >= rare) then
    deleted = deleted + 1
    if b then boundary = boundary + 1 end
  else
    out[#out + 1] = string.sub(old, i, i + 12)
  end
end
if deleted > 0 then
  if #out == 0 then
    redis.call('DEL', key)
  else
    redis.call('SET', key, table.concat(out))
  end
end
return {deleted, #out, boundary}
`

// pruneGo is pruneLua for the embedded store.
func pruneGo(tx state.Tx, keys []string, args []int64) ([]int64, error) {
	old, _, err := tx.Get(keys[0])
	if err != nil {
		return nil, err
	}
	today, c, dmin, frac, rare, div := args[0], args[1], args[2], args[3], args[4], args[5]
	out := make([]byte, 0, len(old))
	var deleted, boundary int64
	for i := 0; i < len(old)/recordLen; i++ {
		f, v := record(old, i)
		s, h, d := unpack(v)
		n, age := s+h, today-d
		b := n == c && age == dmin && int64(f)/div%1024 < frac
		if b || n < c || (n == c && age > dmin) || (rare > 0 && n <= 1 && age >= rare) {
			deleted++
			if b {
				boundary++
			}
			continue
		}
		out = append(out, old[i*recordLen:(i+1)*recordLen]...)
	}
	if deleted > 0 {
		if len(out) == 0 {
			tx.Del(keys[0])
		} else {
			tx.Set(keys[0], out, 0)
		}
	}
	return []int64{deleted, int64(len(out) / recordLen), boundary}, nil
}

// scripts are the package's store scripts, built once per Bayes.
type scripts struct {
	train, prune *state.Script
}

func newScripts() scripts {
	return scripts{
		train: state.NewScript("bayes-train", trainLua, trainGo),
		prune: state.NewScript("bayes-prune", pruneLua, pruneGo),
	}
}
