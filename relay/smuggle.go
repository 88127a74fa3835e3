package relay

// bareCheck watches message text for a CR not followed by LF or an LF not
// preceded by CR. Such line endings are how SMTP smuggling hides a second
// message inside the first (a downstream server that accepts "\n.\n" as the
// end of data sees two messages where moat saw one), so moat refuses them.
type bareCheck struct {
	prevCR bool
	bad    bool
}

// Write scans p. It never fails, so it can sit in an io.MultiWriter.
func (b *bareCheck) Write(p []byte) (int, error) {
	if b.bad {
		return len(p), nil
	}
	prevCR := b.prevCR
	for _, c := range p {
		switch {
		case c == '\n':
			if !prevCR {
				b.bad = true
				return len(p), nil
			}
			prevCR = false
		case prevCR:
			b.bad = true // CR followed by something other than LF
			return len(p), nil
		case c == '\r':
			prevCR = true
		}
	}
	b.prevCR = prevCR
	return len(p), nil
}

// found reports whether a bare CR or LF was seen. A message that ends in a
// lone CR counts as bare too.
func (b *bareCheck) found() bool { return b.bad || b.prevCR }
