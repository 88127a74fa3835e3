package policies

// CompilePolicy builds the policy of a whole configuration: the policy
// section, plus a forced reject for every symbol of a DNS list zone that
// sets reject: true (unless policy.force_actions already names the symbol).
func (c *Config) CompilePolicy() (*Policy, error) {
	pc := c.Policy
	extra := append(c.DNSBL.rejectSymbols(), c.URIBL.lists().rejectSymbols()...)
	if len(extra) > 0 {
		forced := make(map[string]string, len(pc.ForceActions)+len(extra))
		for k, v := range pc.ForceActions {
			forced[k] = v
		}
		for _, s := range extra {
			if _, ok := forced[s]; !ok {
				forced[s] = Reject.String()
			}
		}
		pc.ForceActions = forced
	}
	return NewPolicy(pc)
}
