package relay

import (
	"bytes"
	"io"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/moatmail/moat/filter"
	"github.com/moatmail/moat/policies"
)

// receivedInfo is what goes into moat's Received header.
type receivedInfo struct {
	helo     string
	ip       netip.Addr
	hostname string
	tls      bool
	auth     bool
	id       string
	rcpt     string // only when the message has a single recipient
	when     time.Time
}

// appendReceived appends a Received header (RFC 5321 section 4.4).
func appendReceived(b []byte, r receivedInfo) []byte {
	b = append(b, "Received: from "...)
	b = append(b, headerSafe(r.helo, 255)...)
	b = append(b, " ("...)
	if r.ip.Is6() && !r.ip.Is4In6() {
		b = append(b, "[IPv6:"...)
	} else {
		b = append(b, '[')
	}
	b = append(b, r.ip.Unmap().String()...)
	b = append(b, "])\r\n\tby "...)
	b = append(b, r.hostname...)
	b = append(b, " (moat) with "...)
	proto := "ESMTP"
	if r.tls {
		proto += "S"
	}
	if r.auth {
		proto += "A"
	}
	b = append(b, proto...)
	b = append(b, " id "...)
	b = append(b, r.id...)
	if r.rcpt != "" {
		b = append(b, "\r\n\tfor <"...)
		b = append(b, headerSafe(r.rcpt, 512)...)
		b = append(b, '>')
	}
	b = append(b, ";\r\n\t"...)
	b = r.when.AppendFormat(b, time.RFC1123Z)
	return append(b, "\r\n"...)
}

// appendSpamHeaders appends SpamAssassin-compatible headers so existing
// Sieve scripts and client rules keep working:
//
//	X-Spam-Flag: YES
//	X-Spam-Score: 9.3
//	X-Spam-Status: Yes, score=9.3 required=8.0 tests=A,B,C
//	X-Spam-Action: junk
func appendSpamHeaders(b []byte, v policies.Verdict) []byte {
	spam := v.IsSpam()
	b = append(b, "X-Spam-Flag: "...)
	if spam {
		b = append(b, "YES\r\nX-Spam-Score: "...)
	} else {
		b = append(b, "NO\r\nX-Spam-Score: "...)
	}
	b = strconv.AppendFloat(b, v.Score, 'f', 1, 64)
	b = append(b, "\r\nX-Spam-Status: "...)
	if spam {
		b = append(b, "Yes, score="...)
	} else {
		b = append(b, "No, score="...)
	}
	b = strconv.AppendFloat(b, v.Score, 'f', 1, 64)
	b = append(b, " required="...)
	b = strconv.AppendFloat(b, v.Required, 'f', 1, 64)
	b = append(b, " tests="...)
	b = appendTests(b, v.Symbols)
	b = append(b, "\r\nX-Spam-Action: "...)
	b = append(b, v.Action.String()...)
	return append(b, "\r\n"...)
}

// appendTests appends the symbol names, sorted and comma-separated, folding
// the line before it gets longer than 78 characters; "none" if there are
// none, as SpamAssassin writes it.
func appendTests(b []byte, syms []filter.Symbol) []byte {
	if len(syms) == 0 {
		return append(b, "none"...)
	}
	names := make([]string, len(syms))
	for i, s := range syms {
		names[i] = s.Name
	}
	slices.Sort(names)
	lineStart := bytes.LastIndexByte(b, '\n') + 1
	for i, n := range names {
		if i > 0 {
			b = append(b, ',')
			if len(b)-lineStart+len(n) > 76 {
				b = append(b, "\r\n\t"...)
				lineStart = len(b) - 1
			}
		}
		b = append(b, n...)
	}
	return b
}

// isOwnHeader reports whether a field name is one that moat writes and so
// must remove when it arrives from outside (nobody may forge our verdict).
func isOwnHeader(name string) bool {
	return len(name) >= 7 && strings.EqualFold(name[:7], "X-Spam-")
}

// outMsg is the message as moat passes it on: moat's new header fields,
// the original header block (less any X-Spam-* fields from outside), then
// the body. It writes its parts directly (WriteTo) instead of through a copy
// buffer, and is also an io.Reader for couriers that want one.
type outMsg struct {
	parts [][]byte
	rest  io.Reader // the spooled part of the body, or nil
	bufs  *buffers
	r     io.Reader // built on first Read
}

// outgoing returns the message to pass on: pre (Received,
// Authentication-Results, X-Spam-*), then m without the fields drop
// reports as moat's own from outside (X-Spam-*, Authentication-Results
// with moat's authserv-id).
func outgoing(pre []byte, m *filter.Message, bufs *buffers, drop func(filter.Field) bool) *outMsg {
	head := m.Prefix()[:m.HeaderLen]
	clean := true
	for _, f := range m.Header.Fields {
		if drop(f) {
			clean = false
			break
		}
	}
	if !clean {
		kept := make([]byte, 0, len(head))
		end := 0
		for _, f := range m.Header.Fields {
			if !drop(f) {
				kept = append(kept, f.Raw...)
			}
			end += len(f.Raw)
		}
		head = append(kept, head[end:]...)
	}
	body, rest := m.BodyParts()
	if len(m.Header.Fields) == 0 && !bytes.HasPrefix(body, []byte("\r\n")) {
		// No header at all: keep the body a body after our fields.
		head = append(head[:len(head):len(head)], "\r\n"...)
	}
	return &outMsg{parts: [][]byte{pre, head, body}, rest: rest, bufs: bufs}
}

// WriteTo writes the whole message to w.
func (o *outMsg) WriteTo(w io.Writer) (int64, error) {
	var n int64
	for _, p := range o.parts {
		k, err := w.Write(p)
		n += int64(k)
		if err != nil {
			return n, err
		}
	}
	if o.rest != nil {
		k, err := o.bufs.copyBuffered(w, o.rest)
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// Read reads the message.
func (o *outMsg) Read(p []byte) (int, error) {
	if o.r == nil {
		rs := make([]io.Reader, 0, len(o.parts)+1)
		for _, part := range o.parts {
			rs = append(rs, bytes.NewReader(part))
		}
		if o.rest != nil {
			rs = append(rs, o.rest)
		}
		o.r = io.MultiReader(rs...)
	}
	return o.r.Read(p)
}

// headerSafe makes s safe to put in a header: no control characters (CR and
// LF included), at most max bytes.
func headerSafe(s string, max int) string {
	ok := len(s) <= max
	for i := 0; ok && i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			ok = false
		}
	}
	if ok {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s) && b.Len() < max; i++ {
		if c := s[i]; c >= 0x20 && c != 0x7f {
			b.WriteByte(c)
		}
	}
	return b.String()
}
