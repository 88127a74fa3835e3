package state

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// Defaults of RedisOptions. They are short on purpose: a down Redis must
// fail a greylist decision in well under a second so that mail flows.
const (
	DefaultPrefix       = "moat:"
	DefaultDialTimeout  = time.Second
	DefaultReadTimeout  = 500 * time.Millisecond
	DefaultWriteTimeout = 500 * time.Millisecond
	DefaultMaxRetries   = 1
)

// RedisOptions configure OpenRedis. Options given in the URL's query win
// over these fields; zero fields take the defaults.
type RedisOptions struct {
	// URL is the state.redis URL (see the package documentation).
	URL string
	// Prefix is put in front of every key. Default "moat:".
	Prefix string
	// DialTimeout bounds connecting. Default 1 s.
	DialTimeout time.Duration
	// ReadTimeout and WriteTimeout bound each socket read and write.
	// Default 500 ms.
	ReadTimeout  time.Duration
	WriteTimeout time.Duration
	// PoolSize is the number of connections per node. Default: go-redis's
	// (10 per CPU).
	PoolSize int
	// MaxRetries is how many times a command that failed on a network
	// error is retried (on another connection). Default 1; -1 for none.
	MaxRetries int
	// Log receives connection warnings. Default: discarded.
	Log *slog.Logger
	// Hooks are added to the client (instrumentation, tests).
	Hooks []redis.Hook
}

// Redis is the Redis backend.
type Redis struct {
	c      redis.UniversalClient
	prefix string
	topo   RedisTopology
	log    *slog.Logger
	loaded sync.Map // sha → true: scripts loaded by this store
}

// OpenRedis returns a store on the Redis named by opts.URL. It fails only
// on a bad URL: when Redis cannot be reached it logs a warning and returns
// a store whose calls fail until Redis is back (the client reconnects by
// itself).
func OpenRedis(ctx context.Context, opts RedisOptions) (*Redis, error) {
	u, err := ParseRedisURL(opts.URL)
	if err != nil {
		return nil, err
	}
	o := u.Options
	o.DialTimeout = firstPositive(o.DialTimeout, opts.DialTimeout, DefaultDialTimeout)
	o.ReadTimeout = firstPositive(o.ReadTimeout, opts.ReadTimeout, DefaultReadTimeout)
	o.WriteTimeout = firstPositive(o.WriteTimeout, opts.WriteTimeout, DefaultWriteTimeout)
	if o.PoolSize == 0 {
		o.PoolSize = opts.PoolSize
	}
	if o.MaxRetries == 0 {
		o.MaxRetries = opts.MaxRetries
		if o.MaxRetries == 0 {
			o.MaxRetries = DefaultMaxRetries
		}
	}
	o.DialerRetries = 1 // one dial attempt per command: fail fast
	o.ContextTimeoutEnabled = true
	o.DisableIdentity = true // no CLIENT SETINFO round trip per connection
	o.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}

	var c redis.UniversalClient
	switch u.Topology {
	case Sentinel:
		c = redis.NewFailoverClient(o.Failover())
	case Cluster:
		c = redis.NewClusterClient(o.Cluster())
	default:
		c = redis.NewClient(o.Simple())
	}
	for _, h := range opts.Hooks {
		c.AddHook(h)
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	setRedisLogger(log)
	prefix := opts.Prefix
	if prefix == "" {
		prefix = DefaultPrefix
	}
	r := &Redis{c: c, prefix: prefix, topo: u.Topology, log: log}
	pctx, cancel := context.WithTimeout(ctx, o.DialTimeout+o.ReadTimeout)
	defer cancel()
	if err := c.Ping(pctx).Err(); err != nil {
		log.Warn("state: redis is not reachable yet; calls fail until it is", "url", RedactURL(opts.URL), "err", err)
	}
	return r, nil
}

func firstPositive(ds ...time.Duration) time.Duration {
	for _, d := range ds {
		if d > 0 {
			return d
		}
	}
	return 0
}

// Client returns the go-redis client, for instrumentation. Keys written
// through it do not get the prefix.
func (r *Redis) Client() redis.UniversalClient { return r.c }

// Prefix returns the key prefix.
func (r *Redis) Prefix() string { return r.prefix }

// Topology returns the deployment kind of the URL.
func (r *Redis) Topology() RedisTopology { return r.topo }

// Close closes the client's connections.
func (r *Redis) Close() error {
	if err := r.c.Close(); err != nil {
		return fmt.Errorf("state: redis: %w", err)
	}
	return nil
}

// Do implements Store: every op goes into one pipeline. Scripts are
// loaded (SCRIPT LOAD, one more round trip) the first time a store uses
// them. If Redis has lost them since (restart, SCRIPT FLUSH), the ops that
// failed with NOSCRIPT are run again after loading: only in that case do
// they run after the rest of their batch.
func (r *Redis) Do(ctx context.Context, ops ...*Op) error {
	if err := prepare(ops); err != nil {
		return err
	}
	if len(ops) == 0 {
		return nil
	}
	for _, o := range ops {
		if s := scriptOf(o); s != nil {
			if err := r.ensureLoaded(ctx, s); err != nil {
				for _, o := range ops {
					o.err = err
				}
				return fmt.Errorf("state: %s: %w", o, err)
			}
		}
	}
	queued := r.exec(ctx, ops)
	var again []*Op
	for i, o := range ops {
		if s := queued[i].script; s != nil && o.err != nil && redis.HasErrorPrefix(o.err, "NOSCRIPT") {
			r.loaded.Delete(s.sha)
			if err := r.ensureLoaded(ctx, s); err != nil {
				o.err = err
				continue
			}
			o.reset()
			again = append(again, o)
		}
	}
	if len(again) > 0 {
		r.exec(ctx, again)
	}
	return firstError(ops)
}

// scriptOf returns the script an op runs on Redis, if any.
func scriptOf(o *Op) *Script {
	switch {
	case o.kind == opRun:
		return o.script
	case o.kind == opIncr && o.ttl > 0:
		return incrScript
	case o.kind == opHIncrBy && o.ttl > 0:
		return hincrScript
	}
	return nil
}

// ensureLoaded loads s into Redis (every shard of a cluster) unless this
// store already did.
func (r *Redis) ensureLoaded(ctx context.Context, s *Script) error {
	if _, ok := r.loaded.Load(s.sha); ok {
		return nil
	}
	if err := r.c.ScriptLoad(ctx, s.lua).Err(); err != nil {
		return fmt.Errorf("load script %s: %w", s.name, mapRedisErr(err))
	}
	r.loaded.Store(s.sha, true)
	return nil
}

// queuedOp is what one op put into the pipeline.
type queuedOp struct {
	cmds   []redis.Cmder
	script *Script // the script an EVALSHA runs, if any
}

// exec runs ops in one pipeline and sets their results.
func (r *Redis) exec(ctx context.Context, ops []*Op) []queuedOp {
	pipe := r.c.Pipeline()
	queued := make([]queuedOp, len(ops))
	for i, o := range ops {
		queued[i] = r.queue(ctx, pipe, o)
	}
	_, _ = pipe.Exec(ctx) // each command carries its own error
	for i, o := range ops {
		r.collect(o, queued[i].cmds)
	}
	return queued
}

func (r *Redis) key(k string) string { return r.prefix + k }

func (r *Redis) keys(ks []string) []string {
	out := make([]string, len(ks))
	for i, k := range ks {
		out[i] = r.prefix + k
	}
	return out
}

func (r *Redis) queue(ctx context.Context, p redis.Pipeliner, o *Op) queuedOp {
	k := r.key(o.key)
	one := func(c redis.Cmder) queuedOp { return queuedOp{cmds: []redis.Cmder{c}} }
	switch o.kind {
	case opGet:
		return one(p.Get(ctx, k))
	case opSet:
		return one(p.Set(ctx, k, o.value, o.ttl))
	case opDel:
		return one(p.Del(ctx, r.keys(o.keys)...))
	case opIncr:
		if o.ttl == 0 {
			return one(p.IncrBy(ctx, k, o.delta))
		}
		return queuedOp{cmds: []redis.Cmder{p.EvalSha(ctx, incrScript.sha, []string{k}, o.ttl.Milliseconds(), o.delta)}, script: incrScript}
	case opExpire:
		if o.ttl > 0 {
			return one(p.PExpire(ctx, k, o.ttl))
		}
		return queuedOp{cmds: []redis.Cmder{p.Exists(ctx, k), p.Persist(ctx, k)}}
	case opTTL:
		return one(p.Do(ctx, "pttl", k))
	case opHSet:
		args := make([]any, 0, 2*len(o.hash))
		for f, v := range o.hash {
			args = append(args, f, v)
		}
		q := one(p.HSet(ctx, k, args...))
		if o.ttl > 0 {
			q.cmds = append(q.cmds, p.PExpire(ctx, k, o.ttl))
		}
		return q
	case opHIncrBy:
		if o.ttl == 0 {
			var q queuedOp
			for f, d := range o.hash {
				q.cmds = append(q.cmds, p.HIncrBy(ctx, k, f, d))
			}
			return q
		}
		args := make([]any, 0, 1+2*len(o.hash))
		args = append(args, o.ttl.Milliseconds())
		for f, d := range o.hash {
			args = append(args, f, d)
		}
		return queuedOp{cmds: []redis.Cmder{p.EvalSha(ctx, hincrScript.sha, []string{k}, args...)}, script: hincrScript}
	case opHMGet:
		return one(p.HMGet(ctx, k, o.fields...))
	case opHGetAll:
		return one(p.HGetAll(ctx, k))
	case opRun:
		args := make([]any, len(o.args))
		for i, a := range o.args {
			args[i] = a
		}
		return queuedOp{cmds: []redis.Cmder{p.EvalSha(ctx, o.script.sha, r.keys(o.keys), args...)}, script: o.script}
	}
	panic("state: unknown op kind") // prepare rejects unknown kinds
}

// collect sets o's result from its commands.
func (r *Redis) collect(o *Op, cmds []redis.Cmder) {
	for _, c := range cmds {
		if err := c.Err(); err != nil && !errors.Is(err, redis.Nil) {
			o.err = mapRedisErr(err)
			return
		}
	}
	switch o.kind {
	case opGet:
		v, err := cmds[0].(*redis.StringCmd).Bytes()
		o.found, o.bytes = err == nil, v
	case opDel:
		o.n = cmds[0].(*redis.IntCmd).Val()
	case opIncr:
		o.n, o.err = cmdInt(cmds[0])
	case opExpire:
		if len(cmds) == 1 {
			o.found = cmds[0].(*redis.BoolCmd).Val()
		} else {
			o.found = cmds[0].(*redis.IntCmd).Val() > 0
		}
	case opTTL:
		ms, err := cmds[0].(*redis.Cmd).Int64()
		switch {
		case err != nil:
			o.err = mapRedisErr(err)
		case ms == -2:
		case ms == -1:
			o.found = true
		default:
			o.found, o.dur = true, time.Duration(ms)*time.Millisecond
		}
	case opHMGet:
		vals := cmds[0].(*redis.SliceCmd).Val()
		o.ints = make([]int64, len(vals))
		for i, v := range vals {
			if v == nil {
				continue
			}
			o.found = true
			if o.ints[i], o.err = parseInt(v); o.err != nil {
				return
			}
		}
	case opHGetAll:
		m := cmds[0].(*redis.MapStringStringCmd).Val()
		if len(m) == 0 {
			return
		}
		o.found, o.hashOut = true, make(map[string]int64, len(m))
		for f, v := range m {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				o.err = fmt.Errorf("%w: field %q", ErrNotInteger, f)
				return
			}
			o.hashOut[f] = n
		}
	case opRun:
		o.ints, o.err = scriptResult(cmds[0].(*redis.Cmd))
	}
}

func cmdInt(c redis.Cmder) (int64, error) {
	switch c := c.(type) {
	case *redis.IntCmd:
		return c.Val(), nil
	case *redis.Cmd:
		n, err := c.Int64()
		return n, mapRedisErr(err)
	}
	return 0, fmt.Errorf("state: unexpected reply %T", c)
}

func parseInt(v any) (int64, error) {
	switch v := v.(type) {
	case string:
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, ErrNotInteger
		}
		return n, nil
	case int64:
		return v, nil
	}
	return 0, fmt.Errorf("%w: reply of type %T", ErrNotInteger, v)
}

func scriptResult(c *redis.Cmd) ([]int64, error) {
	v, err := c.Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, mapRedisErr(err)
	}
	switch v := v.(type) {
	case int64:
		return []int64{v}, nil
	case []any:
		out := make([]int64, len(v))
		for i, e := range v {
			n, ok := e.(int64)
			if !ok {
				return nil, fmt.Errorf("state: script returned %T, want integers", e)
			}
			out[i] = n
		}
		return out, nil
	}
	return nil, fmt.Errorf("state: script returned %T, want integers", v)
}

// mapRedisErr turns Redis's type errors into the package's sentinel errors
// and marks everything else as a Redis failure.
func mapRedisErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, redis.ErrClosed) {
		return fmt.Errorf("%w: %v", ErrClosed, err)
	}
	msg := err.Error()
	switch {
	case strings.HasPrefix(msg, "WRONGTYPE"):
		return fmt.Errorf("%w: %v", ErrWrongType, err)
	case strings.Contains(msg, "not an integer"), strings.Contains(msg, "overflow"):
		return fmt.Errorf("%w: %v", ErrNotInteger, err)
	}
	return fmt.Errorf("redis: %w", err)
}

// Scan implements Store with SCAN MATCH on every master.
func (r *Redis) Scan(ctx context.Context, prefix string, fn func(key string) error) error {
	pattern := globEscape(r.prefix+prefix) + "*"
	var mu sync.Mutex
	seen := make(map[string]struct{})
	scan := func(ctx context.Context, c redis.Cmdable) error {
		var cursor uint64
		for {
			keys, next, err := c.Scan(ctx, cursor, pattern, 1000).Result()
			if err != nil {
				return fmt.Errorf("state: redis: scan: %w", err)
			}
			mu.Lock()
			for _, k := range keys {
				k = strings.TrimPrefix(k, r.prefix)
				if _, dup := seen[k]; dup {
					continue
				}
				seen[k] = struct{}{}
				if err := fn(k); err != nil {
					mu.Unlock()
					return err
				}
			}
			mu.Unlock()
			if cursor = next; cursor == 0 {
				return nil
			}
		}
	}
	if cc, ok := r.c.(*redis.ClusterClient); ok {
		return cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return scan(ctx, c) })
	}
	return scan(ctx, r.c)
}

// globEscape escapes the characters SCAN MATCH treats specially.
func globEscape(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		switch c {
		case '*', '?', '[', ']', '\\', '^':
			b.WriteByte('\\')
		}
		b.WriteByte(c)
	}
	return b.String()
}

// Scripts the Redis backend uses for ops with a TTL-on-create (the embedded
// store implements those ops natively).
var (
	incrScript = NewScript("incr", `
local v = redis.call('INCRBY', KEYS[1], ARGV[2])
if tonumber(ARGV[1]) > 0 and redis.call('PTTL', KEYS[1]) == -1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return v`, nil)
	hincrScript = NewScript("hincrby", `
for i = 2, #ARGV, 2 do
  redis.call('HINCRBY', KEYS[1], ARGV[i], ARGV[i+1])
end
if tonumber(ARGV[1]) > 0 and redis.call('PTTL', KEYS[1]) == -1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return 0`, nil)
)
