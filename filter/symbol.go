package filter

import (
	"strings"
)

// Symbol is one named, scored observation about a transaction, such as
// SPF_FAIL or HEADER_MISSING_DATE. Score is the check's default weight; the
// policy may override it by name. Reason is a short human explanation for
// logs and `moat check`; it is never sent to the SMTP client.
type Symbol struct {
	Name   string  `json:"name"`
	Score  float64 `json:"score"`
	Reason string  `json:"reason,omitempty"`
}

// SymbolName turns an arbitrary check name into the UPPER_SNAKE form used for
// symbol names: letters and digits are upper-cased, everything else becomes
// an underscore, and runs of underscores collapse.
func SymbolName(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	lastUnderscore := true
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z':
			b.WriteRune(r - 'a' + 'A')
			lastUnderscore = false
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			b.WriteRune(r)
			lastUnderscore = false
		default:
			if !lastUnderscore {
				b.WriteByte('_')
				lastUnderscore = true
			}
		}
	}
	return strings.TrimSuffix(b.String(), "_")
}

// TempfailSymbol is the name of the symbol recorded when the named check
// could not run (it returned an error, timed out or panicked).
func TempfailSymbol(checkName string) string {
	return SymbolName(checkName) + "_TEMPFAIL"
}
