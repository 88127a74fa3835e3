//go:build e2e

package main_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/moatmail/moat/filter/state/statetest"
)

// Greylisting end to end: real moat processes, a real redis-server (the
// statetest helper, on a free port of 127.0.0.1), real clients (swaks,
// smtplib, go-smtp's client) and the moat CLI.

// greyFrom is the envelope sender of the greylisting tests; clients connect
// from 127.0.0.1, so every triplet's client part is 127.0.0.0/24.
const (
	greyFrom   = "sender@client.e2e.test"
	greyClient = "127.0.0.0/24"
)

// greyReplyRE matches the 451 a greylisted recipient gets and captures the
// retry time and its unit.
var greyReplyRE = regexp.MustCompile(`^451 4\.7\.1 Greylisted, please try again in (\d+) (seconds?|minutes?) \[\S+\]$`)

// greylistConfig writes a configuration with a greylist: section (a YAML
// block at column 0) and, when redisURL is set, a state: section sharing
// that Redis under prefix.
func greylistConfig(t *testing.T, s *sink, greylist, redisURL, prefix string) (cfgParams, string) {
	t.Helper()
	p, path := newConfig(t, s, "", "")
	text := configYAML(p) + "greylist:\n" + indent("enabled: true\n"+greylist)
	if redisURL != "" {
		text += fmt.Sprintf("state:\n  redis: %q\n  prefix: %q\n", redisURL, prefix)
	}
	writeFile(t, path, text)
	return p, path
}

// retryIn checks that reply is the greylisting 451 and returns the retry
// time it announces.
func retryIn(t *testing.T, reply string) time.Duration {
	t.Helper()
	m := greyReplyRE.FindStringSubmatch(reply)
	if m == nil {
		t.Fatalf("reply %q, want %q", reply, "451 4.7.1 Greylisted, please try again in N minutes [id]")
	}
	n, _ := strconv.Atoi(m[1])
	if strings.HasPrefix(m[2], "minute") {
		return time.Duration(n) * time.Minute
	}
	return time.Duration(n) * time.Second
}

// greySwaks sends hamA with swaks and returns the
// RCPT reply and the end-of-data reply ("" when DATA was not reached).
func greySwaks(t *testing.T, m *moatProc, rcpt string) (rcptReply, final string) {
	t.Helper()
	r := m.swaks(t, "--from", greyFrom, "--to", rcpt, "--data", "@testdata/"+hamA)
	rcptReply = r.replyAfter("RCPT TO:")
	switch {
	case strings.HasPrefix(rcptReply, "250 ") && r.code != 0:
		t.Fatalf("swaks exit %d after RCPT was accepted:\n%s", r.code, r.out)
	case strings.HasPrefix(rcptReply, "250 "):
		final = r.endOfData()
	case r.code != 24: // 24: no recipient accepted
		t.Fatalf("swaks exit %d, want 24 for a refused recipient:\n%s", r.code, r.out)
	}
	return rcptReply, final
}

// deliveredTests returns the tests= list of the one message the sink got
// for rcpt (the want-th), after checking moat's X-Spam-* fields and
// X-Spam-Action accept.
func deliveredTests(t *testing.T, s *sink, rcpt string, want int) []string {
	t.Helper()
	got := s.to(rcpt)
	if len(got) != want {
		t.Fatalf("sink got %d messages for %s, want %d", len(got), rcpt, want)
	}
	fields, _ := splitMessage(got[want-1].Data)
	action, tests := spamHeaders(t, fields)
	if action != "accept" {
		t.Errorf("X-Spam-Action = %q, want accept", action)
	}
	return tests
}

// greylistSymbols returns the GREYLIST_* names among symbol names: other
// checks add their own symbols, which these tests do not pin.
func greylistSymbols(names []string) []string {
	var out []string
	for _, n := range names {
		if strings.HasPrefix(n, "GREYLIST_") {
			out = append(out, n)
		}
	}
	return out
}

// smtpReplyText formats a go-smtp client error as the server's reply line
// ("451 4.7.1 text"), or "250" for nil.
func smtpReplyText(err error) string {
	if err == nil {
		return "250"
	}
	var se *smtp.SMTPError
	if !errors.As(err, &se) {
		return "error: " + err.Error()
	}
	if se.EnhancedCode[0] > 0 {
		return fmt.Sprintf("%d %d.%d.%d %s", se.Code, se.EnhancedCode[0], se.EnhancedCode[1], se.EnhancedCode[2], se.Message)
	}
	return fmt.Sprintf("%d %s", se.Code, se.Message)
}

// goSMTPSend offers rcpt over a new go-smtp client connection, every
// command bounded, and, when withData is set and RCPT is accepted, sends
// hamA. It returns the RCPT reply and the end-of-data reply ("" when no
// message was sent).
func goSMTPSend(t *testing.T, addr, rcpt string, withData bool) (rcptReply, final string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, startTimeout)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	c := smtp.NewClient(conn)
	defer c.Close()
	c.CommandTimeout, c.SubmissionTimeout = 20*time.Second, 20*time.Second
	if err := c.Hello("gosmtp.client.e2e.test"); err != nil {
		t.Fatalf("EHLO: %v", err)
	}
	if err := c.Mail(greyFrom, nil); err != nil {
		t.Fatalf("MAIL: %v", err)
	}
	rcptReply = smtpReplyText(c.Rcpt(rcpt, nil))
	if rcptReply == "250" && withData {
		w, err := c.Data()
		if err != nil {
			t.Fatalf("DATA: %v", err)
		}
		if _, err := w.Write(fixture(t, hamA)); err != nil {
			t.Fatalf("writing the message: %v", err)
		}
		final = "250"
		resp, err := w.CloseWithResponse()
		if err != nil {
			final = smtpReplyText(err)
		} else {
			final += " " + resp.StatusText
		}
	}
	if err := c.Quit(); err != nil {
		t.Errorf("QUIT: %v", err)
	}
	return rcptReply, final
}

// TestE2EGreylistSharedRedis runs two moat processes (their own data_dir
// and port) on one private redis-server: a triplet greylisted by the first
// is still greylisted by the second before the delay, passes on the second
// when the first's reply said to retry, and is then known as passed to the
// first as well.
func TestE2EGreylistSharedRedis(t *testing.T) {
	t.Parallel()
	requireTool(t, "swaks", "swaks")
	redis := statetest.StartRedis(t)
	const delay = 2 * time.Second
	prefix := statetest.UniquePrefix()
	s := startSink(t, nil)
	pa, cfgA := greylistConfig(t, s, "delay: 2s\n", redis.URL, prefix)
	pb, cfgB := greylistConfig(t, s, "delay: 2s\n", redis.URL, prefix)
	if pa.DataDir == pb.DataDir || pa.Port == pb.Port {
		t.Fatalf("the two instances share a data_dir or a port: %+v %+v", pa, pb)
	}
	a, b := startMoat(t, pa, cfgA), startMoat(t, pb, cfgB)
	const rcpt = "shared@relay.test"

	before := time.Now()
	rcptReply, _ := greySwaks(t, a, rcpt)
	answered := time.Now()
	wait := retryIn(t, rcptReply)
	if wait <= 0 || wait > delay {
		t.Fatalf("first attempt: retry in %v, want (0, %v]", wait, delay)
	}
	a.log.waitLines(t, a.exited, 1, `msg="rcpt refused"`, "rcpt="+rcpt, "first attempt of "+greyClient)

	// Well inside the delay (counted from before the first attempt): the
	// second instance knows the triplet and greylists it as early.
	if time.Since(before) < delay/2 {
		reply, _ := goSMTPSend(t, b.addr(), rcpt, false)
		if got := retryIn(t, reply); got > wait {
			t.Errorf("early retry on the second instance: retry in %v, more than the first reply's %v", got, wait)
		}
		b.log.waitLines(t, b.exited, 1, `msg="rcpt refused"`, "rcpt="+rcpt, "before the 2s delay")
	} else {
		t.Logf("skipping the early retry: %v passed since the first attempt", time.Since(before))
	}

	// Retry on the second instance when the first reply said to: it must
	// pass (the reply rounds up, so this is never early). The one real wait
	// of these tests: the processes run on the wall clock.
	time.Sleep(time.Until(answered.Add(wait + 50*time.Millisecond)))
	rcptReply, final := goSMTPSend(t, b.addr(), rcpt, true)
	if rcptReply != "250" || !strings.HasPrefix(final, "250 ") {
		t.Fatalf("retry on the second instance after %v: RCPT %q, end of data %q; want 250 and 250",
			time.Since(before).Round(time.Millisecond), rcptReply, final)
	}
	if tests := deliveredTests(t, s, rcpt, 1); !slices.Equal(greylistSymbols(tests), []string{"GREYLIST_PASS"}) {
		t.Errorf("X-Spam-Status tests=%q, want GREYLIST_PASS and no other GREYLIST_ symbol", tests)
	}

	// The first instance now sees the triplet as passed too.
	rcptReply, final = greySwaks(t, a, rcpt)
	if !strings.HasPrefix(rcptReply, "250 ") || !strings.HasPrefix(final, "250 ") {
		t.Fatalf("passed triplet on the first instance: RCPT %q, end of data %q; want 250", rcptReply, final)
	}
	if tests := deliveredTests(t, s, rcpt, 2); !slices.Equal(greylistSymbols(tests), []string{"GREYLIST_PASS"}) {
		t.Errorf("second message: X-Spam-Status tests=%q, want GREYLIST_PASS and no other GREYLIST_ symbol", tests)
	}
}

// TestE2EGreylistRedisDown stops Redis under a running moat: mail flows
// (250, GREYLIST_TEMPFAIL) without a restart of moat, and once Redis is back
// on the same port greylisting resumes by itself.
func TestE2EGreylistRedisDown(t *testing.T) {
	t.Parallel()
	requireTool(t, "swaks", "swaks")
	requireTool(t, "python3", "python3")
	redis := statetest.StartRedis(t)
	if !redis.CanRestart() {
		t.Skip("REDIS_URL points at an external Redis: this test must stop and restart its own")
	}
	s := startSink(t, nil)
	p, cfg := greylistConfig(t, s, "delay: 1h\n", redis.URL, statetest.UniquePrefix())
	m := startMoat(t, p, cfg)

	if reply, _ := greySwaks(t, m, "before@relay.test"); retryIn(t, reply) <= 0 {
		t.Fatalf("Redis up: %q, want a retry time", reply)
	}

	redis.Stop()
	t.Run("redis down", func(t *testing.T) {
		start := time.Now()
		rcptReply, final := greySwaks(t, m, "before@relay.test") // greylisted a moment ago
		if !strings.HasPrefix(rcptReply, "250 ") || !strings.HasPrefix(final, "250 ") {
			t.Fatalf("swaks with Redis down: RCPT %q, end of data %q; want 250 (fail open)", rcptReply, final)
		}
		t.Logf("swaks transaction with Redis down took %v", time.Since(start).Round(time.Millisecond))
		if tests := deliveredTests(t, s, "before@relay.test", 1); !slices.Contains(tests, "GREYLIST_TEMPFAIL") {
			t.Errorf("X-Spam-Status tests=%q, want GREYLIST_TEMPFAIL", tests)
		}
		res := m.smtplibSend(t, sendTxn{From: greyFrom, Rcpts: []string{"down@relay.test"}, File: "testdata/" + hamB})
		if tx := res.Transactions[0]; len(tx.Rcpts) != 1 || tx.Rcpts[0].code() != 250 || tx.Data.code() != 250 {
			t.Fatalf("smtplib with Redis down: RCPT %v, DATA %v; want 250 and 250", tx.Rcpts, tx.Data)
		}
		if tests := deliveredTests(t, s, "down@relay.test", 1); !slices.Contains(tests, "GREYLIST_TEMPFAIL") {
			t.Errorf("X-Spam-Status tests=%q, want GREYLIST_TEMPFAIL", tests)
		}
		m.log.waitLines(t, m.exited, 1, "level=WARN", "greylist backend failed; not greylisting (fail open)")
		m.alive(t)
	})

	redis.Restart() // same port, empty
	t.Run("redis back", func(t *testing.T) {
		deadline := time.Now().Add(15 * time.Second)
		var replies []string
		for i := 0; ; i++ {
			reply, _ := goSMTPSend(t, m.addr(), fmt.Sprintf("probe-%d@relay.test", i), false)
			replies = append(replies, reply)
			if strings.HasPrefix(reply, "451 4.7.1 Greylisted") {
				break
			}
			if !strings.HasPrefix(reply, "250") {
				t.Fatalf("probe %d: %q, want 250 (fail open) or 451 4.7.1 (greylisting back)", i, reply)
			}
			if time.Now().After(deadline) {
				t.Fatalf("greylisting did not resume within 15s of Redis coming back; replies %q", replies)
			}
			time.Sleep(200 * time.Millisecond)
		}
		t.Logf("greylisting resumed after %d probe(s)", len(replies))
		// The restarted Redis is empty: the triplet that passed while it was
		// down is new again.
		if reply, _ := greySwaks(t, m, "before@relay.test"); retryIn(t, reply) <= 0 {
			t.Fatalf("Redis back: %q, want a retry time", reply)
		}
		m.alive(t)
	})
}

// TestE2EGreylistRedisHung points moat at a "Redis" that accepts
// connections and never answers: moat starts, and mail flows with
// GREYLIST_TEMPFAIL, each transaction held for no more than the Redis
// timeouts.
func TestE2EGreylistRedisHung(t *testing.T) {
	t.Parallel()
	requireTool(t, "swaks", "swaks")
	hung := blackhole(t)
	s := startSink(t, nil)
	p, cfg := greylistConfig(t, s, "delay: 1h\n", "redis://"+hung, statetest.UniquePrefix())
	m := startMoat(t, p, cfg)
	m.log.waitLines(t, m.exited, 1, "level=WARN", "redis is not reachable yet")

	for _, rcpt := range []string{"hung-1@relay.test", "hung-2@relay.test"} {
		start := time.Now()
		rcptReply, final := greySwaks(t, m, rcpt)
		took := time.Since(start)
		if !strings.HasPrefix(rcptReply, "250 ") || !strings.HasPrefix(final, "250 ") {
			t.Fatalf("%s with a hung Redis: RCPT %q, end of data %q; want 250 (fail open)", rcpt, rcptReply, final)
		}
		if tests := deliveredTests(t, s, rcpt, 1); !slices.Contains(tests, "GREYLIST_TEMPFAIL") {
			t.Errorf("X-Spam-Status tests=%q, want GREYLIST_TEMPFAIL", tests)
		}
		// state's Redis timeouts are 1s to dial and 500ms per read; a check
		// running into limits.check_timeout (5s here) would lose the symbol.
		if took > 4*time.Second {
			t.Errorf("%s: the transaction took %v with a hung Redis, want under 4s", rcpt, took)
		}
		t.Logf("%s: transaction with a hung Redis took %v", rcpt, took.Round(time.Millisecond))
	}
	m.log.waitLines(t, m.exited, 1, "greylist backend failed; not greylisting (fail open)")
}

// blackhole listens on a free loopback port, accepts connections and
// never answers; it returns its address and stops when the test ends.
func blackhole(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var conns []net.Conn
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				for _, c := range conns {
					_ = c.Close()
				}
				return
			}
			conns = append(conns, c) // held open, never read or written
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		<-done
	})
	return ln.Addr().String()
}

// greyEntry is one entry of `moat greylist list --json`.
type greyEntry struct {
	Kind    string `json:"kind"`
	State   string `json:"state"`
	Triplet struct {
		Client string `json:"client"`
		Sender string `json:"sender"`
		Rcpt   string `json:"rcpt"`
	} `json:"triplet"`
	FirstSeen string `json:"first_seen"`
	LastSeen  string `json:"last_seen"`
	PassedAt  string `json:"passed_at"`
	Attempts  int64  `json:"attempts"`
	Passed    int64  `json:"passed"`
	Expires   string `json:"expires"`
}

// greylistCLI runs `moat greylist OP -c cfg ARGS…` and fails the test
// unless it exits 0; it returns stdout.
func greylistCLI(t *testing.T, cfg, op string, args ...string) string {
	t.Helper()
	all := append([]string{"greylist", op, "-c", cfg}, args...)
	stdout, stderr, code := runMoat(t, nil, all...)
	if code != 0 {
		t.Fatalf("moat %q: exit %d\n%s%s", all, code, stdout, stderr)
	}
	return stdout
}

// greylistList runs `moat greylist list --json` and returns the entries
// sorted (kind, client, sender, rcpt).
func greylistList(t *testing.T, cfg string) []greyEntry {
	t.Helper()
	out := greylistCLI(t, cfg, "list", "--json")
	var es []greyEntry
	if err := json.Unmarshal([]byte(out), &es); err != nil {
		t.Fatalf("moat greylist list --json: %v\n%s", err, out)
	}
	slices.SortFunc(es, func(x, y greyEntry) int {
		return strings.Compare(x.Kind+" "+x.Triplet.Client+" "+x.Triplet.Sender+" "+x.Triplet.Rcpt,
			y.Kind+" "+y.Triplet.Client+" "+y.Triplet.Sender+" "+y.Triplet.Rcpt)
	})
	return es
}

// findEntry returns the entry of kind for rcpt (triplet) or client.
func findEntry(es []greyEntry, kind, client, rcpt string) (greyEntry, bool) {
	for _, e := range es {
		if e.Kind == kind && e.Triplet.Client == client && e.Triplet.Rcpt == rcpt {
			return e, true
		}
	}
	return greyEntry{}, false
}

// TestE2EGreylistCLI drives `moat greylist` against a running server on
// the embedded store (through the control socket), then with the server
// stopped (the store opened directly), then restarts the server.
func TestE2EGreylistCLI(t *testing.T) {
	t.Parallel()
	requireTool(t, "swaks", "swaks")
	requireTool(t, "python3", "python3")
	s := startSink(t, nil)
	p, cfg := greylistConfig(t, s, "delay: 1h\n", "", "")
	m := startMoat(t, p, cfg)
	const waiting = "waiting@relay.test"

	reply, _ := greySwaks(t, m, waiting)
	if got := retryIn(t, reply); got != time.Hour {
		t.Fatalf("first attempt: retry in %v, want 1h (\"60 minutes\")", got)
	}

	t.Run("list", func(t *testing.T) {
		out := greylistCLI(t, cfg, "list")
		row := regexp.MustCompile(`(?m)^triplet\s+waiting\s+` + regexp.QuoteMeta(greyClient) + `\s+` +
			regexp.QuoteMeta(greyFrom) + `\s+` + regexp.QuoteMeta(waiting) + `\s+\d{4}-\d\d-\d\dT\S+Z\s+\S+Z$`)
		if !row.MatchString(out) || !strings.HasSuffix(out, "\n1 entries\n") {
			t.Errorf("moat greylist list:\n%s\nwant a waiting row for %s %s %s and \"1 entries\"", out, greyClient, greyFrom, waiting)
		}
		es := greylistList(t, cfg)
		e, ok := findEntry(es, "triplet", greyClient, waiting)
		if len(es) != 1 || !ok || e.State != "waiting" || e.Triplet.Sender != greyFrom || e.Attempts != 1 || e.FirstSeen == "" {
			t.Errorf("moat greylist list --json = %+v, want one waiting triplet, 1 attempt", es)
		}
	})

	t.Run("release", func(t *testing.T) {
		if out := greylistCLI(t, cfg, "release", "--rcpt", strings.ToUpper(waiting)); out != "released 1 triplets\n" {
			t.Errorf("moat greylist release: %q, want \"released 1 triplets\"", out)
		}
		if e, _ := findEntry(greylistList(t, cfg), "triplet", greyClient, waiting); e.State != "released" {
			t.Errorf("after release the triplet is %+v, want state released", e)
		}
		rcptReply, final := greySwaks(t, m, waiting)
		if !strings.HasPrefix(rcptReply, "250 ") || !strings.HasPrefix(final, "250 ") {
			t.Fatalf("retry after release: RCPT %q, end of data %q; want 250 at once", rcptReply, final)
		}
		if tests := deliveredTests(t, s, waiting, 1); !slices.Equal(greylistSymbols(tests), []string{"GREYLIST_PASS"}) {
			t.Errorf("X-Spam-Status tests=%q, want GREYLIST_PASS and no other GREYLIST_ symbol", tests)
		}
		if e, _ := findEntry(greylistList(t, cfg), "triplet", greyClient, waiting); e.State != "passed" || e.PassedAt == "" {
			t.Errorf("after the retry the triplet is %+v, want state passed", e)
		}
	})

	// One transaction, two recipients: a new triplet (451) and the one
	// that passed (250). Only the second gets the message.
	t.Run("mixed recipients", func(t *testing.T) {
		r := m.swaks(t, "--from", greyFrom, "--to", "mixed-new@relay.test,"+waiting, "--data", "@testdata/"+hamA)
		if r.code != 0 {
			t.Fatalf("swaks exit %d:\n%s", r.code, r.out)
		}
		if got := r.replyAfter("RCPT TO:<mixed-new@"); retryIn(t, got) != time.Hour {
			t.Errorf("new recipient: %q", got)
		}
		if got := r.replyAfter("RCPT TO:<" + waiting); !strings.HasPrefix(got, "250 ") {
			t.Errorf("passed recipient: %q, want 250", got)
		}
		if got := s.to("mixed-new@relay.test"); len(got) != 0 {
			t.Errorf("the greylisted recipient got %d messages", len(got))
		}
		tests := deliveredTests(t, s, waiting, 2)
		if !slices.Contains(tests, "GREYLIST_PASS") {
			t.Errorf("X-Spam-Status tests=%q, want GREYLIST_PASS", tests)
		}
		if slices.Contains(tests, "GREYLIST_NEW") {
			// A refused recipient's rcpt-stage symbols must not follow the
			// message to the accepted ones.
			t.Errorf("the message delivered to %s carries GREYLIST_NEW, the symbol of the other recipient, refused with 451 (tests=%q)", waiting, tests)
		}
	})

	t.Run("allow network", func(t *testing.T) {
		if reply, _ := greySwaks(t, m, "before-allow@relay.test"); retryIn(t, reply) != time.Hour {
			t.Fatalf("new triplet before the allow: %q", reply)
		}
		if out := greylistCLI(t, cfg, "allow", "127.0.0.1"); out != "allowed "+greyClient+" until -\n" {
			t.Errorf("moat greylist allow 127.0.0.1: %q, want \"allowed %s until -\"", out, greyClient)
		}
		res := m.smtplibSend(t, sendTxn{From: "other@elsewhere.e2e.test", Rcpts: []string{"after-allow@relay.test"}, File: "testdata/" + hamB})
		if tx := res.Transactions[0]; len(tx.Rcpts) != 1 || tx.Rcpts[0].code() != 250 || tx.Data.code() != 250 {
			t.Fatalf("new triplet from the allowed network: RCPT %v, DATA %v; want 250 and 250", tx.Rcpts, tx.Data)
		}
		if tests := deliveredTests(t, s, "after-allow@relay.test", 1); !slices.Equal(greylistSymbols(tests), []string{"GREYLIST_ALLOWED"}) {
			t.Errorf("X-Spam-Status tests=%q, want GREYLIST_ALLOWED and no other GREYLIST_ symbol", tests)
		}
		rcptReply, _ := greySwaks(t, m, "before-allow@relay.test") // waiting, 1h delay
		if !strings.HasPrefix(rcptReply, "250 ") {
			t.Errorf("waiting triplet from the allowed network: RCPT %q, want 250", rcptReply)
		}
		if e, ok := findEntry(greylistList(t, cfg), "client", greyClient, ""); !ok || e.State != "allowed" || e.Expires != "" {
			t.Errorf("client entry %+v (found %v), want %s allowed without expiry", e, ok, greyClient)
		}
	})

	// With the server stopped, the CLI opens the store itself and finds
	// what the server wrote.
	running := greylistList(t, cfg)
	m.stop(t)
	t.Run("server stopped", func(t *testing.T) {
		stopped := greylistList(t, cfg)
		if !slices.Equal(stopped, running) {
			t.Errorf("list with the server stopped:\n%+v\nwith it running:\n%+v", stopped, running)
		}
		if out := greylistCLI(t, cfg, "list"); !strings.HasSuffix(out, fmt.Sprintf("\n%d entries\n", len(running))) {
			t.Errorf("moat greylist list (direct):\n%s\nwant %d entries", out, len(running))
		}
	})

	t.Run("server restarted", func(t *testing.T) {
		m2 := startMoat(t, p, cfg)
		rcptReply, _ := greySwaks(t, m2, "after-restart@relay.test")
		if !strings.HasPrefix(rcptReply, "250 ") {
			t.Errorf("allowed network after a restart: RCPT %q, want 250", rcptReply)
		}
	})
}

// TestE2EGreylistCheck runs `moat check` with greylisting on: it shows
// GREYLIST_NEW, even for a triplet the store knows, and changes nothing in
// the store (twice the same triplet is still new; the list is unchanged).
func TestE2EGreylistCheck(t *testing.T) {
	t.Parallel()
	requireTool(t, "swaks", "swaks")
	s := startSink(t, nil)
	p, cfg := greylistConfig(t, s, "delay: 1h\n", "", "")
	m := startMoat(t, p, cfg)
	if reply, _ := greySwaks(t, m, "known@relay.test"); retryIn(t, reply) != time.Hour {
		t.Fatalf("first attempt: %q", reply)
	}
	before := greylistList(t, cfg)
	if len(before) != 1 {
		t.Fatalf("list before check: %+v, want the one waiting triplet", before)
	}

	check := func(t *testing.T, ip, rcpt string, asJSON bool) string {
		t.Helper()
		args := []string{"check", "-c", cfg, "--ip", ip, "--from", greyFrom, "--rcpt", rcpt}
		if asJSON {
			args = append(args, "--json")
		}
		stdout, stderr, code := runMoat(t, nil, append(args, "testdata/"+hamA)...)
		if code != 0 {
			t.Fatalf("moat %q: exit %d\n%s%s", args, code, stdout, stderr)
		}
		return stdout
	}
	tests := []struct{ name, ip, rcpt string }{
		{"new triplet", "198.51.100.7", "new@relay.test"},
		{"same triplet again", "198.51.100.7", "new@relay.test"},
		{"triplet waiting in the store", "127.0.0.1", "known@relay.test"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var res struct {
				Symbols []struct{ Name string } `json:"symbols"`
			}
			out := check(t, tc.ip, tc.rcpt, true)
			if err := json.Unmarshal([]byte(out), &res); err != nil {
				t.Fatalf("moat check --json: %v\n%s", err, out)
			}
			var names []string
			for _, sym := range res.Symbols {
				names = append(names, sym.Name)
			}
			if !slices.Equal(greylistSymbols(names), []string{"GREYLIST_NEW"}) {
				t.Errorf("symbols %q, want GREYLIST_NEW and no other GREYLIST_ symbol", names)
			}
			if text := check(t, tc.ip, tc.rcpt, false); !strings.Contains(text, "GREYLIST_NEW") {
				t.Errorf("moat check (text) does not show GREYLIST_NEW:\n%s", text)
			}
		})
	}
	if after := greylistList(t, cfg); !slices.Equal(after, before) {
		t.Errorf("moat check changed the store:\nbefore %+v\nafter  %+v", before, after)
	}
	m.stop(t)
	check(t, "203.0.113.9", "stopped@relay.test", true)
	if after := greylistList(t, cfg); !slices.Equal(after, before) {
		t.Errorf("moat check (server stopped) changed the store:\nbefore %+v\nafter  %+v", before, after)
	}
}
