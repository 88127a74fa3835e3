//go:build e2e

package main_test

import (
	"strings"
	"testing"
)

// TestE2EDNSList runs moat with dns.servers pointed at the tests' DNS
// server: a client connecting from 127.0.0.2 (listed in bl.test) is scored
// by the listing, or refused at RCPT where the zone says reject: true; a
// client from 127.0.0.1 is not.
func TestE2EDNSList(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		reject bool
	}{{"scored", false}, {"reject", true}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := startSink(t, nil)
			p, cfg := newConfig(t, s, "", "")
			p.Extra = "dnsbl:\n  zones:\n    - zone: bl.test\n      symbol: DNSBL_E2E\n      score: 6\n      reject: " + map[bool]string{true: "true", false: "false"}[tc.reject] + "\n"
			writeFile(t, cfg, configYAML(p))
			m := startMoat(t, p, cfg)

			listed := m.swaks(t, "--local-interface", "127.0.0.2", "--from", "a@client.e2e.test", "--to", "listed@relay.test")
			clean := m.swaks(t, "--local-interface", "127.0.0.1", "--from", "a@client.e2e.test", "--to", "clean@relay.test")

			if tc.reject {
				if r := listed.replyAfter("RCPT TO"); !strings.HasPrefix(r, "550 5.7.1 ") {
					t.Errorf("listed client, reject zone: RCPT -> %q, want 550 5.7.1\n%s", r, listed.out)
				}
				if got := s.to("listed@relay.test"); len(got) != 0 {
					t.Errorf("a rejected message reached the sink")
				}
			} else {
				if r := listed.endOfData(); !strings.HasPrefix(r, "250 ") {
					t.Fatalf("listed client: end of data -> %q\n%s", r, listed.out)
				}
				got := s.to("listed@relay.test")
				if len(got) != 1 {
					t.Fatalf("sink got %d messages for the listed client", len(got))
				}
				fields, _ := splitMessage(got[0].Data)
				action, tests := spamHeaders(t, fields)
				if !strings.Contains(strings.Join(tests, ","), "DNSBL_E2E") || action == "accept" {
					t.Errorf("listed client: action %s tests %v, want DNSBL_E2E scored", action, tests)
				}
			}
			if r := clean.endOfData(); !strings.HasPrefix(r, "250 ") {
				t.Fatalf("unlisted client: end of data -> %q\n%s", r, clean.out)
			}
			got := s.to("clean@relay.test")
			if len(got) != 1 || strings.Contains(string(got[0].Data), "DNSBL_E2E") {
				t.Errorf("unlisted client: sink got %d messages, or it was scored by the list", len(got))
			}
			// The listing key facts went to the log, with the client address.
			if !strings.Contains(m.log.String(), "DNSBL_E2E") {
				t.Errorf("the log does not name the DNS list symbol")
			}
		})
	}
}
