package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moatmail/moat/filter/dnsx/dnstest"
)

const hamMsg = "From: Alice <alice@example.org>\nTo: bob@localhost\nSubject: lunch\nDate: Mon, 23 Nov 2026 10:00:00 +0000\nMessage-ID: <1@example.org>\n\nSee you at noon.\n"

func runCmd(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// testConfig writes a config whose DNS checks ask an in-process DNS server
// serving the DNS list test zones (127.0.0.2 is mail.good.test, confirmed,
// and listed in bl.test), followed by extra YAML.
func testConfig(t *testing.T, extra string) string {
	t.Helper()
	srv := dnstest.Start(t, "../../filter/dnsbl/testdata/bl.test.zone",
		"../../filter/dnsbl/testdata/127.in-addr.arpa.zone", "../../filter/dnsbl/testdata/good.test.zone")
	return writeFile(t, "moat.yaml", "listen: {smtp: [\"127.0.0.1:0\"]}\ndns:\n  servers: [\""+srv.Addr()+"\"]\n"+extra)
}

func TestCheckJSON(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, "domains:\n  localhost: {deliver: local}\npolicy:\n  scores: {MISSING_FROM: 5}\n  block:\n    senders: [spammer.example]\n")
	cases := []struct {
		name, msg, from string
		action          string
		symbols         []string
	}{
		{"clean", hamMsg, "alice@example.org", "accept", nil},
		{"no headers", "Subject: x\n\nbody\n", "alice@example.org", "junk", []string{"MISSING_DATE", "MISSING_FROM", "MISSING_MESSAGE_ID", "DMARC_BAD_FROM"}},
		{"blocked sender", hamMsg, "x@mail.spammer.example", "reject", []string{"BLOCKLIST_SENDER"}},
		{"mbox separator is skipped", "From alice@example.org Mon Nov 23 10:00:00 2026\n" + hamMsg, "alice@example.org", "accept", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, out, errs := runCmd(t, tc.msg, "check", "-c", cfg, "--ip", "127.0.0.2", "--helo", "mail.good.test", "--from", tc.from, "--rcpt", "bob@localhost", "--json", "-")
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errs)
			}
			var res struct {
				Action   string   `json:"action"`
				Score    *float64 `json:"score"`
				Required *float64 `json:"required"`
				Symbols  []struct {
					Name   string   `json:"name"`
					Score  *float64 `json:"score"`
					Reason string   `json:"reason"`
				} `json:"symbols"`
			}
			if err := json.Unmarshal([]byte(out), &res); err != nil {
				t.Fatalf("bad JSON %v:\n%s", err, out)
			}
			if res.Action != tc.action || res.Score == nil || res.Required == nil || *res.Required != 8 {
				t.Errorf("action=%q score=%v required=%v, want %q:\n%s", res.Action, res.Score, res.Required, tc.action, out)
			}
			var names []string
			for _, s := range res.Symbols {
				names = append(names, s.Name)
				if s.Score == nil || s.Reason == "" {
					t.Errorf("symbol %s lacks score or reason", s.Name)
				}
			}
			for _, want := range tc.symbols {
				if !strings.Contains(strings.Join(names, " "), want) {
					t.Errorf("symbols %v lack %s", names, want)
				}
			}
			if tc.symbols == nil {
				for _, s := range res.Symbols {
					if *s.Score > 0 {
						t.Errorf("symbol %s scores %v on a clean message", s.Name, *s.Score)
					}
				}
			}
		})
	}
}

func TestCheckText(t *testing.T) {
	t.Parallel()
	msg := writeFile(t, "m.eml", "Subject: x\n\nbody\n")
	cfg := testConfig(t, "")
	code, out, errs := runCmd(t, "", "check", "-c", cfg, "--ip", "127.0.0.2", "--helo", "mail.good.test", msg)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{"action:   add_header", "score:    5.30 (required 8.00)", "  2.00  MISSING_FROM", "DMARC_BAD_FROM", "SPF_NONE"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestCheckDNSList(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, "dnsbl:\n  zones:\n    - {zone: bl.test, symbol: DNSBL_TEST, score: 3, reject: true}\n")
	code, out, errs := runCmd(t, hamMsg, "check", "-c", cfg, "--ip", "127.0.0.2", "--helo", "mail.good.test", "--json", "-")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var res struct {
		Action string `json:"action"`
		Forced string `json:"forced"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	if res.Action != "reject" || res.Forced != "DNSBL_TEST" {
		t.Errorf("listed client: action %q forced by %q, want reject by DNSBL_TEST:\n%s", res.Action, res.Forced, out)
	}
	code, out, _ = runCmd(t, hamMsg, "check", "-c", cfg, "--ip", "127.0.0.1", "--helo", "mail.good.test", "--json", "-")
	if code != 0 || strings.Contains(out, "DNSBL_TEST") {
		t.Errorf("unlisted client scored by the list:\n%s", out)
	}
}

func TestCheckErrors(t *testing.T) {
	t.Parallel()
	if code, _, _ := runCmd(t, "", "check"); code != 2 {
		t.Errorf("no file: exit %d, want 2", code)
	}
	if code, _, errs := runCmd(t, "", "check", "/nonexistent/m.eml"); code != 1 || !strings.Contains(errs, "no such file") {
		t.Errorf("missing file: exit %d, %q", code, errs)
	}
	if code, _, errs := runCmd(t, "x", "check", "--ip", "not-an-ip", "-"); code != 2 || !strings.Contains(errs, "--ip") {
		t.Errorf("bad ip: exit %d, %q", code, errs)
	}
}

func TestPolicyCheck(t *testing.T) {
	t.Parallel()
	good := writeFile(t, "good.yaml", "listen: {smtp: [\"127.0.0.1:0\"]}\ndomains:\n  example.com: {deliver: relay, relay: \"127.0.0.1:2526\"}\n")
	code, out, errs := runCmd(t, "", "policy", "check", "-c", good)
	if code != 0 || !strings.HasSuffix(strings.TrimSpace(out), ": OK") {
		t.Errorf("good file: exit %d, out %q, err %q", code, out, errs)
	}
	bad := writeFile(t, "bad.yaml", "domains:\n  example.com: {deliver: relay}\nlimits:\n  recipents: 5\n")
	code, _, errs = runCmd(t, "", "policy", "check", "-c", bad)
	if code != 1 {
		t.Errorf("bad file: exit %d, want 1", code)
	}
	for _, want := range []string{bad + ":2: ", bad + ":4: "} {
		if !strings.Contains(errs, want) {
			t.Errorf("errors lack %q:\n%s", want, errs)
		}
	}
	example := filepath.Join("..", "..", "deploy", "moat.example.yaml")
	if code, out, errs := runCmd(t, "", "policy", "check", "-c", example); code != 0 {
		t.Errorf("example config: exit %d, %s %s", code, out, errs)
	}
}

func TestUsageAndVersion(t *testing.T) {
	t.Parallel()
	if code, _, _ := runCmd(t, ""); code != 2 {
		t.Errorf("no args: exit %d", code)
	}
	if code, _, errs := runCmd(t, "", "frobnicate"); code != 2 || !strings.Contains(errs, "unknown command") {
		t.Errorf("unknown command: exit %d %q", code, errs)
	}
	if code, out, _ := runCmd(t, "", "version"); code != 0 || !strings.HasPrefix(out, "moat ") {
		t.Errorf("version: exit %d %q", code, out)
	}
}
