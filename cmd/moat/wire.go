package main

import (
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/moatmail/moat/filter"
	"github.com/moatmail/moat/filter/headers"
	"github.com/moatmail/moat/filter/lists"
	"github.com/moatmail/moat/policies"
)

// buildChecks returns the checks the configuration enables, in the order
// their symbols are listed.
func buildChecks(live *policies.Live) []filter.Check {
	return []filter.Check{
		lists.New(live.Load),
		headers.New(),
	}
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
