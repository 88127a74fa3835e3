package pop3

import (
	"bytes"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestCurl fetches mail with curl's POP3 client, in clear text on loopback
// and with STLS required, when curl is installed.
func TestCurl(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl not on PATH")
	}
	msgs := corpus(t, "00013.eml", "00002.eml")
	srvCfg, _ := selfSigned(t)
	cafile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(cafile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srvCfg.Certificates[0].Certificate[0]}), 0o600); err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, Options{Backend: newAlice(msgs...), TLS: srvCfg}, ListenerOptions{})
	_, port, _ := strings.Cut(ts.addr, ":")
	tests := []struct {
		name string
		args []string
		want []byte
	}{
		{"LIST", []string{"pop3://127.0.0.1:" + port + "/"}, []byte("1 " + strconv.Itoa(len(wire(msgs[0]))) + "\r\n2 " + strconv.Itoa(len(wire(msgs[1]))) + "\r\n")},
		{"RETR", []string{"pop3://127.0.0.1:" + port + "/1"}, wire(msgs[0])},
		{"RETR over STLS", []string{"--ssl-reqd", "--cacert", cafile, "pop3://localhost:" + port + "/2"}, wire(msgs[1])},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"-sS", "--max-time", "30", "--user", alice + ":" + secret}, tt.args...)
			out, err := exec.CommandContext(t.Context(), curl, args...).Output()
			if err != nil {
				t.Fatalf("curl %q: %v", args, err)
			}
			if !bytes.Equal(out, tt.want) {
				t.Errorf("curl got %d bytes, want %d:\n%q", len(out), len(tt.want), trunc(out))
			}
		})
	}
}
