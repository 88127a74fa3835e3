package policies

import (
	"slices"
	"strings"

	"github.com/moatmail/moat/filter/msgauth"
)

// SPFConfig switches SPF (`spf:`).
type SPFConfig struct {
	// Enabled checks the sender's SPF at MAIL FROM (the HELO name for the
	// null sender). true.
	Enabled bool `yaml:"enabled"`
}

// DKIMConfig configures DKIM verification and signing (`dkim:`).
type DKIMConfig struct {
	// Verify checks the signatures of incoming mail. true.
	Verify bool `yaml:"verify"`
	// MaxSignatures bounds the signatures verified per message. 5.
	MaxSignatures int `yaml:"max_signatures"`
	// Sign maps a signing domain to its key: mail from trusted networks
	// and authenticated senders whose From domain is the domain (or a
	// subdomain) is signed. Default: none.
	Sign map[string]DKIMKey `yaml:"sign"`
}

// DKIMKey is one domain's signing key.
type DKIMKey struct {
	// Selector is s=; the public key is at SELECTOR._domainkey.DOMAIN.
	Selector string `yaml:"selector"`
	// Key is the PEM private key file (RSA-2048 or Ed25519; `moat dkim
	// keygen` writes one).
	Key string `yaml:"key"`
}

// DMARCConfig configures DMARC (`dmarc:`).
type DMARCConfig struct {
	// Enabled evaluates the From domain's DMARC policy; needs spf.enabled
	// and dkim.verify. true.
	Enabled bool `yaml:"enabled"`
	// RejectAction is forced when a p=reject domain fails (symbol
	// DMARC_FAIL_REJECT). Default reject.
	RejectAction string `yaml:"reject_action"`
	// QuarantineAction is forced when a p=quarantine domain fails (symbol
	// DMARC_FAIL_QUARANTINE). Default junk.
	QuarantineAction string `yaml:"quarantine_action"`
	// TrustedForwarders are mailing lists and forwarding services whose
	// DMARC failures are not punished (DMARC_FAIL_FORWARDER, score 0).
	TrustedForwarders Forwarders `yaml:"trusted_forwarders"`
}

// Forwarders identify trusted forwarders.
type Forwarders struct {
	// Networks are client addresses or CIDR ranges.
	Networks []string `yaml:"networks"`
	// Domains are envelope sender domains (and subdomains); they count
	// only when authenticated (SPF pass or a valid DKIM signature).
	Domains []string `yaml:"domains"`
}

func (c *Config) setAuthDefaults() {
	c.SPF.Enabled = true
	c.DKIM = DKIMConfig{Verify: true, MaxSignatures: msgauth.DefaultMaxSignatures}
	c.DMARC = DMARCConfig{Enabled: true, RejectAction: Reject.String(), QuarantineAction: Junk.String()}
}

// AuthConfig returns the msgauth configuration (validated).
func (c *Config) AuthConfig() msgauth.Config {
	ac := msgauth.Config{
		AuthservID: c.Hostname, SPF: c.SPF.Enabled, DKIM: c.DKIM.Verify, DMARC: c.DMARC.Enabled,
		MaxSignatures: c.DKIM.MaxSignatures,
	}
	for _, n := range c.DMARC.TrustedForwarders.Networks {
		if p, err := parseNetwork(n); err == nil {
			ac.Forwarders.Networks = append(ac.Forwarders.Networks, p)
		}
	}
	ac.Forwarders.Domains = c.DMARC.TrustedForwarders.Domains
	return ac
}

// SigningKeys returns the configured DKIM signing keys, by domain order.
func (c *Config) SigningKeys() []msgauth.SigningKey {
	var keys []msgauth.SigningKey
	for _, d := range sortedKeys(c.DKIM.Sign) {
		k := c.DKIM.Sign[d]
		keys = append(keys, msgauth.SigningKey{Domain: strings.ToLower(d), Selector: k.Selector, KeyFile: k.Key})
	}
	return keys
}

// authForced returns the forced actions DMARC asks for.
func (c *Config) authForced() map[string]string {
	if !c.DMARC.Enabled {
		return nil
	}
	out := map[string]string{}
	if c.DMARC.RejectAction != "" {
		out[msgauth.DMARCFailReject] = c.DMARC.RejectAction
	}
	if c.DMARC.QuarantineAction != "" {
		out[msgauth.DMARCFailQuarantine] = c.DMARC.QuarantineAction
	}
	return out
}

func (c *Config) checkAuth(r *reporter) {
	if c.DKIM.MaxSignatures < 1 {
		r.add(keyPath{"dkim", "max_signatures"}, "must be at least 1")
	}
	for _, d := range sortedKeys(c.DKIM.Sign) {
		k := c.DKIM.Sign[d]
		p := keyPath{"dkim", "sign", d}
		if !validDomain(strings.ToLower(d)) {
			r.add(p, "not a valid domain name")
			continue
		}
		if k.Selector == "" || k.Key == "" {
			r.add(p, "want selector: and key:")
			continue
		}
		if _, err := msgauth.NewSigner([]msgauth.SigningKey{{Domain: strings.ToLower(d), Selector: k.Selector, KeyFile: k.Key}}); err != nil {
			r.add(p, "%s", oneLine(err.Error()))
		}
	}
	if c.DMARC.Enabled && (!c.SPF.Enabled || !c.DKIM.Verify) {
		r.add(keyPath{"dmarc", "enabled"}, "DMARC needs spf.enabled and dkim.verify")
	}
	for _, a := range []struct{ key, v string }{{"reject_action", c.DMARC.RejectAction}, {"quarantine_action", c.DMARC.QuarantineAction}} {
		if a.v == "" {
			continue
		}
		act, err := ParseAction(a.v)
		switch {
		case err != nil:
			r.add(keyPath{"dmarc", a.key}, "%s", err.Error())
		case slices.Contains([]Action{Accept, Greylist}, act):
			r.add(keyPath{"dmarc", a.key}, "%s would let DMARC failures through; use add_header, junk, tempfail or reject (or \"\" for none)", a.v)
		}
	}
	for i, n := range c.DMARC.TrustedForwarders.Networks {
		if _, err := parseNetwork(n); err != nil {
			r.add(keyPath{"dmarc", "trusted_forwarders", "networks"}.index(i), "want an IP address or CIDR range, got %q", n)
		}
	}
	for i, d := range c.DMARC.TrustedForwarders.Domains {
		if !validDomain(strings.ToLower(d)) {
			r.add(keyPath{"dmarc", "trusted_forwarders", "domains"}.index(i), "not a valid domain name: %q", d)
		}
	}
}
