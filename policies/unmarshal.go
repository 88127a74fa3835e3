package policies

import (
	"fmt"
	"math"
	"time"

	"gopkg.in/yaml.v3"
)

// nodeError reports a problem with one node as a *yaml.TypeError, which
// lets the decoder go on and collect further problems. The text is
// "line L: column C: message"; Load turns the position into the node's key
// path, and the message stays readable for other decoders.
func nodeError(n *yaml.Node, format string, args ...any) *yaml.TypeError {
	return &yaml.TypeError{Errors: []string{nodeErrorText(n, format, args...)}}
}

func nodeErrorText(n *yaml.Node, format string, args ...any) string {
	return fmt.Sprintf("line %d: column %d: %s", n.Line, n.Column, fmt.Sprintf(format, args...))
}

// UnmarshalYAML decodes a Go duration string such as "30s", "5m" or
// "1h30m".
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return nodeError(n, "want a duration such as 30s or 5m, got %s", kindName(n))
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return nodeError(n, "want a duration such as 30s or 5m, got %q", n.Value)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration as a Go duration string.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// UnmarshalYAML decodes the thresholds mapping. Each key present replaces
// the value the field held before decoding: a number sets the step, null
// or off disables it (stored as +Inf, a threshold no score reaches). A key
// that is absent leaves its field untouched, so the global thresholds keep
// their defaults and an override's stay nil (inherit the global value).
func (t *Thresholds) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return nodeError(n, "want a mapping of add_header, junk, greylist and reject, got %s", kindName(n))
	}
	var errs []string
	seen := make(map[string]int, 4)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		var dst **float64
		switch k.Value {
		case "add_header":
			dst = &t.AddHeader
		case "junk":
			dst = &t.Junk
		case "greylist":
			dst = &t.Greylist
		case "reject":
			dst = &t.Reject
		default:
			// The decoder's own wording, so Load reports it like any
			// other unknown key.
			errs = append(errs, fmt.Sprintf("line %d: field %s not found in type policies.Thresholds", k.Line, k.Value))
			continue
		}
		if prev, ok := seen[k.Value]; ok {
			errs = append(errs, nodeErrorText(k, "already set at line %d", prev))
			continue
		}
		seen[k.Value] = k.Line
		f, err := thresholdValue(v)
		if err != "" {
			errs = append(errs, err)
			continue
		}
		*dst = &f
	}
	if len(errs) > 0 {
		return &yaml.TypeError{Errors: errs}
	}
	return nil
}

// thresholdValue decodes one threshold: a number, or null/off for +Inf.
// The error is a decoder error text, "" when there is none.
func thresholdValue(v *yaml.Node) (float64, string) {
	if v.Kind == yaml.AliasNode && v.Alias != nil {
		v = v.Alias
	}
	if v.Kind != yaml.ScalarNode {
		return 0, nodeErrorText(v, "want a number, null or off, got %s", kindName(v))
	}
	if v.ShortTag() == "!!null" || (v.ShortTag() == "!!str" && v.Value == "off") {
		return math.Inf(1), ""
	}
	var f float64
	if v.ShortTag() == "!!str" || v.Decode(&f) != nil {
		return 0, nodeErrorText(v, "want a number, null or off, got %q", v.Value)
	}
	if math.IsNaN(f) {
		return 0, nodeErrorText(v, "want a number, null or off, got NaN")
	}
	return f, ""
}

// kindName names a node's kind for error messages.
func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.DocumentNode:
		return "a document"
	}
	if n.ShortTag() == "!!null" {
		return "null"
	}
	v := n.Value
	if len(v) > 40 {
		v = v[:37] + "..."
	}
	return fmt.Sprintf("%q", v)
}
