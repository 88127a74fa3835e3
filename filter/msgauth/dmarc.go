package msgauth

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/emersion/go-msgauth/dmarc"

	"github.com/moatmail/moat/filter"
)

// dmarcCheck is the "dmarc" check. It is a late check of the data stage,
// so the DKIM results of the same stage are known when it runs.
type dmarcCheck struct{ a *Auth }

var _ filter.Late = (*dmarcCheck)(nil)

// Name returns "dmarc".
func (c *dmarcCheck) Name() string { return "dmarc" }

// Stages returns the data stage.
func (c *dmarcCheck) Stages() []filter.Stage { return []filter.Stage{filter.StageData} }

// Late reports true: DMARC needs the DKIM check's results.
func (c *dmarcCheck) Late() bool { return true }

// The dispositions DMARC asks for, in increasing severity.
const (
	dispNone       = string(dmarc.PolicyNone)
	dispQuarantine = dmarc.PolicyQuarantine
	dispReject     = dmarc.PolicyReject
)

// Check evaluates DMARC for the message, records the result and returns
// its symbol.
func (c *dmarcCheck) Check(ctx context.Context, t *filter.Txn, _ filter.Stage) ([]filter.Symbol, error) {
	if t.Msg == nil {
		return nil, errNoMessage
	}
	prior := c.a.results.get(t.ID)
	r := c.a.evaluateDMARC(ctx, t, prior.SPF, prior.DKIM)
	c.a.results.update(t.ID, func(res *Results) { res.DMARC = &r })
	return []filter.Symbol{sym(dmarcSymbol(&r), "%s", r.Reason)}, nil
}

// dmarcSymbol returns the symbol of a DMARC result.
func dmarcSymbol(r *DMARCResult) string {
	switch {
	case r.BadFrom:
		return DMARCBadFrom
	case r.Result == ResultPass:
		return DMARCPass
	case r.Result == ResultTempError:
		return DMARCTempError
	case r.Result == ResultPermError:
		return DMARCPermError
	case r.Result != ResultFail:
		return DMARCNone
	case r.Forwarder:
		return DMARCFailForwarder
	case r.Disposition == dispReject:
		return DMARCFailReject
	case r.Disposition == dispQuarantine:
		return DMARCFailQuarantine
	}
	return DMARCFailNone
}

// evaluateDMARC applies RFC 7489 to t's message given the SPF and DKIM
// results (nil when the check did not finish).
func (a *Auth) evaluateDMARC(ctx context.Context, t *filter.Txn, spfRes *SPFResult, dk *DKIMResult) DMARCResult {
	from, problem := authorDomain(&t.Msg.Header)
	if problem != "" {
		return DMARCResult{Result: ResultPermError, BadFrom: true, Reason: problem}
	}
	r := DMARCResult{From: from}
	if !validDomain(from) {
		r.Result, r.Reason = ResultNone, "From domain "+quoteShort(from)+" is not a DNS domain name"
		return r
	}
	rec, atOrg, status, why := a.lookupDMARC(ctx, from)
	if rec == nil {
		r.Result, r.Reason = status, why
		return r
	}
	r.Policy = string(rec.Policy)
	if atOrg && rec.SubdomainPolicy != "" {
		r.Policy = string(rec.SubdomainPolicy)
	}
	strictSPF := rec.SPFAlignment == dmarc.AlignmentStrict
	strictDKIM := rec.DKIMAlignment == dmarc.AlignmentStrict

	unsure := false // an identifier that could have aligned failed temporarily
	if spfRes != nil {
		r.SPFAligned = spfRes.Result == ResultPass && aligned(spfRes.Domain, from, strictSPF)
		unsure = spfRes.Result == ResultTempError && aligned(spfRes.Domain, from, strictSPF)
	} else {
		unsure = true // the SPF check did not finish
	}
	if dk != nil {
		for _, s := range dk.Signatures {
			if !aligned(s.Domain, from, strictDKIM) {
				continue
			}
			switch s.Result {
			case ResultPass:
				r.DKIMAligned = true
			case ResultTempError:
				unsure = true
			}
		}
	} else {
		// The DKIM check did not finish: only an aligned signature matters.
		for _, s := range signatureFields(&t.Msg.Header) {
			if aligned(s.domain, from, strictDKIM) {
				unsure = true
			}
		}
	}

	switch {
	case r.SPFAligned || r.DKIMAligned:
		r.Result = ResultPass
		r.Reason = fmt.Sprintf("DMARC pass for %s (%s aligned)", from, alignedNames(r.SPFAligned, r.DKIMAligned))
		return r
	case unsure:
		r.Result = ResultTempError
		r.Reason = "DMARC for " + from + " undecided: an SPF or DKIM result that could align failed temporarily"
		return r
	}

	r.Result = ResultFail
	r.Disposition = r.Policy
	sampled := ""
	if rec.Percent != nil && *rec.Percent < 100 && a.intn(100) >= *rec.Percent {
		// RFC 7489 section 6.6.4: mail not selected by pct gets the next
		// policy down.
		switch r.Disposition {
		case dispReject:
			r.Disposition = dispQuarantine
		case dispQuarantine:
			r.Disposition = dispNone
		}
		sampled = fmt.Sprintf(", pct=%d sampled out", *rec.Percent)
	}
	r.Reason = fmt.Sprintf("DMARC fail for %s (policy %s%s): no aligned SPF or DKIM pass", from, r.Policy, sampled)
	if fwd, ok := a.forwarder(t, spfRes, dk); ok {
		r.Forwarder = true
		r.Reason += "; from trusted forwarder (" + fwd + ")"
	}
	return r
}

// alignedNames names the identifiers that aligned.
func alignedNames(spfOK, dkimOK bool) string {
	switch {
	case spfOK && dkimOK:
		return "SPF and DKIM"
	case spfOK:
		return "SPF"
	}
	return "DKIM"
}

// lookupDMARC discovers the policy for the From domain (RFC 7489 section
// 6.6.3): the record at _dmarc.<from>, else at _dmarc.<organisational
// domain>. It returns the record and whether it came from the
// organisational domain; without a record, the result (none, temperror,
// permerror) and why.
func (a *Auth) lookupDMARC(ctx context.Context, from string) (rec *dmarc.Record, atOrg bool, status Result, why string) {
	rec, status, why = a.queryDMARC(ctx, from)
	if rec != nil || status != ResultNone {
		return rec, false, status, why
	}
	org := orgDomain(from)
	if org == from {
		return nil, false, ResultNone, "no DMARC record for " + from
	}
	rec, status, why = a.queryDMARC(ctx, org)
	if rec == nil && status == ResultNone {
		why = "no DMARC record for " + from + " or " + org
	}
	return rec, rec != nil, status, why
}

// queryDMARC fetches and parses the DMARC record at _dmarc.<domain>.
// Without a record, or with several (RFC 7489 section 6.6.3: then no
// policy applies), the status is none.
func (a *Auth) queryDMARC(ctx context.Context, domain string) (*dmarc.Record, Result, string) {
	name := "_dmarc." + domain
	txts, err := a.res.LookupTXT(ctx, name)
	if err != nil {
		var de *net.DNSError
		switch {
		case errors.As(err, &de) && de.IsNotFound:
			return nil, ResultNone, "no DMARC record for " + domain
		case errors.As(err, &de) && de.Temporary():
			a.log.Debug("dmarc lookup failed", "name", name, "err", err)
			return nil, ResultTempError, "temporary DNS failure looking up the DMARC record of " + domain
		}
		a.log.Debug("dmarc lookup failed", "name", name, "err", err)
		return nil, ResultNone, "DMARC record of " + domain + " cannot be looked up"
	}
	var recs []string
	for _, txt := range txts {
		if isDMARC1(txt) {
			recs = append(recs, txt)
		}
	}
	switch len(recs) {
	case 0:
		return nil, ResultNone, "no DMARC record for " + domain
	case 1:
	default:
		return nil, ResultNone, fmt.Sprintf("%d DMARC records for %s: none applies", len(recs), domain)
	}
	rec, err := dmarc.Parse(recs[0])
	if err != nil {
		return nil, ResultPermError, "DMARC record of " + domain + " is invalid: " + strings.TrimPrefix(err.Error(), "dmarc: ")
	}
	return rec, ResultPass, ""
}

// isDMARC1 reports whether a TXT record starts with the tag v=DMARC1.
func isDMARC1(txt string) bool {
	first, _, _ := strings.Cut(txt, ";")
	k, v, ok := strings.Cut(first, "=")
	return ok && strings.TrimSpace(k) == "v" && strings.TrimSpace(v) == "DMARC1"
}

// forwarder reports whether t comes from a trusted forwarder, and names
// the rule that matched.
func (a *Auth) forwarder(t *filter.Txn, spfRes *SPFResult, dk *DKIMResult) (string, bool) {
	ip := t.ClientIP.Unmap()
	for _, p := range a.cfg.Forwarders.Networks {
		if ip.IsValid() && p.Contains(ip) {
			return "client " + ip.String() + " in " + p.String(), true
		}
	}
	at := strings.LastIndexByte(t.MailFrom, '@')
	if at < 0 || len(a.fwdDomains) == 0 {
		return "", false
	}
	sender := normDomain(t.MailFrom[at+1:])
	for _, fd := range a.fwdDomains {
		if !isSubdomain(sender, fd) {
			continue
		}
		if spfRes != nil && !spfRes.Helo && spfRes.Result == ResultPass && spfRes.Domain == sender {
			return "sender domain " + sender + ", SPF pass", true
		}
		if dk != nil {
			for _, s := range dk.Signatures {
				if s.Result == ResultPass && isSubdomain(s.Domain, fd) {
					return "sender domain " + sender + ", DKIM signature by " + s.Domain, true
				}
			}
		}
	}
	return "", false
}
