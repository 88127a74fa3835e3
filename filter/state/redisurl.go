package state

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisTopology is the kind of deployment a URL names.
type RedisTopology int

// The topologies.
const (
	// Single is one server (redis://, rediss://).
	Single RedisTopology = iota
	// Sentinel is a master found through Sentinel (redis-sentinel://).
	Sentinel
	// Cluster is a Redis Cluster (redis-cluster://).
	Cluster
)

// String names the topology.
func (t RedisTopology) String() string {
	switch t {
	case Sentinel:
		return "sentinel"
	case Cluster:
		return "cluster"
	}
	return "single"
}

// RedisURL is a parsed state.redis URL.
type RedisURL struct {
	Topology RedisTopology
	// Options are go-redis options; fields not set by the URL are zero.
	Options redis.UniversalOptions
}

// ValidateRedisURL reports what is wrong with a state.redis URL (nil when
// it is fine). It does not connect.
func ValidateRedisURL(s string) error {
	_, err := ParseRedisURL(s)
	return err
}

// ParseRedisURL parses the URL forms described in the package
// documentation. Errors never contain the password.
func ParseRedisURL(s string) (*RedisURL, error) {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return nil, fmt.Errorf("state: redis URL: want scheme://…, e.g. redis://host:6379")
	}
	u := &RedisURL{}
	o := &u.Options
	defPort := "6379"
	switch scheme {
	case "redis", "rediss":
	case "redis-sentinel", "rediss-sentinel":
		u.Topology, defPort = Sentinel, "26379"
	case "redis-cluster", "rediss-cluster":
		u.Topology = Cluster
	default:
		return nil, fmt.Errorf("state: redis URL: unknown scheme %q (want redis, rediss, redis-sentinel, rediss-sentinel, redis-cluster or rediss-cluster)", scheme)
	}
	if strings.HasPrefix(scheme, "rediss") {
		o.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12} // ServerName comes from each address
	}
	rest, rawQuery, _ := strings.Cut(rest, "?")
	authority, path, _ := strings.Cut(rest, "/")
	if at := strings.LastIndexByte(authority, '@'); at >= 0 {
		user, pass, hasPass := strings.Cut(authority[:at], ":")
		var err error
		if o.Username, err = url.PathUnescape(user); err != nil {
			return nil, fmt.Errorf("state: redis URL: bad user name encoding")
		}
		if hasPass {
			if o.Password, err = url.PathUnescape(pass); err != nil {
				return nil, fmt.Errorf("state: redis URL: bad password encoding")
			}
		}
		authority = authority[at+1:]
	}
	if authority == "" {
		return nil, fmt.Errorf("state: redis URL: no host")
	}
	for _, h := range strings.Split(authority, ",") {
		addr, err := hostPort(h, defPort)
		if err != nil {
			return nil, err
		}
		o.Addrs = append(o.Addrs, addr)
	}
	if u.Topology == Single && len(o.Addrs) > 1 {
		return nil, fmt.Errorf("state: redis URL: several hosts need redis-sentinel:// or redis-cluster://")
	}
	if err := parsePath(u, path); err != nil {
		return nil, err
	}
	if err := parseQuery(u, rawQuery); err != nil {
		return nil, err
	}
	return u, nil
}

func hostPort(h, defPort string) (string, error) {
	if h == "" {
		return "", fmt.Errorf("state: redis URL: empty host")
	}
	host, port, err := net.SplitHostPort(h)
	if err != nil { // no port: "host" or "[v6]"
		host, port = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]"), defPort
		if strings.ContainsAny(host, "[]") {
			return "", fmt.Errorf("state: redis URL: bad host %q", h)
		}
	}
	if host == "" {
		return "", fmt.Errorf("state: redis URL: empty host in %q", h)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("state: redis URL: bad port in %q", h)
	}
	return net.JoinHostPort(host, port), nil
}

func parsePath(u *RedisURL, path string) error {
	var parts []string
	if path != "" {
		parts = strings.Split(strings.TrimSuffix(path, "/"), "/")
	}
	switch u.Topology {
	case Sentinel:
		if len(parts) == 0 || parts[0] == "" {
			return fmt.Errorf("state: redis URL: sentinel needs the master name: redis-sentinel://host:26379/mymaster")
		}
		u.Options.MasterName = parts[0]
		parts = parts[1:]
	case Cluster:
		if len(parts) > 0 {
			return fmt.Errorf("state: redis URL: a cluster has no database number or path")
		}
	}
	switch len(parts) {
	case 0:
		return nil
	case 1:
		db, err := strconv.Atoi(parts[0])
		if err != nil || db < 0 {
			return fmt.Errorf("state: redis URL: bad database number %q", parts[0])
		}
		u.Options.DB = db
		return nil
	}
	return fmt.Errorf("state: redis URL: unexpected path /%s", path)
}

func parseQuery(u *RedisURL, raw string) error {
	q, err := url.ParseQuery(raw)
	if err != nil {
		return fmt.Errorf("state: redis URL: bad query: %w", err)
	}
	o := &u.Options
	for name, vals := range q {
		v := vals[len(vals)-1]
		var err error
		switch name {
		case "dial_timeout":
			o.DialTimeout, err = positiveDuration(v)
		case "read_timeout":
			o.ReadTimeout, err = positiveDuration(v)
		case "write_timeout":
			o.WriteTimeout, err = positiveDuration(v)
		case "pool_timeout":
			o.PoolTimeout, err = positiveDuration(v)
		case "pool_size":
			o.PoolSize, err = nonNegativeInt(v)
		case "min_idle_conns":
			o.MinIdleConns, err = nonNegativeInt(v)
		case "max_retries":
			o.MaxRetries, err = nonNegativeInt(v)
			if err == nil && o.MaxRetries == 0 {
				o.MaxRetries = -1 // go-redis: -1 disables retries
			}
		case "db":
			if u.Topology == Cluster {
				return fmt.Errorf("state: redis URL: a cluster has no database number")
			}
			o.DB, err = nonNegativeInt(v)
		case "client_name":
			o.ClientName = v
		case "sentinel_username", "sentinel_password":
			if u.Topology != Sentinel {
				return fmt.Errorf("state: redis URL: %s is for redis-sentinel:// only", name)
			}
			if name == "sentinel_username" {
				o.SentinelUsername = v
			} else {
				o.SentinelPassword = v
			}
		default:
			return fmt.Errorf("state: redis URL: unknown option %q", name)
		}
		if err != nil {
			return fmt.Errorf("state: redis URL: %s: %w", name, err)
		}
	}
	return nil
}

func positiveDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("want a positive duration such as 500ms, got %q", s)
	}
	return d, nil
}

func nonNegativeInt(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("want a non-negative integer, got %q", s)
	}
	return n, nil
}

// RedactURL returns the URL with its password (in the user information and
// in sentinel_password) replaced by "xxxxx", for logs.
func RedactURL(s string) string {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return s
	}
	rest, rawQuery, hasQuery := strings.Cut(rest, "?")
	authority, path, hasPath := strings.Cut(rest, "/")
	if at := strings.LastIndexByte(authority, '@'); at >= 0 {
		if user, _, hasPass := strings.Cut(authority[:at], ":"); hasPass {
			authority = user + ":xxxxx" + authority[at:]
		}
	}
	out := scheme + "://" + authority
	if hasPath {
		out += "/" + path
	}
	if hasQuery {
		if q, err := url.ParseQuery(rawQuery); err == nil && q.Has("sentinel_password") {
			q.Set("sentinel_password", "xxxxx")
			rawQuery = q.Encode()
		}
		out += "?" + rawQuery
	}
	return out
}
