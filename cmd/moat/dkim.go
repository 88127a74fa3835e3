package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/moatmail/moat/filter/msgauth"
	"github.com/moatmail/moat/policies"
)

const dkimUsage = `usage: moat dkim keygen [-c FILE] [--type rsa|ed25519] [--out FILE] DOMAIN SELECTOR
`

// cmdDKIM runs `moat dkim keygen`: it writes a new signing key (mode 0600,
// never over an existing file) and prints the DNS TXT record to publish and
// the dkim.sign entry to add.
func cmdDKIM(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "keygen" {
		fmt.Fprint(stderr, dkimUsage)
		return 2
	}
	fs := flag.NewFlagSet("dkim keygen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("c", "", "configuration `FILE` (for data_dir)")
	typ := fs.String("type", "rsa", "key `TYPE`: rsa (2048 bits) or ed25519")
	out := fs.String("out", "", "key `FILE` (default data_dir/dkim/DOMAIN.SELECTOR.pem)")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if fs.NArg() != 2 {
		fmt.Fprint(stderr, dkimUsage)
		return 2
	}
	domain, selector := strings.ToLower(strings.TrimSuffix(fs.Arg(0), ".")), fs.Arg(1)
	kt := msgauth.KeyRSA
	switch *typ {
	case "rsa":
	case "ed25519":
		kt = msgauth.KeyEd25519
	default:
		fmt.Fprintf(stderr, "moat dkim keygen: --type: want rsa or ed25519, got %q\n", *typ)
		return 2
	}
	path := *out
	if path == "" {
		cfg, err := policies.LoadOrDefault(*cfgPath)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		path = filepath.Join(cfg.DataDir, "dkim", domain+"."+selector+".pem")
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			fmt.Fprintln(stderr, "moat dkim keygen:", err)
			return 1
		}
	}
	rec, err := msgauth.Keygen(domain, selector, kt, path)
	if err != nil {
		fmt.Fprintln(stderr, "moat dkim keygen:", err)
		return 1
	}
	abs, _ := filepath.Abs(path)
	fmt.Fprintf(stdout, "; private key written to %s\n; publish this record in DNS:\n%s\n", abs, rec)
	fmt.Fprintf(stdout, "; and add to the configuration:\n; dkim:\n;   sign:\n;     %s: {selector: %s, key: %s}\n", domain, selector, abs)
	return 0
}
