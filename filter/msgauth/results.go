package msgauth

// Result is the outcome of one authentication method, as written in
// Authentication-Results (RFC 8601 section 2.7).
type Result string

// The results.
const (
	ResultPass      Result = "pass"
	ResultFail      Result = "fail"
	ResultSoftFail  Result = "softfail"
	ResultNeutral   Result = "neutral"
	ResultNone      Result = "none"
	ResultTempError Result = "temperror"
	ResultPermError Result = "permerror"
)

// SPFResult is the SPF verdict of one transaction.
type SPFResult struct {
	// Result is pass, fail, softfail, neutral, none, temperror or permerror.
	Result Result
	// Helo reports that the HELO identity was checked (null sender).
	Helo bool
	// Domain is the domain checked: the MAIL FROM domain, or the HELO
	// name for the null sender. Lower case, no trailing dot.
	Domain string
	// Sender is the MAIL FROM address ("" for the null sender).
	Sender string
	// Reason says why, for logs and the symbol's reason.
	Reason string
}

// DKIMSignature is the verification result of one DKIM-Signature field.
type DKIMSignature struct {
	// Result is pass, fail (the signature or body hash does not verify),
	// permerror (a broken signature, or a key that is missing, revoked or
	// unusable) or temperror (the key could not be fetched).
	Result Result
	// Domain is the signing domain (d=), lower case.
	Domain string
	// Identifier is the agent or user identifier (i=).
	Identifier string
	// Selector is the key selector (s=).
	Selector string
	// Algorithm is the signing algorithm (a=), such as rsa-sha256.
	Algorithm string
	// B is the start of the signature (b=), to tell signatures apart in
	// Authentication-Results (header.b, RFC 6008).
	B string
	// Reason says why a signature did not verify.
	Reason string
}

// DKIMResult is the DKIM verdict of one message.
type DKIMResult struct {
	// Signatures are the results of the signatures checked, in header
	// order; at most the configured limit.
	Signatures []DKIMSignature
	// Skipped is the number of signatures beyond the limit, not checked.
	Skipped int
}

// Valid reports whether any signature verified.
func (r *DKIMResult) Valid() bool {
	for _, s := range r.Signatures {
		if s.Result == ResultPass {
			return true
		}
	}
	return false
}

// DMARCResult is the DMARC verdict of one message.
type DMARCResult struct {
	// Result is pass, fail, none (no policy), temperror or permerror; for a
	// message whose From cannot be used, permerror with BadFrom set.
	Result Result
	// From is the domain of the From address (lower case), "" when BadFrom.
	From string
	// BadFrom reports that the From field is missing, repeated, lists
	// several addresses or cannot be parsed.
	BadFrom bool
	// Policy is the policy that applies to From: the record's p, or its sp
	// when the record was found at the organisational domain. Empty when no
	// record was found.
	Policy string
	// Disposition is what DMARC asks of a failing message after pct
	// sampling: "reject", "quarantine" or "none".
	Disposition string
	// SPFAligned and DKIMAligned report which identifiers passed aligned.
	SPFAligned, DKIMAligned bool
	// Forwarder reports a failure from a trusted forwarder.
	Forwarder bool
	// Reason says why, for logs and the symbol's reason.
	Reason string
}

// Results are the authentication results of one transaction, as far as the
// checks got. A nil field means the check did not run (or has not finished).
type Results struct {
	SPF   *SPFResult
	DKIM  *DKIMResult
	DMARC *DMARCResult
}
