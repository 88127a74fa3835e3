package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"golang.org/x/term"

	"github.com/moatmail/moat/control"
	"github.com/moatmail/moat/policies"
	"github.com/moatmail/moat/store"
)

// userReq is the request of a user admin command, on the control socket
// and in the direct path alike.
type userReq struct {
	Name     string `json:"name,omitempty"`
	Password string `json:"password,omitempty"`
	Quota    int64  `json:"quota,omitempty"`
	SetQuota bool   `json:"set_quota,omitempty"`
}

// userAdmin runs a user admin command ("add", "passwd", "del", "list") on
// a store.
func userAdmin(ctx context.Context, st *store.Store, op string, req userReq) (any, error) {
	if req.SetQuota && req.Quota < 0 && (op == "add" || op == "passwd") {
		// Checked before anything changes, so a bad quota changes nothing.
		return nil, fmt.Errorf("%w: %d", store.ErrInvalidQuota, req.Quota)
	}
	switch op {
	case "add":
		if err := st.AddUser(ctx, req.Name, req.Password); err != nil {
			return nil, err
		}
		if req.SetQuota {
			if err := st.SetQuota(ctx, req.Name, req.Quota); err != nil {
				// Undo the add: the command fails, so the user must not exist.
				if derr := st.DeleteUser(ctx, req.Name); derr != nil {
					return nil, fmt.Errorf("%w (and removing the half-added user failed: %w)", err, derr)
				}
				return nil, err
			}
		}
		return nil, nil
	case "passwd":
		if req.Password != "" {
			if err := st.SetPassword(ctx, req.Name, req.Password); err != nil {
				return nil, err
			}
		}
		if req.SetQuota {
			return nil, st.SetQuota(ctx, req.Name, req.Quota)
		}
		return nil, nil
	case "del":
		return nil, st.DeleteUser(ctx, req.Name)
	case "list":
		us, err := st.Users(ctx)
		if us == nil {
			us = []store.User{}
		}
		return us, err
	}
	return nil, fmt.Errorf("unknown user command %q", op)
}

// registerUsers serves the user commands on the control socket.
func registerUsers(ctl *control.Server, st *store.Store) {
	handleOps(ctl, "user", []string{"add", "passwd", "del", "list"}, func(ctx context.Context, op string, req userReq) (any, error) {
		return userAdmin(ctx, st, op, req)
	})
}

const userUsage = `usage:
  moat user add [-c FILE] [--quota BYTES] ADDRESS
  moat user passwd [-c FILE] [--quota BYTES] [--keep-password] ADDRESS
  moat user del [-c FILE] ADDRESS
  moat user list [-c FILE] [--json]

The password is read from a prompt on a terminal, or from the first line of
standard input when it is not one.
`

// cmdUser runs `moat user add|passwd|del|list`: through the running
// server's control socket when there is one, else on the store directly.
func cmdUser(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, userUsage)
		return 2
	}
	op := args[0]
	fs := flag.NewFlagSet("user "+op, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("c", "", "configuration `FILE`")
	asJSON := fs.Bool("json", false, "print JSON (list)")
	quota := fs.Int64("quota", 0, "quota in `BYTES` (0: the default quota)")
	keep := fs.Bool("keep-password", false, "passwd: change only the quota")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	var req userReq
	switch op {
	case "list":
		if fs.NArg() != 0 {
			fmt.Fprint(stderr, userUsage)
			return 2
		}
	case "add", "passwd", "del":
		if fs.NArg() != 1 {
			fmt.Fprint(stderr, userUsage)
			return 2
		}
		req.Name = strings.ToLower(fs.Arg(0))
	default:
		fmt.Fprintf(stderr, "moat user: unknown command %q\n%s", op, userUsage)
		return 2
	}
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "quota" {
			req.Quota, req.SetQuota = *quota, true
		}
	})
	if req.SetQuota && req.Quota < 0 {
		fmt.Fprintf(stderr, "moat user: invalid --quota %d: give 0 (the default quota) or more bytes\n", req.Quota)
		return 2
	}
	if op == "passwd" && *keep && !req.SetQuota {
		fmt.Fprintln(stderr, "moat user: nothing to change: give --quota or drop --keep-password")
		return 2
	}
	if op == "add" || (op == "passwd" && !*keep) {
		pw, err := readPassword(stdin, stderr)
		if err != nil {
			fmt.Fprintln(stderr, "moat user:", err)
			return 1
		}
		req.Password = pw
	}
	cfg, err := policies.LoadOrDefault(*cfgPath)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	res, err := callOrDirect(ctx, cfg.DataDir, "user."+op, req, func() (json.RawMessage, error) {
		return userDirect(ctx, cfg, op, req)
	})
	if err != nil {
		fmt.Fprintln(stderr, "moat user:", err)
		return 1
	}
	switch op {
	case "list":
		printUsers(stdout, res, *asJSON)
	case "add":
		fmt.Fprintf(stdout, "user %s added\n", req.Name)
	case "passwd":
		fmt.Fprintf(stdout, "user %s changed\n", req.Name)
	case "del":
		fmt.Fprintf(stdout, "user %s deleted with its mail\n", req.Name)
	}
	return 0
}

// userDirect runs op on the store when no server runs.
func userDirect(ctx context.Context, cfg *policies.Config, op string, req userReq) (json.RawMessage, error) {
	st, err := store.Open(ctx, store.Options{Dir: filepath.Join(cfg.DataDir, "store"), DefaultQuota: cfg.Store.Quota})
	if err != nil {
		return nil, err
	}
	defer st.Close()
	v, err := userAdmin(ctx, st, op, req)
	if err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

// readPassword reads a password: twice from a prompt on a terminal, else
// the first line of in.
func readPassword(in io.Reader, prompt io.Writer) (string, error) {
	if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(prompt, "Password: ")
		a, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(prompt)
		if err != nil {
			return "", fmt.Errorf("reading password: %w", err)
		}
		fmt.Fprint(prompt, "Again: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(prompt)
		if err != nil {
			return "", fmt.Errorf("reading password: %w", err)
		}
		if string(a) != string(b) {
			return "", errors.New("the passwords differ")
		}
		return checkPassword(string(a))
	}
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && (err != io.EOF || line == "") {
		return "", errors.New("no password on standard input")
	}
	return checkPassword(strings.TrimRight(line, "\r\n"))
}

func checkPassword(pw string) (string, error) {
	if len(pw) < 8 {
		return "", errors.New("the password must have at least 8 characters")
	}
	return pw, nil
}

func printUsers(w io.Writer, raw json.RawMessage, asJSON bool) {
	if asJSON {
		fmt.Fprintln(w, string(raw))
		return
	}
	var us []store.User
	_ = json.Unmarshal(raw, &us)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "USER\tUSED\tQUOTA\tCREATED")
	for _, u := range us {
		q := "default"
		if u.Quota > 0 {
			q = fmt.Sprint(u.Quota)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", u.Name, u.Used, q, u.Created.Format("2006-01-02"))
	}
	tw.Flush()
}
