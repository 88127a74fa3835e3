// Command moat is the anti-spam SMTP gateway: one binary with subcommands
// for running the server (serve), checking a message (check), validating the
// configuration (policy check) and printing the version (version).
//
// This package is wiring only: it parses flags, builds the pieces from the
// configuration and hands them to each other.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `moat — anti-spam SMTP gateway

Usage:
  moat serve [-c FILE]                 run the gateway (built-in defaults when no config)
  moat check [-c FILE] [--ip IP] [--helo NAME] [--from ADDR] [--rcpt ADDR]... [--json] FILE|-
                                       run the full pipeline on one message, no side effects
  moat policy check [-c FILE]          validate the configuration (FILE:LINE: message)
  moat greylist list|allow|revoke|release [-c FILE] ...
                                       inspect and release greylisting entries
  moat user add|passwd|del|list [-c FILE] [--quota BYTES] [ADDRESS]
                                       manage the built-in store's users (password from a
                                       prompt, or stdin when it is not a terminal)
  moat queue list|show|retry|delete [-c FILE] [ID|all]
                                       inspect and act on the relay queue
  moat dkim keygen [-c FILE] [--type rsa|ed25519] [--out FILE] DOMAIN SELECTOR
                                       write a DKIM signing key, print its DNS record
  moat train (--spam|--ham) [-c FILE] [--user NAME] PATH...
                                       teach the Bayes scorer (.eml files, Maildirs, mbox)
  moat bayes stats [-c FILE] [--user NAME] [--json]
  moat bayes eval [-c FILE] --train DIR (--test DIR | --folds K) [--json]
                                       the scorer's counts; its accuracy on a corpus
  moat rules stats [-c FILE] --corpus DIR [--json]
                                       each rule's hits on DIR/ham and DIR/spam
  moat version                         print the version

Every command takes -c FILE; without it moat uses ./moat.yaml if present,
else its built-in defaults.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run dispatches a command line and returns the exit status.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return cmdServe(ctx, args[1:], stderr)
	case "check":
		return cmdCheck(ctx, args[1:], stdin, stdout, stderr)
	case "policy":
		if len(args) < 2 || args[1] != "check" {
			fmt.Fprint(stderr, "usage: moat policy check [-c FILE]\n")
			return 2
		}
		return cmdPolicyCheck(args[2:], stdout, stderr)
	case "greylist":
		return cmdGreylist(ctx, args[1:], stdout, stderr)
	case "user":
		return cmdUser(ctx, args[1:], stdin, stdout, stderr)
	case "queue":
		return cmdQueue(ctx, args[1:], stdout, stderr)
	case "dkim":
		return cmdDKIM(args[1:], stdout, stderr)
	case "rules":
		return cmdRules(ctx, args[1:], stdout, stderr)
	case "train":
		return cmdTrain(ctx, args[1:], stdout, stderr)
	case "bayes":
		return cmdBayes(ctx, args[1:], stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, versionString())
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "moat: unknown command %q\n\n%s", args[0], usage)
	return 2
}
