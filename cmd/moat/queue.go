package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/moatmail/moat/control"
	"github.com/moatmail/moat/policies"
	"github.com/moatmail/moat/relay/queue"
)

// queueReq is the request of a queue admin command.
type queueReq struct {
	ID string `json:"id,omitempty"`
}

// queueList is the answer of "list".
type queueList struct {
	Messages []queue.Summary `json:"messages"`
	Counts   queue.Counts    `json:"counts"`
}

// queueAdmin runs a queue admin command on an open queue.
func queueAdmin(ctx context.Context, q *queue.Queue, op string, req queueReq) (any, error) {
	switch op {
	case "list":
		ms, c, err := q.List(ctx)
		if ms == nil {
			ms = []queue.Summary{}
		}
		return queueList{Messages: ms, Counts: c}, err
	case "show":
		return q.Show(ctx, req.ID)
	case "retry":
		n, err := q.Retry(ctx, req.ID)
		return map[string]int{"due": n}, err
	case "delete":
		return nil, q.Delete(ctx, req.ID)
	}
	return nil, fmt.Errorf("unknown queue command %q", op)
}

// registerQueue serves the queue commands on the control socket.
func registerQueue(ctl *control.Server, q *queue.Queue) {
	handleOps(ctl, "queue", []string{"list", "show", "retry", "delete"}, func(ctx context.Context, op string, req queueReq) (any, error) {
		return queueAdmin(ctx, q, op, req)
	})
}

const queueUsage = `usage:
  moat queue list [-c FILE] [--json]
  moat queue show [-c FILE] [--json] ID
  moat queue retry [-c FILE] ID|all
  moat queue delete [-c FILE] ID
`

// cmdQueue runs `moat queue list|show|retry|delete`: through the running
// server's control socket, or read-only on the queue directory (list,
// show) when no server runs.
func cmdQueue(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, queueUsage)
		return 2
	}
	op := args[0]
	fs := flag.NewFlagSet("queue "+op, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("c", "", "configuration `FILE`")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	var req queueReq
	switch op {
	case "list":
		if fs.NArg() != 0 {
			fmt.Fprint(stderr, queueUsage)
			return 2
		}
	case "show", "retry", "delete":
		if fs.NArg() != 1 {
			fmt.Fprint(stderr, queueUsage)
			return 2
		}
		req.ID = fs.Arg(0)
	default:
		fmt.Fprintf(stderr, "moat queue: unknown command %q\n%s", op, queueUsage)
		return 2
	}
	cfg, err := policies.LoadOrDefault(*cfgPath)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	res, err := callOrDirect(ctx, cfg.DataDir, "queue."+op, req, func() (json.RawMessage, error) {
		return queueDirect(ctx, cfg, op, req)
	})
	if err != nil {
		fmt.Fprintln(stderr, "moat queue:", err)
		return 1
	}
	printQueue(stdout, op, req, res, *asJSON)
	return 0
}

// queueDirect runs op on the queue directory when no server runs: list and
// show read it; retry and delete need the server (it delivers).
func queueDirect(ctx context.Context, cfg *policies.Config, op string, req queueReq) (json.RawMessage, error) {
	if op != "list" && op != "show" {
		return nil, fmt.Errorf("%s needs the running server (moat serve), which delivers the queue", op)
	}
	q, err := openQueue(ctx, cfg, nil, true, slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, err
	}
	defer q.Close(ctx)
	v, err := queueAdmin(ctx, q, op, req)
	if err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

func printQueue(w io.Writer, op string, req queueReq, raw json.RawMessage, asJSON bool) {
	if asJSON {
		fmt.Fprintln(w, string(raw))
		return
	}
	switch op {
	case "list":
		var l queueList
		_ = json.Unmarshal(raw, &l)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tSTATE\tAGE\tSIZE\tFROM\tRECIPIENTS\tLAST ERROR")
		for _, m := range l.Messages {
			var rc []string
			for _, r := range m.Rcpts {
				rc = append(rc, termSafe(r.Addr, false)+"("+r.State.String()+")")
			}
			from := termSafe(m.From, false)
			if from == "" {
				from = "<>"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\n", m.ID, m.State, m.Age.Round(time.Second), m.Size, from, strings.Join(rc, ","), termSafe(m.LastError, false))
		}
		tw.Flush()
		c := l.Counts
		fmt.Fprintf(w, "%d messages (%d active, %d deferred, %d bouncing), %d bytes\n", c.Messages, c.Active, c.Deferred, c.Bouncing, c.Bytes)
	case "show":
		var d queue.Detail
		_ = json.Unmarshal(raw, &d)
		fmt.Fprintf(w, "id: %s\nstate: %s\nfrom: <%s>\nreceived: %s\nsize: %d\nspam: %v\n", d.ID, d.State, termSafe(d.From, false), d.Received.Format(time.RFC3339), d.Size, d.Spam)
		for _, r := range d.Rcpts {
			fmt.Fprintf(w, "rcpt: %s %s attempts=%d next=%s last=%q\n", termSafe(r.Addr, false), r.State, r.Attempts, r.NextAttempt.Format(time.RFC3339), r.LastError)
		}
		fmt.Fprintf(w, "\n%s", termSafe(d.Headers, true))
	case "retry":
		var m map[string]int
		_ = json.Unmarshal(raw, &m)
		fmt.Fprintf(w, "%d messages due now\n", m["due"])
	case "delete":
		fmt.Fprintf(w, "message %s deleted\n", req.ID)
	}
}

// termSafe makes remote-controlled text safe to print on a terminal: every
// control character (C0, DEL, C1), other non-printing rune and invalid UTF-8
// byte is written escaped as strconv.Quote writes it ("\x1b", "\u202e"), so
// no escape sequence reaches the terminal. With multiline, CRLF becomes a
// newline and newline and tab are kept; without, they are escaped too, so a
// field stays on its line and in its column.
func termSafe(s string, multiline bool) string {
	if multiline {
		s = strings.ReplaceAll(s, "\r\n", "\n")
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case multiline && (r == '\n' || r == '\t'):
			b.WriteRune(r)
		case r == utf8.RuneError && size == 1, !strconv.IsPrint(r):
			q := strconv.Quote(s[i : i+size])
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}
