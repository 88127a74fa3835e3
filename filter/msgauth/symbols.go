package msgauth

import (
	"fmt"

	"github.com/moatmail/moat/filter"
)

// The symbols the SPF check emits at the mail stage, one per transaction.
const (
	// SPFPass: the client is authorised to send for the sender's domain.
	// Greylisting reads this symbol for its SPF-aware key.
	SPFPass = "SPF_PASS"
	// SPFFail: the domain says the client is not authorised (-all).
	SPFFail = "SPF_FAIL"
	// SPFSoftFail: probably not authorised (~all).
	SPFSoftFail = "SPF_SOFTFAIL"
	// SPFNeutral: the domain makes no assertion (?all, or no match).
	SPFNeutral = "SPF_NEUTRAL"
	// SPFNone: no SPF record, or no domain to check.
	SPFNone = "SPF_NONE"
	// SPFTempError: a DNS failure kept the check from concluding.
	SPFTempError = "SPF_TEMPERROR"
	// SPFPermError: the domain's SPF record is broken.
	SPFPermError = "SPF_PERMERROR"
)

// The symbols the DKIM check emits at the data stage.
const (
	// DKIMValid: at least one signature verifies.
	DKIMValid = "DKIM_VALID"
	// DKIMValidAuthor: a signature by the From domain (d= equal to the
	// From address's domain) verifies.
	DKIMValidAuthor = "DKIM_VALID_AUTHOR"
	// DKIMInvalid: no signature verifies and at least one failed for good
	// (bad signature or body hash, missing or broken key, bad syntax).
	DKIMInvalid = "DKIM_INVALID"
	// DKIMTempError: no signature verifies and at least one key could not
	// be fetched for a temporary reason.
	DKIMTempError = "DKIM_TEMPERROR"
	// DKIMNone: the message carries no DKIM signature.
	DKIMNone = "DKIM_NONE"
)

// The symbols the DMARC check emits at the data stage, one per message.
const (
	// DMARCPass: SPF or DKIM passed for a domain aligned with From.
	DMARCPass = "DMARC_PASS"
	// DMARCFailReject: DMARC fails and the domain's policy, after pct
	// sampling, is reject. The default policy forces the reject action.
	DMARCFailReject = "DMARC_FAIL_REJECT"
	// DMARCFailQuarantine: DMARC fails and the policy is quarantine (or
	// reject sampled out by pct). The default policy forces junk.
	DMARCFailQuarantine = "DMARC_FAIL_QUARANTINE"
	// DMARCFailNone: DMARC fails and the policy is none (or quarantine
	// sampled out by pct).
	DMARCFailNone = "DMARC_FAIL_NONE"
	// DMARCFailForwarder: DMARC fails but the client is a trusted forwarder,
	// whose failures are not punished.
	DMARCFailForwarder = "DMARC_FAIL_FORWARDER"
	// DMARCNone: the From domain publishes no DMARC record (or several).
	DMARCNone = "DMARC_NONE"
	// DMARCTempError: a DNS failure (of the record, or of an SPF or DKIM
	// result that could have aligned) kept the check from concluding.
	DMARCTempError = "DMARC_TEMPERROR"
	// DMARCPermError: the domain's DMARC record cannot be parsed.
	DMARCPermError = "DMARC_PERMERROR"
	// DMARCBadFrom: the message has no From field, several From fields or
	// addresses, or one that cannot be parsed, so DMARC cannot apply.
	DMARCBadFrom = "DMARC_BAD_FROM"
)

// DefaultScore returns the score this package gives the named symbol, and
// whether the symbol is one of its own. The policy may override any of them
// by name.
func DefaultScore(symbol string) (float64, bool) {
	switch symbol {
	case SPFPass, DKIMValid:
		return -0.2, true
	case DKIMValidAuthor:
		return -0.3, true
	case DMARCPass:
		return -0.5, true
	case SPFTempError, DKIMTempError, DKIMNone, DMARCFailForwarder, DMARCNone, DMARCTempError:
		return 0, true
	case SPFNeutral, SPFNone:
		return 0.3, true
	case SPFPermError, DKIMInvalid, DMARCFailNone, DMARCPermError:
		return 0.5, true
	case SPFSoftFail:
		return 0.7, true
	case DMARCBadFrom:
		return 1, true
	case SPFFail:
		return 1.5, true
	case DMARCFailQuarantine:
		return 3, true
	case DMARCFailReject:
		return 5, true
	}
	return 0, false
}

// Symbols returns the names of every symbol this package emits.
func Symbols() []string {
	return []string{
		SPFPass, SPFFail, SPFSoftFail, SPFNeutral, SPFNone, SPFTempError, SPFPermError,
		DKIMValid, DKIMValidAuthor, DKIMInvalid, DKIMTempError, DKIMNone,
		DMARCPass, DMARCFailReject, DMARCFailQuarantine, DMARCFailNone, DMARCFailForwarder,
		DMARCNone, DMARCTempError, DMARCPermError, DMARCBadFrom,
	}
}

// sym builds a symbol with its default score.
func sym(name, format string, args ...any) filter.Symbol {
	score, _ := DefaultScore(name)
	return filter.Symbol{Name: name, Score: score, Reason: fmt.Sprintf(format, args...)}
}
