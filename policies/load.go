package policies

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// DefaultFile is the config file used when no -c flag is given, if it
// exists in the working directory.
const DefaultFile = "moat.yaml"

// Resolve returns the config file to use: flagPath when it is set (it must
// exist), else DefaultFile when it exists in the working directory, else ""
// meaning the built-in defaults.
func Resolve(flagPath string) (string, error) {
	if flagPath != "" {
		if _, err := os.Stat(flagPath); err != nil {
			return "", fmt.Errorf("config file: %w", err)
		}
		return flagPath, nil
	}
	switch _, err := os.Stat(DefaultFile); {
	case err == nil:
		return DefaultFile, nil
	case errors.Is(err, fs.ErrNotExist):
		return "", nil
	default:
		return "", fmt.Errorf("config file: %w", err)
	}
}

// LoadOrDefault loads the config file Resolve picks for flagPath, or returns
// Default() when there is none.
func LoadOrDefault(flagPath string) (*Config, error) {
	path, err := Resolve(flagPath)
	if err != nil {
		return nil, err
	}
	if path == "" {
		return Default(), nil
	}
	return Load(path)
}

// Load reads, decodes and validates the YAML config file at path. Keys that
// are absent take their defaults (see Default; listeners and domains come
// only from the file, which must set an SMTP or submission listener).
// Unknown keys are errors.
//
// Every problem found is reported, one per line, as "FILE:LINE: key:
// message", ordered by line; the error is the errors.Join of them. A file
// that is not valid YAML stops at the first syntax error.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	r := &reporter{file: path}

	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		r.addAt(yamlErrorLine(err), nil, "invalid YAML: "+yamlErrorMessage(err))
		return nil, r.err()
	}
	r.root = documentRoot(&doc)

	c := &Config{}
	c.setDefaults()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	switch err := dec.Decode(c); {
	case err == nil, errors.Is(err, io.EOF):
	default:
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			r.addAt(yamlErrorLine(err), nil, yamlErrorMessage(err))
			return nil, r.err()
		}
		for _, e := range te.Errors {
			r.decodeProblem(e)
		}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		line := extra.Line
		if err != nil {
			line = yamlErrorLine(err)
		}
		r.addAt(line, nil, "only one YAML document is allowed")
	}

	c.File = path
	c.normalize()
	c.check(r)
	if err := r.err(); err != nil {
		return nil, err
	}
	return c, nil
}

// normalize fills what a file may leave implicit: a domain's deliver mode
// defaults to local, and a disabled global threshold (null or off, decoded
// as +Inf) is nil as documented on Thresholds.
func (c *Config) normalize() {
	for name, d := range c.Domains {
		d.normalize()
		c.Domains[name] = d
	}
	t := &c.Policy.Thresholds
	for _, p := range []**float64{&t.AddHeader, &t.Junk, &t.Greylist, &t.Reject} {
		if *p != nil && math.IsInf(**p, 1) {
			*p = nil
		}
	}
}

// documentRoot returns the top node of the document (an empty mapping for
// an empty file).
func documentRoot(doc *yaml.Node) *yaml.Node {
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		return doc.Content[0]
	}
	return &yaml.Node{Kind: yaml.MappingNode, Line: 1, Column: 1}
}

var (
	yamlLineRE     = regexp.MustCompile(`^(?:yaml: )?line (\d+): (?s)(.*)$`)
	nodePosRE      = regexp.MustCompile(`^column (\d+): (?s)(.*)$`)
	unknownKeyRE   = regexp.MustCompile(`^field (?s)(.*) not found in type (\S+)$`)
	cannotUnmarRE  = regexp.MustCompile("^cannot unmarshal (!!\\w+|\\S+)(?: `(?s)(.*)`)? into (.+)$")
	duplicateKeyRE = regexp.MustCompile(`^mapping key ("(?:[^"\\]|\\.)*") already defined at line (\d+)$`)
)

// yamlErrorLine returns the line a yaml error names, 1 when it names none.
func yamlErrorLine(err error) int {
	if m := yamlLineRE.FindStringSubmatch(err.Error()); m != nil {
		if n, _ := strconv.Atoi(m[1]); n > 0 {
			return n
		}
	}
	return 1
}

// yamlErrorMessage returns a yaml error's text without "yaml: line N: ".
func yamlErrorMessage(err error) string {
	s := err.Error()
	if m := yamlLineRE.FindStringSubmatch(s); m != nil {
		return m[2]
	}
	return strings.TrimPrefix(s, "yaml: ")
}

// decodeProblem turns one decoder error ("line N: …") into a problem with
// the key path of the node it is about.
func (r *reporter) decodeProblem(e string) {
	m := yamlLineRE.FindStringSubmatch(e)
	if m == nil {
		r.addAt(1, nil, e)
		return
	}
	line, _ := strconv.Atoi(m[1])
	msg := m[2]
	atLine := func(n *yaml.Node, isKey bool) bool { return n.Line == line }
	match := atLine
	var want string // for a type error: what the schema wants there

	if pm := nodePosRE.FindStringSubmatch(msg); pm != nil {
		// From our own unmarshalers: the exact node.
		col, _ := strconv.Atoi(pm[1])
		msg = pm[2]
		match = func(n *yaml.Node, isKey bool) bool { return n.Line == line && n.Column == col }
	} else if um := unknownKeyRE.FindStringSubmatch(msg); um != nil {
		name := um[1]
		msg = "unknown key" + knownKeysHint(um[2])
		match = func(n *yaml.Node, isKey bool) bool { return isKey && n.Line == line && n.Value == name }
	} else if dm := duplicateKeyRE.FindStringSubmatch(msg); dm != nil {
		name, _ := strconv.Unquote(dm[1])
		msg = "already set at line " + dm[2]
		match = func(n *yaml.Node, isKey bool) bool { return isKey && n.Line == line && n.Value == name }
	} else if cm := cannotUnmarRE.FindStringSubmatch(msg); cm != nil {
		tag, value, into := cm[1], cm[2], cm[3]
		want = typeWord(into)
		msg = "want " + want + ", got " + gotWord(tag, value)
		kind := tagKind(tag)
		match = func(n *yaml.Node, isKey bool) bool {
			return !isKey && n.Line == line && n.Kind == kind && (kind != yaml.ScalarNode || strings.HasPrefix(n.Value, strings.TrimSuffix(value, "...")))
		}
	}
	path, n := findPath(r.root, match)
	if n == nil {
		path, _ = findPath(r.root, atLine)
	} else if want != "" {
		// The decoder cuts values short; say what is really there.
		msg = "want " + want + ", got " + kindName(n)
	}
	r.addAt(line, path, msg)
}

func tagKind(tag string) yaml.Kind {
	switch tag {
	case "!!map":
		return yaml.MappingNode
	case "!!seq":
		return yaml.SequenceNode
	}
	return yaml.ScalarNode
}

// typeWord names a Go type of the schema in words.
func typeWord(goType string) string {
	switch {
	case goType == "string":
		return "a string"
	case goType == "bool":
		return "true or false"
	case goType == "float64":
		return "a number"
	case strings.HasPrefix(goType, "int"):
		return "an integer"
	case strings.HasPrefix(goType, "[]"):
		return "a list"
	default:
		return "a mapping"
	}
}

// gotWord names a YAML value in words.
func gotWord(tag, value string) string {
	switch tag {
	case "!!map":
		return "a mapping"
	case "!!seq":
		return "a list"
	case "!!null":
		return "null"
	}
	return strconv.Quote(value)
}
