package policies

// CompilePolicy builds the policy of a whole configuration: the policy
// section, plus a forced reject for every symbol of a DNS list zone that
// sets reject: true, and DMARC's forced actions (dmarc.reject_action for
// DMARC_FAIL_REJECT, dmarc.quarantine_action for DMARC_FAIL_QUARANTINE),
// unless policy.force_actions already names the symbol.
func (c *Config) CompilePolicy() (*Policy, error) {
	pc := c.Policy
	extra := map[string]string{}
	for _, s := range append(c.DNSBL.rejectSymbols(), c.URIBL.lists().rejectSymbols()...) {
		extra[s] = Reject.String()
	}
	for s, a := range c.authForced() {
		extra[s] = a
	}
	if c.Rules.Defaults {
		extra[GTUBESymbol] = Reject.String() // the default rule set's GTUBE rule
	}
	if len(extra) > 0 {
		forced := make(map[string]string, len(pc.ForceActions)+len(extra))
		for k, v := range extra {
			forced[k] = v
		}
		for k, v := range pc.ForceActions { // policy.force_actions wins
			forced[k] = v
		}
		pc.ForceActions = forced
	}
	return NewPolicy(pc)
}
