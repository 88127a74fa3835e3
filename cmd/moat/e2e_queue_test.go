//go:build e2e

package main_test

// End-to-end tests of the durable relay queue: relayed domains in mode:
// queue (the default) get a 250 "OK <id> queued" once the message is on
// disk, and moat delivers it afterwards to a downstream test server in this
// process, retrying temporary failures and bouncing permanent ones with an
// RFC 3464 DSN; recipient verification refuses unknown users at RCPT; a
// kill -9 loses nothing that was acknowledged.

import (
	"bytes"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// queueWait bounds every wait for the queue to deliver or drain.
const queueWait = 30 * time.Second

// fastRetry makes deferred mail come back within a second or two.
const fastRetry = "queue: {min_backoff: 1s, max_backoff: 2s}\n"

// queuedRE matches the end-of-data reply of a queued message.
var queuedRE = regexp.MustCompile(`^250 .*OK (\S+) queued`)

// ---- tests ------------------------------------------------------------

// TestE2EQueueDownThenUp queues mail for a downstream that is down (250
// "queued", listed deferred with the connection error), then brings the
// downstream up: `moat queue retry all` delivers it at once and the queue
// empties.
func TestE2EQueueDownThenUp(t *testing.T) {
	t.Parallel()
	// queue.test relays to a dead port; the retry would be minutes away,
	// so only `retry all` can bring the message within the test.
	m, p, cfg := startQueueMoat(t, queueSetup{extra: "queue: {min_backoff: 10m, max_backoff: 20m}\n"})
	const rcpt = "later@queue.test"
	id := mustQueue(t, m, "sender@client.e2e.test", []string{rcpt}, queueMessage("sender@client.e2e.test", "down-1"))

	var l queueListing
	waitFor(t, m, queueWait, "deferred message in `moat queue list`", func() bool {
		l = listQueue(t, cfg)
		return len(l.Messages) == 1 && l.Messages[0].State == "deferred"
	})
	q := l.Messages[0]
	if q.ID != id || q.From != "sender@client.e2e.test" || len(q.Rcpts) != 1 || q.Rcpts[0].Addr != rcpt ||
		q.Rcpts[0].State != "pending" || q.Rcpts[0].Attempts < 1 || q.LastError == "" {
		t.Errorf("queue list: %+v; want %s from sender@client.e2e.test, %s pending after an attempt, with its error", q, id, rcpt)
	}
	if c := l.Counts; c.Messages != 1 || c.Deferred != 1 || c.Active != 0 {
		t.Errorf("queue counts %+v, want 1 message, 1 deferred", c)
	}
	out, code := moatCmd(t, "", "queue", "list", "-c", cfg)
	if code != 0 || !strings.Contains(out, id) || !strings.Contains(out, "1 messages (0 active, 1 deferred, 0 bouncing)") {
		t.Errorf("moat queue list: exit %d\n%s", code, out)
	}
	out, code = moatCmd(t, "", "queue", "show", "-c", cfg, id)
	if code != 0 || !strings.Contains(out, "state: deferred") || !strings.Contains(out, "rcpt: "+rcpt+" pending") || !strings.Contains(out, "X-Test-Seq: down-1") {
		t.Errorf("moat queue show %s: exit %d\n%s", id, code, out)
	}

	m.log.waitLines(t, m.exited, 1, `msg="queue: delivery"`, "id="+id, "state=pending", "attempts=1")
	s := startSinkAt(t, p.Sink, nil)
	refusedBefore := len(m.log.lines(`msg="queue: delivery"`, "connection refused"))
	out, code = moatCmd(t, "", "queue", "retry", "-c", cfg, "all")
	if code != 0 || !strings.Contains(out, "1 messages due now") {
		t.Fatalf("moat queue retry all: exit %d\n%s", code, out)
	}
	// With the sink listening, a new "connection refused" is an attempt
	// that never dialled (the route marked down by the first attempt must
	// be lifted by `retry all`).
	waitFor(t, m, 10*time.Second, "delivery after `retry all`", func() bool {
		return len(s.to(rcpt)) > 0
	})
	if n := len(m.log.lines(`msg="queue: delivery"`, "connection refused")); n > refusedBefore {
		t.Errorf("`retry all` logged %d more refused attempts: the route stayed marked down", n-refusedBefore)
	}
	waitQueueEmpty(t, m, cfg)
	got := s.to(rcpt)
	if len(got) != 1 || seqOf(got[0].Data) != "down-1" || got[0].From != "sender@client.e2e.test" {
		t.Fatalf("sink got %d messages for %s (%+v), want down-1 once from sender@client.e2e.test", len(got), rcpt, got)
	}
	checkReceived(t, got[0].Data, id)
}

// TestE2EQueueTempfailThenOK has the downstream answer 451 to the first
// transaction and 250 to the next: the message is retried after the
// backoff and delivered exactly once.
func TestE2EQueueTempfailThenOK(t *testing.T) {
	t.Parallel()
	d := startDownstream(t, &downstream{dataReply: func(n int) *smtp.SMTPError {
		if n == 1 {
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Try again later"}
		}
		return nil
	}}, false)
	m, _, cfg := startQueueMoat(t, queueSetup{sink: d.addr, extra: fastRetry})
	const rcpt = "retry@queue.test"
	id := mustQueue(t, m, "sender@client.e2e.test", []string{rcpt}, queueMessage("sender@client.e2e.test", "tempfail-1"))

	waitFor(t, m, queueWait, "delivery after a 451", func() bool { return d.accepted(rcpt) > 0 })
	waitQueueEmpty(t, m, cfg)
	rcpts, datas, _, got := d.snapshot()
	if len(datas) != 2 || rcpts[rcpt] != 2 {
		t.Fatalf("downstream saw %d messages and %d RCPTs for %s, want 2 and 2 (451, then 250)", len(datas), rcpts[rcpt], rcpt)
	}
	if gap := datas[1].Sub(datas[0]); gap < 900*time.Millisecond {
		t.Errorf("retried %v after the 451, want at least min_backoff (1s)", gap)
	}
	if len(got) != 1 || seqOf(got[0].Data) != "tempfail-1" {
		t.Fatalf("downstream accepted %d messages, want tempfail-1 exactly once", len(got))
	}
	checkReceived(t, got[0].Data, id)
	if n := len(m.log.lines(`msg="queue: DSN queued"`)); n != 0 {
		t.Errorf("%d DSNs for a temporary failure, want none", n)
	}
}

// TestE2EQueueBounce has the downstream refuse one recipient of three with
// 550: the other two get the message once, the sender gets one RFC 3464
// DSN naming the refused recipient with the original headers. The same
// refusal for mail judged junk, and for mail from the null sender, bounces
// nothing.
func TestE2EQueueBounce(t *testing.T) {
	t.Parallel()
	const refused = "refused@queue.test"
	s := startSink(t, map[string]*smtp.SMTPError{
		refused: {Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "User unknown"},
	})
	// A missing Message-ID puts a message between junk (8) and reject (15).
	m, _, cfg := startQueueMoat(t, queueSetup{sink: s.addr, extra: fastRetry, policy: "scores:\n  MISSING_MESSAGE_ID: 9\n"})

	// relay.test relays to the sink too: the DSN's recipient is there.
	const sender, junkSender = "bounce-to@relay.test", "junk-sender@relay.test"
	id := mustQueue(t, m, sender, []string{"ok1@queue.test", refused, "ok2@queue.test"}, queueMessage(sender, "bounce-ham"))
	junk := bytes.Replace(queueMessage(junkSender, "bounce-junk"), []byte("Message-ID: <bounce-junk@client.e2e.test>\r\n"), nil, 1)
	mustQueue(t, m, junkSender, []string{"ok3@queue.test", refused}, junk)
	mustQueue(t, m, "", []string{"ok4@queue.test", refused}, queueMessage("", "bounce-null"))

	waitFor(t, m, queueWait, "DSN at the sink", func() bool { return len(s.to(sender)) > 0 })
	waitQueueEmpty(t, m, cfg)

	for rcpt, seq := range map[string]string{"ok1@queue.test": "bounce-ham", "ok2@queue.test": "bounce-ham", "ok3@queue.test": "bounce-junk", "ok4@queue.test": "bounce-null"} {
		got := s.to(rcpt)
		if len(got) != 1 || seqOf(got[0].Data) != seq {
			t.Errorf("sink got %d messages for %s, want %s once", len(got), rcpt, seq)
		}
		if rcpt == "ok3@queue.test" && len(got) == 1 {
			fields, _ := splitMessage(got[0].Data)
			if a := values(fields, "X-Spam-Action"); !slices.Equal(a, []string{"junk"}) {
				t.Errorf("bounce-junk delivered with X-Spam-Action %q, want junk: the test needs it judged junk", a)
			}
		}
	}
	if n := strings.Count(strings.Join(s.offered(), "\n"), refused); n != 3 {
		t.Errorf("the downstream was offered %s %d times, want 3 (once per message: a 550 is not retried)", refused, n)
	}
	var dsns []sinkMsg
	for _, msg := range s.messages() {
		if isDSN(msg.Data) {
			dsns = append(dsns, msg)
		}
	}
	if len(dsns) != 1 {
		t.Fatalf("%d DSNs reached the sink, want 1 (none for junk, none for the null sender): %+v", len(dsns), dsns)
	}
	if dsn := dsns[0]; dsn.From != "" || !slices.Equal(dsn.Rcpts, []string{sender}) {
		t.Errorf("DSN envelope %q -> %q, want <> -> %s", dsn.From, dsn.Rcpts, sender)
	}
	checkDSN(t, dsns[0].Data, sender, refused, "5.1.1", "bounce-ham")
	if !strings.Contains(string(dsns[0].Data), id) {
		t.Errorf("the DSN does not name the queue id %s", id)
	}
	if len(s.to(junkSender)) != 0 {
		t.Errorf("the sender of junk got mail: %+v", s.to(junkSender))
	}
	if n := len(m.log.lines(`msg="queue: DSN queued"`)); n != 1 {
		t.Errorf("%d \"DSN queued\" log lines, want 1", n)
	}
	// The queue logs a transaction's outcomes after the sink has the
	// message: wait for them.
	noDSN := func() int { return len(m.log.lines(`msg="queue: delivery failed; no DSN`, "rcpt="+refused)) }
	waitFor(t, m, 10*time.Second, "the two \"no DSN\" log lines", func() bool { return noDSN() >= 2 })
	if n := noDSN(); n != 2 {
		t.Errorf("%d \"no DSN\" log lines for %s, want 2 (the junk and the null-sender message)", n, refused)
	}
}

// TestE2EQueueLMTP delivers over LMTP with a status per recipient: one
// accepted, one refused for good (a DSN names it), one deferred and then
// accepted; the accepted recipient is never sent again.
func TestE2EQueueLMTP(t *testing.T) {
	t.Parallel()
	const ok, gone, later = "ok@lmtp.test", "gone@lmtp.test", "later@lmtp.test"
	d := startDownstream(t, &downstream{lmtpReply: func(rcpt string, n int) *smtp.SMTPError {
		switch {
		case rcpt == gone:
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such mailbox"}
		case rcpt == later && n == 1:
			return &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 2, 2}, Message: "Mailbox full, try later"}
		}
		return nil
	}}, true)
	s := startSink(t, nil)
	domains := fmt.Sprintf("lmtp.test:\n  deliver: relay\n  relay: %q\n  lmtp: true\n  tls: none\n", d.addr)
	m, _, cfg := startQueueMoat(t, queueSetup{sink: s.addr, domains: domains, extra: fastRetry})

	const sender = "lmtp-sender@relay.test"
	id := mustQueue(t, m, sender, []string{ok, gone, later}, queueMessage(sender, "lmtp-1"))
	waitFor(t, m, queueWait, "LMTP delivery to "+later, func() bool { return d.accepted(later) > 0 })
	waitFor(t, m, queueWait, "DSN for "+gone, func() bool { return len(s.to(sender)) > 0 })
	waitQueueEmpty(t, m, cfg)

	rcpts, _, lmtp, got := d.snapshot()
	if lmtp[ok] != 1 || lmtp[gone] != 1 || lmtp[later] != 2 {
		t.Errorf("LMTP messages per recipient %v, want %s 1, %s 1, %s 2", lmtp, ok, gone, later)
	}
	if rcpts[ok] != 1 || rcpts[gone] != 1 {
		t.Errorf("RCPTs offered %v: a recipient answered 250 or 550 was offered again", rcpts)
	}
	if len(got) != 2 || !slices.Equal(got[0].Rcpts, []string{ok}) || !slices.Equal(got[1].Rcpts, []string{later}) {
		t.Fatalf("LMTP server accepted %d messages (%+v), want one for %s, then one for %s", len(got), got, ok, later)
	}
	for _, g := range got {
		if seqOf(g.Data) != "lmtp-1" || g.From != sender {
			t.Errorf("LMTP message from %q seq %q, want %s lmtp-1", g.From, seqOf(g.Data), sender)
		}
		checkReceived(t, g.Data, id)
	}
	dsns := s.to(sender)
	if len(dsns) != 1 || dsns[0].From != "" {
		t.Fatalf("sink got %d messages for %s, want one DSN from <>", len(dsns), sender)
	}
	checkDSN(t, dsns[0].Data, sender, gone, "5.1.1", "lmtp-1")
}

// TestE2EQueueVerifyRecipients asks the downstream about recipients at
// RCPT (verify_recipients): an unknown user gets 550 5.1.1 from moat during
// the client's transaction, a known one 250, and answers are cached: asking
// again reaches the downstream no more.
func TestE2EQueueVerifyRecipients(t *testing.T) {
	t.Parallel()
	const unknown, known = "unknown@vfy.test", "known@vfy.test"
	s := startSink(t, map[string]*smtp.SMTPError{
		unknown: {Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "User unknown"},
	})
	domains := fmt.Sprintf("vfy.test:\n  deliver: relay\n  relay: %q\n  verify_recipients: true\n", s.addr)
	m, _, cfg := startQueueMoat(t, queueSetup{sink: s.addr, domains: domains})
	offers := func(rcpt string) int { return strings.Count(strings.Join(s.offered(), "\n"), rcpt) }

	out := smtpSend(t, m, "sender@client.e2e.test", []string{unknown, known}, queueMessage("sender@client.e2e.test", "verify-1"))
	if len(out.rcpts) != 2 || !strings.HasPrefix(out.rcpts[0], "550 5.1.1") || out.rcpts[1] != "250" {
		t.Fatalf("RCPT replies %q, want 550 5.1.1 for %s and 250 for %s", out.rcpts, unknown, known)
	}
	if out.id == "" {
		t.Fatalf("end of data %q, want 250 … queued", out.data)
	}
	if n := offers(unknown); n != 1 {
		t.Errorf("the downstream was asked about %s %d times, want 1", unknown, n)
	}
	waitFor(t, m, queueWait, "delivery to "+known, func() bool { return len(s.to(known)) > 0 })
	waitQueueEmpty(t, m, cfg)
	got := s.to(known)
	if len(got) != 1 || !slices.Equal(got[0].Rcpts, []string{known}) {
		t.Fatalf("sink got %+v for %s, want one message for it alone", got, known)
	}
	knownOffers := offers(known) // the callout and the delivery

	// Both answers come from the cache now.
	out = smtpSend(t, m, "sender@client.e2e.test", []string{unknown, known}, nil)
	if len(out.rcpts) != 2 || !strings.HasPrefix(out.rcpts[0], "550 5.1.1") || out.rcpts[1] != "250" {
		t.Errorf("second time: RCPT replies %q, want 550 5.1.1 and 250", out.rcpts)
	}
	if n := offers(unknown); n != 1 {
		t.Errorf("after a second RCPT the downstream was asked about %s %d times, want 1 (negative cache)", unknown, n)
	}
	if n := offers(known); n != knownOffers {
		t.Errorf("after a second RCPT the downstream was offered %s %d times, want %d (positive cache)", known, n, knownOffers)
	}
	if n := len(s.messages()); n != 1 {
		t.Errorf("sink got %d messages, want 1", n)
	}
}

// TestE2EQueueCrash kills moat with SIGKILL in the middle of a load of
// queued mail, restarts it on the same data_dir and requires every
// acknowledged message to reach the downstream. Duplicates are counted and
// bounded by the deliveries in flight at the kill: none with the
// downstream down, at most queue.workers with it up.
func TestE2EQueueCrash(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		sinkUp bool
	}{
		{"downstream down", false},
		{"downstream up", true},
	} {
		t.Run(tc.name, func(t *testing.T) { crashRun(t, tc.sinkUp) })
	}
}

// crashLoad is the load of the crash test.
const (
	crashConns   = 4   // client connections
	crashPerConn = 100 // messages each
	crashKillAt  = 200 // acknowledged messages before the kill
	crashWorkers = 4   // queue.workers: the most deliveries in flight
)

// crashClient sends crashPerConn messages over one connection until an
// error (the kill) and records every acknowledged one: seq -> id.
type crashClient struct {
	mu      sync.Mutex
	acked   map[string]string
	refused []string // replies other than 250 before the kill
	reached chan struct{}
	once    sync.Once
}

func (cc *crashClient) run(addr string, conn int) {
	c, err := dialSMTP(addr)
	if err != nil {
		return
	}
	defer c.Close()
	for i := range crashPerConn {
		seq := fmt.Sprintf("crash-%d-%03d", conn, i)
		from := "load@client.e2e.test"
		out, err := sendOn(c, from, []string{fmt.Sprintf("load%d@queue.test", conn)}, queueMessage(from, seq))
		if err != nil {
			return // moat was killed
		}
		cc.mu.Lock()
		if out.id != "" {
			cc.acked[seq] = out.id
		} else {
			cc.refused = append(cc.refused, fmt.Sprintf("%s: %q %q", seq, out.rcpts, out.data))
		}
		n := len(cc.acked)
		cc.mu.Unlock()
		if n >= crashKillAt {
			cc.once.Do(func() { close(cc.reached) })
		}
	}
}

func crashRun(t *testing.T, sinkUp bool) {
	p, cfg := newConfig(t, nil, "", "")
	p.Extra = fmt.Sprintf("queue: {min_backoff: 1s, max_backoff: 2s, workers: %d, per_route: %d}\n", crashWorkers, crashWorkers)
	writeFile(t, cfg, configYAML(p))
	var s *sink
	if sinkUp {
		s = startSinkAt(t, p.Sink, nil)
	}
	m := startMoat(t, p, cfg)

	cc := &crashClient{acked: map[string]string{}, reached: make(chan struct{})}
	var wg sync.WaitGroup
	for conn := range crashConns {
		wg.Go(func() { cc.run(m.addr(), conn) })
	}
	allSent := make(chan struct{})
	go func() { wg.Wait(); close(allSent) }()
	select {
	case <-cc.reached:
	case <-allSent:
		t.Fatalf("the load ended before %d acknowledgements (%d acknowledged, refused: %q)", crashKillAt, len(cc.acked), cc.refused)
	case <-time.After(queueWait):
		t.Fatalf("fewer than %d messages acknowledged after %v", crashKillAt, queueWait)
	}
	if err := m.cmd.Process.Kill(); err != nil {
		t.Fatalf("kill -9: %v", err)
	}
	<-m.exited
	<-allSent
	cc.mu.Lock()
	acked, refused := cc.acked, cc.refused
	cc.mu.Unlock()
	if len(refused) > 0 {
		t.Errorf("%d messages refused before the kill: %q", len(refused), refused)
	}
	if len(acked) >= crashConns*crashPerConn {
		t.Errorf("all %d messages were acknowledged: the kill came after the load, not during it", len(acked))
	}
	beforeKill := 0
	if sinkUp {
		beforeKill = len(s.messages())
	} else {
		s = startSinkAt(t, p.Sink, nil)
	}

	m2 := startMoat(t, p, cfg)
	seqCounts := func() map[string]int {
		n := map[string]int{}
		for _, msg := range s.messages() {
			n[seqOf(msg.Data)]++
		}
		return n
	}
	var missing []string
	waitFor(t, m2, queueWait, "delivery of every acknowledged message", func() bool {
		n := seqCounts()
		missing = missing[:0]
		for seq := range acked {
			if n[seq] == 0 {
				missing = append(missing, seq)
			}
		}
		return len(missing) == 0
	})
	waitQueueEmpty(t, m2, cfg)

	n := seqCounts()
	dups, unacked := 0, 0
	for seq, k := range n {
		dups += k - 1
		if _, ok := acked[seq]; !ok {
			unacked++ // on disk when moat died, before its 250 was sent
		}
	}
	bound := 0
	if sinkUp {
		bound = crashWorkers
	}
	t.Logf("kill -9 with the downstream %s: %d acknowledged, %d delivered before the kill, %d distinct delivered (%d never acknowledged), %d duplicates (bound %d)",
		map[bool]string{true: "up", false: "down"}[sinkUp], len(acked), beforeKill, len(n), unacked, dups, bound)
	if dups > bound {
		t.Errorf("%d duplicates, want at most %d (deliveries in flight at the kill)", dups, bound)
	}
	for _, msg := range s.messages() {
		if id, ok := acked[seqOf(msg.Data)]; ok {
			checkReceived(t, msg.Data, id)
		}
	}
	if lines := m2.log.lines("level=ERROR"); len(lines) > 0 {
		t.Errorf("errors logged after the restart:\n%s", strings.Join(lines, "\n"))
	}
}
