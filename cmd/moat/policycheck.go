package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/moatmail/moat/policies"
)

// cmdPolicyCheck validates the configuration: `moat policy check [-c FILE]`.
// Errors are printed as FILE:LINE: message, one per line; exit status 1.
func cmdPolicyCheck(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("policy check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("c", "", "configuration `FILE` (default ./moat.yaml if present)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := policies.LoadOrDefault(*cfgPath)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if _, err := cfg.CompilePolicy(); err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if _, err := loadRules(cfg); err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	name := cfg.File
	if name == "" {
		name = "built-in defaults"
	}
	fmt.Fprintf(stdout, "%s: OK\n", name)
	return 0
}
