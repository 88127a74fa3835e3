// Package lists is the allow/block list check: it compares the client IP
// address, the HELO name and the envelope sender with the policy's
// allow and block lists (policy.allow and policy.block in moat.yaml) and
// emits ALLOWLIST_* and BLOCKLIST_* symbols. Like every check it only
// scores: the policy decides what the scores mean.
package lists

import (
	"context"

	"github.com/moatmail/moat/filter"
	"github.com/moatmail/moat/policies"
)

// Symbol names emitted by the check.
const (
	AllowIP     = "ALLOWLIST_IP"
	AllowHelo   = "ALLOWLIST_HELO"
	AllowSender = "ALLOWLIST_SENDER"
	BlockIP     = "BLOCKLIST_IP"
	BlockHelo   = "BLOCKLIST_HELO"
	BlockSender = "BLOCKLIST_SENDER"
)

// Default scores of the symbols; policy.scores may override them. A block
// list hit alone is above the default reject threshold (15); an allow list
// hit cancels about as much.
const (
	AllowScore = -20.0
	BlockScore = 20.0
)

// Check is the "lists" check.
type Check struct {
	policy func() *policies.Policy
}

// New returns the check. policy returns the policy in force (typically
// (*policies.Live).Load), so a reloaded policy's lists apply to the next
// stage that runs.
func New(policy func() *policies.Policy) *Check {
	return &Check{policy: policy}
}

// Name returns "lists".
func (c *Check) Name() string { return "lists" }

// Stages returns connect (client IP), helo (HELO name) and mail (sender).
func (c *Check) Stages() []filter.Stage {
	return []filter.Stage{filter.StageConnect, filter.StageHelo, filter.StageMail}
}

// Check looks up what stage s knows about t in the lists. It never fails.
func (c *Check) Check(_ context.Context, t *filter.Txn, s filter.Stage) ([]filter.Symbol, error) {
	p := c.policy()
	if p == nil {
		return nil, nil
	}
	var syms []filter.Symbol
	switch s {
	case filter.StageConnect:
		if !t.ClientIP.IsValid() {
			return nil, nil
		}
		ip := t.ClientIP.String()
		if p.AllowedIP(t.ClientIP) {
			syms = append(syms, filter.Symbol{Name: AllowIP, Score: AllowScore, Reason: "client IP " + ip + " is in policy.allow.networks"})
		}
		if p.BlockedIP(t.ClientIP) {
			syms = append(syms, filter.Symbol{Name: BlockIP, Score: BlockScore, Reason: "client IP " + ip + " is in policy.block.networks"})
		}
	case filter.StageHelo:
		if t.Helo == "" {
			return nil, nil
		}
		if p.AllowedHelo(t.Helo) {
			syms = append(syms, filter.Symbol{Name: AllowHelo, Score: AllowScore, Reason: "HELO name " + t.Helo + " is in policy.allow.helos"})
		}
		if p.BlockedHelo(t.Helo) {
			syms = append(syms, filter.Symbol{Name: BlockHelo, Score: BlockScore, Reason: "HELO name " + t.Helo + " is in policy.block.helos"})
		}
	case filter.StageMail:
		if t.MailFrom == "" { // the null sender <>: nothing to match
			return nil, nil
		}
		if p.AllowedSender(t.MailFrom) {
			syms = append(syms, filter.Symbol{Name: AllowSender, Score: AllowScore, Reason: "sender " + t.MailFrom + " matches policy.allow.senders"})
		}
		if p.BlockedSender(t.MailFrom) {
			syms = append(syms, filter.Symbol{Name: BlockSender, Score: BlockScore, Reason: "sender " + t.MailFrom + " matches policy.block.senders"})
		}
	}
	return syms, nil
}
