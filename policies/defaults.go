package policies

import (
	"time"
)

// Built-in default values.
const (
	DefaultHostname         = "localhost"
	DefaultDataDir          = "./moat-data"
	DefaultStatePrefix      = "moat:"
	DefaultSMTP             = "127.0.0.1:2525"
	DefaultIMAP             = "127.0.0.1:1143"
	DefaultPOP3             = "127.0.0.1:1110"
	DefaultLocalDomain      = "localhost"
	DefaultMessageSize      = 25 << 20
	DefaultRecipients       = 100
	DefaultLineLength       = 64 << 10
	DefaultCommandTimeout   = 5 * time.Minute
	DefaultDataTimeout      = 10 * time.Minute
	DefaultConnections      = 1000
	DefaultConnectionsPerIP = 50
	DefaultCheckTimeout     = 10 * time.Second
	DefaultMemorySpool      = 1 << 20
	DefaultRelayTimeout     = 2 * time.Minute
	DefaultAddHeader        = 5.0
	DefaultJunk             = 8.0
	DefaultReject           = 15.0
	DefaultLogLevel         = "info"
	DefaultLogFormat        = "text"
)

// Default returns the built-in configuration: what `moat serve` runs with
// when there is no config file. SMTP on 127.0.0.1:2525, IMAP on
// 127.0.0.1:1143, POP3 on 127.0.0.1:1110, data in ./moat-data, embedded
// state, one local domain "localhost", thresholds add_header 5, junk 8,
// reject 15 (greylisting off).
func Default() *Config {
	c := &Config{
		Domains: map[string]Domain{DefaultLocalDomain: {Deliver: DeliverLocal}},
		Listen: Listen{
			SMTP: Listeners(DefaultSMTP),
			IMAP: Listeners(DefaultIMAP),
			POP3: Listeners(DefaultPOP3),
		},
	}
	c.setDefaults()
	return c
}

// setDefaults sets every key that has a built-in default to it, whatever it
// holds. Listeners and domains are left alone: a config file must set its
// own (validation wants an SMTP or submission listener), and has no domain
// unless it lists one.
//
// Load calls it on an empty Config and then decodes the file over it, so a
// key absent from the file keeps its default while a key set to a bad value
// (0, "", a negative size) stays bad and is reported by validation instead
// of being silently replaced.
func (c *Config) setDefaults() {
	c.Hostname = DefaultHostname
	c.DataDir = DefaultDataDir
	c.Log = Log{Level: DefaultLogLevel, Format: DefaultLogFormat}
	c.State.Prefix = DefaultStatePrefix
	c.Greylist.setDefaults()
	c.DNS.setDefaults()
	c.DNSBL.setDefaults()
	c.URIBL.setDefaults()
	c.FCrDNS.Enabled = true
	c.Helo.Enabled = true
	c.setAuthDefaults()
	c.Rules.setDefaults()
	c.Bayes.setDefaults()
	c.setDeliveryDefaults()
	c.Limits = Limits{
		MessageSize:      DefaultMessageSize,
		Recipients:       DefaultRecipients,
		LineLength:       DefaultLineLength,
		CommandTimeout:   Duration(DefaultCommandTimeout),
		DataTimeout:      Duration(DefaultDataTimeout),
		Connections:      DefaultConnections,
		ConnectionsPerIP: DefaultConnectionsPerIP,
		CheckTimeout:     Duration(DefaultCheckTimeout),
		MemorySpool:      DefaultMemorySpool,
		RelayTimeout:     Duration(DefaultRelayTimeout),
	}
	c.Policy.Thresholds = Thresholds{
		AddHeader: ptr(DefaultAddHeader),
		Junk:      ptr(DefaultJunk),
		Reject:    ptr(DefaultReject),
	}
}

func ptr[T any](v T) *T { return &v }
