package policies

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// FuzzLoad feeds arbitrary files to Load. It must never panic; every error
// line must be "FILE:LINE: …"; and whatever it accepts must validate and
// compile.
func FuzzLoad(f *testing.F) {
	for _, s := range []string{
		"",
		"hostname: mx.example.com\n",
		"limits: {recipients: 0, data_timeout: 10}\n",
		"policy:\n  thresholds: {junk: off, reject: null, add_header: .nan}\n",
		"policy:\n  recipients:\n    Example.com: {thresholds: {greylist: 4}, never_reject: true}\n",
		"domains:\n  example.com: {deliver: relay}\n  a: &x {deliver: local}\n  b: *x\n",
		"a: [\n",
		"- 1\n- 2\n",
		"hostname: a\n---\nhostname: b\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "moat.yaml")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := Load(path)
		if err != nil {
			line := regexp.MustCompile(`^` + regexp.QuoteMeta(path) + `:[1-9][0-9]*: .`)
			for _, l := range strings.Split(err.Error(), "\n") {
				if !line.MatchString(l) {
					t.Fatalf("error line %q is not FILE:LINE: message", l)
				}
			}
			return
		}
		if cfg.File != path {
			t.Errorf("File = %q", cfg.File)
		}
		if err := cfg.Validate(); err != nil {
			t.Errorf("Load accepted a config that Validate refuses: %v", err)
		}
		if _, err := NewPolicy(cfg.Policy); err != nil {
			t.Errorf("Load accepted a policy that NewPolicy refuses: %v", err)
		}
	})
}
