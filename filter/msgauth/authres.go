package msgauth

import (
	"strings"

	"github.com/emersion/go-msgauth/authres"

	"github.com/moatmail/moat/filter"
)

// AuthResultsField is the name of the Authentication-Results field.
const AuthResultsField = "Authentication-Results"

// AuthResults returns the value of the Authentication-Results field
// (RFC 8601) for transaction t: the authserv-id, then one result per
// method that ran (spf, each DKIM signature, dmarc), folded one result per
// line ("; none" when nothing ran). Prepend it as
//
//	"Authentication-Results: " + value + "\r\n"
//
// The value holds no bare line endings: every line break is CRLF followed
// by a tab.
func (a *Auth) AuthResults(t *filter.Txn) string {
	return FormatAuthResults(a.cfg.AuthservID, a.results.get(t.ID))
}

// HeaderField returns the whole Authentication-Results field for t, name and
// final CRLF included.
func (a *Auth) HeaderField(t *filter.Txn) string {
	return AuthResultsField + ": " + a.AuthResults(t) + "\r\n"
}

// FormatAuthResults formats results as an Authentication-Results value
// with authservID as the authserv-id.
func FormatAuthResults(authservID string, res Results) string {
	var parts []string
	if r := res.SPF; r != nil {
		sr := &authres.SPFResult{Value: authres.ResultValue(r.Result)}
		if r.Helo {
			sr.Helo = sanitize(r.Domain)
		} else {
			sr.From = mailfromValue(r.Sender, r.Domain)
		}
		parts = append(parts, formatResult(sr, ""))
	}
	if r := res.DKIM; r != nil {
		if len(r.Signatures) == 0 {
			parts = append(parts, "dkim=none")
		}
		for _, s := range r.Signatures {
			params := map[string]string{
				"header.d": sanitize(s.Domain),
				"header.i": sanitize(s.Identifier),
				"header.s": sanitize(s.Selector),
				"header.a": sanitize(s.Algorithm),
				"header.b": sanitize(s.B),
			}
			if s.Result != ResultPass {
				params["reason"] = shorten(sanitize(s.Reason), 100)
			}
			parts = append(parts, formatResult(&authres.GenericResult{Method: "dkim", Value: authres.ResultValue(s.Result), Params: params}, ""))
		}
	}
	if r := res.DMARC; r != nil {
		dr := &authres.DMARCResult{Value: authres.ResultValue(r.Result), From: sanitize(r.From)}
		comment := ""
		switch {
		case r.BadFrom:
			dr.Reason = shorten(sanitize(r.Reason), 100)
		case r.Policy != "":
			comment = "p=" + r.Policy
			if r.Result == ResultFail {
				comment += " dis=" + r.Disposition
				if r.Forwarder {
					comment += " trusted-forwarder"
				}
			}
		}
		parts = append(parts, formatResult(dr, comment))
	}
	id := authservValue(authservID)
	if len(parts) == 0 {
		return id + "; none"
	}
	return id + ";\r\n\t" + strings.Join(parts, ";\r\n\t")
}

// authservValue writes an authserv-id as a token, or as a quoted string
// when it holds characters a token cannot (RFC 2045 value).
func authservValue(id string) string {
	id = sanitize(id)
	for i := 0; i < len(id); i++ {
		if c := id[i]; c <= ' ' || c >= 0x7f || strings.IndexByte(`()<>@,;:\"/[]?=`, c) >= 0 {
			return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(id) + `"`
		}
	}
	return id
}

// formatResult formats one result with go-msgauth's authres as
// "method=value [(comment)] params".
func formatResult(r authres.Result, comment string) string {
	const id = "x"
	s := strings.TrimSpace(strings.TrimPrefix(authres.Format(id, []authres.Result{r}), id+"; "))
	if comment == "" {
		return s
	}
	head, rest, _ := strings.Cut(s, " ")
	out := head + " (" + comment + ")"
	if rest != "" {
		out += " " + rest
	}
	return out
}

// mailfromValue returns the smtp.mailfrom property: the sender address
// when it is plainly written, else its domain (RFC 8601 section 2.7.2
// allows either).
func mailfromValue(sender, domain string) string {
	at := strings.LastIndexByte(sender, '@')
	if at <= 0 {
		return sanitize(domain)
	}
	for i := 0; i < at; i++ {
		c := sender[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte(".-_+=", c) >= 0) {
			return sanitize(domain)
		}
	}
	return sanitize(sender[:at+1] + domain)
}

// shorten cuts s to at most n bytes.
func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// OwnAuthResults returns the indices in h.Fields of the
// Authentication-Results fields whose authserv-id is authservID (compared
// case-insensitively, a trailing dot ignored), in order. The front end
// drops them before passing the message on (RFC 8601 section 5), so
// nobody outside can forge moat's verdict; results from other hosts stay.
func OwnAuthResults(h *filter.Header, authservID string) []int {
	var out []int
	for i, f := range h.Fields {
		if IsOwnAuthResults(f, authservID) {
			out = append(out, i)
		}
	}
	return out
}

// IsOwnAuthResults reports whether f is an Authentication-Results field
// whose authserv-id is authservID. When the authserv-id cannot be read
// (an unterminated comment or quoted string), the field counts as ours if
// authservID appears anywhere before its first ";": a reader more lenient
// than this parser must not find our name in a field we let through.
func IsOwnAuthResults(f filter.Field, authservID string) bool {
	if !strings.EqualFold(f.Name, AuthResultsField) || authservID == "" {
		return false
	}
	v := f.Value()
	if id, ok := ParseAuthservID(v); ok {
		return sameID(id, authservID)
	}
	head, _, _ := strings.Cut(v, ";")
	return strings.Contains(strings.ToLower(head), strings.ToLower(strings.TrimSuffix(authservID, ".")))
}

// sameID compares two authserv-ids: case-insensitively, a trailing dot
// ignored.
func sameID(a, b string) bool {
	return a != "" && strings.EqualFold(strings.TrimSuffix(a, "."), strings.TrimSuffix(b, "."))
}

// ParseAuthservID returns the authserv-id at the start of an
// Authentication-Results value (RFC 8601 section 2.2): a token or a quoted
// string, after any white space, folding and comments.
func ParseAuthservID(v string) (string, bool) {
	v, ok := filter.SkipCFWS(v)
	if !ok || v == "" {
		return "", false
	}
	if v[0] == '"' {
		var b strings.Builder
		for i := 1; i < len(v); i++ {
			switch c := v[i]; c {
			case '\\':
				if i+1 < len(v) {
					i++
					b.WriteByte(v[i])
				}
			case '"':
				return b.String(), b.Len() > 0
			default:
				b.WriteByte(c)
			}
		}
		return "", false // unterminated
	}
	end := strings.IndexAny(v, " \t\r\n;()")
	if end < 0 {
		end = len(v)
	}
	return v[:end], end > 0
}
