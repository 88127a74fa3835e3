package policies

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// problem is one thing wrong with a configuration. Its text is
// "FILE:LINE: key: message" when it comes from a file, "key: message"
// otherwise.
type problem struct {
	file string
	line int
	key  string
	msg  string
}

func (p problem) Error() string {
	var b strings.Builder
	if p.file != "" {
		b.WriteString(p.file)
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(max(p.line, 1)))
		b.WriteString(": ")
	}
	if p.key != "" {
		b.WriteString(oneLine(p.key))
		b.WriteString(": ")
	}
	b.WriteString(oneLine(p.msg))
	return b.String()
}

// oneLine escapes line breaks so that every problem stays on one line.
func oneLine(s string) string {
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	return strings.NewReplacer("\r", `\r`, "\n", `\n`).Replace(s)
}

// keyPath locates a value in the YAML document: mapping keys, and "[i]" for
// the i-th element of a sequence.
type keyPath []string

// with returns a new path with more elements; p itself is never modified.
func (p keyPath) with(elems ...string) keyPath {
	out := make(keyPath, 0, len(p)+len(elems))
	return append(append(out, p...), elems...)
}

// index returns a new path to the i-th element of the sequence at p.
func (p keyPath) index(i int) keyPath { return p.with("[" + strconv.Itoa(i) + "]") }

// String writes the path as "a.b[2].c". Keys with unusual characters are
// quoted.
func (p keyPath) String() string {
	var b strings.Builder
	for i, e := range p {
		if isIndex(e) {
			b.WriteString(e)
			continue
		}
		if i > 0 {
			b.WriteByte('.')
		}
		if plainKey(e) {
			b.WriteString(e)
		} else {
			b.WriteString(strconv.Quote(e))
		}
	}
	return b.String()
}

func isIndex(e string) bool {
	return len(e) > 2 && e[0] == '[' && e[len(e)-1] == ']'
}

func plainKey(e string) bool {
	if e == "" {
		return false
	}
	for _, c := range e {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '_' || c == '-' || c == '.' || c == '@' || c == '+' || c == ':' || c == '/':
		default:
			return false
		}
	}
	return true
}

// reporter collects problems. With a document node it finds the line of
// each problem's key; without one (validating a Config built in code) the
// problems carry no file or line.
type reporter struct {
	file  string
	root  *yaml.Node
	probs []problem
}

// add records a problem with the value at path.
func (r *reporter) add(path keyPath, format string, args ...any) {
	p := problem{key: path.String(), msg: fmt.Sprintf(format, args...)}
	if r.root != nil {
		p.file, p.line = r.file, lineOf(r.root, path)
	}
	r.probs = append(r.probs, p)
}

// addAt records a problem found at a known line (a YAML error).
func (r *reporter) addAt(line int, path keyPath, msg string) {
	r.probs = append(r.probs, problem{file: r.file, line: line, key: path.String(), msg: msg})
}

// err returns the problems as one error, one per line, ordered by line when
// lines are known, or nil when there are none.
func (r *reporter) err() error {
	if len(r.probs) == 0 {
		return nil
	}
	probs := slices.Clone(r.probs)
	slices.SortStableFunc(probs, func(a, b problem) int { return a.line - b.line })
	probs = slices.Compact(probs)
	errs := make([]error, len(probs))
	for i, p := range probs {
		errs[i] = p
	}
	return errors.Join(errs...)
}

// lineOf returns the line of the value at path in the document rooted at
// root: the line of its key, or of the nearest enclosing key present in the
// document when the key itself is absent (a missing required key is
// reported where its parent is).
func lineOf(root *yaml.Node, path keyPath) int {
	n := root
	line := max(root.Line, 1)
	for _, e := range path {
		if n.Kind == yaml.AliasNode && n.Alias != nil {
			n = n.Alias
		}
		switch n.Kind {
		case yaml.MappingNode:
			found := false
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == e {
					line, n, found = n.Content[i].Line, n.Content[i+1], true
					break
				}
			}
			if !found {
				return line
			}
		case yaml.SequenceNode:
			i, err := strconv.Atoi(strings.Trim(e, "[]"))
			if !isIndex(e) || err != nil || i < 0 || i >= len(n.Content) {
				return line
			}
			n = n.Content[i]
			line = n.Line
		default:
			return line
		}
	}
	return line
}

// findPath walks the document in order, without following aliases, and
// returns the first key or value node for which match is true, with its
// path.
func findPath(root *yaml.Node, match func(n *yaml.Node, isKey bool) bool) (keyPath, *yaml.Node) {
	var walk func(n *yaml.Node, path keyPath) (keyPath, *yaml.Node)
	walk = func(n *yaml.Node, path keyPath) (keyPath, *yaml.Node) {
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				p := path.with(k.Value)
				if match(k, true) {
					return p, k
				}
				if match(v, false) {
					return p, v
				}
				if found, fn := walk(v, p); fn != nil {
					return found, fn
				}
			}
		case yaml.SequenceNode:
			for i, v := range n.Content {
				p := path.index(i)
				if match(v, false) {
					return p, v
				}
				if found, fn := walk(v, p); fn != nil {
					return found, fn
				}
			}
		}
		return nil, nil
	}
	if match(root, false) {
		return nil, root
	}
	return walk(root, nil)
}
