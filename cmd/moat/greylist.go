package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/moatmail/moat/control"
	"github.com/moatmail/moat/filter/greylist"
	"github.com/moatmail/moat/filter/state"
	"github.com/moatmail/moat/policies"
)

// greylistReq is the request of a greylist admin command, on the control
// socket and in the direct path alike.
type greylistReq struct {
	Target string        `json:"target,omitempty"`
	For    time.Duration `json:"for,omitempty"`
	greylist.Selector
}

// greylistAdmin runs greylist admin commands ("list", "allow", "revoke",
// "release") on a Greylist.
func greylistAdmin(ctx context.Context, gl *greylist.Greylist, op string, req greylistReq) (any, error) {
	switch op {
	case "list":
		entries := []greylist.Entry{}
		err := gl.List(ctx, func(e greylist.Entry) error {
			entries = append(entries, e)
			return nil
		})
		return entries, err
	case "allow":
		return gl.Allow(ctx, req.Target, req.For)
	case "revoke":
		return gl.Revoke(ctx, req.Target)
	case "release":
		return gl.Release(ctx, req.Selector)
	}
	return nil, fmt.Errorf("unknown greylist command %q", op)
}

// registerGreylist serves the greylist commands on the control socket.
func registerGreylist(ctl *control.Server, gl *greylist.Greylist) {
	handleOps(ctl, "greylist", []string{"list", "allow", "revoke", "release"}, func(ctx context.Context, op string, req greylistReq) (any, error) {
		if gl == nil {
			return nil, errors.New("greylisting is off in the running server (greylist.enabled: false)")
		}
		return greylistAdmin(ctx, gl, op, req)
	})
}

const greylistUsage = `usage:
  moat greylist list [-c FILE] [--json]
  moat greylist allow [-c FILE] [--for DURATION] TARGET
  moat greylist revoke [-c FILE] TARGET
  moat greylist release [-c FILE] [--client NET|spf:DOMAIN] [--sender ADDR] [--rcpt ADDR]

TARGET is an IP address or network (up to /24 or /64), spf:DOMAIN, a sender
address, @domain, a domain, or <> for the null sender.
`

// cmdGreylist runs `moat greylist list|allow|revoke|release`: through the
// running server's control socket when there is one, else on the state
// store directly.
func cmdGreylist(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, greylistUsage)
		return 2
	}
	op := args[0]
	fs := flag.NewFlagSet("greylist "+op, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("c", "", "configuration `FILE`")
	asJSON := fs.Bool("json", false, "print JSON (list)")
	var req greylistReq
	fs.DurationVar(&req.For, "for", 0, "allow for `DURATION` only (default: until revoked)")
	fs.StringVar(&req.Client, "client", "", "release triplets of this client network or spf:DOMAIN")
	fs.StringVar(&req.Sender, "sender", "", "release triplets of this sender")
	fs.StringVar(&req.Rcpt, "rcpt", "", "release triplets of this recipient")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	switch op {
	case "list", "release":
		if fs.NArg() != 0 {
			fmt.Fprint(stderr, greylistUsage)
			return 2
		}
	case "allow", "revoke":
		if fs.NArg() != 1 {
			fmt.Fprint(stderr, greylistUsage)
			return 2
		}
		req.Target = fs.Arg(0)
	default:
		fmt.Fprintf(stderr, "moat greylist: unknown command %q\n%s", op, greylistUsage)
		return 2
	}
	cfg, err := policies.LoadOrDefault(*cfgPath)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	res, err := runGreylist(ctx, cfg, op, req)
	if err != nil {
		fmt.Fprintln(stderr, "moat greylist:", err)
		return 1
	}
	printGreylist(stdout, op, res, *asJSON)
	return 0
}

// runGreylist runs op through the control socket, or directly when no
// server runs on the data directory. The result is JSON-shaped.
func runGreylist(ctx context.Context, cfg *policies.Config, op string, req greylistReq) (json.RawMessage, error) {
	var res json.RawMessage
	err := control.NewClient(cfg.DataDir).Call(ctx, "greylist."+op, req, &res)
	if err == nil || !errors.Is(err, control.ErrNotRunning) {
		return res, err
	}
	if !cfg.Greylist.Enabled {
		return nil, errors.New("greylisting is off (greylist.enabled: false in the configuration)")
	}
	st, err := state.Open(ctx, state.Options{Redis: cfg.State.Redis, Prefix: cfg.State.Prefix, DataDir: cfg.DataDir})
	if errors.Is(err, state.ErrLocked) {
		return nil, fmt.Errorf("the state in %s is held by a running moat serve whose control socket does not answer: %w", cfg.DataDir, err)
	}
	if err != nil {
		return nil, err
	}
	defer st.Close()
	gl, err := greylist.New(st, cfg.Greylist.Options())
	if err != nil {
		return nil, err
	}
	v, err := greylistAdmin(ctx, gl, op, req)
	if err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

func printGreylist(w io.Writer, op string, res json.RawMessage, asJSON bool) {
	if asJSON {
		fmt.Fprintln(w, string(res))
		return
	}
	switch op {
	case "list":
		// greylist.Entry's kind is written as text; read it back as text.
		var entries []struct {
			Kind      string           `json:"kind"`
			State     string           `json:"state"`
			Triplet   greylist.Triplet `json:"triplet"`
			FirstSeen time.Time        `json:"first_seen"`
			Expires   time.Time        `json:"expires"`
		}
		_ = json.Unmarshal(res, &entries)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "KIND\tSTATE\tCLIENT\tSENDER\tRCPT\tFIRST SEEN\tEXPIRES")
		for _, e := range entries {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Kind, e.State, dash(e.Triplet.Client), dash(e.Triplet.Sender), dash(e.Triplet.Rcpt), when(e.FirstSeen), when(e.Expires))
		}
		tw.Flush()
		fmt.Fprintf(w, "%d entries\n", len(entries))
	case "release":
		fmt.Fprintf(w, "released %s triplets\n", res)
	case "revoke":
		if string(res) == "true" {
			fmt.Fprintln(w, "revoked")
		} else {
			fmt.Fprintln(w, "nothing to revoke")
		}
	default:
		var e greylist.Entry
		_ = json.Unmarshal(res, &e)
		who := e.Triplet.Client
		if who == "" {
			who = e.Triplet.Sender
		}
		fmt.Fprintf(w, "allowed %s until %s\n", who, when(e.Expires))
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func when(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}
