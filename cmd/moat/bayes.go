package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"

	"github.com/moatmail/moat/control"
	"github.com/moatmail/moat/filter/bayes"
	"github.com/moatmail/moat/filter/state"
	"github.com/moatmail/moat/policies"
)

// bayesReq is the request of the train and stats commands on the control
// socket.
type bayesReq struct {
	Class string   `json:"class,omitempty"`
	User  string   `json:"user,omitempty"`
	Paths []string `json:"paths,omitempty"`
}

// registerBayes serves bayes.train and bayes.stats on the control socket,
// so training works while the server holds the embedded store.
func registerBayes(ctl *control.Server, b *bayes.Bayes) {
	ctl.Handle("bayes.train", func(ctx context.Context, raw json.RawMessage) (any, error) {
		if b == nil {
			return nil, errors.New("the Bayes scorer is off in the running server (bayes.enabled: false)")
		}
		var req bayesReq
		if err := json.Unmarshal(raw, &req); err != nil {
			return nil, err
		}
		class, err := bayes.ParseClass(req.Class)
		if err != nil {
			return nil, err
		}
		return b.Train(ctx, class, req.User, req.Paths, nil)
	})
	ctl.Handle("bayes.stats", func(ctx context.Context, raw json.RawMessage) (any, error) {
		if b == nil {
			return nil, errors.New("the Bayes scorer is off in the running server (bayes.enabled: false)")
		}
		var req bayesReq
		if len(raw) > 0 {
			if err := json.Unmarshal(raw, &req); err != nil {
				return nil, err
			}
		}
		return b.Stats(ctx, req.User)
	})
}

// openBayes opens the state store and the scorer directly (no server runs
// on the data directory).
func openBayes(ctx context.Context, cfg *policies.Config) (*bayes.Bayes, func(), error) {
	st, err := state.Open(ctx, state.Options{Redis: cfg.State.Redis, Prefix: cfg.State.Prefix, DataDir: cfg.DataDir})
	if errors.Is(err, state.ErrLocked) {
		return nil, nil, fmt.Errorf("the state in %s is held by a running moat serve whose control socket does not answer: %w", cfg.DataDir, err)
	}
	if err != nil {
		return nil, nil, err
	}
	b, err := bayes.New(st, cfg.Bayes.Options())
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return b, func() { st.Close() }, nil
}

// cmdTrain runs `moat train (--spam|--ham) [--user NAME] PATH…`.
func cmdTrain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("train", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("c", "", "configuration `FILE`")
	spam := fs.Bool("spam", false, "learn the messages as spam")
	ham := fs.Bool("ham", false, "learn the messages as ham")
	user := fs.String("user", "", "learn into this user's model (default: the global one)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *spam == *ham || fs.NArg() == 0 {
		fmt.Fprintln(stderr, "usage: moat train (--spam|--ham) [-c FILE] [--user NAME] PATH...")
		return 2
	}
	class := bayes.Ham
	if *spam {
		class = bayes.Spam
	}
	cfg, err := policies.LoadOrDefault(*cfgPath)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	paths := make([]string, fs.NArg())
	for i, p := range fs.Args() {
		if paths[i], err = filepath.Abs(p); err != nil {
			fmt.Fprintln(stderr, "moat train:", err)
			return 1
		}
	}
	var res bayes.TrainResult
	err = control.NewClient(cfg.DataDir).Call(ctx, "bayes.train", bayesReq{Class: class.String(), User: *user, Paths: paths}, &res)
	if errors.Is(err, control.ErrNotRunning) {
		var b *bayes.Bayes
		var done func()
		b, done, err = openBayes(ctx, cfg)
		if err == nil {
			defer done()
			progress, finish := bayes.ProgressBar(stderr)
			res, err = b.Train(ctx, class, *user, paths, progress)
			finish()
		}
	}
	if err != nil {
		fmt.Fprintln(stderr, "moat train:", err)
		return 1
	}
	if err := res.WriteText(stdout, class); err != nil {
		return 1
	}
	return 0
}

const bayesUsage = `usage:
  moat bayes stats [-c FILE] [--user NAME] [--json]
  moat bayes eval [-c FILE] (--train DIR --test DIR | --folds K --train DIR) [--json]
`

// cmdBayes runs `moat bayes stats|eval`.
func cmdBayes(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || (args[0] != "stats" && args[0] != "eval") {
		fmt.Fprint(stderr, bayesUsage)
		return 2
	}
	fs := flag.NewFlagSet("bayes "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("c", "", "configuration `FILE`")
	asJSON := fs.Bool("json", false, "print JSON")
	user := fs.String("user", "", "the user's model (stats)")
	train := fs.String("train", "", "`DIR` with ham/ and spam/ to learn (eval)")
	test := fs.String("test", "", "`DIR` with ham/ and spam/ to classify (eval)")
	folds := fs.Int("folds", 0, "cross-validate over --train with `K` folds (eval)")
	if err := fs.Parse(args[1:]); err != nil || fs.NArg() != 0 {
		fmt.Fprint(stderr, bayesUsage)
		return 2
	}
	cfg, err := policies.LoadOrDefault(*cfgPath)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	var res interface{ WriteText(io.Writer) error }
	if args[0] == "eval" {
		if *train == "" || (*test == "") == (*folds == 0) {
			fmt.Fprint(stderr, bayesUsage)
			return 2
		}
		r, err := bayes.Eval(ctx, bayes.EvalOptions{Train: *train, Test: *test, Folds: *folds, Options: cfg.Bayes.Options()})
		if err != nil {
			fmt.Fprintln(stderr, "moat bayes eval:", err)
			return 1
		}
		res = r
	} else {
		var s bayes.Stats
		err := control.NewClient(cfg.DataDir).Call(ctx, "bayes.stats", bayesReq{User: *user}, &s)
		if errors.Is(err, control.ErrNotRunning) {
			var b *bayes.Bayes
			var done func()
			if b, done, err = openBayes(ctx, cfg); err == nil {
				defer done()
				s, err = b.Stats(ctx, *user)
			}
		}
		if err != nil {
			fmt.Fprintln(stderr, "moat bayes stats:", err)
			return 1
		}
		res = s
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			return 1
		}
		return 0
	}
	if err := res.WriteText(stdout); err != nil {
		return 1
	}
	return 0
}
