//go:build e2e

package main_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/emersion/go-smtp"
)

// The policy the reload test starts with and the one it ends with. The
// probe message (spam-00329) scores MISSING_MESSAGE_ID = 10: accepted
// before, rejected after. The broken files would each, if half applied,
// make it junk.
const (
	policyBefore = "scores:\n  MISSING_MESSAGE_ID: 10\nthresholds:\n  add_header: 50\n  junk: 60\n  reject: 100\n"
	policyAfter  = "scores:\n  MISSING_MESSAGE_ID: 10\nthresholds:\n  add_header: 3\n  junk: 4\n  reject: 5\n"
)

// TestE2EReload changes the policy file and sends SIGHUP: broken files keep
// the running policy (and log "reload failed" with FILE:LINE), a good file
// takes effect, moat keeps running, and a connection opened before the
// reload is not dropped.
func TestE2EReload(t *testing.T) {
	t.Parallel()
	requireTool(t, "swaks", "swaks")
	s := startSink(t, nil)
	p, cfg := newConfig(t, s, "", policyBefore)
	m := startMoat(t, p, cfg)

	n := 0
	probe := func(t *testing.T) (reply, action string) {
		t.Helper()
		n++
		rcpt := fmt.Sprintf("probe-%d@relay.test", n)
		r := m.swaks(t, "--from", "sender@client.e2e.test", "--to", rcpt, "--data", "@"+filepath.Join("testdata", spam))
		reply = r.endOfData()
		if got := s.to(rcpt); len(got) == 1 {
			fields, _ := splitMessage(got[0].Data)
			action, _ = spamHeaders(t, fields)
		}
		return reply, action
	}
	wantOld := func(t *testing.T) {
		t.Helper()
		if reply, action := probe(t); !strings.HasPrefix(reply, "250 ") || action != "accept" {
			t.Errorf("probe under the old policy: reply %q, X-Spam-Action %q; want 250 and accept", reply, action)
		}
	}
	wantOld(t)

	// A client connected before the reload sends its message after it.
	held, err := smtp.Dial(m.addr())
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	if err := held.Hello("held.client.e2e.test"); err != nil {
		t.Fatal(err)
	}

	broken := []struct{ name, policy, bad string }{
		{"YAML syntax error", strings.Replace(policyAfter, "reject: 5", "reject: [5", 1), "reject: [5"},
		{"unknown key", strings.Replace(policyAfter, "reject: 5", "rejct: 5", 1), "rejct: 5"},
		{"threshold not a number", strings.Replace(policyAfter, "reject: 5", "reject: lots", 1), "reject: lots"},
	}
	for i, tc := range broken {
		t.Run(tc.name, func(t *testing.T) {
			text := configYAML(cfgParams{Port: p.Port, DataDir: p.DataDir, Sink: p.Sink, DeadPort: p.DeadPort, Policy: tc.policy})
			writeFile(t, cfg, text)
			m.signal(t, syscall.SIGHUP)
			lines := m.log.waitLines(t, m.exited, i+1, "reload failed")
			if last := lines[len(lines)-1]; !strings.Contains(last, cfg+":") {
				t.Errorf("reload failed line does not name the file and line: %s", last)
			} else if line := lineOf(text, tc.bad); tc.name != "YAML syntax error" && !strings.Contains(last, fmt.Sprintf("%s:%d:", cfg, line)) {
				t.Errorf("reload failed line does not point at line %d: %s", line, last)
			}
			m.alive(t)
			wantOld(t)
		})
	}

	t.Run("fixed file", func(t *testing.T) {
		writeFile(t, cfg, configYAML(cfgParams{Port: p.Port, DataDir: p.DataDir, Sink: p.Sink, DeadPort: p.DeadPort, Policy: policyAfter}))
		m.signal(t, syscall.SIGHUP)
		m.log.waitLines(t, m.exited, 1, "policy reloaded")
		if reply, _ := probe(t); !strings.HasPrefix(reply, "550 5.7.1 ") {
			t.Errorf("probe under the new policy: reply %q, want 550 5.7.1", reply)
		}
		err := held.SendMail("sender@client.e2e.test", []string{"held@relay.test"}, bytes.NewReader(fixture(t, spam)))
		var se *smtp.SMTPError
		if !errors.As(err, &se) || se.Code != 550 {
			t.Errorf("connection opened before the reload: SendMail = %v, want a 550 reply (new policy, same connection)", err)
		}
		if err := held.Quit(); err != nil {
			t.Errorf("QUIT on the held connection: %v", err)
		}
		m.alive(t)
	})
}

// lineOf returns the 1-based number of the first line of text containing
// sub, or 0.
func lineOf(text, sub string) int {
	for i, l := range strings.Split(text, "\n") {
		if strings.Contains(l, sub) {
			return i + 1
		}
	}
	return 0
}

// runMoat runs the moat binary with args, bounded in time, and returns
// stdout, stderr and the exit code.
func runMoat(t *testing.T, stdin []byte, args ...string) (string, string, int) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := runCmd(t, stdin, &stdout, &stderr, moatBin, args...)
	return stdout.String(), stderr.String(), code
}

// TestE2ECheckJSON runs `moat check --json` on the committed messages and
// on crafted cases and checks the document: parseable, the documented
// fields with the right types, the score the sum of the symbol scores, and
// the symbols and action each case must give.
func TestE2ECheckJSON(t *testing.T) {
	t.Parallel()
	policy := "force_actions:\n  MULTIPLE_FROM: junk\n" +
		"allow:\n  senders: [friend.example]\n" +
		"block:\n  senders: [blocked.example]\n  networks: [203.0.113.0/24]\n"
	_, cfg := newConfig(t, nil, "", policy)
	multiFrom := []byte("From: a@one.example, b@two.example\r\nSubject: two authors\r\n\r\nbody\r\n")

	tests := []struct {
		name       string
		args       []string
		stdin      []byte
		wantAction string
		wantSyms   []string
		notSyms    []string
		wantForced string
	}{
		{name: hamA, args: []string{filepath.Join("testdata", hamA)}, wantAction: "accept", notSyms: []string{"MISSING_MESSAGE_ID", "MISSING_DATE"}},
		{name: hamB, args: []string{filepath.Join("testdata", hamB)}, wantAction: "accept", notSyms: []string{"MISSING_MESSAGE_ID", "MISSING_DATE"}},
		{name: spam, args: []string{filepath.Join("testdata", spam)}, wantAction: "add_header", wantSyms: []string{"MISSING_MESSAGE_ID", "BODY_ONE_TIME_MAILING"}},
		{name: "blocked sender", args: []string{"--from", "x@blocked.example", filepath.Join("testdata", hamA)}, wantAction: "reject", wantSyms: []string{"BLOCKLIST_SENDER"}},
		{name: "blocked client IP", args: []string{"--ip", "203.0.113.7", filepath.Join("testdata", hamA)}, wantAction: "reject", wantSyms: []string{"BLOCKLIST_IP"}},
		{name: "allowed sender", args: []string{"--from", "x@friend.example", filepath.Join("testdata", spam)}, wantAction: "accept", wantSyms: []string{"ALLOWLIST_SENDER", "MISSING_MESSAGE_ID"}},
		{name: "multiple From from stdin", args: []string{"-"}, stdin: multiFrom, wantAction: "junk", wantSyms: []string{"MULTIPLE_FROM", "MISSING_DATE", "MISSING_MESSAGE_ID"}, wantForced: "MULTIPLE_FROM"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			args := append([]string{"check", "-c", cfg, "--json", "--rcpt", "user@relay.test"}, tc.args...)
			stdout, stderr, code := runMoat(t, tc.stdin, args...)
			if code != 0 {
				t.Fatalf("moat %q: exit %d\n%s%s", args, code, stdout, stderr)
			}
			var doc map[string]any
			if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
				t.Fatalf("not JSON: %v\n%s", err, stdout)
			}
			action, _ := doc["action"].(string)
			score, okScore := doc["score"].(float64)
			required, okReq := doc["required"].(float64)
			symbols, okSyms := doc["symbols"].([]any)
			if action == "" || !okScore || !okReq || !okSyms {
				t.Fatalf("want action (string), score, required (numbers), symbols (array):\n%s", stdout)
			}
			if required != 8 {
				t.Errorf("required = %v, want 8 (the junk threshold)", required)
			}
			var names []string
			sum := 0.0
			for _, s := range symbols {
				sym, _ := s.(map[string]any)
				name, _ := sym["name"].(string)
				sc, okSc := sym["score"].(float64)
				_, okReason := sym["reason"].(string)
				if name == "" || !okSc || !okReason {
					t.Errorf("symbol %v: want name (string), score (number), reason (string)", s)
				}
				names = append(names, name)
				sum += sc
			}
			if math.Abs(sum-score) > 0.011 {
				t.Errorf("score %v is not the sum of the symbol scores %v", score, sum)
			}
			if action != tc.wantAction {
				t.Errorf("action = %q, want %q (symbols %q)", action, tc.wantAction, names)
			}
			for _, w := range tc.wantSyms {
				if !slices.Contains(names, w) {
					t.Errorf("symbols %q lack %s", names, w)
				}
			}
			for _, w := range tc.notSyms {
				if slices.Contains(names, w) {
					t.Errorf("symbols %q include %s", names, w)
				}
			}
			if forced, _ := doc["forced"].(string); forced != tc.wantForced {
				t.Errorf("forced = %q, want %q", forced, tc.wantForced)
			}
		})
	}
}

// TestE2EPolicyCheck runs `moat policy check` on a good file (FILE: OK,
// exit 0) and on broken ones (FILE:LINE: message lines, exit 1), and
// `moat version`.
func TestE2EPolicyCheck(t *testing.T) {
	t.Parallel()
	p, good := newConfig(t, nil, "", policyBefore)

	t.Run("good file", func(t *testing.T) {
		stdout, stderr, code := runMoat(t, nil, "policy", "check", "-c", good)
		if code != 0 || strings.TrimSpace(stdout) != good+": OK" {
			t.Errorf("exit %d, stdout %q, stderr %q; want 0 and %q", code, stdout, stderr, good+": OK")
		}
	})

	valid := configYAML(p)
	tests := []struct {
		name, text, bad string // bad: the text on the line the error must name ("" = any line)
	}{
		{"unknown top-level key", valid + "bogus_key: 1\n", "bogus_key"},
		{"unknown policy key", strings.Replace(valid, "reject: 100", "rejct: 100", 1), "rejct: 100"},
		{"threshold not a number", strings.Replace(valid, "reject: 100", "reject: lots", 1), "reject: lots"},
		{"unknown delivery mode", strings.Replace(valid, "deliver: local", "deliver: carrier-pigeon", 1), "carrier-pigeon"},
		{"YAML syntax error", strings.Replace(valid, "reject: 100", "reject: [100", 1), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "broken.yaml")
			writeFile(t, path, tc.text)
			stdout, stderr, code := runMoat(t, nil, "policy", "check", "-c", path)
			if code != 1 {
				t.Errorf("exit %d, want 1", code)
			}
			out := strings.TrimSpace(stdout + stderr)
			lineRE := regexp.MustCompile(`^` + regexp.QuoteMeta(path) + `:(\d+): \S`)
			if out == "" {
				t.Fatal("no output")
			}
			for _, l := range strings.Split(out, "\n") {
				if !lineRE.MatchString(l) {
					t.Errorf("output line %q is not FILE:LINE: message", l)
				}
			}
			if tc.bad != "" {
				want := fmt.Sprintf("%s:%d: ", path, lineOf(tc.text, tc.bad))
				if !strings.Contains(out, want) {
					t.Errorf("output does not point at line %d (%q):\n%s", lineOf(tc.text, tc.bad), tc.bad, out)
				}
			}
		})
	}

	t.Run("version", func(t *testing.T) {
		stdout, _, code := runMoat(t, nil, "version")
		if code != 0 || !strings.HasPrefix(stdout, "moat ") {
			t.Errorf("moat version: exit %d, %q", code, stdout)
		}
	})
}
