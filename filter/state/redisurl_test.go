package state_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moatmail/moat/filter/state"
)

func TestParseRedisURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		url     string
		topo    state.RedisTopology
		addrs   []string
		check   func(t *testing.T, u *state.RedisURL)
		wantErr string
	}{
		{name: "plain", url: "redis://localhost", topo: state.Single, addrs: []string{"localhost:6379"}},
		{name: "port and db", url: "redis://10.0.0.5:6380/3", topo: state.Single, addrs: []string{"10.0.0.5:6380"},
			check: func(t *testing.T, u *state.RedisURL) {
				if u.Options.DB != 3 || u.Options.TLSConfig != nil {
					t.Errorf("DB %d, TLS %v", u.Options.DB, u.Options.TLSConfig)
				}
			}},
		{name: "TLS with password", url: "rediss://:s%40cret@cache.example:6390", topo: state.Single, addrs: []string{"cache.example:6390"},
			check: func(t *testing.T, u *state.RedisURL) {
				if u.Options.TLSConfig == nil || u.Options.Password != "s@cret" || u.Options.Username != "" {
					t.Errorf("TLS %v, user %q, password %q", u.Options.TLSConfig, u.Options.Username, u.Options.Password)
				}
			}},
		{name: "ACL user", url: "redis://moat:pw@h", topo: state.Single, addrs: []string{"h:6379"},
			check: func(t *testing.T, u *state.RedisURL) {
				if u.Options.Username != "moat" || u.Options.Password != "pw" {
					t.Errorf("user %q password %q", u.Options.Username, u.Options.Password)
				}
			}},
		{name: "IPv6", url: "redis://[::1]:7000", topo: state.Single, addrs: []string{"[::1]:7000"}},
		{name: "IPv6 default port", url: "redis://[2001:db8::1]", topo: state.Single, addrs: []string{"[2001:db8::1]:6379"}},
		{name: "options", url: "redis://h?dial_timeout=200ms&read_timeout=1s&write_timeout=2s&pool_size=20&max_retries=0&client_name=moat&db=2", topo: state.Single, addrs: []string{"h:6379"},
			check: func(t *testing.T, u *state.RedisURL) {
				o := u.Options
				if o.DialTimeout != 200*time.Millisecond || o.ReadTimeout != time.Second || o.WriteTimeout != 2*time.Second ||
					o.PoolSize != 20 || o.MaxRetries != -1 || o.ClientName != "moat" || o.DB != 2 {
					t.Errorf("options: %+v", o)
				}
			}},
		{name: "sentinel", url: "redis-sentinel://:pw@s1:26379,s2,[::1]:26380/mymaster/1?sentinel_password=spw", topo: state.Sentinel,
			addrs: []string{"s1:26379", "s2:26379", "[::1]:26380"},
			check: func(t *testing.T, u *state.RedisURL) {
				o := u.Options
				if o.MasterName != "mymaster" || o.DB != 1 || o.Password != "pw" || o.SentinelPassword != "spw" {
					t.Errorf("master %q db %d password %q sentinel password %q", o.MasterName, o.DB, o.Password, o.SentinelPassword)
				}
			}},
		{name: "sentinel over TLS", url: "rediss-sentinel://s1/m", topo: state.Sentinel, addrs: []string{"s1:26379"},
			check: func(t *testing.T, u *state.RedisURL) {
				if u.Options.TLSConfig == nil {
					t.Error("no TLS")
				}
			}},
		{name: "cluster", url: "redis-cluster://h1:7000,h2:7001", topo: state.Cluster, addrs: []string{"h1:7000", "h2:7001"}},
		{name: "cluster with one seed", url: "rediss-cluster://h1:7000/", topo: state.Cluster, addrs: []string{"h1:7000"}},

		{name: "no scheme", url: "localhost:6379", wantErr: "scheme"},
		{name: "unknown scheme", url: "memcached://h", wantErr: "unknown scheme"},
		{name: "no host", url: "redis://", wantErr: "no host"},
		{name: "empty host in list", url: "redis-cluster://h1,,h2", wantErr: "empty host"},
		{name: "bad port", url: "redis://h:99999", wantErr: "bad port"},
		{name: "bad db", url: "redis://h/x", wantErr: "database"},
		{name: "several hosts without a topology", url: "redis://h1,h2", wantErr: "several hosts"},
		{name: "sentinel without master", url: "redis-sentinel://s1:26379", wantErr: "master name"},
		{name: "cluster with db", url: "redis-cluster://h/1", wantErr: "cluster"},
		{name: "cluster with db option", url: "redis-cluster://h?db=1", wantErr: "cluster"},
		{name: "unknown option", url: "redis://h?colour=blue", wantErr: "unknown option"},
		{name: "bad duration", url: "redis://h?dial_timeout=soon", wantErr: "dial_timeout"},
		{name: "negative duration", url: "redis://h?read_timeout=-1s", wantErr: "read_timeout"},
		{name: "sentinel option elsewhere", url: "redis://h?sentinel_password=x", wantErr: "sentinel"},
		{name: "password not in errors", url: "redis://u:hunter2@h:0", wantErr: "bad port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			u, err := state.ParseRedisURL(tt.url)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to mention %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "hunter2") {
					t.Fatalf("error leaks the password: %v", err)
				}
				if state.ValidateRedisURL(tt.url) == nil {
					t.Fatal("ValidateRedisURL accepts it")
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseRedisURL: %v", err)
			}
			if u.Topology != tt.topo || !slices.Equal(u.Options.Addrs, tt.addrs) {
				t.Fatalf("topology %v addrs %q; want %v %q", u.Topology, u.Options.Addrs, tt.topo, tt.addrs)
			}
			if tt.check != nil {
				tt.check(t, u)
			}
		})
	}
}

func TestRedactURL(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"redis://h:6379/0", "redis://h:6379/0"},
		{"redis://:pw@h", "redis://:xxxxx@h"},
		{"rediss://user:p%40ss@h:1/2?pool_size=3", "rediss://user:xxxxx@h:1/2?pool_size=3"},
		{"redis-sentinel://s1,s2/m?sentinel_password=secret", "redis-sentinel://s1,s2/m?sentinel_password=xxxxx"},
		{"not a url", "not a url"},
	}
	for _, tt := range tests {
		if got := state.RedactURL(tt.in); got != tt.want {
			t.Errorf("RedactURL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
