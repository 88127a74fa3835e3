package bayes

import (
	"bytes"
	"fmt"
	"sync"

	"github.com/moatmail/moat/filter"
)

// Defaults of TokenizerOptions.
const (
	DefaultWindow           = 3
	DefaultMaxPartBytes     = 64 << 10
	DefaultMaxParts         = 64
	DefaultMaxDepth         = 8
	DefaultMaxMessageTokens = 20000
	DefaultMaxWordLen       = 24
	DefaultMaxReceived      = 6
	DefaultMaxURLs          = 64
	// MaxWindow is the largest Window.
	MaxWindow = 8
)

// TokenizerOptions bound and shape tokenization. Start from
// DefaultTokenizerOptions; zero fields take the defaults.
type TokenizerOptions struct {
	// Window is the OSB window: each word is also paired with each of the
	// Window-1 words before it ("a b", "a _ c", …). 1 gives single words
	// only; at most MaxWindow.
	Window int
	// MaxPartBytes is how many decoded bytes of each text part are read.
	MaxPartBytes int
	// MaxParts is how many MIME parts of a message are looked at.
	MaxParts int
	// MaxDepth is how deep MIME parts may nest.
	MaxDepth int
	// MaxTokens is the most distinct tokens taken from one message.
	MaxTokens int
	// MaxWordLen is the longest word (in characters) kept as itself;
	// longer ones become a "skip" token of their first letter and length.
	MaxWordLen int
	// MaxReceived is how many Received headers (from the top) give hop
	// tokens (hosts, networks, protocol); every one gives its words.
	MaxReceived int
	// MaxURLs is how many URLs of a message give tokens.
	MaxURLs int
}

// DefaultTokenizerOptions returns the defaults: window 3, 64 KiB per part,
// 64 parts, depth 8, 20000 tokens, words up to 24 characters, 6 Received
// hops, 64 URLs.
func DefaultTokenizerOptions() TokenizerOptions {
	return TokenizerOptions{
		Window: DefaultWindow, MaxPartBytes: DefaultMaxPartBytes, MaxParts: DefaultMaxParts,
		MaxDepth: DefaultMaxDepth, MaxTokens: DefaultMaxMessageTokens, MaxWordLen: DefaultMaxWordLen,
		MaxReceived: DefaultMaxReceived, MaxURLs: DefaultMaxURLs,
	}
}

func (o *TokenizerOptions) fill() {
	d := DefaultTokenizerOptions()
	if o.Window <= 0 {
		o.Window = d.Window
	}
	o.Window = min(o.Window, MaxWindow)
	for _, p := range []struct {
		v *int
		d int
	}{
		{&o.MaxPartBytes, d.MaxPartBytes}, {&o.MaxParts, d.MaxParts}, {&o.MaxDepth, d.MaxDepth},
		{&o.MaxTokens, d.MaxTokens}, {&o.MaxWordLen, d.MaxWordLen}, {&o.MaxReceived, d.MaxReceived},
		{&o.MaxURLs, d.MaxURLs},
	} {
		if *p.v <= 0 {
			*p.v = p.d
		}
	}
}

// Validate reports options out of range (negative values; a window over
// MaxWindow).
func (o TokenizerOptions) Validate() error {
	if o.Window < 0 || o.Window > MaxWindow {
		return fmt.Errorf("window: want 1 to %d, got %d", MaxWindow, o.Window)
	}
	if o.MaxPartBytes < 0 || o.MaxParts < 0 || o.MaxDepth < 0 || o.MaxTokens < 0 ||
		o.MaxWordLen < 0 || o.MaxReceived < 0 || o.MaxURLs < 0 {
		return fmt.Errorf("tokenizer limits must not be negative")
	}
	return nil
}

// Tokenizer turns a raw message into the distinct token ids the classifier
// scores. It is safe for concurrent use.
type Tokenizer struct {
	o    TokenizerOptions
	pool sync.Pool // *tz
}

// NewTokenizer returns a tokenizer; zero option fields take the defaults.
func NewTokenizer(o TokenizerOptions) *Tokenizer {
	o.fill()
	t := &Tokenizer{o: o}
	t.pool.New = func() any { return newTZ(&t.o) }
	return t
}

// Options returns the options in effect.
func (t *Tokenizer) Options() TokenizerOptions { return t.o }

// Tokens appends the distinct token ids of the raw message (RFC 5322
// bytes, an mbox "From " line allowed at the top) to dst and returns it.
// Work is bounded by the options whatever the input.
func (t *Tokenizer) Tokens(dst []uint64, raw []byte) []uint64 {
	z := t.pool.Get().(*tz)
	z.reset(false)
	z.message(raw)
	dst = append(dst, z.out...)
	t.pool.Put(z)
	return dst
}

// Strings returns the message's tokens as text, in the order they were
// found (each once), for tests and explanations. Word pairs read "a b"
// (adjacent) or "a _ b" (one word between), and so on.
func (t *Tokenizer) Strings(raw []byte) []string {
	z := newTZ(&t.o)
	z.reset(true)
	z.message(raw)
	return z.dbg
}

// StripFromLine returns raw without a leading mbox "From " envelope line.
func StripFromLine(raw []byte) []byte {
	if !bytes.HasPrefix(raw, []byte("From ")) {
		return raw
	}
	i := bytes.IndexByte(raw, '\n')
	if i < 0 {
		return raw[len(raw):]
	}
	return raw[i+1:]
}

// prefix is a token namespace ("s:" subject words, "" body words, …) with
// its hash state precomputed.
type prefix struct {
	name string
	h    uint64
}

func mkPrefix(name string) prefix { return prefix{name: name, h: seed(name)} }

// tz is the per-call tokenizer state, pooled.
type tz struct {
	o *TokenizerOptions

	set   idSet
	out   []uint64
	debug bool
	dbg   []string

	// OSB ring of the last words' hashes (and texts when debugging).
	ring    [MaxWindow]uint64
	ringTxt [MaxWindow]string
	ringN   int
	win     int // the OSB window in effect

	word  []byte // the word being built, lower-cased
	word2 []byte // a transformed word
	buf   []byte // decoded part
	buf2  []byte // charset-converted part
	vis   []byte // visible HTML text
	hid   []byte // hidden HTML text
	parts int
	urls  int
	full  bool
}

func newTZ(o *TokenizerOptions) *tz {
	return &tz{o: o, word: make([]byte, 0, 64)}
}

func (z *tz) reset(debug bool) {
	z.set.reset()
	z.out = z.out[:0]
	z.debug = debug
	z.win = z.o.Window
	z.dbg = nil
	z.ringN = 0
	z.parts, z.urls = 0, 0
	z.full = false
	// Do not keep huge buffers from one odd message forever.
	if cap(z.buf) > 4*z.o.MaxPartBytes {
		z.buf = nil
	}
	if cap(z.buf2) > 4*z.o.MaxPartBytes {
		z.buf2 = nil
	}
}

// message tokenizes a whole raw message.
func (z *tz) message(raw []byte) {
	raw = StripFromLine(raw)
	h, n, _ := filter.ParseHeader(raw) // a NUL in the header is not our business here
	z.headers(h.Fields)
	z.entity(h.Fields, raw[n:], 0)
}

// add records one token: the word hashed under the prefix.
func (z *tz) add(p prefix, word []byte) uint64 {
	h := hashMore(p.h, word)
	z.addID(tokenID(h), p.name, word)
	return h
}

// addString is add for a string.
func (z *tz) addString(p prefix, word string) uint64 {
	h := p.h
	for i := 0; i < len(word); i++ {
		h ^= uint64(word[i])
		h *= fnvPrime
	}
	if z.debug {
		z.addID(tokenID(h), p.name, []byte(word))
	} else {
		z.addID(tokenID(h), "", nil)
	}
	return h
}

func (z *tz) addID(id uint64, pfx string, word []byte) {
	if z.full {
		return
	}
	if z.set.insert(id) {
		z.out = append(z.out, id)
		if z.debug {
			z.dbg = append(z.dbg, pfx+string(word))
		}
		if len(z.out) >= z.o.MaxTokens {
			z.full = true
		}
	}
}

// breakRing ends the current run of words: pairs do not cross it.
func (z *tz) breakRing() { z.ringN = 0 }

// wordToken adds a word of a paired text (body, subject) and its OSB pairs
// with the words before it.
func (z *tz) wordToken(p prefix, word []byte) {
	h := z.add(p, word)
	var txt string
	if z.debug {
		txt = string(word)
	}
	w := z.win
	for d := 1; d < w && d <= z.ringN; d++ {
		prev := z.ring[(z.ringN-d)%MaxWindow]
		if z.debug {
			sep := " "
			for range d - 1 {
				sep += "_ "
			}
			z.addID(pairID(prev, h, d), p.name, []byte(z.ringTxt[(z.ringN-d)%MaxWindow]+sep+txt))
		} else {
			z.addID(pairID(prev, h, d), "", nil)
		}
	}
	z.ring[z.ringN%MaxWindow] = h
	if z.debug {
		z.ringTxt[z.ringN%MaxWindow] = txt
	}
	z.ringN++
	if z.ringN >= 2*MaxWindow { // keep the index small, same residues
		z.ringN -= MaxWindow
	}
}

// idSet is an open-addressing set of token ids, sized to the message and
// cleared cheaply between messages.
type idSet struct {
	slots []uint64
	n     int
}

// reset empties the set. A table much larger than the last message
// needed is dropped, so one huge message does not slow every later clear.
func (s *idSet) reset() {
	if len(s.slots) > 8*max(1024, 2*s.n) {
		s.slots = nil
	}
	clear(s.slots)
	s.n = 0
}

// insert adds id and reports whether it was new. Id 0 is stored as 1.
func (s *idSet) insert(id uint64) bool {
	if id == 0 {
		id = 1
	}
	if 2*(s.n+1) > len(s.slots) {
		s.grow()
	}
	mask := uint64(len(s.slots) - 1)
	for i := id & mask; ; i = (i + 1) & mask {
		switch s.slots[i] {
		case 0:
			s.slots[i] = id
			s.n++
			return true
		case id:
			return false
		}
	}
}

func (s *idSet) grow() {
	old := s.slots
	size := max(1024, 2*len(old))
	s.slots = make([]uint64, size)
	mask := uint64(size - 1)
	for _, id := range old {
		if id == 0 {
			continue
		}
		i := id & mask
		for s.slots[i] != 0 {
			i = (i + 1) & mask
		}
		s.slots[i] = id
	}
}
