package policies

import (
	"fmt"
	"time"

	"gopkg.in/yaml.v3"
)

// Rate is a limit of Limit events per Window.
type Rate struct {
	Limit  int64    `yaml:"limit"`
	Window Duration `yaml:"window"`
}

// RateLimitConfig holds the rate limits, kept in the shared state so that
// they hold across instances. A nil rate is no limit. Each is written as
// {limit: N, window: DURATION}, or off.
type RateLimitConfig struct {
	// ConnectionsPerIP and ConnectionsPerNet count new connections per
	// client address and per /24 (IPv4) or /64 (IPv6). Over: 421 4.7.0.
	ConnectionsPerIP  *Rate `yaml:"connections_per_ip"`
	ConnectionsPerNet *Rate `yaml:"connections_per_net"`
	// MessagesPerIP and MessagesPerNet count transactions (MAIL FROM).
	// Over: 451 4.7.1.
	MessagesPerIP  *Rate `yaml:"messages_per_ip"`
	MessagesPerNet *Rate `yaml:"messages_per_net"`
	// RcptsPerSenderDomain counts recipients per envelope sender domain.
	// Over: 451 4.7.1.
	RcptsPerSenderDomain *Rate `yaml:"rcpts_per_sender_domain"`
	// MessagesPerUser counts the transactions of each authenticated user
	// (submission), so a stolen password cannot send without bound.
	// Over: 451 4.7.1.
	MessagesPerUser *Rate `yaml:"messages_per_user"`
	// AuthFailuresPerIP and AuthFailuresPerUser count failed logins (SMTP
	// AUTH, IMAP, POP3); over the limit every login is refused until the
	// window has passed (SMTP 454 4.7.0 / 421 4.7.0).
	AuthFailuresPerIP   *Rate `yaml:"auth_failures_per_ip"`
	AuthFailuresPerUser *Rate `yaml:"auth_failures_per_user"`
}

// Default failed-login limits (on unless configured otherwise).
const (
	DefaultAuthFailuresPerIP   = 20
	DefaultAuthFailuresPerUser = 10
	DefaultAuthFailureWindow   = 15 * time.Minute
)

func (rl *RateLimitConfig) setDefaults() {
	*rl = RateLimitConfig{
		AuthFailuresPerIP:   &Rate{Limit: DefaultAuthFailuresPerIP, Window: Duration(DefaultAuthFailureWindow)},
		AuthFailuresPerUser: &Rate{Limit: DefaultAuthFailuresPerUser, Window: Duration(DefaultAuthFailureWindow)},
	}
}

// Rates returns the rates by key, for code that treats them alike.
func (rl *RateLimitConfig) Rates() map[string]*Rate {
	return map[string]*Rate{
		"connections_per_ip":      rl.ConnectionsPerIP,
		"connections_per_net":     rl.ConnectionsPerNet,
		"messages_per_ip":         rl.MessagesPerIP,
		"messages_per_net":        rl.MessagesPerNet,
		"rcpts_per_sender_domain": rl.RcptsPerSenderDomain,
		"messages_per_user":       rl.MessagesPerUser,
		"auth_failures_per_ip":    rl.AuthFailuresPerIP,
		"auth_failures_per_user":  rl.AuthFailuresPerUser,
	}
}

func (rl *RateLimitConfig) field(key string) **Rate {
	switch key {
	case "connections_per_ip":
		return &rl.ConnectionsPerIP
	case "connections_per_net":
		return &rl.ConnectionsPerNet
	case "messages_per_ip":
		return &rl.MessagesPerIP
	case "messages_per_net":
		return &rl.MessagesPerNet
	case "rcpts_per_sender_domain":
		return &rl.RcptsPerSenderDomain
	case "messages_per_user":
		return &rl.MessagesPerUser
	case "auth_failures_per_ip":
		return &rl.AuthFailuresPerIP
	case "auth_failures_per_user":
		return &rl.AuthFailuresPerUser
	}
	return nil
}

// UnmarshalYAML decodes the ratelimit mapping: keys present replace the
// defaults; off (or null) turns a limit off.
func (rl *RateLimitConfig) UnmarshalYAML(n *yaml.Node) error { return rl.decode(n) }

// decodeStrict decodes a listener's ratelimit: it starts from no limits.
func (rl *RateLimitConfig) decodeStrict(n *yaml.Node) error {
	*rl = RateLimitConfig{}
	return rl.decode(n)
}

func (rl *RateLimitConfig) decode(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return nodeError(n, "want a mapping of limits such as messages_per_ip: {limit: 100, window: 1m}, got %s", kindName(n))
	}
	var errs []string
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		dst := rl.field(k.Value)
		if dst == nil {
			errs = append(errs, fmt.Sprintf("line %d: field %s not found in type policies.RateLimitConfig", k.Line, k.Value))
			continue
		}
		if v.Kind == yaml.ScalarNode && (v.ShortTag() == "!!null" || v.Value == "off") {
			*dst = nil
			continue
		}
		if v.Kind != yaml.MappingNode {
			errs = append(errs, nodeErrorText(v, "want {limit: N, window: DURATION} or off, got %s", kindName(v)))
			continue
		}
		r := &Rate{}
		for j := 0; j+1 < len(v.Content); j += 2 {
			kk, vv := v.Content[j], v.Content[j+1]
			var err error
			switch kk.Value {
			case "limit":
				err = vv.Decode(&r.Limit)
			case "window":
				err = r.Window.UnmarshalYAML(vv)
			default:
				errs = append(errs, fmt.Sprintf("line %d: field %s not found in type policies.Rate", kk.Line, kk.Value))
				continue
			}
			if err != nil {
				errs = append(errs, typeErrorTexts(err, vv)...)
			}
		}
		*dst = r
	}
	if len(errs) > 0 {
		return &yaml.TypeError{Errors: errs}
	}
	return nil
}

func (rl *RateLimitConfig) check(r *reporter, p keyPath) {
	for _, key := range sortedKeys(rl.Rates()) {
		rate := rl.Rates()[key]
		if rate == nil {
			continue
		}
		if rate.Limit <= 0 {
			r.add(p.with(key, "limit"), "must be positive, got %d (write off to turn the limit off)", rate.Limit)
		}
		if rate.Window < Duration(time.Second) {
			r.add(p.with(key, "window"), "must be at least 1s, got %s", rate.Window)
		}
	}
}
