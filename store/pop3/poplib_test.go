package pop3

import (
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moatmail/moat/store"
)

// python3 returns the path of python3, skipping the test when it is
// missing (failing it when CI is set).
func python3(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("python3")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("python3 is needed for the poplib test in CI: %v", err)
		}
		t.Skip("python3 not on PATH: skipping the poplib test (it runs in CI)")
	}
	return p
}

// TestPoplib drives the server with Python's poplib: plain on loopback,
// STLS, and implicit TLS, over real corpus messages.
func TestPoplib(t *testing.T) {
	py := python3(t)
	msgs := corpus(t, corpusFiles...)
	srvCfg, _ := selfSigned(t)
	dir := t.TempDir()
	for i, m := range msgs {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%d.eml", i+1)), wire(m), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cafile := filepath.Join(t.TempDir(), "ca.pem")
	leaf := srvCfg.Certificates[0].Certificate[0]
	if err := os.WriteFile(cafile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf}), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, mode string
		real       bool // the real store, not the in-memory backend
	}{
		{"plain", "plain", false},
		{"stls", "stls", false},
		{"implicit TLS", "ssl", false},
		{"real store", "stls", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var be Backend
			left := func() int { return len(be.(*memBackend).uids(alice)) }
			if tt.real {
				st := openStore(t, msgs)
				be = st
				left = func() int {
					_, l, err := st.List(t.Context(), alice, store.Inbox)
					if err != nil {
						t.Fatal(err)
					}
					return len(l)
				}
			} else {
				be = newAlice(msgs...)
			}
			ts := startServer(t, Options{Backend: be, TLS: srvCfg}, ListenerOptions{ImplicitTLS: tt.mode == "ssl"})
			host, port, _ := strings.Cut(ts.addr, ":")
			cmd := exec.CommandContext(t.Context(), py, "testdata/poplib_check.py", host, port, alice, secret, dir, tt.mode, cafile)
			out, err := cmd.CombinedOutput()
			if err != nil || strings.TrimSpace(string(out)) != "ok" {
				t.Fatalf("poplib_check.py %s: %v\n%s", tt.mode, err, out)
			}
			if got := left(); got != len(msgs)-1 {
				t.Errorf("after DELE 1 + QUIT the INBOX has %d messages, want %d", got, len(msgs)-1)
			}
		})
	}
}
