package policies

import (
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// writeConfig writes content to moat.yaml in a new temporary directory and
// returns its path.
func writeConfig(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "moat.yaml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

const (
	configKeys = "(want one of: hostname, data_dir, listen, proxy, tls, dns, state, domains, limits, ratelimit, queue, callout, store, greylist, dnsbl, uribl, fcrdns, helo, spf, dkim, dmarc, rules, bayes, log, policy)"
	limitKeys  = "(want one of: message_size, recipients, line_length, command_timeout, data_timeout, connections, connections_per_ip, check_timeout, memory_spool, relay_timeout)"
	actions    = "(want one of accept, add_header, junk, greylist, tempfail, reject)"
	// smtpListener is the listener a config file needs to be valid.
	smtpListener   = "listen: {smtp: [\"127.0.0.1:0\"]}\n"
	noSMTPListener = "listen: at least one of listen.smtp, listen.submission, listen.submissions is needed"
)

func TestLoadErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		yaml string
		// want are the expected error lines; FILE stands for the config
		// path and DIR for its directory.
		want []string
	}{
		{
			name: "unknown top-level key",
			yaml: "hostname: mx.example.com\nhostnme: x\n" + smtpListener,
			want: []string{"FILE:2: hostnme: unknown key " + configKeys},
		},
		{
			name: "unknown nested key",
			yaml: "limits:\n  recipients: 5\n  recipents: 5\n" + smtpListener,
			want: []string{"FILE:3: limits.recipents: unknown key " + limitKeys},
		},
		{
			name: "unknown threshold",
			yaml: "policy:\n  thresholds:\n    spam: 3\n" + smtpListener,
			want: []string{"FILE:3: policy.thresholds.spam: unknown key (want one of: add_header, junk, greylist, reject)"},
		},
		{
			name: "bad type",
			yaml: "limits:\n  recipients: many\n" + smtpListener,
			want: []string{`FILE:2: limits.recipients: want an integer, got "many"`},
		},
		{
			name: "bad type in flow mapping",
			yaml: "log: {level: info}\nlimits: {connections: 5, recipients: lots}\n" + smtpListener,
			want: []string{`FILE:2: limits.recipients: want an integer, got "lots"`},
		},
		{
			name: "list where a string goes",
			yaml: "hostname: [a, b]\n" + smtpListener,
			want: []string{"FILE:1: hostname: want a string, got a list"},
		},
		{
			name: "string where a list goes is not cut short",
			yaml: "listen:\n  smtp: 127.0.0.1:2525\n",
			want: []string{`FILE:2: listen.smtp: want a list, got "127.0.0.1:2525"`},
		},
		{
			name: "document is not a mapping",
			yaml: "hello\n",
			want: []string{`FILE:1: want a mapping, got "hello"`},
		},
		{
			name: "bad duration",
			yaml: "limits:\n  command_timeout: 30s\n  data_timeout: 10\n" + smtpListener,
			want: []string{`FILE:3: limits.data_timeout: want a duration such as 30s or 5m, got "10"`},
		},
		{
			name: "negative and zero limits",
			yaml: "limits:\n  recipients: 0\n  message_size: -1\n  check_timeout: 0s\n" + smtpListener,
			want: []string{
				"FILE:2: limits.recipients: must be positive, got 0",
				"FILE:3: limits.message_size: must be positive, got -1",
				"FILE:4: limits.check_timeout: must be positive, got 0s",
			},
		},
		{
			name: "bad CIDR",
			yaml: "policy:\n  trusted_networks:\n    - 10.0.0.0/8\n    - 10.0.0.0/33\n" + smtpListener,
			want: []string{`FILE:4: policy.trusted_networks[1]: want an IP address or CIDR range, got "10.0.0.0/33"`},
		},
		{
			name: "bad list entries",
			yaml: "policy:\n  block:\n    networks: [fe80::1%eth0]\n    senders: [\"a b@example.com\", example.com]\n    helos: [\"\"]\n" + smtpListener,
			want: []string{
				`FILE:3: policy.block.networks[0]: want an IP address or CIDR range, got "fe80::1%eth0"`,
				`FILE:4: policy.block.senders[0]: want an address (user@example.com) or a domain (example.com), got "a b@example.com"`,
				`FILE:5: policy.block.helos[0]: want a HELO name without spaces, got ""`,
			},
		},
		{
			name: "relay without relay",
			yaml: "domains:\n  localhost:\n    deliver: local\n  example.com:\n    deliver: relay\n" + smtpListener,
			want: []string{"FILE:4: domains.example.com: deliver: relay needs relay: HOST:PORT (or relay: mx)"},
		},
		{
			name: "relay for a local domain",
			yaml: "domains:\n  example.com:\n    relay: 127.0.0.1:2526\n" + smtpListener,
			want: []string{"FILE:3: domains.example.com.relay: only for deliver: relay (this domain is delivered locally)"},
		},
		{
			name: "bad domains",
			yaml: "domains:\n  Example.com: {deliver: local}\n  example.org: {deliver: smtp}\n  ex_ample.net: {}\n  example.net: {deliver: relay, relay: \"mx.example.net:0\"}\n" + smtpListener,
			want: []string{
				`FILE:2: domains.Example.com: domain names must be lower-case (write "example.com")`,
				`FILE:3: domains.example.org.deliver: want local or relay, got "smtp"`,
				"FILE:4: domains.ex_ample.net: not a valid domain name",
				"FILE:5: domains.example.net.relay: port must not be 0 (or mx)",
			},
		},
		{
			name: "bad action name",
			yaml: "policy:\n  force_actions:\n    GTUBE: explode\n" + smtpListener,
			want: []string{`FILE:3: policy.force_actions.GTUBE: unknown action "explode" ` + actions},
		},
		{
			name: "bad symbol names",
			yaml: "policy:\n  scores:\n    SPF_FAIL: 3\n    spf_fail: 3\n  force_actions:\n    1GTUBE: reject\n" + smtpListener,
			want: []string{
				`FILE:4: policy.scores.spf_fail: symbol names are UPPER_SNAKE (A-Z, 0-9, _), got "spf_fail"`,
				`FILE:6: policy.force_actions.1GTUBE: symbol names are UPPER_SNAKE (A-Z, 0-9, _), got "1GTUBE"`,
			},
		},
		{
			name: "non-finite score",
			yaml: "policy:\n  scores:\n    SPF_FAIL: .inf\n" + smtpListener,
			want: []string{"FILE:3: policy.scores.SPF_FAIL: want a finite number, got +Inf"},
		},
		{
			name: "bad thresholds",
			yaml: "policy:\n  thresholds:\n    junk: high\n    reject: .nan\n    greylist: \"5\"\n" + smtpListener,
			want: []string{
				`FILE:3: policy.thresholds.junk: want a number, null or off, got "high"`,
				"FILE:4: policy.thresholds.reject: want a number, null or off, got NaN",
				`FILE:5: policy.thresholds.greylist: want a number, null or off, got "5"`,
			},
		},
		{
			name: "thresholds not a mapping",
			yaml: "policy:\n  thresholds: 5\n" + smtpListener,
			want: []string{`FILE:2: policy.thresholds: want a mapping of add_header, junk, greylist and reject, got "5"`},
		},
		{
			name: "bad recipient override",
			yaml: "policy:\n  recipients:\n    \"not an address\": {never_reject: true}\n    example.com:\n      thresholds: {junk: x}\n      scores: {bad: 1}\n      never_reject: maybe\n" + smtpListener,
			want: []string{
				"FILE:3: policy.recipients.\"not an address\": want an address (user@example.com) or a domain (example.com)",
				`FILE:5: policy.recipients.example.com.thresholds.junk: want a number, null or off, got "x"`,
				`FILE:6: policy.recipients.example.com.scores.bad: symbol names are UPPER_SNAKE (A-Z, 0-9, _), got "bad"`,
				`FILE:7: policy.recipients.example.com.never_reject: want true or false, got "maybe"`,
			},
		},
		{
			name: "recipient keys differing in case",
			yaml: "policy:\n  recipients:\n    ceo@example.com: {}\n    CEO@example.com: {}\n" + smtpListener,
			want: []string{`FILE:3: policy.recipients.ceo@example.com: same recipient as "CEO@example.com" (keys are case-insensitive)`},
		},
		{
			name: "addresses",
			yaml: "hostname: \"mx example\"\nlisten:\n  smtp: [\"127.0.0.1:smtp\", \":2525\", x]\n  metrics: \"localhost:99999\"\ndns:\n  servers: [\"127.0.0.1\", \"[::1]:53\"]\n",
			want: []string{
				`FILE:1: hostname: want a host name such as mx.example.com, got "mx example"`,
				`FILE:3: listen.smtp[0]: port must be a number from 0 to 65535, got "smtp"`,
				`FILE:3: listen.smtp[2]: want host:port, got "x"`,
				`FILE:4: listen.metrics: port must be a number from 0 to 65535, got "99999"`,
				`FILE:6: dns.servers[0]: want host:port, got "127.0.0.1"`,
			},
		},
		{
			name: "redis URL",
			yaml: "state:\n  redis: http://127.0.0.1:6379\n" + smtpListener,
			want: []string{`FILE:2: state.redis: redis URL: unknown scheme "http" (want redis, rediss, redis-sentinel, rediss-sentinel, redis-cluster or rediss-cluster)`},
		},
		{
			name: "log",
			yaml: "log:\n  level: verbose\n  format: xml\n" + smtpListener,
			want: []string{
				`FILE:2: log.level: want debug, info, warn or error, got "verbose"`,
				`FILE:3: log.format: want text or json, got "xml"`,
			},
		},
		{
			name: "tls cert without key",
			yaml: "tls:\n  cert: DIR/cert.pem\n" + smtpListener,
			want: []string{"FILE:2: tls.cert: tls.key must be set too (both or neither)"},
		},
		{
			name: "tls files unreadable",
			yaml: "tls:\n  cert: DIR/missing.pem\n  key: DIR\n" + smtpListener,
			want: []string{
				"FILE:2: tls.cert: cannot read: stat DIR/missing.pem: no such file or directory",
				`FILE:3: tls.key: "DIR" is not a regular file`,
			},
		},
		{
			name: "duplicate key",
			yaml: "hostname: a.example\nhostname: b.example\n" + smtpListener,
			want: []string{"FILE:2: hostname: already set at line 1"},
		},
		{
			name: "two documents",
			yaml: smtpListener + "---\nhostname: b.example\n",
			want: []string{"FILE:2: only one YAML document is allowed"},
		},
		{
			name: "syntax error",
			yaml: "hostname: a.example\nlimits:\n  recipients: [\n",
			want: []string{"FILE:3: invalid YAML: did not find expected node content"},
		},
		{
			name: "all problems reported in line order",
			yaml: "policy:\n  force_actions: {X: nope}\nlimits:\n  recipients: x\nbogus: 1\ndomains:\n  example.com: {deliver: relay}\n" + smtpListener,
			want: []string{
				`FILE:2: policy.force_actions.X: unknown action "nope" ` + actions,
				`FILE:4: limits.recipients: want an integer, got "x"`,
				"FILE:5: bogus: unknown key " + configKeys,
				"FILE:7: domains.example.com: deliver: relay needs relay: HOST:PORT (or relay: mx)",
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			path := filepath.Join(dir, "moat.yaml")
			if err := os.WriteFile(path, []byte(strings.ReplaceAll(tc.yaml, "DIR", dir)), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg, err := Load(path)
			if err == nil {
				t.Fatalf("Load succeeded: %+v", cfg)
			}
			r := strings.NewReplacer("FILE", path, "DIR", dir)
			var want []string
			for _, w := range tc.want {
				want = append(want, r.Replace(w))
			}
			if got := strings.Split(err.Error(), "\n"); !reflect.DeepEqual(got, want) {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}

func TestLoadDefaults(t *testing.T) {
	t.Parallel()
	for _, content := range []string{smtpListener, "# only a comment\n" + smtpListener, "limits:\nlog: {}\n" + smtpListener} {
		path := writeConfig(t, content)
		cfg, err := Load(path)
		if err != nil {
			t.Fatalf("Load(%q): %v", content, err)
		}
		want := Default()
		want.File = path
		// A file has only the listeners and domains it sets.
		want.Listen = Listen{SMTP: Listeners("127.0.0.1:0")}
		want.Domains = nil
		if !reflect.DeepEqual(cfg, want) {
			t.Errorf("Load(%q) = %+v\nwant %+v", content, cfg, want)
		}
	}
}

func TestLoadKeepsUnsetDefaults(t *testing.T) {
	t.Parallel()
	path := writeConfig(t, smtpListener+`
hostname: mx.example.com
limits:
  recipients: 10
  data_timeout: 90s
domains:
  example.com:
  example.net: {deliver: relay, relay: "[::1]:2526"}
`)
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.File != path || cfg.Hostname != "mx.example.com" {
		t.Errorf("File, Hostname = %q, %q", cfg.File, cfg.Hostname)
	}
	if cfg.Limits.Recipients != 10 || cfg.Limits.DataTimeout.D() != 90*time.Second {
		t.Errorf("set limits = %d, %v", cfg.Limits.Recipients, cfg.Limits.DataTimeout)
	}
	if cfg.Limits.MessageSize != DefaultMessageSize || cfg.Limits.CommandTimeout.D() != DefaultCommandTimeout || cfg.DataDir != DefaultDataDir || cfg.Log.Level != "info" {
		t.Errorf("unset keys lost their defaults: %+v", cfg)
	}
	want := map[string]Domain{
		"example.com": {Deliver: DeliverLocal}, // deliver defaults to local
		"example.net": {Deliver: DeliverRelay, Relay: "[::1]:2526", Mode: ModeQueue, TLS: TLSOpportunistic},
	}
	if !reflect.DeepEqual(cfg.Domains, want) {
		t.Errorf("Domains = %+v, want %+v", cfg.Domains, want)
	}
}

func f(v float64) *float64 { return &v }

func TestLoadThresholds(t *testing.T) {
	t.Parallel()
	inf := math.Inf(1)
	tests := []struct {
		name     string
		yaml     string
		global   Thresholds
		override Thresholds // of recipient example.com
	}{
		{
			name:   "absent keeps defaults",
			yaml:   "policy:\n  thresholds:\n    junk: 9\n",
			global: Thresholds{AddHeader: f(5), Junk: f(9), Reject: f(15)},
		},
		{
			name:   "no thresholds section",
			yaml:   "policy: {}\n",
			global: Thresholds{AddHeader: f(5), Junk: f(8), Reject: f(15)},
		},
		{
			name:   "null and off disable",
			yaml:   "policy:\n  thresholds:\n    add_header: null\n    junk: ~\n    reject: off\n    greylist: 6\n",
			global: Thresholds{Greylist: f(6)},
		},
		{
			name:   "empty value disables",
			yaml:   "policy:\n  thresholds:\n    reject:\n",
			global: Thresholds{AddHeader: f(5), Junk: f(8)},
		},
		{
			name:   "any order and negative values",
			yaml:   "policy:\n  thresholds: {add_header: 20, junk: -1.5, reject: 3}\n",
			global: Thresholds{AddHeader: f(20), Junk: f(-1.5), Reject: f(3)},
		},
		{
			name:     "override: absent inherits, off disables",
			yaml:     "policy:\n  recipients:\n    example.com:\n      thresholds: {junk: 4, reject: off, greylist: null}\n",
			global:   Thresholds{AddHeader: f(5), Junk: f(8), Reject: f(15)},
			override: Thresholds{Junk: f(4), Reject: &inf, Greylist: &inf},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := Load(writeConfig(t, tc.yaml+smtpListener))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(cfg.Policy.Thresholds, tc.global) {
				t.Errorf("global = %s, want %s", fmtThresholds(cfg.Policy.Thresholds), fmtThresholds(tc.global))
			}
			if got := cfg.Policy.Recipients["example.com"].Thresholds; !reflect.DeepEqual(got, tc.override) {
				t.Errorf("override = %s, want %s", fmtThresholds(got), fmtThresholds(tc.override))
			}
		})
	}
}

func fmtThresholds(t Thresholds) string {
	var parts []string
	for i, v := range t.steps() {
		s := "nil"
		if v != nil {
			s = strconv.FormatFloat(*v, 'g', -1, 64)
		}
		parts = append(parts, stepAction(i).String()+"="+s)
	}
	return strings.Join(parts, " ")
}

func TestLoadExample(t *testing.T) {
	t.Parallel()
	cfg, err := Load("../deploy/moat.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if d := cfg.Domains["example.com"]; d.Deliver != DeliverRelay || d.Relay != "127.0.0.1:2526" {
		t.Errorf("example.com = %+v", d)
	}
	if d := cfg.Domains["localhost"]; d.Deliver != DeliverLocal {
		t.Errorf("localhost = %+v", d)
	}
	if _, err := NewPolicy(cfg.Policy); err != nil {
		t.Errorf("NewPolicy: %v", err)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
}

// TestExampleHasEveryKey checks that deploy/moat.example.yaml sets every
// key of the schema, so it stays the complete reference.
func TestExampleHasEveryKey(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("../deploy/moat.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var walk func(typ reflect.Type, prefix string)
	var missing []string
	present := exampleKeys(t, data)
	walk = func(typ reflect.Type, prefix string) {
		for i := range typ.NumField() {
			name, _, _ := strings.Cut(typ.Field(i).Tag.Get("yaml"), ",")
			if name == "" || name == "-" {
				continue
			}
			key := prefix + name
			if !present[key] {
				missing = append(missing, key)
			}
			ft := typ.Field(i).Type
			switch {
			case ft.Kind() == reflect.Struct:
				walk(ft, key+".")
			case ft.Kind() == reflect.Map && ft.Elem() == reflect.TypeFor[Override]():
				// An override's thresholds are the global ones: its
				// thresholds key must be shown, not each step again.
				for j := range ft.Elem().NumField() {
					name, _, _ := strings.Cut(ft.Elem().Field(j).Tag.Get("yaml"), ",")
					if !present[key+".*."+name] {
						missing = append(missing, key+".*."+name)
					}
				}
			case ft.Kind() == reflect.Map && ft.Elem().Kind() == reflect.Struct:
				walk(ft.Elem(), key+".*.")
			}
		}
	}
	walk(reflect.TypeFor[Config](), "")
	// dkim.sign needs key files that exist, so the example shows an entry
	// in a comment ("#   example.com: {selector: …, key: …}") and keeps
	// the map empty: it must still pass `moat policy check`.
	missing = slices.DeleteFunc(missing, func(k string) bool {
		return (k == "dkim.sign.*.selector" || k == "dkim.sign.*.key") &&
			regexp.MustCompile(`(?m)^\s*#\s+\S+:\s*\{selector: \S+, key: \S+\}`).Match(data)
	})
	if len(missing) > 0 {
		t.Errorf("deploy/moat.example.yaml lacks %s", strings.Join(missing, ", "))
	}
}

func TestResolve(t *testing.T) {
	// Not parallel: changes the working directory.
	dir := t.TempDir()
	t.Chdir(dir)
	if got, err := Resolve(""); err != nil || got != "" {
		t.Errorf(`Resolve("") without moat.yaml = %q, %v; want "", nil`, got, err)
	}
	cfg, err := LoadOrDefault("")
	if err != nil || !reflect.DeepEqual(cfg, Default()) {
		t.Errorf(`LoadOrDefault("") = %+v, %v; want Default()`, cfg, err)
	}
	if _, err := Resolve("missing.yaml"); err == nil {
		t.Error(`Resolve("missing.yaml") succeeded`)
	}
	if _, err := LoadOrDefault("missing.yaml"); err == nil {
		t.Error(`LoadOrDefault("missing.yaml") succeeded`)
	}
	if err := os.WriteFile("moat.yaml", []byte("hostname: mx.example.com\n"+smtpListener), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := Resolve(""); err != nil || got != DefaultFile {
		t.Errorf(`Resolve("") with moat.yaml = %q, %v`, got, err)
	}
	if cfg, err := LoadOrDefault(""); err != nil || cfg.Hostname != "mx.example.com" || cfg.File != "moat.yaml" {
		t.Errorf(`LoadOrDefault("") = %+v, %v`, cfg, err)
	}
	other := filepath.Join(dir, "other.yaml")
	if err := os.WriteFile(other, []byte("hostname: other.example.com\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := Resolve(other); err != nil || got != other {
		t.Errorf("Resolve(flag) = %q, %v; the flag wins over ./moat.yaml", got, err)
	}
	if _, err := Load(filepath.Join(dir, "nope.yaml")); err == nil {
		t.Error("Load of a missing file succeeded")
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	if err := Default().Validate(); err != nil {
		t.Errorf("Default().Validate() = %v", err)
	}
	c := Default()
	c.Hostname = ""
	c.Limits.Recipients = -1
	c.Domains["example.com"] = Domain{}
	c.Policy.Scores = map[string]float64{"bad name": 1}
	c.Policy.Thresholds.Junk = f(math.NaN())
	want := []string{
		`hostname: want a host name such as mx.example.com, got ""`,
		`domains.example.com.deliver: want local or relay, got ""`,
		"limits.recipients: must be positive, got -1",
		"policy.thresholds.junk: want a number, null or off, got NaN",
		`policy.scores."bad name": symbol names are UPPER_SNAKE (A-Z, 0-9, _), got "bad name"`,
	}
	err := c.Validate()
	if err == nil {
		t.Fatal("Validate succeeded")
	}
	if got := strings.Split(err.Error(), "\n"); !reflect.DeepEqual(got, want) {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// exampleKeys returns the dotted key paths set in a YAML document, with the
// entries of domains and policy.recipients written as "*".
func exampleKeys(t *testing.T, data []byte) map[string]bool {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	keys := make(map[string]bool)
	var walk func(n *yaml.Node, prefix string)
	walk = func(n *yaml.Node, prefix string) {
		if n.Kind != yaml.MappingNode {
			return
		}
		wild := prefix == "domains." || prefix == "policy.recipients."
		for i := 0; i+1 < len(n.Content); i += 2 {
			name := n.Content[i].Value
			if wild {
				name = "*"
			}
			keys[prefix+name] = true
			walk(n.Content[i+1], prefix+name+".")
		}
	}
	walk(documentRoot(&doc), "")
	return keys
}
