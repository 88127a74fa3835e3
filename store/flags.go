package store

import (
	"slices"
	"strings"
)

// System flags, as the store writes them whatever case they are given in.
const (
	FlagSeen     = `\Seen`
	FlagAnswered = `\Answered`
	FlagFlagged  = `\Flagged`
	FlagDeleted  = `\Deleted`
	FlagDraft    = `\Draft`
)

// Keywords that train the filter when added (Thunderbird, Apple Mail).
const (
	KeywordJunk    = "$Junk"
	KeywordNotJunk = "$NotJunk"
)

// normFlags returns flags with the system flags' case normalised, \Recent
// and empty names dropped and duplicates (compared case-insensitively)
// removed; keywords are kept as given.
func normFlags(flags []string) []string {
	out := make([]string, 0, len(flags))
	for _, f := range flags {
		if f == "" || strings.EqualFold(f, `\Recent`) {
			continue
		}
		if strings.HasPrefix(f, `\`) {
			for _, sys := range []string{FlagSeen, FlagAnswered, FlagFlagged, FlagDeleted, FlagDraft} {
				if strings.EqualFold(f, sys) {
					f = sys
					break
				}
			}
		}
		if !hasFlag(out, f) {
			out = append(out, f)
		}
	}
	return out
}

// hasFlag reports whether flags holds f, compared case-insensitively.
func hasFlag(flags []string, f string) bool {
	return slices.ContainsFunc(flags, func(g string) bool { return strings.EqualFold(f, g) })
}

// applyFlags combines stored flags old with given ones by op.
func applyFlags(old []string, op FlagOp, given []string) []string {
	given = normFlags(given)
	switch op {
	case FlagsAdd:
		out := slices.Clone(old)
		for _, f := range given {
			if !hasFlag(out, f) {
				out = append(out, f)
			}
		}
		return out
	case FlagsRemove:
		return slices.DeleteFunc(slices.Clone(old), func(f string) bool { return hasFlag(given, f) })
	default:
		return given
	}
}

// sameFlags reports whether a and b hold the same flags.
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

// added returns the flags of now that were not in before.
func added(before, now []string) []string {
	var out []string
	for _, f := range now {
		if !hasFlag(before, f) {
			out = append(out, f)
		}
	}
	return out
}
