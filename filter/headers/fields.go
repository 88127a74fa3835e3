package headers

import (
	"errors"
	"io"
	"mime"
	"net/mail"
	"strings"

	"github.com/moatmail/moat/filter"
)

// checkDate checks the Date fields: present, once, parsable, not far in the
// future.
func (c *Check) checkDate(h *filter.Header, out []filter.Symbol) []filter.Symbol {
	dates := h.Values("Date")
	switch {
	case len(dates) == 0:
		return append(out, sym(MissingDate, "no Date header"))
	case len(dates) > 1:
		out = append(out, sym(MultipleDate, "%d Date headers", len(dates)))
	}
	limit := c.now().Add(FutureSkew)
	invalid, future := false, false
	for _, v := range dates {
		d, err := mail.ParseDate(v)
		switch {
		case err != nil && !invalid:
			invalid = true
			out = append(out, sym(InvalidDate, "Date header %s is not an RFC 5322 date", quote(v)))
		case err == nil && d.After(limit) && !future:
			future = true
			out = append(out, sym(DateInFuture, "Date header %s is more than %v ahead", quote(v), FutureSkew))
		}
	}
	return out
}

// checkMessageID checks the Message-ID fields: present, once, <left@right>.
func checkMessageID(h *filter.Header, out []filter.Symbol) []filter.Symbol {
	ids := h.Values("Message-ID")
	switch {
	case len(ids) == 0:
		return append(out, sym(MissingMessageID, "no Message-ID header"))
	case len(ids) > 1:
		out = append(out, sym(MultipleMessageID, "%d Message-ID headers", len(ids)))
	}
	for _, v := range ids {
		if !validMessageID(v) {
			return append(out, sym(InvalidMessageID, "Message-ID %s is not of the form <left@right>", quote(v)))
		}
	}
	return out
}

// validMessageID reports whether v is an RFC 5322 msg-id: "<left@right>",
// both parts non-empty and holding no other "@", optionally surrounded by
// white space and comments. The left part may be a quoted string (as X.400
// gateways write it); otherwise neither part may hold white space, control
// characters, quotes, parentheses or angle brackets. UTF-8 is allowed
// (RFC 6532).
func validMessageID(v string) bool {
	v, ok := filter.SkipCFWS(v)
	if !ok || len(v) < len("<a@b>") || v[0] != '<' {
		return false
	}
	end := closingAngle(v)
	if end < 0 {
		return false
	}
	if rest, ok := filter.SkipCFWS(v[end+1:]); !ok || rest != "" {
		return false
	}
	id := v[1:end]
	at := strings.LastIndexByte(id, '@')
	if at <= 0 || at == len(id)-1 {
		return false
	}
	left, right := id[:at], id[at+1:]
	if len(left) >= 2 && left[0] == '"' && left[len(left)-1] == '"' {
		left = "" // a quoted string may hold anything
	} else if strings.IndexByte(left, '@') >= 0 {
		return false
	}
	return msgIDText(left) && msgIDText(right)
}

// msgIDText reports whether s holds only characters allowed in an unquoted
// msg-id part.
func msgIDText(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c <= ' ', c == 0x7f:
			return false
		case strings.IndexByte(`<>"()`, c) >= 0:
			return false
		}
	}
	return true
}

// closingAngle returns the index of the ">" closing the msg-id that starts
// at v[0], skipping quoted strings, or -1.
func closingAngle(v string) int {
	quoted := false
	for i := 1; i < len(v); i++ {
		switch c := v[i]; {
		case quoted && c == '\\':
			i++
		case c == '"':
			quoted = !quoted
		case !quoted && c == '>':
			return i
		}
	}
	return -1
}

// newAddressParser returns the parser for From fields. Encoded words (RFC
// 2047) in display names are decoded; a charset the standard library does
// not know is passed through undecoded, since only whether the field parses
// matters here.
func newAddressParser() *mail.AddressParser {
	return &mail.AddressParser{WordDecoder: &mime.WordDecoder{
		CharsetReader: func(_ string, input io.Reader) (io.Reader, error) { return input, nil },
	}}
}

// errEmptyFrom is the parse error of a From field that names no address
// (an empty group such as "undisclosed-recipients:;").
var errEmptyFrom = errors.New("no address")

// checkFrom checks the From fields: present, once, a parsable list holding
// exactly one address.
func (c *Check) checkFrom(h *filter.Header, out []filter.Symbol) []filter.Symbol {
	froms := h.Values("From")
	if len(froms) == 0 {
		return append(out, sym(MissingFrom, "no From header"))
	}
	addrs, invalid := 0, false
	for _, v := range froms {
		// Raw 8-bit text (not RFC 2047 encoded) in display names is common
		// in real mail; it is read as text rather than refused.
		list, err := c.addrs.ParseList(strings.ToValidUTF8(v, "\uFFFD"))
		if err == nil && len(list) == 0 {
			err = errEmptyFrom
		}
		if err != nil {
			if !invalid {
				invalid = true
				out = append(out, sym(InvalidFrom, "From header %s does not parse: %v", quote(v), err))
			}
			continue
		}
		addrs += len(list)
	}
	switch {
	case len(froms) > 1:
		out = append(out, sym(MultipleFrom, "%d From headers", len(froms)))
	case addrs > 1:
		out = append(out, sym(MultipleFrom, "From header holds %d addresses", addrs))
	}
	return out
}
