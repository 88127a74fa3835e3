package msgauth

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/moatmail/moat/filter"
)

// recordRE matches DNSRecord's output: the owner, then quoted strings.
var recordRE = regexp.MustCompile(`^([a-z0-9._-]+)\. IN TXT((?: "[^"]*")+)$`)

func TestKeygen(t *testing.T) {
	t.Parallel()
	for _, kt := range []KeyType{KeyEd25519, KeyRSA} {
		t.Run(string(kt), func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "key.pem")
			rec, err := Keygen("Example.COM", "s2026", kt, path)
			if err != nil {
				t.Fatal(err)
			}
			m := recordRE.FindStringSubmatch(rec)
			if m == nil || m[1] != "s2026._domainkey.example.com" {
				t.Fatalf("record %q", rec)
			}
			var text strings.Builder
			for _, s := range regexp.MustCompile(`"([^"]*)"`).FindAllStringSubmatch(m[2], -1) {
				if len(s[1]) > 255 {
					t.Errorf("string of %d bytes", len(s[1]))
				}
				text.WriteString(s[1])
			}
			if !strings.HasPrefix(text.String(), "v=DKIM1; k="+string(kt)+"; p=") {
				t.Errorf("record text %q", text.String())
			}
			if kt == KeyRSA && !strings.Contains(m[2], `" "`) {
				t.Errorf("an RSA-2048 record is not split: %q", rec)
			}
			st, err := os.Stat(path)
			if err != nil || st.Mode().Perm() != 0o600 {
				t.Fatalf("key file: %v %v, want mode 0600", st.Mode(), err)
			}
			if _, err := Keygen("example.com", "s2026", kt, path); err == nil {
				t.Error("an existing key file was overwritten")
			}

			// The key signs, and the record verifies it.
			s, err := NewSigner([]SigningKey{{Domain: "example.com", Selector: "s2026", KeyFile: path}})
			if err != nil {
				t.Fatal(err)
			}
			_, res := startDNS(t, soa("com.")+rec+"\n", soa("."))
			a, err := New(Config{DKIM: true}, res)
			if err != nil {
				t.Fatal(err)
			}
			raw := strings.Replace(plainMessage, "alice@mail.example.com", "alice@example.com", 1)
			txn := withMessage(t, newTxn("192.0.2.1", "x", ""), signed(t, s, raw))
			if got := run(t, a, "dkim", txn, filter.StageData); !slices.Equal(got, []string{DKIMValid, DKIMValidAuthor}) {
				t.Fatalf("symbols %v", got)
			}
		})
	}
}

func TestKeygenErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for name, args := range map[string][3]string{
		"bad domain":   {"localhost", "s", "ed25519"},
		"bad selector": {"example.com", "s/1", "ed25519"},
		"bad type":     {"example.com", "s", "dsa"},
	} {
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "-"))
		if _, err := Keygen(args[0], args[1], KeyType(args[2]), path); err == nil {
			t.Errorf("%s: no error", name)
		}
		if _, err := os.Stat(path); err == nil {
			t.Errorf("%s: a key file was written", name)
		}
	}
	if _, err := Keygen("example.com", "s", KeyEd25519, filepath.Join(dir, "no", "such", "dir.pem")); err == nil {
		t.Error("unwritable path: no error")
	}
}
