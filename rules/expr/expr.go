// Package expr parses and evaluates the boolean expressions of composite
// rules: conditions over symbol names such as
//
//	SPF_FAIL && !DKIM_VALID && BAYES_SPAM
//	(HTML_ONLY || HTML_LITTLE_TEXT) and not FROM_KNOWN
//	2 of (URI_SHORTENER, URI_IP, SUBJ_ALL_CAPS) || GTUBE
//
// # Grammar
//
//	expr   = or
//	or     = and { ("||" | "or") and }
//	and    = not { ("&&" | "and") not }
//	not    = ("!" | "not") not | atom
//	atom   = SYMBOL | "(" expr ")" | COUNT "of" "(" expr { "," expr } [","] ")"
//	SYMBOL = ("A"…"Z" | "_") { "A"…"Z" | "0"…"9" | "_" }
//	COUNT  = "1"…"9" { "0"…"9" }
//
// "&&" binds tighter than "||", and "!" tighter than both. A symbol is true
// when it was emitted for the message. "N of (a, b, …)" is true when at least
// N of the listed expressions are true; N must be between 1 and the number
// of expressions. The keywords and, or, not and of are lower case; symbol
// names are upper case, so the two never clash. White space (spaces, tabs,
// line breaks) separates tokens and is otherwise ignored.
//
// An expression is at most MaxLen bytes long and nests at most MaxDepth
// levels deep.
package expr

import (
	"strconv"
	"strings"
)

// Limits on what Parse accepts.
const (
	// MaxLen is the longest expression, in bytes.
	MaxLen = 4096
	// MaxDepth is the deepest nesting of parentheses, counts and
	// negations.
	MaxDepth = 64
)

// kind is the type of a node.
type kind uint8

const (
	kSym   kind = iota // a symbol reference
	kNot               // negation of kids[0]
	kAnd               // every kid true
	kOr                // some kid true
	kCount             // at least n kids true
)

// node is one node of the expression tree.
type node struct {
	kind kind
	sym  int // kSym: index into Expr.syms
	n    int // kCount: how many kids must be true
	kids []*node
}

// Expr is a parsed expression. It is immutable and safe for concurrent use.
type Expr struct {
	root *node
	syms []string
}

// Symbols returns the distinct symbol names the expression refers to, in the
// order they first appear. Eval's callback is called with indexes into this
// slice. The caller must not modify it.
func (e *Expr) Symbols() []string { return e.syms }

// Eval evaluates the expression; has reports whether the i-th symbol of
// Symbols() is present. Evaluation short-circuits, so has may not be called
// for every symbol.
func (e *Expr) Eval(has func(i int) bool) bool { return eval(e.root, has) }

func eval(n *node, has func(int) bool) bool {
	switch n.kind {
	case kSym:
		return has(n.sym)
	case kNot:
		return !eval(n.kids[0], has)
	case kAnd:
		for _, k := range n.kids {
			if !eval(k, has) {
				return false
			}
		}
		return true
	case kOr:
		for _, k := range n.kids {
			if eval(k, has) {
				return true
			}
		}
		return false
	case kCount:
		got, left := 0, len(n.kids)
		for _, k := range n.kids {
			left--
			if eval(k, has) {
				got++
			}
			if got >= n.n {
				return true
			}
			if got+left < n.n {
				return false
			}
		}
		return false
	}
	return false
}

// String returns the expression in canonical form: symbols, "!", " && ",
// " || ", "N of (a, b)", with parentheses only where precedence needs them.
// Parsing the result gives an equivalent expression with the same String.
func (e *Expr) String() string {
	var b strings.Builder
	e.write(&b, e.root, 0)
	return b.String()
}

// precedence levels for String: 0 or, 1 and, 2 unary/atom.
func (e *Expr) write(b *strings.Builder, n *node, outer int) {
	switch n.kind {
	case kSym:
		b.WriteString(e.syms[n.sym])
	case kNot:
		b.WriteByte('!')
		e.write(b, n.kids[0], 2)
	case kAnd, kOr:
		level, sep := 0, " || "
		if n.kind == kAnd {
			level, sep = 1, " && "
		}
		if outer > level {
			b.WriteByte('(')
		}
		for i, k := range n.kids {
			if i > 0 {
				b.WriteString(sep)
			}
			e.write(b, k, level+1)
		}
		if outer > level {
			b.WriteByte(')')
		}
	case kCount:
		b.WriteString(strconv.Itoa(n.n))
		b.WriteString(" of (")
		for i, k := range n.kids {
			if i > 0 {
				b.WriteString(", ")
			}
			e.write(b, k, 0)
		}
		b.WriteByte(')')
	}
}
