package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"

	"github.com/moatmail/moat/filter"
	"github.com/moatmail/moat/filter/bayes"
	"github.com/moatmail/moat/filter/dnsbl"
	"github.com/moatmail/moat/filter/dnsx"
	"github.com/moatmail/moat/filter/greylist"
	"github.com/moatmail/moat/filter/headers"
	"github.com/moatmail/moat/filter/lists"
	"github.com/moatmail/moat/filter/msgauth"
	"github.com/moatmail/moat/filter/state"
	"github.com/moatmail/moat/policies"
	"github.com/moatmail/moat/rules"
)

// components are the pieces the checks are built from.
type components struct {
	live     *policies.Live
	greylist *greylist.Greylist // nil when greylisting is off
	dns      *dnsChecks         // nil when no DNS check is on
	rules    *rules.Check       // the content rules (a late check)
	bayes    *bayes.Bayes       // nil when the scorer is off
}

// dnsChecks are the DNS-based checks, sharing one resolver.
type dnsChecks struct {
	res    *dnsx.Resolver
	ip     *dnsbl.IPCheck  // nil without dnsbl.zones
	uri    *dnsbl.URICheck // nil without uribl.zones
	fcrdns *dnsbl.FCrDNSCheck
	helo   *dnsbl.HeloCheck
	auth   *msgauth.Auth // nil when SPF, DKIM and DMARC are all off
}

// buildChecks returns the checks the configuration enables.
func buildChecks(c components) []filter.Check {
	checks := []filter.Check{
		lists.New(c.live.Load),
		headers.New(),
	}
	if d := c.dns; d != nil {
		if d.ip != nil {
			checks = append(checks, d.ip)
		}
		if d.uri != nil {
			checks = append(checks, d.uri)
		}
		if d.fcrdns != nil {
			checks = append(checks, d.fcrdns)
		}
		if d.helo != nil {
			checks = append(checks, d.helo)
		}
		if d.auth != nil {
			checks = append(checks, d.auth.Checks()...)
		}
	}
	if c.greylist != nil {
		checks = append(checks, c.greylist)
	}
	if c.bayes != nil {
		checks = append(checks, c.bayes)
	}
	if c.rules != nil {
		checks = append(checks, c.rules)
	}
	return checks
}

// loadRules loads the configured rule set. Its errors are FILE:LINE
// problems of the rule files, one per line; a problem without a file (a
// rules.disable entry that names no rule) is given the config file's name.
func loadRules(cfg *policies.Config) (*rules.RuleSet, error) {
	rs, err := rules.Load(cfg.RulesOptions())
	if err == nil {
		return rs, nil
	}
	var lines []string
	for _, l := range strings.Split(err.Error(), "\n") {
		if l != "" && !strings.Contains(l, ".yaml:") && !strings.Contains(l, ".yml:") && cfg.File != "" {
			l = cfg.File + ": rules: " + l
		}
		lines = append(lines, l)
	}
	return nil, errors.New(strings.Join(lines, "\n"))
}

// newDNSChecks builds the resolver and the DNS checks the configuration
// turns on; nil when none is. observe, when not nil, hears every DNS list
// lookup's outcome (metrics).
func newDNSChecks(cfg *policies.Config, log *slog.Logger, observe func(zone, outcome string)) (*dnsChecks, error) {
	authOn := cfg.SPF.Enabled || cfg.DKIM.Verify || cfg.DMARC.Enabled
	if len(cfg.DNSBL.Zones) == 0 && len(cfg.URIBL.Zones) == 0 && !cfg.FCrDNS.Enabled && !cfg.Helo.Enabled && !authOn {
		return nil, nil
	}
	rc := cfg.DNS.ResolverConfig()
	rc.Log = log
	res, err := dnsx.New(rc)
	if err != nil {
		return nil, fmt.Errorf("dns: %w", err)
	}
	d := &dnsChecks{res: res}
	if len(cfg.DNSBL.Zones) > 0 {
		ic := cfg.DNSBL.IPConfig()
		ic.Observe = observe
		if d.ip, err = dnsbl.NewIPCheck(res, ic, log); err != nil {
			res.Close()
			return nil, fmt.Errorf("dnsbl: %w", err)
		}
	}
	if len(cfg.URIBL.Zones) > 0 {
		skip := append(slices.Sorted(maps.Keys(cfg.Domains)), cfg.Hostname)
		uc := cfg.URIBL.URIConfig(skip)
		uc.Observe = observe
		if d.uri, err = dnsbl.NewURICheck(res, uc, log); err != nil {
			res.Close()
			return nil, fmt.Errorf("uribl: %w", err)
		}
	}
	if cfg.FCrDNS.Enabled {
		d.fcrdns = dnsbl.NewFCrDNS(res, log)
	}
	if cfg.Helo.Enabled {
		d.helo = dnsbl.NewHelo(res, cfg.Helo.HeloConfig(cfg.Hostname), log)
	}
	if authOn {
		if d.auth, err = msgauth.New(cfg.AuthConfig(), res, msgauth.WithLogger(log)); err != nil {
			res.Close()
			return nil, fmt.Errorf("sender authentication: %w", err)
		}
	}
	return d, nil
}

// newBayes returns the scorer the configuration asks for on st, or nil.
func newBayes(cfg *policies.Config, st state.Store, log *slog.Logger) (*bayes.Bayes, error) {
	if !cfg.Bayes.Enabled {
		return nil, nil
	}
	o := cfg.Bayes.Options()
	o.Log = log
	return bayes.New(st, o)
}

// newSigner loads the DKIM signing keys; nil when none is configured.
func newSigner(cfg *policies.Config) (*msgauth.Signer, error) {
	keys := cfg.SigningKeys()
	if len(keys) == 0 {
		return nil, nil
	}
	s, err := msgauth.NewSigner(keys)
	if err != nil {
		return nil, fmt.Errorf("dkim.sign: %w", err)
	}
	return s, nil
}

// authOf returns the sender authentication of d, nil when off.
func (d *dnsChecks) authOf() *msgauth.Auth {
	if d == nil {
		return nil
	}
	return d.auth
}

// run self-tests the DNS lists now and periodically until ctx ends.
func (d *dnsChecks) run(ctx context.Context) {
	if d == nil {
		return
	}
	if d.ip != nil {
		go d.ip.Run(ctx)
	}
	if d.uri != nil {
		go d.uri.Run(ctx)
	}
}

// close releases the resolver.
func (d *dnsChecks) close() {
	if d != nil {
		d.res.Close()
	}
}

// newGreylist returns the greylisting the configuration asks for on st, or
// nil when it is off.
func newGreylist(cfg *policies.Config, st state.Store, log *slog.Logger) (*greylist.Greylist, error) {
	if !cfg.Greylist.Enabled {
		return nil, nil
	}
	o := cfg.Greylist.Options()
	o.Log = log
	return greylist.New(st, o)
}

// newLogger returns the logger the configuration asks for.
func newLogger(cfg *policies.Config, w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.Log.Level)); err != nil {
		return nil, fmt.Errorf("log.level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch strings.ToLower(cfg.Log.Format) {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text", "":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("log.format: unknown format %q", cfg.Log.Format)
}

// resolverOf returns the DNS checks' resolver, or a new one when every DNS
// check is off (the courier still looks up MX records).
func resolverOf(cfg *policies.Config, d *dnsChecks, log *slog.Logger) (*dnsx.Resolver, error) {
	if d != nil {
		return d.res, nil
	}
	rc := cfg.DNS.ResolverConfig()
	rc.Log = log
	res, err := dnsx.New(rc)
	if err != nil {
		return nil, fmt.Errorf("dns: %w", err)
	}
	return res, nil
}
