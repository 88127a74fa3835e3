package policies

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

func TestLoadListenersAndDelivery(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "moat.yaml")
	body := `listen:
  smtp:
    - 127.0.0.1:25
    - address: 127.0.0.1:26
      proxy_protocol: true
      ratelimit: {}
  submission:
    - address: 127.0.0.1:587
      allow_plaintext: true
proxy:
  trusted: [10.0.0.0/8]
tls:
  self_signed: true
ratelimit:
  messages_per_ip: {limit: 5, window: 1m}
  auth_failures_per_user: off
domains:
  example.com: {deliver: relay, relay: mx, verify_recipients: true}
`
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := Addrs(c.Listen.SMTP); len(got) != 2 || got[1] != "127.0.0.1:26" {
		t.Errorf("smtp = %v", got)
	}
	l := c.Listen.SMTP[1]
	if !l.ProxyProtocol || l.RateLimit == nil || l.RateLimit.AuthFailuresPerIP != nil {
		t.Errorf("listener = %+v (want proxy_protocol and an empty ratelimit)", l)
	}
	if !c.Listen.Submission[0].AllowPlaintext {
		t.Error("allow_plaintext not set")
	}
	rl := c.RateLimit
	if rl.MessagesPerIP == nil || rl.MessagesPerIP.Limit != 5 || rl.AuthFailuresPerUser != nil || rl.AuthFailuresPerIP == nil {
		t.Errorf("ratelimit = %+v", rl)
	}
	d := c.Domains["example.com"]
	if d.Mode != ModeQueue || d.TLS != TLSOpportunistic || d.Relay != RelayMX || !d.VerifyRecipients {
		t.Errorf("domain = %+v", d)
	}
}

func TestLoadListenerErrors(t *testing.T) {
	for _, tc := range []struct{ name, body, want string }{
		{"unknown listener key", "listen:\n  smtp:\n    - address: 127.0.0.1:25\n      proxy: true\n", "moat.yaml:4: listen.smtp[0].proxy: unknown key (want one of: address, proxy_protocol, allow_plaintext, ratelimit)"},
		{"no address", "listen:\n  smtp:\n    - proxy_protocol: true\n", "address is required"},
		{"proxy without trusted", "listen:\n  smtp:\n    - address: 127.0.0.1:25\n      proxy_protocol: true\n", "proxy_protocol needs proxy.trusted"},
		{"submission without tls", "listen:\n  submission: [127.0.0.1:587]\n", "need a certificate"},
		{"bad rate", "ratelimit:\n  messages_per_ip: {limit: 0, window: 1m}\n", "moat.yaml:2: ratelimit.messages_per_ip.limit: must be positive"},
		{"bad mode", "domains:\n  example.com: {deliver: relay, relay: 127.0.0.1:25, mode: later}\n", "domains.example.com.mode: want queue or proxy"},
		{"relay option on local", "domains:\n  example.com: {deliver: local, lmtp: true}\n", "domains.example.com.lmtp: only for deliver: relay"},
		{"auth without tls", "domains:\n  example.com: {deliver: relay, relay: 127.0.0.1:25, tls: none, username: u, password: p}\n", "AUTH to the relay needs TLS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "moat.yaml")
			if err := os.WriteFile(path, []byte(tc.body), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Load(path)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

// TestDeployExamplesLoad loads every example configuration under deploy/
// with its /etc/moat/ files (certificates, keys) made in a temporary
// directory: each must pass validation and compile to a policy.
func TestDeployExamplesLoad(t *testing.T) {
	t.Parallel()
	paths, err := filepath.Glob("../deploy/examples/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	paths = append(paths, "../deploy/compose/moat.yaml")
	if len(paths) < 3 {
		t.Fatalf("found %v, want the gateway and standalone examples and the compose config", paths)
	}
	fileRef := regexp.MustCompile(`/etc/moat/[A-Za-z0-9._/-]+\.pem`)
	for _, path := range paths {
		t.Run(filepath.Base(filepath.Dir(path))+"/"+filepath.Base(path), func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			text := fileRef.ReplaceAllStringFunc(string(data), func(ref string) string {
				local := filepath.Join(dir, strings.TrimPrefix(ref, "/etc/moat/"))
				if err := os.MkdirAll(filepath.Dir(local), 0o700); err != nil {
					t.Fatal(err)
				}
				content := []byte("placeholder\n") // certificates are only checked for readability
				if strings.Contains(ref, "/dkim/") {
					content = ed25519PEM(t)
				}
				if err := os.WriteFile(local, content, 0o600); err != nil {
					t.Fatal(err)
				}
				return local
			})
			cfgPath := filepath.Join(dir, "moat.yaml")
			if err := os.WriteFile(cfgPath, []byte(text), 0o600); err != nil {
				t.Fatal(err)
			}
			c, err := Load(cfgPath)
			if err != nil {
				t.Fatalf("%s:\n%v", path, err)
			}
			if _, err := c.CompilePolicy(); err != nil {
				t.Fatalf("%s: %v", path, err)
			}
		})
	}
}

// ed25519PEM returns a new Ed25519 private key in PKCS #8 PEM.
func ed25519PEM(t *testing.T) []byte {
	t.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// TestLoadListenAndProxyChecks covers the rules that keep `moat serve` from
// failing or ignoring options: an SMTP listener is needed, listeners may
// not share an address, a listener's ratelimit cannot hold the (global)
// login guard, and mode: proxy takes no TLS, AUTH or mx options.
func TestLoadListenAndProxyChecks(t *testing.T) {
	t.Parallel()
	const proxyMsg = "mode: proxy speaks plain SMTP to the relay; TLS, AUTH and mx need mode: queue"
	const authMsg = "set auth_failures_* in the global ratelimit section; they apply to every listener"
	tests := []struct {
		name string
		yaml string
		want []string // nil: the file loads
	}{
		{
			name: "empty file",
			yaml: "",
			want: []string{"FILE:1: " + noSMTPListener},
		},
		{
			name: "no listen section",
			yaml: "hostname: mx.example.com\n",
			want: []string{"FILE:1: " + noSMTPListener},
		},
		{
			name: "empty listen section",
			yaml: "hostname: mx.example.com\nlisten:\n",
			want: []string{"FILE:2: " + noSMTPListener},
		},
		{
			name: "mailbox listeners only",
			yaml: "listen:\n  smtp: []\n  imap: [127.0.0.1:1143]\n",
			want: []string{"FILE:1: " + noSMTPListener},
		},
		{
			name: "submission only",
			yaml: "tls: {self_signed: true}\nlisten:\n  submission: [127.0.0.1:587]\n",
		},
		{
			name: "submissions only",
			yaml: "tls: {self_signed: true}\nlisten:\n  submissions: [127.0.0.1:465]\n",
		},
		{
			name: "same address in two lists",
			yaml: "listen:\n  smtp: [127.0.0.1:2525]\n  imap: [127.0.0.1:2525]\n",
			want: []string{`FILE:3: listen.imap[0]: "127.0.0.1:2525" already used by listen.smtp[0]`},
		},
		{
			name: "same address thrice in one list",
			yaml: "listen:\n  smtp:\n    - 127.0.0.1:25\n    - 127.0.0.1:25\n    - {address: 127.0.0.1:25}\n",
			want: []string{
				`FILE:4: listen.smtp[1]: "127.0.0.1:25" already used by listen.smtp[0]`,
				`FILE:5: listen.smtp[2]: "127.0.0.1:25" already used by listen.smtp[0]`,
			},
		},
		{
			name: "metrics on a mail port",
			yaml: "listen:\n  smtp: [\"[::1]:2525\"]\n  metrics: \"[0:0::1]:2525\"\n",
			want: []string{`FILE:3: listen.metrics: "[0:0::1]:2525" already used by listen.smtp[0]`},
		},
		{
			name: "wildcard after a specific address",
			yaml: "listen:\n  smtp: [127.0.0.1:25]\n  submission: [127.0.0.1:587]\n  pop3: [\":25\"]\ntls: {self_signed: true}\n",
			want: []string{`FILE:4: listen.pop3[0]: ":25" listens on every address, IPv4 and IPv6, including that of listen.smtp[0] ("127.0.0.1:25")`},
		},
		{
			name: "both wildcards",
			yaml: "listen:\n  smtp: [\"0.0.0.0:25\", \"[::]:25\"]\n",
			want: []string{`FILE:2: listen.smtp[1]: "[::]:25" already used by listen.smtp[0] ("0.0.0.0:25" listens on every address, IPv4 and IPv6)`},
		},
		{
			name: "port 0 and distinct hosts may repeat",
			yaml: "listen:\n  smtp: [127.0.0.1:0, 127.0.0.1:0, 127.0.0.1:25, 127.0.0.2:25, \"[::1]:25\"]\n  imap: [\":0\"]\n  metrics: 127.0.0.1:0\n",
		},
		{
			name: "login guard in a listener",
			yaml: "listen:\n  smtp:\n    - address: 127.0.0.1:25\n      ratelimit:\n        messages_per_ip: {limit: 5, window: 1m}\n        auth_failures_per_ip: {limit: 5, window: 1m}\n        auth_failures_per_user: {limit: 3, window: 1m}\n",
			want: []string{
				"FILE:6: listen.smtp[0].ratelimit.auth_failures_per_ip: " + authMsg,
				"FILE:7: listen.smtp[0].ratelimit.auth_failures_per_user: " + authMsg,
			},
		},
		{
			name: "other limits in a listener",
			yaml: "listen:\n  smtp:\n    - address: 127.0.0.1:25\n      ratelimit: {messages_per_ip: {limit: 5, window: 1m}, auth_failures_per_ip: off}\n",
		},
		{
			name: "proxy with queue-only options",
			yaml: smtpListener + "domains:\n  example.com:\n    deliver: relay\n    relay: 127.0.0.1:2526\n    mode: proxy\n    tls: required\n    tls_verify: true\n    tls_server_name: mx.example.com\n    username: u\n    password: p\n  example.net: {deliver: relay, relay: mx, mode: proxy}\n",
			want: []string{
				"FILE:7: domains.example.com.tls: " + proxyMsg,
				"FILE:8: domains.example.com.tls_verify: " + proxyMsg,
				"FILE:9: domains.example.com.tls_server_name: " + proxyMsg,
				"FILE:10: domains.example.com.username: " + proxyMsg,
				"FILE:11: domains.example.com.password: " + proxyMsg,
				"FILE:12: domains.example.net.relay: " + proxyMsg,
			},
		},
		{
			name: "proxy with plain options",
			yaml: smtpListener + "domains:\n  example.com: {deliver: relay, relay: 127.0.0.1:2526, mode: proxy}\n  example.net: {deliver: relay, relay: 127.0.0.1:2527, mode: proxy, tls: none}\n  example.org: {deliver: relay, relay: 127.0.0.1:2528, mode: proxy, tls: opportunistic, verify_recipients: true}\n",
		},
		{
			name: "queue keeps its options",
			yaml: smtpListener + "domains:\n  example.com: {deliver: relay, relay: mx, tls: required, tls_verify: true, tls_server_name: mx.example.com, username: u, password: p}\n",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := writeConfig(t, tc.yaml)
			cfg, err := Load(path)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				if err := cfg.Validate(); err != nil {
					t.Errorf("Validate after Load: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Load succeeded: %+v", cfg)
			}
			var want []string
			for _, w := range tc.want {
				want = append(want, strings.ReplaceAll(w, "FILE", path))
			}
			if got := strings.Split(err.Error(), "\n"); !reflect.DeepEqual(got, want) {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}

// TestValidateNeedsSMTPListener checks the listener rule for a Config
// built in code: Default() has one, a Config without is refused.
func TestValidateNeedsSMTPListener(t *testing.T) {
	t.Parallel()
	c := Default()
	c.Listen.SMTP = nil
	err := c.Validate()
	if err == nil || err.Error() != noSMTPListener {
		t.Errorf("Validate without SMTP listener = %v, want %q", err, noSMTPListener)
	}
}
