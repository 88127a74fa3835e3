package bayes

import (
	"strconv"
	"strings"

	"github.com/moatmail/moat/filter"
)

// Token prefixes of header fields.
var (
	pHdr       = mkPrefix("h:")
	pNoHdr     = mkPrefix("h:!")
	pSubj      = mkPrefix("s:")
	pInnerSubj = mkPrefix("is:")
	pFromName  = mkPrefix("fn:")
	pFromAddr  = mkPrefix("fa:")
	pFromDom   = mkPrefix("fd:")
	pReplyTo   = mkPrefix("rt:")
	pTo        = mkPrefix("to:")
	pMailer    = mkPrefix("xm:")
	pRcvd      = mkPrefix("r:")
	pRcvdDom   = mkPrefix("r:d:")
	pAuth      = mkPrefix("ar:")
	pMsgID     = mkPrefix("mid:")
	pCT0       = mkPrefix("ct0:")
	pHV        = mkPrefix("hv:")
	pList      = mkPrefix("list:")
	pDate      = mkPrefix("date:")
)

// maxHeaderFields bounds how many header fields are looked at.
const maxHeaderFields = 200

// skipHeader reports header fields that say nothing about the sender:
// the verdict headers moat (or another filter) added, and the Received
// header moat itself adds.
func skipHeader(lname string, f filter.Field) bool {
	if strings.HasPrefix(lname, "x-spam-") || strings.HasPrefix(lname, "x-moat-") {
		return true
	}
	return lname == "received" && strings.Contains(f.Value(), "(moat) with")
}

// headers adds the tokens of the message's top-level header: the name of
// every field, and the values of the telling ones.
func (z *tz) headers(fields []filter.Field) {
	var from, replyTo string
	var have struct{ subject, from, to, date, msgid bool }
	rcvd, rcpts := 0, 0
	for i, f := range fields {
		if i >= maxHeaderFields || z.full {
			break
		}
		lname := strings.ToLower(f.Name)
		if skipHeader(lname, f) {
			continue
		}
		z.addString(pHdr, f.Name)
		if !noValueWords(lname) {
			z.valueWords(lname, f.Value())
		}
		switch lname {
		case "subject":
			have.subject = true
			z.subject(pSubj, f.Value())
		case "from":
			have.from = true
			from = z.from(f.Value())
		case "reply-to":
			replyTo = f.Value()
		case "to", "cc":
			have.to = have.to || lname == "to"
			rcpts += z.recipients(f.Value())
		case "date":
			have.date = true
			z.dateTokens(f.Value())
		case "message-id":
			have.msgid = true
			z.messageID(f.Value())
		case "content-type":
			z.addString(pCT0, parseMediaType(f.Value()).typ)
		case "x-mailer", "user-agent", "x-mimeole", "x-newsreader":
			v, mode := decodeHeader(f.Value())
			z.breakRing()
			z.text(pMailer, []byte(v), mode)
		case "received":
			if rcvd < z.o.MaxReceived {
				z.received(f.Value())
			}
			rcvd++
		case "authentication-results":
			z.authResults(f.Value())
		case "received-spf":
			res, _, _ := strings.Cut(strings.TrimSpace(f.Value()), " ")
			z.addString(pAuth, "spf="+strings.ToLower(res))
		case "precedence", "x-priority", "x-msmail-priority", "importance", "mime-version", "content-class":
			v := strings.ToLower(f.Value())
			z.addString(pHV, lname+"="+v[:min(len(v), 32)])
		case "list-id":
			v := strings.ToLower(f.Value())
			if a, b := strings.IndexByte(v, '<'), strings.IndexByte(v, '>'); a >= 0 && b > a {
				v = v[a+1 : b]
			}
			z.addString(pList, v[:min(len(v), 100)])
		}
	}
	for _, m := range []struct {
		ok   bool
		name string
	}{{have.subject, "subject"}, {have.from, "from"}, {have.to, "to"}, {have.date, "date"}, {have.msgid, "message-id"}} {
		if !m.ok {
			z.addString(pNoHdr, m.name)
		}
	}
	z.addString(pRcvd, "hops="+bucketCount(rcvd))
	z.addString(pTo, "count="+bucketCount(rcpts))
	if replyTo != "" {
		_, ra := splitAddress(replyTo)
		switch {
		case ra == "":
		case ra == from:
			z.addString(pReplyTo, "same")
		default:
			z.addString(pReplyTo, "differs")
			if _, d, ok := strings.Cut(ra, "@"); ok {
				z.addString(pReplyTo, foldHost(d))
			}
		}
	}
}

// bucketCount turns a count into a coarse token: 0 1 2 3 4 5-9 10+.
func bucketCount(n int) string {
	switch {
	case n < 5:
		return strconv.Itoa(n)
	case n < 10:
		return "5-9"
	}
	return "10+"
}

// subject adds the words of a subject (with their pairs) and its shape.
func (z *tz) subject(p prefix, v string) {
	s, mode := decodeHeader(v)
	z.text(p, []byte(s), mode)
	letters, upper := 0, 0
	for _, r := range s {
		if r >= 'a' && r <= 'z' {
			letters++
		} else if r >= 'A' && r <= 'Z' {
			letters++
			upper++
		}
	}
	if letters >= 6 && upper*10 >= letters*9 {
		z.addString(p, "!caps")
	}
	if strings.TrimSpace(s) == "" {
		z.addString(p, "!empty")
	}
}

// from adds the tokens of the From field and returns its address.
func (z *tz) from(v string) string {
	dv, mode := decodeHeader(v)
	name, addr := splitAddress(dv)
	if name == "" {
		z.addString(pFromName, "!none")
	} else {
		z.text(pFromName, []byte(name), mode)
	}
	if addr == "" {
		z.addString(pFromAddr, "!none")
		return ""
	}
	z.addString(pFromAddr, foldNumbers0(addr))
	if _, d, ok := strings.Cut(addr, "@"); ok {
		z.hostTokens(pFromDom, pFromDom, d)
	} else {
		z.addString(pFromDom, "!none")
	}
	return addr
}

// recipients adds the domains of a To or Cc field and returns how many
// addresses it holds.
func (z *tz) recipients(v string) int {
	lv := strings.ToLower(v)
	if strings.Contains(lv, "undisclosed") {
		z.addString(pTo, "undisclosed")
	}
	n := 0
	for part := range strings.SplitSeq(lv, ",") {
		_, addr := splitAddress(part)
		if addr == "" {
			continue
		}
		n++
		if n <= 5 {
			if _, d, ok := strings.Cut(addr, "@"); ok {
				z.addString(pTo, foldHost(d))
			}
		}
	}
	return n
}

// splitAddress splits "Name <addr>", "addr (Name)" or "addr" into a
// display name and a lower-case address.
func splitAddress(v string) (name, addr string) {
	if lt := strings.LastIndexByte(v, '<'); lt >= 0 {
		name, addr = v[:lt], v[lt+1:]
		if gt := strings.IndexByte(addr, '>'); gt >= 0 {
			addr = addr[:gt]
		}
	} else if p := strings.IndexByte(v, '('); p >= 0 {
		addr, name = v[:p], strings.TrimSuffix(strings.TrimSpace(v[p+1:]), ")")
	} else {
		addr = v
	}
	name = strings.Trim(strings.TrimSpace(name), `"' `)
	addr = strings.ToLower(strings.TrimSpace(addr))
	if strings.ContainsAny(addr, " \t") {
		addr = ""
	}
	return name, addr
}

// messageID adds the (number-folded) domain of a Message-ID.
func (z *tz) messageID(v string) {
	v = strings.Trim(strings.TrimSpace(v), "<>")
	at := strings.LastIndexByte(v, '@')
	if at < 0 {
		z.addString(pMsgID, "!no-at")
		return
	}
	d := strings.ToLower(strings.TrimRight(v[at+1:], ">"))
	z.addString(pMsgID, foldHost(d))
}

// received adds the tokens of one Received hop: host names and their
// registered domains, IPv4 networks (/16 and /24), the protocol after
// "with", and "unknown" clients.
func (z *tz) received(v string) {
	v = v[:min(len(v), maxHeaderText)]
	if k := strings.LastIndexByte(v, ';'); k >= 0 {
		v = v[:k] // the date
	}
	v = strings.ToLower(v)
	fields := strings.FieldsFunc(v, func(r rune) bool {
		switch r {
		case ' ', '\t', '\r', '\n', '(', ')', '[', ']', '<', '>', ';', '"', '\'', ',':
			return true
		}
		return false
	})
	for i, w := range fields {
		if i >= 40 {
			break
		}
		w = strings.TrimPrefix(w, "helo=")
		w = strings.Trim(w, ".:=")
		switch {
		case w == "with" && i+1 < len(fields):
			z.addString(pRcvd, "with="+fields[i+1])
		case w == "unknown":
			z.addString(pRcvd, "unknown")
		case isIPv4(w):
			parts := strings.Split(w, ".")
			z.addString(pRcvd, "ip:"+parts[0]+"."+parts[1])
			z.addString(pRcvd, "ip:"+parts[0]+"."+parts[1]+"."+parts[2])
		case strings.IndexByte(w, '.') > 0 && strings.IndexByte(w, '@') < 0 && isHostName(w):
			z.hostTokens(pRcvd, pRcvdDom, w)
		}
	}
}

func isIPv4(s string) bool {
	dots, digits := 0, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '.':
			if digits == 0 {
				return false
			}
			dots++
			digits = 0
		case c >= '0' && c <= '9':
			digits++
			if digits > 3 {
				return false
			}
		default:
			return false
		}
	}
	return dots == 3 && digits > 0
}

// isHostName reports whether s looks like a DNS name ending in a letter.
func isHostName(s string) bool {
	if len(s) > 253 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_') {
			return false
		}
	}
	last := s[len(s)-1]
	return last >= 'a' && last <= 'z'
}

// authResults adds "method=result" for each result of an
// Authentication-Results field.
func (z *tz) authResults(v string) {
	v = v[:min(len(v), maxHeaderText)]
	_, rest, ok := strings.Cut(strings.ToLower(v), ";")
	if !ok {
		return
	}
	for i, clause := range strings.Split(rest, ";") {
		if i >= 10 {
			break
		}
		clause = strings.TrimSpace(clause)
		word, _, _ := strings.Cut(clause, " ")
		if m, r, ok := strings.Cut(word, "="); ok && m != "" && len(word) < 40 {
			z.addString(pAuth, m+"="+r)
		}
	}
}

// noValueWords lists the fields whose words say nothing lasting: dates
// (a month token would only tell when the training mail came) and
// per-message identifiers.
func noValueWords(lname string) bool {
	switch lname {
	case "date", "delivery-date", "x-original-date", "x-originalarrivaltime", "resent-date",
		"message-id", "resent-message-id", "x-mozilla-status", "x-mozilla-status2", "x-uidl", "status", "x-status":
		return true
	}
	return false
}

// valueWords adds the words of a field's value, with their pairs, under
// "H:<name>:". A Received field loses its date.
func (z *tz) valueWords(lname, v string) {
	if lname == "received" {
		if k := strings.LastIndexByte(v, ';'); k >= 0 {
			v = v[:k]
		}
	}
	dv, mode := decodeHeader(v)
	z.text(mkPrefix("H:"+lname+":"), []byte(dv), mode)
}

// dateTokens adds the shape of a Date field: its zone, and whether it
// names the weekday.
func (z *tz) dateTokens(v string) {
	fs := strings.Fields(v)
	if len(fs) == 0 {
		return
	}
	last := fs[len(fs)-1]
	if strings.HasPrefix(last, "(") && len(fs) > 1 {
		last = fs[len(fs)-2]
	}
	z.addString(pDate, "zone="+last[:min(len(last), 8)])
	if !strings.HasSuffix(fs[0], ",") {
		z.addString(pDate, "no-weekday")
	}
}
