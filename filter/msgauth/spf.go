package msgauth

import (
	"context"
	"errors"
	"net"
	"strings"

	"blitiri.com.ar/go/spf"

	"github.com/moatmail/moat/filter"
	"github.com/moatmail/moat/filter/dnsx"
)

// spfCheck is the "spf" check: RFC 7208 check_host() for the MAIL FROM
// identity, or the HELO identity for the null sender, at the mail stage.
type spfCheck struct{ a *Auth }

var _ filter.Check = (*spfCheck)(nil)

// Name returns "spf".
func (c *spfCheck) Name() string { return "spf" }

// Stages returns the mail stage.
func (c *spfCheck) Stages() []filter.Stage { return []filter.Stage{filter.StageMail} }

// spfSymbol returns the symbol of an SPF result.
func spfSymbol(r Result) string {
	switch r {
	case ResultPass:
		return SPFPass
	case ResultFail:
		return SPFFail
	case ResultSoftFail:
		return SPFSoftFail
	case ResultNeutral:
		return SPFNeutral
	case ResultNone:
		return SPFNone
	case ResultTempError:
		return SPFTempError
	}
	return SPFPermError
}

// Check evaluates SPF for t, records the result for DMARC and
// Authentication-Results, and returns its symbol. A DNS failure is a
// temperror result, not an error of the check.
func (c *spfCheck) Check(ctx context.Context, t *filter.Txn, _ filter.Stage) ([]filter.Symbol, error) {
	r := c.a.checkSPF(ctx, t)
	c.a.results.update(t.ID, func(res *Results) { res.SPF = &r })
	if !t.ClientIP.IsValid() {
		return nil, nil // no client address (moat check without --ip): no symbol
	}
	return []filter.Symbol{sym(spfSymbol(r.Result), "%s", r.Reason)}, nil
}

// checkSPF runs check_host() for the transaction's sender identity.
func (a *Auth) checkSPF(ctx context.Context, t *filter.Txn) SPFResult {
	r := SPFResult{Sender: t.MailFrom}
	if !t.ClientIP.IsValid() {
		r.Result, r.Reason = ResultNone, "no client address"
		return r
	}
	sender := t.MailFrom
	if sender == "" {
		// RFC 7208 section 2.4: for the null sender, check the HELO
		// identity, with "postmaster" as the local part.
		r.Helo = true
		r.Domain = normDomain(t.Helo)
		sender = "postmaster@" + r.Domain
	} else {
		at := strings.LastIndexByte(sender, '@')
		if at < 0 {
			// RFC 5321 allows no address without a domain except <>, but
			// be lenient: an unqualified sender has nothing to check.
			r.Result, r.Reason = ResultNone, "sender "+quoteShort(sender)+" has no domain"
			return r
		}
		r.Domain = normDomain(sender[at+1:])
	}
	ident := "sender domain "
	if r.Helo {
		ident = "HELO name "
	}
	// RFC 7208 section 4.3: a malformed or single-label domain gives none
	// without a lookup.
	if !validDomain(r.Domain) {
		r.Result, r.Reason = ResultNone, ident+quoteShort(r.Domain)+" is not a multi-label domain name"
		return r
	}
	ip := t.ClientIP.Unmap()
	res, err := spf.CheckHostWithSender(net.IP(ip.AsSlice()), normDomain(t.Helo), sender,
		spf.WithContext(ctx), spf.WithResolver(spfResolver{a.res}))
	r.Result = Result(res)
	if r.Result == ResultPass || r.Result == ResultFail || r.Result == ResultSoftFail || r.Result == ResultNeutral {
		if serr := a.spfRecordValid(ctx, r.Domain); serr != nil {
			r.Result, err = ResultPermError, serr
		}
	}
	switch r.Result {
	case ResultPass:
		r.Reason = ident + r.Domain + " designates " + ip.String() + " as permitted sender"
	case ResultFail, ResultSoftFail:
		r.Reason = ident + r.Domain + " does not designate " + ip.String() + " as permitted sender"
	case ResultNeutral:
		r.Reason = ident + r.Domain + " makes no assertion about " + ip.String()
	case ResultNone:
		r.Reason = ident + r.Domain + " publishes no SPF record"
	case ResultTempError:
		r.Reason = "temporary DNS failure checking " + ident + r.Domain
		a.log.Debug("spf temperror", "domain", r.Domain, "err", err)
	case ResultPermError:
		r.Reason = "SPF record of " + ident + r.Domain + " is invalid" + spfErrorDetail(err)
	default:
		r.Result, r.Reason = ResultPermError, "unexpected SPF result "+quoteShort(string(res))
	}
	return r
}

// spfRecordValid checks the syntax of domain's SPF record (see
// spfRecordSyntax). The record is the one the library just evaluated, so
// the lookup is answered from the resolver's cache; a lookup that fails now
// leaves the library's result alone.
func (a *Auth) spfRecordValid(ctx context.Context, domain string) error {
	txts, err := a.res.LookupTXT(ctx, domain)
	if err != nil {
		return nil
	}
	var rec []string
	for _, t := range txts {
		if l := strings.ToLower(t); l == "v=spf1" || strings.HasPrefix(l, "v=spf1 ") {
			rec = append(rec, t)
		}
	}
	if len(rec) != 1 {
		return nil
	}
	return spfRecordSyntax(rec[0])
}

// spfErrorDetail returns ": <what>" for the permanent errors worth naming.
func spfErrorDetail(err error) string {
	if errors.Is(err, errSPFSyntax) {
		return ": " + sanitize(err.Error())
	}
	for _, e := range []error{spf.ErrLookupLimitReached, spf.ErrVoidLookupLimitReached, spf.ErrMultipleRecords,
		spf.ErrTooManyMXRecords, spf.ErrUnknownField, spf.ErrInvalidIP, spf.ErrInvalidMask,
		spf.ErrInvalidMacro, spf.ErrInvalidDomain} {
		if errors.Is(err, e) {
			return ": " + e.Error()
		}
	}
	return ""
}

// quoteShort quotes s for a reason, shortened to 64 bytes and without
// control characters.
func quoteShort(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return `"` + sanitize(s) + `"`
}

// sanitize removes control characters (CR and LF included) from s.
func sanitize(s string) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x20 && s[i] != 0x7f {
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

// spfResolver adapts the resolver to what blitiri's spf expects of a
// net.Resolver: a name that cannot be looked up at all (an empty label, a
// space, "[1.2.3.4]" from a macro, the root of a null MX) is "not found",
// as net.Resolver reports it, so the mechanism does not match (RFC 7208
// section 4.3, 5/10/3) instead of ending the check with a temperror. Every
// other answer and error passes through unchanged.
type spfResolver struct{ r Resolver }

var _ spf.DNSResolver = spfResolver{}

func (s spfResolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	v, err := s.r.LookupTXT(ctx, name)
	return v, badNameNotFound(err)
}

func (s spfResolver) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	v, err := s.r.LookupMX(ctx, name)
	return v, badNameNotFound(err)
}

func (s spfResolver) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	v, err := s.r.LookupIPAddr(ctx, host)
	return v, badNameNotFound(err)
}

func (s spfResolver) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	v, err := s.r.LookupAddr(ctx, addr)
	return v, badNameNotFound(err)
}

// badNameNotFound turns the resolver's invalid-name error into a
// not-found *net.DNSError.
func badNameNotFound(err error) error {
	var de *net.DNSError
	if err == nil || !errors.Is(err, dnsx.ErrBadName) || !errors.As(err, &de) {
		return err
	}
	nf := *de
	nf.IsNotFound = true
	return &nf
}
