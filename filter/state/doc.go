// Package state is the shared state backend of moat's checks: greylisting
// (triplets, auto-allowed networks), the Bayes token store and rate limits.
//
// A Store holds keys with an optional expiry. A key holds either a string
// (bytes; counters are decimal strings, as in Redis) or a hash of integer
// fields (token counts, timestamps). Every operation is an *Op built by one
// of the constructors (Get, Set, Del, Incr, Expire, TTL, HSet, HIncrBy,
// HMGet, HGetAll, Run) and executed by Store.Do, which runs any number of ops
// as one batch: one network round trip to Redis (pipelined; one per node
// involved in a cluster), one critical section in the embedded store.
// Read-modify-write logic that must be atomic and cost one round trip is a
// Script: Lua for Redis and an equivalent Go function for the embedded store.
//
// Two backends:
//
//   - Redis (OpenRedis), through a go-redis UniversalClient: a single server,
//     Sentinel or Cluster, every key under a prefix (default "moat:"), with
//     short timeouts so that a down server fails calls quickly; the client
//     reconnects by itself when the server is back. URL forms:
//
//     redis://[[user]:password@]host[:port][/db][?option=value&...]
//     rediss://...                        the same over TLS (1.2 or newer)
//     redis-sentinel://[[user]:password@]host[:port][,host[:port]...]/master[/db][?...]
//     rediss-sentinel://...               Sentinel, TLS to sentinels and servers
//     redis-cluster://[[user]:password@]host[:port][,host[:port]...][?...]
//     rediss-cluster://...                Cluster over TLS
//
//     Default ports: 6379 (26379 for sentinels). The user information is the
//     Redis servers' ACL user and password (percent-encoded). Options:
//     dial_timeout, read_timeout, write_timeout, pool_timeout (Go durations),
//     pool_size, min_idle_conns, max_retries, db (integers), client_name, and
//     for Sentinel sentinel_username and sentinel_password (the sentinels'
//     own credentials). Unknown options are errors.
//
//   - Embedded (OpenEmbedded), the default when no Redis is configured: a
//     bbolt file (state.db) in the data directory. Writes go to an in-memory
//     buffer that is committed in one transaction every FlushInterval
//     (default 100 ms) and on Close, so a crash loses at most the writes of
//     the last FlushInterval plus the commit in progress; a clean shutdown
//     loses nothing. Expired keys are invisible at once and removed from the
//     file lazily (when read) and by a periodic sweep. The file is locked by
//     the process that opened it: a second process (the CLI while `moat
//     serve` runs) gets ErrLocked and must go through the server.
//
// NewMemory returns an embedded store without a file, for tests and for
// runs that must have no side effects (`moat check`).
//
// Expiry semantics are Redis's in both backends: a key whose expiry has
// passed does not exist. Times of the embedded store come from an injected
// clock; Redis uses its own clock, so logic that needs an injected clock
// (greylisting) stores its own timestamps in the values.
package state
