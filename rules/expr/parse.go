package expr

import (
	"fmt"
	"strconv"
)

// SyntaxError is a parse error at a byte offset of the expression.
type SyntaxError struct {
	// Offset is the 0-based byte offset of the offending token.
	Offset int
	// Msg says what is wrong.
	Msg string
}

// Error returns "column N: message", N being the 1-based byte column.
func (e *SyntaxError) Error() string {
	return fmt.Sprintf("column %d: %s", e.Offset+1, e.Msg)
}

// tokKind is the type of a token.
type tokKind uint8

const (
	tEOF tokKind = iota
	tSym
	tInt
	tAnd
	tOr
	tNot
	tOf
	tLParen
	tRParen
	tComma
)

// token is one lexical token and where it starts.
type token struct {
	kind tokKind
	text string
	off  int
}

func (t token) describe() string {
	if t.kind == tEOF {
		return "end of expression"
	}
	return strconv.Quote(t.text)
}

// parser is a recursive-descent parser over the token stream.
type parser struct {
	src   string
	pos   int // next byte to lex
	tok   token
	depth int
	syms  []string
	index map[string]int
}

// Parse parses an expression (see the package documentation for the
// grammar). The error is a *SyntaxError.
func Parse(s string) (*Expr, error) {
	if len(s) > MaxLen {
		return nil, &SyntaxError{Offset: MaxLen, Msg: fmt.Sprintf("expression longer than %d bytes", MaxLen)}
	}
	p := &parser{src: s, index: map[string]int{}}
	if err := p.next(); err != nil {
		return nil, err
	}
	if p.tok.kind == tEOF {
		return nil, &SyntaxError{Offset: p.tok.off, Msg: "empty expression"}
	}
	root, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	if p.tok.kind != tEOF {
		return nil, p.unexpected("an operator or the end")
	}
	return &Expr{root: root, syms: p.syms}, nil
}

func (p *parser) unexpected(want string) *SyntaxError {
	return &SyntaxError{Offset: p.tok.off, Msg: fmt.Sprintf("unexpected %s, want %s", p.tok.describe(), want)}
}

func (p *parser) enter() error {
	p.depth++
	if p.depth > MaxDepth {
		return &SyntaxError{Offset: p.tok.off, Msg: fmt.Sprintf("nested more than %d levels deep", MaxDepth)}
	}
	return nil
}

func (p *parser) leave() { p.depth-- }

// parseOr parses and-terms joined by "||" or "or".
func (p *parser) parseOr() (*node, error) {
	first, err := p.parseAnd()
	if err != nil {
		return nil, err
	}
	if p.tok.kind != tOr {
		return first, nil
	}
	n := &node{kind: kOr, kids: []*node{first}}
	for p.tok.kind == tOr {
		if err := p.next(); err != nil {
			return nil, err
		}
		k, err := p.parseAnd()
		if err != nil {
			return nil, err
		}
		n.kids = append(n.kids, k)
	}
	return n, nil
}

// parseAnd parses unary terms joined by "&&" or "and".
func (p *parser) parseAnd() (*node, error) {
	first, err := p.parseNot()
	if err != nil {
		return nil, err
	}
	if p.tok.kind != tAnd {
		return first, nil
	}
	n := &node{kind: kAnd, kids: []*node{first}}
	for p.tok.kind == tAnd {
		if err := p.next(); err != nil {
			return nil, err
		}
		k, err := p.parseNot()
		if err != nil {
			return nil, err
		}
		n.kids = append(n.kids, k)
	}
	return n, nil
}

// parseNot parses a negation or an atom.
func (p *parser) parseNot() (*node, error) {
	if p.tok.kind != tNot {
		return p.parseAtom()
	}
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	if err := p.next(); err != nil {
		return nil, err
	}
	k, err := p.parseNot()
	if err != nil {
		return nil, err
	}
	return &node{kind: kNot, kids: []*node{k}}, nil
}

// parseAtom parses a symbol, a parenthesised expression or a count.
func (p *parser) parseAtom() (*node, error) {
	switch p.tok.kind {
	case tSym:
		name := p.tok.text
		i, ok := p.index[name]
		if !ok {
			i = len(p.syms)
			p.index[name] = i
			p.syms = append(p.syms, name)
		}
		if err := p.next(); err != nil {
			return nil, err
		}
		return &node{kind: kSym, sym: i}, nil
	case tLParen:
		if err := p.enter(); err != nil {
			return nil, err
		}
		defer p.leave()
		if err := p.next(); err != nil {
			return nil, err
		}
		n, err := p.parseOr()
		if err != nil {
			return nil, err
		}
		if p.tok.kind != tRParen {
			return nil, p.unexpected(`")"`)
		}
		return n, p.next()
	case tInt:
		return p.parseCount()
	}
	return nil, p.unexpected("a symbol, \"!\", \"(\" or a count")
}

// parseCount parses "N of (e, e, …)".
func (p *parser) parseCount() (*node, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	countTok := p.tok
	n, err := strconv.Atoi(countTok.text)
	if err != nil {
		return nil, &SyntaxError{Offset: countTok.off, Msg: fmt.Sprintf("count %s is too large", countTok.text)}
	}
	if err := p.next(); err != nil {
		return nil, err
	}
	if p.tok.kind != tOf {
		return nil, p.unexpected(`"of" after a count`)
	}
	if err := p.next(); err != nil {
		return nil, err
	}
	if p.tok.kind != tLParen {
		return nil, p.unexpected(`"(" after "of"`)
	}
	if err := p.next(); err != nil {
		return nil, err
	}
	c := &node{kind: kCount, n: n}
	for {
		if p.tok.kind == tRParen && len(c.kids) > 0 {
			break // a trailing comma
		}
		k, err := p.parseOr()
		if err != nil {
			return nil, err
		}
		c.kids = append(c.kids, k)
		if p.tok.kind == tComma {
			if err := p.next(); err != nil {
				return nil, err
			}
			continue
		}
		if p.tok.kind != tRParen {
			return nil, p.unexpected(`"," or ")"`)
		}
		break
	}
	if n < 1 || n > len(c.kids) {
		return nil, &SyntaxError{Offset: countTok.off, Msg: fmt.Sprintf("count %d must be between 1 and the number of expressions listed (%d)", n, len(c.kids))}
	}
	return c, p.next()
}

// next lexes the next token into p.tok.
func (p *parser) next() error {
	s := p.src
	for p.pos < len(s) && isSpace(s[p.pos]) {
		p.pos++
	}
	start := p.pos
	if start >= len(s) {
		p.tok = token{kind: tEOF, off: len(s)}
		return nil
	}
	c := s[start]
	two := func(k tokKind, text string) error {
		if start+1 < len(s) && s[start+1] == text[1] {
			p.pos += 2
			p.tok = token{kind: k, text: text, off: start}
			return nil
		}
		return &SyntaxError{Offset: start, Msg: fmt.Sprintf("%q must be written %q", c, text)}
	}
	switch {
	case c == '&':
		return two(tAnd, "&&")
	case c == '|':
		return two(tOr, "||")
	case c == '!':
		p.pos++
		p.tok = token{kind: tNot, text: "!", off: start}
	case c == '(':
		p.pos++
		p.tok = token{kind: tLParen, text: "(", off: start}
	case c == ')':
		p.pos++
		p.tok = token{kind: tRParen, text: ")", off: start}
	case c == ',':
		p.pos++
		p.tok = token{kind: tComma, text: ",", off: start}
	case isDigit(c):
		for p.pos < len(s) && isDigit(s[p.pos]) {
			p.pos++
		}
		p.tok = token{kind: tInt, text: s[start:p.pos], off: start}
		if p.tok.text[0] == '0' {
			return &SyntaxError{Offset: start, Msg: fmt.Sprintf("count %s must be a positive number without leading zeros", p.tok.text)}
		}
		if p.pos < len(s) && isWordByte(s[p.pos]) {
			return &SyntaxError{Offset: start, Msg: "a symbol name cannot start with a digit"}
		}
	case isWordByte(c):
		for p.pos < len(s) && isWordByte(s[p.pos]) {
			p.pos++
		}
		word := s[start:p.pos]
		switch word {
		case "and":
			p.tok = token{kind: tAnd, text: word, off: start}
		case "or":
			p.tok = token{kind: tOr, text: word, off: start}
		case "not":
			p.tok = token{kind: tNot, text: word, off: start}
		case "of":
			p.tok = token{kind: tOf, text: word, off: start}
		default:
			if !ValidSymbol(word) {
				return &SyntaxError{Offset: start, Msg: fmt.Sprintf("%q is not a symbol name (UPPER_SNAKE: A-Z, 0-9 and _, not starting with a digit) nor a keyword (and, or, not, of)", word)}
			}
			p.tok = token{kind: tSym, text: word, off: start}
		}
	default:
		return &SyntaxError{Offset: start, Msg: fmt.Sprintf("unexpected character %q", rune(c))}
	}
	return nil
}

// ValidSymbol reports whether s is a valid symbol name: upper-case letters,
// digits and underscores, not starting with a digit, holding at least one
// letter or digit, at most 128 bytes.
func ValidSymbol(s string) bool {
	if s == "" || len(s) > 128 || isDigit(s[0]) {
		return false
	}
	alnum := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= 'A' && c <= 'Z', isDigit(c):
			alnum = true
		case c == '_':
		default:
			return false
		}
	}
	return alnum
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || isDigit(c) || c == '_'
}
