package imap

import (
	"strings"

	"github.com/emersion/go-imap/v2"
)

// systemFlags returns the RFC 9051 system flags a message can carry
// (\Recent is not kept: IMAP4rev2 dropped it).
func systemFlags() []imap.Flag {
	return []imap.Flag{imap.FlagAnswered, imap.FlagFlagged, imap.FlagDeleted, imap.FlagSeen, imap.FlagDraft}
}

// canonFlag spells system flags as the RFC does (flags are
// case-insensitive); keywords are kept as given.
func canonFlag(f imap.Flag) string {
	if strings.HasPrefix(string(f), `\`) {
		for _, sf := range [...]imap.Flag{imap.FlagAnswered, imap.FlagFlagged, imap.FlagDeleted, imap.FlagSeen, imap.FlagDraft} {
			if strings.EqualFold(string(f), string(sf)) {
				return string(sf)
			}
		}
	}
	return string(f)
}

// storeFlags converts flags from a client for the store: canonical
// spelling, no \Recent or \*, no duplicates.
func storeFlags(flags []imap.Flag) []string {
	out := make([]string, 0, len(flags))
	for _, f := range flags {
		c := canonFlag(f)
		if strings.EqualFold(c, `\Recent`) || c == string(imap.FlagWildcard) || hasFlag(out, c) {
			continue
		}
		out = append(out, c)
	}
	return out
}

// hasFlag reports whether flags holds f, compared without case.
func hasFlag(flags []string, f string) bool {
	for _, x := range flags {
		if strings.EqualFold(x, f) {
			return true
		}
	}
	return false
}

// sameFlags reports whether two flag lists hold the same flags.
func sameFlags(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for _, f := range a {
		if !hasFlag(b, f) {
			return false
		}
	}
	return true
}

// imapFlags converts stored flags for a response.
func imapFlags(flags []string) []imap.Flag {
	out := make([]imap.Flag, len(flags))
	for i, f := range flags {
		out[i] = imap.Flag(canonFlag(imap.Flag(f)))
	}
	return out
}

// isKeyword reports whether f is a keyword rather than a system flag.
func isKeyword(f string) bool { return !strings.HasPrefix(f, `\`) }
