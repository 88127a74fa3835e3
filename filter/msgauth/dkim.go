package msgauth

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/moatmail/moat/filter"
)

// dkimCheck is the "dkim" check: it verifies every DKIM signature of the
// message, up to Config.MaxSignatures, at the data stage.
type dkimCheck struct{ a *Auth }

var _ filter.Check = (*dkimCheck)(nil)

// Name returns "dkim".
func (c *dkimCheck) Name() string { return "dkim" }

// Stages returns the data stage.
func (c *dkimCheck) Stages() []filter.Stage { return []filter.Stage{filter.StageData} }

// errNoMessage is returned when a data-stage check runs without a message.
var errNoMessage = errors.New("msgauth: no message in transaction")

// Check verifies the message's signatures, records the results and
// returns DKIM_NONE, or DKIM_VALID (and DKIM_VALID_AUTHOR), or, when none
// verifies, DKIM_INVALID and/or DKIM_TEMPERROR.
func (c *dkimCheck) Check(ctx context.Context, t *filter.Txn, _ filter.Stage) ([]filter.Symbol, error) {
	if t.Msg == nil {
		return nil, errNoMessage
	}
	r, err := c.a.verifyDKIM(ctx, t.Msg)
	if err != nil {
		return nil, err
	}
	c.a.results.update(t.ID, func(res *Results) { res.DKIM = r })
	from, _ := authorDomain(&t.Msg.Header)
	return dkimSymbols(r, from), nil
}

// dkimSymbols returns the symbols of a DKIM result for a message whose
// From domain is from ("" when unknown).
func dkimSymbols(r *DKIMResult, from string) []filter.Symbol {
	if len(r.Signatures) == 0 {
		return []filter.Symbol{sym(DKIMNone, "no DKIM signature")}
	}
	var (
		valid, author   []string
		invalid, temp   []string
		firstBadReason  string
		firstTempReason string
	)
	for _, s := range r.Signatures {
		switch s.Result {
		case ResultPass:
			valid = appendNew(valid, s.Domain)
			if from != "" && s.Domain == from {
				author = appendNew(author, s.Domain)
			}
		case ResultTempError:
			temp = appendNew(temp, s.Domain)
			if firstTempReason == "" {
				firstTempReason = s.Reason
			}
		default:
			invalid = appendNew(invalid, s.Domain)
			if firstBadReason == "" {
				firstBadReason = s.Reason
			}
		}
	}
	if len(valid) > 0 {
		out := []filter.Symbol{sym(DKIMValid, "valid DKIM signature by %s", strings.Join(valid, ", "))}
		if len(author) > 0 {
			out = append(out, sym(DKIMValidAuthor, "valid DKIM signature by the From domain %s", from))
		}
		return out
	}
	var out []filter.Symbol
	if len(invalid) > 0 {
		out = append(out, sym(DKIMInvalid, "DKIM signature by %s does not verify: %s", strings.Join(invalid, ", "), firstBadReason))
	}
	if len(temp) > 0 {
		out = append(out, sym(DKIMTempError, "DKIM key of %s unavailable: %s", strings.Join(temp, ", "), firstTempReason))
	}
	return out
}

// appendNew appends d to list unless it is there already.
func appendNew(list []string, d string) []string {
	if slices.Contains(list, d) {
		return list
	}
	return append(list, d)
}

// verifyDKIM verifies the signatures of m. The keys are fetched through
// the resolver (and its cache) under ctx. The error is for a message that
// cannot be read; a bad signature is a result.
func (a *Auth) verifyDKIM(ctx context.Context, m *filter.Message) (*DKIMResult, error) {
	fields := signatureFields(&m.Header)
	r := &DKIMResult{}
	if len(fields) == 0 {
		return r, nil // not signed: the body need not be read
	}
	if len(fields) > a.cfg.MaxSignatures {
		r.Skipped = len(fields) - a.cfg.MaxSignatures
		fields = fields[:a.cfg.MaxSignatures]
	}
	lookup := func(name string) ([]string, error) { return a.res.LookupTXT(ctx, name) }
	verifs, err := dkim.VerifyWithOptions(m.Reader(), &dkim.VerifyOptions{
		LookupTXT:        lookup,
		MaxVerifications: a.cfg.MaxSignatures,
	})
	if err != nil && !errors.Is(err, dkim.ErrTooManySignatures) {
		return nil, fmt.Errorf("dkim: %w", err)
	}
	for i, v := range verifs {
		s := DKIMSignature{Domain: normDomain(v.Domain), Identifier: v.Identifier, Result: ResultPass}
		if i < len(fields) && (s.Domain == "" || s.Domain == fields[i].domain) {
			// go-msgauth verifies the signature fields in header order,
			// as signatureFields lists them (the domain check guards
			// against a header the two parsers split differently).
			s.Domain = fields[i].domain
			s.Selector, s.Algorithm, s.B = fields[i].selector, fields[i].algorithm, fields[i].b
		}
		if v.Err != nil {
			s.Result, s.Reason = dkimErrorResult(v.Err)
		}
		r.Signatures = append(r.Signatures, s)
	}
	return r, nil
}

// dkimErrorResult classifies a signature's verification error.
func dkimErrorResult(err error) (Result, string) {
	reason := strings.TrimPrefix(err.Error(), "dkim: ")
	switch {
	case dkim.IsTempFail(err):
		return ResultTempError, reason
	case dkim.IsPermFail(err):
		return ResultPermError, reason
	}
	return ResultFail, reason
}

// sigField is what Authentication-Results needs of a DKIM-Signature field
// that go-msgauth's Verification does not give.
type sigField struct {
	domain, selector, algorithm, b string
}

// signatureFields returns the tags of interest of each DKIM-Signature field
// in header order.
func signatureFields(h *filter.Header) []sigField {
	var out []sigField
	for _, f := range h.Fields {
		if !strings.EqualFold(f.Name, "DKIM-Signature") {
			continue
		}
		var s sigField
		for tag := range strings.SplitSeq(f.Value(), ";") {
			k, v, ok := strings.Cut(tag, "=")
			if !ok {
				continue
			}
			v = stripSpace(v)
			switch strings.TrimSpace(k) {
			case "d":
				s.domain = normDomain(v)
			case "s":
				s.selector = v
			case "a":
				s.algorithm = strings.ToLower(v)
			case "b":
				s.b = v[:min(len(v), 8)]
			}
		}
		out = append(out, s)
	}
	return out
}

// stripSpace removes white space (folding included) from a tag value.
func stripSpace(s string) string {
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
			return -1
		}
		return r
	}, s)
}
