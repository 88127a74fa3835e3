package policies

import (
	"github.com/moatmail/moat/filter"
)

// PolicyConfig is the `policy:` section of moat.yaml: the action ladder,
// score overrides, forced actions, trusted networks, allow/block lists and
// per-recipient overrides.
type PolicyConfig struct {
	// Thresholds is the action ladder. A nil threshold disables that step.
	Thresholds Thresholds `yaml:"thresholds"`
	// Scores overrides symbols' default scores, by symbol name.
	Scores map[string]float64 `yaml:"scores"`
	// ForceActions maps a symbol name to an action taken whenever the symbol
	// fires, whatever the score ("GTUBE: reject").
	ForceActions map[string]string `yaml:"force_actions"`
	// TrustedNetworks are client networks (CIDR or single addresses) whose
	// mail is accepted without checks. Empty by default: loopback is
	// filtered like any other client.
	TrustedNetworks []string `yaml:"trusted_networks"`
	// Allow and Block are the allow and block lists.
	Allow Lists `yaml:"allow"`
	Block Lists `yaml:"block"`
	// Recipients are per-recipient overrides, keyed by a full address
	// ("ceo@example.com") or a domain ("example.com"). An address entry wins
	// over its domain's.
	Recipients map[string]Override `yaml:"recipients"`
}

// Thresholds are the scores at which each action starts. The action taken is
// the one whose threshold is the highest one reached by the score (when
// several steps share it, the most severe). Any values are allowed except
// NaN; they need not increase along the ladder.
//
// In a file, a key that is absent keeps its default (add_header 5, junk 8,
// reject 15, greylist off) and null or off disables the step.
type Thresholds struct {
	AddHeader *float64 `yaml:"add_header"`
	Junk      *float64 `yaml:"junk"`
	Greylist  *float64 `yaml:"greylist"`
	Reject    *float64 `yaml:"reject"`
}

// Lists are allow or block lists.
type Lists struct {
	// Networks are client IP addresses or CIDR ranges.
	Networks []string `yaml:"networks"`
	// Senders are envelope sender addresses ("a@b.example") or domains
	// ("b.example", matching the domain and its subdomains).
	Senders []string `yaml:"senders"`
	// Helos are HELO/EHLO names, matched case-insensitively.
	Helos []string `yaml:"helos"`
}

// Override changes the policy for one recipient or recipient domain.
type Override struct {
	// Thresholds replaces the steps it sets; unset (nil) steps keep the
	// global values. A step set to null or off in YAML is stored as +Inf (a
	// threshold no score reaches): it is disabled for this recipient.
	Thresholds Thresholds `yaml:"thresholds"`
	// Scores are extra score overrides for this recipient.
	Scores map[string]float64 `yaml:"scores"`
	// NeverReject turns reject (and greylist, tempfail) into junk for this
	// recipient: the mail is always delivered.
	NeverReject bool `yaml:"never_reject"`
	// SkipChecks accepts all mail for this recipient unscored.
	SkipChecks bool `yaml:"skip_checks"`
}

// Verdict is what the policy decides for a transaction.
type Verdict struct {
	// Action is what moat does with the message.
	Action Action `json:"action"`
	// Score is the sum of the symbols' scores after overrides.
	Score float64 `json:"score"`
	// Required is the score at which mail counts as spam (the junk
	// threshold, else add_header), shown in X-Spam-Status.
	Required float64 `json:"required"`
	// Symbols are the transaction's symbols with their final scores.
	Symbols []filter.Symbol `json:"symbols"`
	// Forced names the symbol whose forced action decided, if any.
	Forced string `json:"forced,omitempty"`
	// Passed is the action to take instead when Action is Greylist and
	// the greylist lets the message through (its triplets passed): the
	// ladder's action with the greylist step left out. It equals Action
	// for every other action.
	Passed Action `json:"-"`
}

// IsSpam reports whether the verdict marks the message as spam (score at or
// over Required, or an action from add_header up).
func (v Verdict) IsSpam() bool { return v.Action >= AddHeader }
