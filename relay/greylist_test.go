package relay

import (
	"strings"
	"testing"
	"time"

	"github.com/moatmail/moat/filter"
	"github.com/moatmail/moat/filter/greylist"
	"github.com/moatmail/moat/filter/state"
	"github.com/moatmail/moat/filter/state/statetest"
	"github.com/moatmail/moat/policies"
)

func newGreylist(t *testing.T, mode greylist.Mode, clk *statetest.Clock) *greylist.Greylist {
	t.Helper()
	o := greylist.DefaultOptions()
	o.Mode = mode
	o.Now = clk.Now
	gl, err := greylist.New(state.NewMemory(clk.Now), o)
	if err != nil {
		t.Fatal(err)
	}
	return gl
}

// sendOne runs one transaction on a new connection and returns the replies
// to RCPT and to the end of DATA ("" when DATA was not reached).
func sendOne(t *testing.T, addr, rcpt string) (rcptReply, dataReply string) {
	t.Helper()
	d := dial(t, addr)
	d.greet()
	d.cmd("MAIL FROM:<alice+news@sender.example>", "250 ")
	rcptReply = d.cmd("RCPT TO:<"+rcpt+">", "")
	if !strings.HasPrefix(rcptReply, "250 ") {
		return rcptReply, ""
	}
	d.cmd("DATA", "354 ")
	d.send(message("", "x\r\n") + ".\r\n")
	return rcptReply, d.reply()
}

func TestGreylistAlways(t *testing.T) {
	t.Parallel()
	clk := statetest.NewClock(time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC))
	gl := newGreylist(t, greylist.Always, clk)
	ts := startServerWith(t, setup{checks: []filter.Check{gl}, greylist: gl, now: clk.Now})

	r, _ := sendOne(t, ts.addr, "bob@relay.test")
	if !strings.HasPrefix(r, "451 4.7.1 Greylisted, please try again in 5 minutes [") {
		t.Fatalf("first try: %q, want 451 4.7.1 with the retry time and the id", r)
	}
	clk.Advance(2 * time.Minute)
	if r, _ := sendOne(t, ts.addr, "bob@relay.test"); !strings.HasPrefix(r, "451 4.7.1 Greylisted, please try again in 3 minutes") {
		t.Fatalf("early retry: %q", r)
	}
	// Another recipient is another triplet.
	if r, _ := sendOne(t, ts.addr, "carol@relay.test"); !strings.HasPrefix(r, "451 4.7.1 ") {
		t.Fatalf("other recipient: %q", r)
	}
	clk.Advance(4 * time.Minute)
	// The retry passes; the +tag of the sender does not make it a new triplet.
	r, data := sendOne(t, ts.addr, "bob@relay.test")
	if !strings.HasPrefix(r, "250 ") || !strings.HasPrefix(data, "250 ") {
		t.Fatalf("retry after the delay: rcpt %q data %q", r, data)
	}
	got := ts.sink.received()
	if len(got) != 1 || !strings.Contains(got[0].data, "GREYLIST_PASS") {
		t.Fatalf("sink got %+v, want one message with GREYLIST_PASS in X-Spam-Status", got)
	}
	if !strings.Contains(ts.logs.String(), "greylisted: ") {
		t.Error("greylisting refusals are not logged")
	}
}

func TestGreylistScoreMode(t *testing.T) {
	t.Parallel()
	clk := statetest.NewClock(time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC))
	gl := newGreylist(t, greylist.Score, clk)
	score := 7.0
	ts := startServerWith(t, setup{
		checks: []filter.Check{scoreCheck{filter.StageData, func(*filter.Txn) []filter.Symbol {
			return []filter.Symbol{{Name: "TEST_SCORE", Score: score}}
		}}},
		edit: func(c *policies.Config) {
			g := 6.0
			c.Policy.Thresholds.Greylist = &g
		},
		greylist: gl,
		now:      clk.Now,
	})
	// Score 7 reaches greylist (6), not junk (8): greylisted after DATA.
	_, data := sendOne(t, ts.addr, "bob@relay.test")
	if !strings.HasPrefix(data, "451 4.7.1 Greylisted, please try again in 5 minutes") {
		t.Fatalf("first try: %q", data)
	}
	clk.Advance(6 * time.Minute)
	_, data = sendOne(t, ts.addr, "bob@relay.test")
	if !strings.HasPrefix(data, "250 ") {
		t.Fatalf("retry: %q", data)
	}
	got := ts.sink.received()
	// Once through, the message gets the action below greylist: add_header.
	if len(got) != 1 || !strings.Contains(got[0].data, "X-Spam-Action: add_header") || !strings.Contains(got[0].data, "GREYLIST_PASS") {
		t.Fatalf("sink got %+v", got)
	}
}

func TestGreylistVerdictWithoutScoreMode(t *testing.T) {
	t.Parallel()
	// A greylist verdict with no greylisting in score mode must not
	// tempfail forever: it falls back to the step below.
	ts := startServer(t, []filter.Check{scoreCheck{filter.StageData, func(*filter.Txn) []filter.Symbol {
		return []filter.Symbol{{Name: "TEST_SCORE", Score: 7}}
	}}}, func(c *policies.Config) {
		g := 6.0
		c.Policy.Thresholds.Greylist = &g
	})
	if _, data := sendOne(t, ts.addr, "bob@relay.test"); !strings.HasPrefix(data, "250 ") {
		t.Fatalf("got %q, want 250", data)
	}
}

func TestRefusedRecipientSymbolsDropped(t *testing.T) {
	t.Parallel()
	clk := statetest.NewClock(time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC))
	gl := newGreylist(t, greylist.Always, clk)
	ts := startServerWith(t, setup{checks: []filter.Check{gl}, greylist: gl, now: clk.Now})
	sendOne(t, ts.addr, "old@relay.test") // greylisted, then passes below
	clk.Advance(6 * time.Minute)
	d := dial(t, ts.addr)
	d.greet()
	d.cmd("MAIL FROM:<alice@sender.example>", "250 ")
	d.cmd("RCPT TO:<new@relay.test>", "451 4.7.1 ")
	d.cmd("RCPT TO:<old@relay.test>", "250 ")
	d.cmd("DATA", "354 ")
	d.send(message("", "x\r\n") + ".\r\n")
	d.expect("250 ")
	got := ts.sink.received()
	if len(got) != 1 {
		t.Fatalf("sink got %d messages", len(got))
	}
	if strings.Contains(got[0].data, "GREYLIST_NEW") || !strings.Contains(got[0].data, "GREYLIST_PASS") {
		t.Errorf("the refused recipient's GREYLIST_NEW followed the message:\n%s", got[0].data)
	}
}
