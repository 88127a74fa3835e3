package main

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/moatmail/moat/control"
)

// handleOps serves the admin commands prefix.op on the control socket for
// each op: the request is decoded as a Req (an empty request is the zero
// Req) and run by fn.
func handleOps[Req any](ctl *control.Server, prefix string, ops []string, fn func(ctx context.Context, op string, req Req) (any, error)) {
	for _, op := range ops {
		ctl.Handle(prefix+"."+op, func(ctx context.Context, raw json.RawMessage) (any, error) {
			var req Req
			if len(raw) > 0 {
				if err := json.Unmarshal(raw, &req); err != nil {
					return nil, err
				}
			}
			return fn(ctx, op, req)
		})
	}
}

// callOrDirect runs an admin command through the running server's control
// socket, or with direct when no server runs on the data directory.
func callOrDirect[Req any](ctx context.Context, dataDir, name string, req Req, direct func() (json.RawMessage, error)) (json.RawMessage, error) {
	var res json.RawMessage
	err := control.NewClient(dataDir).Call(ctx, name, req, &res)
	if errors.Is(err, control.ErrNotRunning) {
		return direct()
	}
	return res, err
}
