//go:build e2e

package main_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
)

// gtubeFile is the GTUBE sample (copied from shared/testdata-external/gtube
// into the rules package's testdata).
var gtubeFile = filepath.Join("..", "..", "rules", "testdata", "gtube.eml")

// TestE2EGTUBE sends the GTUBE sample by SMTP: the default rules reject it
// with 550 5.7.1 and the transaction id, and `moat check` shows the rule
// hit with its description.
func TestE2EGTUBE(t *testing.T) {
	t.Parallel()
	requireTool(t, "swaks", "swaks")
	s := startSink(t, nil)
	p, cfg := newConfig(t, s, "", "")
	m := startMoat(t, p, cfg)

	r := m.swaks(t, "--from", "sender@client.e2e.test", "--to", "gtube@relay.test", "--data", "@"+gtubeFile)
	reply := r.endOfData()
	if !regexp.MustCompile(`^550 5\.7\.1 .*\[\S+-\S+\]$`).MatchString(reply) {
		t.Fatalf("GTUBE: end of data -> %q, want 550 5.7.1 with the transaction id\n%s", reply, r.out)
	}
	if got := s.to("gtube@relay.test"); len(got) != 0 {
		t.Errorf("GTUBE reached the downstream")
	}
	m.log.waitLines(t, m.exited, 1, "msg=txn", "GTUBE(", "action=reject")

	stdout, stderr, code := runMoat(t, nil, "check", "-c", cfg, "--json", gtubeFile)
	if code != 0 {
		t.Fatalf("moat check: exit %d: %s", code, stderr)
	}
	var res struct {
		Action  string `json:"action"`
		Forced  string `json:"forced"`
		Symbols []struct {
			Name   string `json:"name"`
			Reason string `json:"reason"`
		} `json:"symbols"`
	}
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatal(err)
	}
	if res.Action != "reject" || res.Forced != "GTUBE" {
		t.Errorf("moat check: action %q forced by %q, want reject by GTUBE", res.Action, res.Forced)
	}
	found := false
	for _, s := range res.Symbols {
		if s.Name == "GTUBE" {
			found = strings.Contains(s.Reason, "GTUBE")
		}
	}
	if !found {
		t.Errorf("moat check does not show the GTUBE rule with its description:\n%s", stdout)
	}
}

// TestE2ERulesReload loads a rule file from rules.paths, then breaks it and
// sends SIGHUP: the running rules stay (reload failed with FILE:LINE); a
// fixed file takes effect without a restart.
func TestE2ERulesReload(t *testing.T) {
	t.Parallel()
	requireTool(t, "swaks", "swaks")
	s := startSink(t, nil)
	dir := t.TempDir()
	ruleFile := filepath.Join(dir, "local.yaml")
	rule := func(pattern string) string {
		return "rules:\n  - symbol: LOCAL_PROBE\n    score: 20\n    description: probe word in the subject\n    header: {name: Subject, regex: '" + pattern + "'}\n"
	}
	writeFile(t, ruleFile, rule("(?i)zebra"))
	p, cfg := newConfig(t, s, "", "")
	p.Extra = "rules:\n  paths: [" + ruleFile + "]\n"
	writeFile(t, cfg, configYAML(p))
	m := startMoat(t, p, cfg)

	send := func(subject string) string {
		r := m.swaks(t, "--from", "sender@client.e2e.test", "--to", "probe@relay.test", "--header", "Subject: "+subject)
		return r.endOfData()
	}
	if r := send("a zebra"); !strings.HasPrefix(r, "550 5.7.1 ") {
		t.Fatalf("rule from rules.paths not applied: %q", r)
	}
	writeFile(t, ruleFile, rule("(?i)zebra(")) // bad regex
	m.signal(t, syscall.SIGHUP)
	lines := m.log.waitLines(t, m.exited, 1, "reload failed")
	if !strings.Contains(lines[0], "local.yaml:5") {
		t.Errorf("reload failure does not name the rule file and line: %s", lines[0])
	}
	if r := send("a zebra"); !strings.HasPrefix(r, "550 5.7.1 ") {
		t.Errorf("after a broken reload the old rule must still apply: %q", r)
	}
	writeFile(t, ruleFile, rule("(?i)giraffe"))
	m.signal(t, syscall.SIGHUP)
	m.log.waitLines(t, m.exited, 1, "policy reloaded")
	if r := send("a zebra"); !strings.HasPrefix(r, "250 ") {
		t.Errorf("after the reload the old pattern still rejects: %q", r)
	}
	if r := send("a giraffe"); !strings.HasPrefix(r, "550 5.7.1 ") {
		t.Errorf("after the reload the new pattern does not apply: %q", r)
	}
}

// TestE2ERulesStats runs `moat rules stats` on a small corpus directory.
func TestE2ERulesStats(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for class, files := range map[string][]string{"ham": {hamA, hamB}, "spam": {spam, "../../../rules/testdata/gtube.eml"}} {
		if err := os.MkdirAll(filepath.Join(dir, class), 0o755); err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			b, err := os.ReadFile(filepath.Join("testdata", f))
			if err != nil {
				t.Fatal(err)
			}
			writeFile(t, filepath.Join(dir, class, filepath.Base(f)), string(b))
		}
	}
	stdout, stderr, code := runMoat(t, nil, "rules", "stats", "--corpus", dir, "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var rep map[string]any
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("bad JSON: %v\n%s", err, stdout)
	}
	if !strings.Contains(stdout, `"GTUBE"`) {
		t.Errorf("stats do not list the GTUBE rule:\n%.2000s", stdout)
	}
	text, _, code := runMoat(t, nil, "rules", "stats", "--corpus", dir)
	if code != 0 || !strings.Contains(text, "GTUBE") {
		t.Errorf("text stats: exit %d\n%.2000s", code, text)
	}
}
