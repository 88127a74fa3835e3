package policies

import (
	"time"

	ruleset "github.com/moatmail/moat/rules"
)

// GTUBESymbol is the default rule set's symbol for the GTUBE test string;
// the default policy forces reject on it.
const GTUBESymbol = "GTUBE"

// DefaultRulesTimeout is the default matching budget per message.
const DefaultRulesTimeout = 100 * time.Millisecond

// RulesConfig configures the content rules (`rules:`).
type RulesConfig struct {
	// Defaults includes the embedded default rule set. true.
	Defaults bool `yaml:"defaults"`
	// Paths are rule files, or directories of *.yaml files loaded in name
	// order; a rule with a default rule's symbol replaces it. Default: [].
	Paths []string `yaml:"paths"`
	// Disable lists rule symbols to leave out. Default: [].
	Disable []string `yaml:"disable"`
	// Timeout is the matching budget per message. 100ms.
	Timeout Duration `yaml:"timeout"`
}

func (r *RulesConfig) setDefaults() {
	r.Defaults = true
	r.Timeout = Duration(DefaultRulesTimeout)
}

// RulesOptions returns the options to load the rule set with.
func (c *Config) RulesOptions() ruleset.Options {
	return ruleset.Options{
		Defaults: c.Rules.Defaults, Paths: c.Rules.Paths, Disable: c.Rules.Disable,
		Budget: ruleset.Budget{Timeout: c.Rules.Timeout.D()},
	}
}

func (r *RulesConfig) check(rep *reporter, p keyPath) {
	if r.Timeout <= 0 {
		rep.add(p.with("timeout"), "must be positive")
	}
	for i, s := range r.Disable {
		if !validSymbolName(s) {
			rep.add(p.with("disable").index(i), "want an UPPER_SNAKE symbol name, got %q", s)
		}
	}
}
