package main

import (
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/moatmail/moat/filter"
	"github.com/moatmail/moat/filter/greylist"
	"github.com/moatmail/moat/filter/headers"
	"github.com/moatmail/moat/filter/lists"
	"github.com/moatmail/moat/filter/state"
	"github.com/moatmail/moat/policies"
)

// components are the pieces the checks are built from.
type components struct {
	live     *policies.Live
	greylist *greylist.Greylist // nil when greylisting is off
}

// buildChecks returns the checks the configuration enables.
func buildChecks(c components) []filter.Check {
	checks := []filter.Check{
		lists.New(c.live.Load),
		headers.New(),
	}
	if c.greylist != nil {
		checks = append(checks, c.greylist)
	}
	return checks
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
