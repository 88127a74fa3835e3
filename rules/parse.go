package rules

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// matcherKeys returns the rule keys that name a matcher, in documentation
// order.
func matcherKeys() []string {
	return []string{"header", "body", "raw", "uri", "attachment", "size", "test", "expr"}
}

// ruleKeys returns every key a rule may have.
func ruleKeys() []string {
	return append([]string{"symbol", "score", "description", "shadow"}, matcherKeys()...)
}

// spec is one rule as written in a file, before compilation.
type spec struct {
	file string
	line int // line of the rule's first key

	symbol      string
	symbolLine  int
	score       float64
	hasScore    bool
	scoreLine   int
	description string
	hasDesc     bool
	shadow      bool
	shadowLine  int

	kind      string // matcher key
	kindLine  int
	header    string // header: field name, "" for every field
	attach    string // attachment: "name" or "type"
	pattern   string // regex or expression
	patNode   *yaml.Node
	min, max  float64 // size, test
	hasRange  bool
	test      string
	rangeLine int
}

// fileParser reads one rule file into specs.
type fileParser struct {
	file  string
	lines [][]byte
	ps    *problems
	specs []*spec
}

// newFileParser returns the parser of one rule file.
func newFileParser(name string, data []byte, ps *problems) *fileParser {
	return &fileParser{file: name, lines: bytes.Split(data, []byte("\n")), ps: ps}
}

// parse parses the rule file. Problems go to p.ps; the specs returned are
// those that could be read (rules with problems are dropped).
func (p *fileParser) parse(data []byte) []*spec {
	name, ps := p.file, p.ps
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	switch err := dec.Decode(&doc); {
	case errors.Is(err, io.EOF):
		return nil // an empty file
	case err != nil:
		line, msg := yamlError(err)
		ps.add(name, line, "invalid YAML: %s", msg)
		return nil
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		line := extra.Line
		if err != nil {
			line, _ = yamlError(err)
		}
		ps.add(name, line, "only one YAML document is allowed")
		return nil
	}
	if len(doc.Content) == 0 {
		return nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		ps.add(name, root.Line, "want a mapping with a \"rules\" list, got %s", kindName(root))
		return nil
	}
	var list *yaml.Node
	p.eachKey(root, func(k, v *yaml.Node) {
		if k.Value != "rules" {
			ps.add(name, k.Line, "unknown key %q (want \"rules\")", k.Value)
			return
		}
		list = v
	})
	if list == nil {
		return nil
	}
	if list.Kind == yaml.ScalarNode && list.Tag == "!!null" {
		return nil
	}
	if list.Kind != yaml.SequenceNode {
		ps.add(name, list.Line, "rules: want a list of rules, got %s", kindName(list))
		return nil
	}
	for _, n := range list.Content {
		if s := p.rule(n); s != nil {
			p.specs = append(p.specs, s)
		}
	}
	return p.specs
}

// eachKey calls fn for each key/value pair of a mapping, reporting
// duplicate keys (and skipping them) and aliases.
func (p *fileParser) eachKey(m *yaml.Node, fn func(k, v *yaml.Node)) {
	seen := map[string]int{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			p.ps.add(p.file, k.Line, "a key must be a string, got %s", kindName(k))
			continue
		}
		if at, dup := seen[k.Value]; dup {
			p.ps.add(p.file, k.Line, "%s: already set at line %d", k.Value, at)
			continue
		}
		seen[k.Value] = k.Line
		if v.Kind == yaml.AliasNode {
			v = v.Alias
		}
		fn(k, v)
	}
}

// rule reads one rule mapping.
func (p *fileParser) rule(n *yaml.Node) *spec {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind != yaml.MappingNode {
		p.ps.add(p.file, n.Line, "a rule must be a mapping, got %s", kindName(n))
		return nil
	}
	s := &spec{file: p.file, line: n.Line}
	ok := true
	bad := func(line int, format string, args ...any) {
		if s.symbol != "" {
			format, args = "rule %s: "+format, append([]any{s.symbol}, args...)
		}
		p.ps.add(p.file, line, format, args...)
		ok = false
	}
	// The symbol first, so every later problem can name the rule.
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k, v := n.Content[i], n.Content[i+1]; k.Value == "symbol" && v.Kind == yaml.ScalarNode && v.Tag == "!!str" {
			s.symbol = v.Value
			break
		}
	}
	p.eachKey(n, func(k, v *yaml.Node) {
		switch key := k.Value; key {
		case "symbol":
			sym, err := str(v)
			if err != nil {
				bad(v.Line, "symbol: %v", err)
				return
			}
			s.symbol, s.symbolLine = sym, v.Line
		case "score":
			f, err := number(v)
			if err != nil {
				bad(v.Line, "score: %v", err)
				return
			}
			s.score, s.hasScore, s.scoreLine = f, true, v.Line
		case "description":
			d, err := str(v)
			if err != nil {
				bad(v.Line, "description: %v", err)
				return
			}
			s.description, s.hasDesc = strings.TrimSpace(d), true
		case "shadow":
			if v.Kind != yaml.ScalarNode || v.Tag != "!!bool" {
				bad(v.Line, "shadow: want true or false, got %s", kindName(v))
				return
			}
			s.shadow, s.shadowLine = v.Value == "true", v.Line
		default:
			if !slices.Contains(matcherKeys(), key) {
				bad(k.Line, "unknown key %q (want one of %s)", key, strings.Join(ruleKeys(), ", "))
				return
			}
			if s.kind != "" {
				bad(k.Line, "two matchers in one rule: %s (line %d) and %s; a rule has exactly one", s.kind, s.kindLine, key)
				return
			}
			s.kind, s.kindLine = key, k.Line
			if err := p.matcher(s, v); err != nil {
				bad(errLine(err, v.Line), "%s: %v", key, err)
			}
		}
	})
	if !ok {
		return nil
	}
	return s
}

// matcher reads the value of a matcher key into s.
func (p *fileParser) matcher(s *spec, v *yaml.Node) error {
	switch s.kind {
	case "body", "raw", "uri", "expr":
		pat, err := str(v)
		if err != nil {
			return err
		}
		s.pattern, s.patNode = pat, v
		return nil
	case "header":
		return p.fields(v, map[string]bool{"name": false, "regex": true}, func(k string, n *yaml.Node) error {
			val, err := str(n)
			if err != nil {
				return err
			}
			if k == "name" {
				if !validFieldName(val) {
					return fmt.Errorf("%q is not a header field name", val)
				}
				s.header = val
			} else {
				s.pattern, s.patNode = val, n
			}
			return nil
		})
	case "attachment":
		if v.Kind != yaml.MappingNode || len(v.Content) != 2 {
			return fmt.Errorf("want a mapping with one key, name or type (a regex), got %s", kindName(v))
		}
		k := v.Content[0].Value
		if k != "name" && k != "type" {
			return fmt.Errorf("unknown key %q (want name or type)", k)
		}
		pat, err := str(v.Content[1])
		if err != nil {
			return fmt.Errorf("%s: %w", k, err)
		}
		s.attach, s.pattern, s.patNode = k, pat, v.Content[1]
		return nil
	case "size":
		s.min, s.max = 0, math.Inf(1)
		return p.bounds(s, v, false)
	case "test":
		s.min, s.max = math.Inf(-1), math.Inf(1)
		if v.Kind == yaml.ScalarNode {
			name, err := str(v)
			if err != nil {
				return err
			}
			s.test = name
			return nil
		}
		return p.bounds(s, v, true)
	}
	return fmt.Errorf("unknown matcher")
}

// bounds reads {min, max} (and, for a test, {name}) into s.
func (p *fileParser) bounds(s *spec, v *yaml.Node, test bool) error {
	keys := map[string]bool{"min": false, "max": false}
	if test {
		keys["name"] = true
	}
	err := p.fields(v, keys, func(k string, n *yaml.Node) error {
		if k == "name" {
			name, err := str(n)
			s.test = name
			return err
		}
		f, err := number(n)
		if err != nil {
			return err
		}
		if !test && (f < 0 || f != math.Trunc(f)) {
			return fmt.Errorf("want a whole number of bytes, got %s", n.Value)
		}
		if k == "min" {
			s.min = f
		} else {
			s.max = f
		}
		s.hasRange = true
		return nil
	})
	if err != nil {
		return err
	}
	if !test && !s.hasRange {
		return fmt.Errorf("want min, max or both")
	}
	if s.min > s.max {
		return fmt.Errorf("min %v is greater than max %v", s.min, s.max)
	}
	s.rangeLine = v.Line
	return nil
}

// fields reads a mapping whose keys are all in keys (true: required) and
// calls fn for each. The first problem is returned, naming its key.
func (p *fileParser) fields(v *yaml.Node, keys map[string]bool, fn func(k string, n *yaml.Node) error) error {
	if v.Kind != yaml.MappingNode {
		return fmt.Errorf("want a mapping, got %s", kindName(v))
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(v.Content); i += 2 {
		kn, n := v.Content[i], v.Content[i+1]
		k := kn.Value
		if _, known := keys[k]; !known {
			names := make([]string, 0, len(keys))
			for name := range keys {
				names = append(names, name)
			}
			slices.Sort(names)
			return lineError{kn.Line, fmt.Errorf("unknown key %q (want %s)", k, strings.Join(names, ", "))}
		}
		if seen[k] {
			return lineError{kn.Line, fmt.Errorf("%s set twice", k)}
		}
		seen[k] = true
		if err := fn(k, n); err != nil {
			return lineError{n.Line, fmt.Errorf("%s: %w", k, err)}
		}
	}
	for k, required := range keys {
		if required && !seen[k] {
			return fmt.Errorf("missing %s", k)
		}
	}
	return nil
}

// lineError is an error at a known line of the file.
type lineError struct {
	line int
	err  error
}

func (e lineError) Error() string { return e.err.Error() }
func (e lineError) Unwrap() error { return e.err }

// errLine returns the line an error carries, or def.
func errLine(err error, def int) int {
	var le lineError
	if errors.As(err, &le) {
		return le.line
	}
	return def
}

// str returns a scalar's string value; numbers and booleans are refused so
// that `symbol: 1` or `body: yes` is caught.
func str(n *yaml.Node) (string, error) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
		return "", fmt.Errorf("want a string, got %s", kindName(n))
	}
	return n.Value, nil
}

// number returns a scalar's finite numeric value.
func number(n *yaml.Node) (float64, error) {
	if n.Kind != yaml.ScalarNode || (n.Tag != "!!int" && n.Tag != "!!float") {
		return 0, fmt.Errorf("want a number, got %s", kindName(n))
	}
	f, err := strconv.ParseFloat(strings.ReplaceAll(n.Value, "_", ""), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("want a finite number, got %q", n.Value)
	}
	return f, nil
}

// kindName names a YAML node in words.
func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!null":
			return "null"
		case "!!str":
			return strconv.Quote(n.Value)
		}
		return n.Value
	}
	return "nothing"
}

// validFieldName reports a valid RFC 5322 field name.
func validFieldName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || c == ':' {
			return false
		}
	}
	return true
}

var yamlLineRE = regexp.MustCompile(`^(?:yaml: )?line (\d+): (?s)(.*)$`)

// yamlError splits a yaml error into its line (1 when it names none) and
// message.
func yamlError(err error) (int, string) {
	s := err.Error()
	if m := yamlLineRE.FindStringSubmatch(s); m != nil {
		if n, _ := strconv.Atoi(m[1]); n > 0 {
			return n, m[2]
		}
	}
	return 1, strings.TrimPrefix(s, "yaml: ")
}

// column returns the file position (line, 1-based column) of byte offset
// off within the scalar n, when n is written on one line with no escapes
// before off; ok is false otherwise.
func (p *fileParser) column(n *yaml.Node, off int) (line, col int, ok bool) {
	if n == nil || n.Line < 1 || n.Line > len(p.lines) || n.Column < 1 {
		return 0, 0, false
	}
	src := p.lines[n.Line-1]
	start := n.Column - 1
	switch n.Style {
	case yaml.SingleQuotedStyle, yaml.DoubleQuotedStyle:
		start++
	case 0:
	default:
		return 0, 0, false
	}
	if start+off > len(src) || !bytes.HasPrefix(src[start:], []byte(n.Value[:off])) {
		return 0, 0, false
	}
	return n.Line, start + off + 1, true
}
