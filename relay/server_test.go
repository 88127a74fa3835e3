package relay

import (
	"fmt"
	"net"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/moatmail/moat/filter"
	"github.com/moatmail/moat/policies"
)

func TestRelayAddsHeadersAndStripsForgedOnes(t *testing.T) {
	t.Parallel()
	ts := startServer(t, []filter.Check{scoreCheck{filter.StageData, func(*filter.Txn) []filter.Symbol {
		return []filter.Symbol{{Name: "TEST_SYMBOL", Score: 6, Reason: "test"}}
	}}}, nil)
	forged := "X-Spam-Flag: NO\r\nX-Spam-Status: No, score=-100\r\n"
	if err := sendVia(ts.addr, "alice@sender.example", []string{"bob@relay.test"}, message(forged, "hello\r\n")); err != nil {
		t.Fatal(err)
	}
	got := ts.sink.received()
	if len(got) != 1 {
		t.Fatalf("sink got %d messages, want 1", len(got))
	}
	m := got[0]
	if m.from != "alice@sender.example" || len(m.rcpts) != 1 || m.rcpts[0] != "bob@relay.test" {
		t.Errorf("envelope = %q %q", m.from, m.rcpts)
	}
	for _, want := range []string{
		"Received: from localhost ([127.0.0.1])\r\n\tby mx.moat.test (moat) with ESMTP id ", "for <bob@relay.test>",
		"X-Spam-Flag: YES\r\n", "X-Spam-Score: 6.0\r\n",
		"X-Spam-Status: Yes, score=6.0 required=8.0 tests=TEST_SYMBOL\r\n", "X-Spam-Action: add_header\r\n",
		"Subject: test\r\n", "\r\n\r\nhello\r\n",
	} {
		if !strings.Contains(m.data, want) {
			t.Errorf("relayed message lacks %q:\n%s", want, m.data)
		}
	}
	if strings.Contains(m.data, "X-Spam-Flag: NO") || strings.Contains(m.data, "score=-100") {
		t.Errorf("forged X-Spam headers were passed on:\n%s", m.data)
	}
	if !strings.HasPrefix(m.data, "Received: ") {
		t.Errorf("Received must be the first header:\n%s", m.data)
	}
	logs := ts.logs.String()
	if !strings.Contains(logs, "msg=txn") || !strings.Contains(logs, "symbols=TEST_SYMBOL(6)") || !strings.Contains(logs, "action=add_header") {
		t.Errorf("transaction log line missing or incomplete:\n%s", logs)
	}
}

func TestReplyCarriesTransactionID(t *testing.T) {
	t.Parallel()
	ts := startServer(t, nil, nil)
	d := dial(t, ts.addr)
	d.greet()
	d.startData("bob@relay.test")
	d.send(message("", "hi\r\n") + ".\r\n")
	ok := d.expect("250 2.0.0 OK ")
	id := regexp.MustCompile(`OK (\S+) relayed`).FindStringSubmatch(ok)
	if id == nil {
		t.Fatalf("no transaction id in %q", ok)
	}
	if data := ts.sink.received()[0].data; !strings.Contains(data, " id "+id[1]) {
		t.Errorf("Received header does not carry id %s:\n%s", id[1], data)
	}
	if !strings.Contains(ts.logs.String(), "id="+id[1]) {
		t.Errorf("log does not carry id %s", id[1])
	}
	// The next transaction on the same connection gets a new id.
	d.cmd("MAIL FROM:<a@sender.example>", "250 ")
	r := d.cmd("RCPT TO:<x@elsewhere.example>", "550 5.7.1 ")
	if strings.Contains(r, id[1]) || !regexp.MustCompile(`\[\S+-\S+\]$`).MatchString(r) {
		t.Errorf("refusal %q should carry a new transaction id", r)
	}
}

func TestNoOpenRelay(t *testing.T) {
	t.Parallel()
	ts := startServer(t, nil, nil)
	cases := []struct {
		rcpt, want string
	}{
		{"victim@elsewhere.example", "550 5.7.1 "},
		{"victim@RELAY.TEST.evil.example", "550 5.7.1 "},
		{"victim%elsewhere.example@relay.test", "550 5.1.3 "},
		{"@relay.test:victim@elsewhere.example", "550 "},
		{`"victim@elsewhere.example"@relay.test`, "550 5.1.3 "},
		{"victim@elsewhere.example@relay.test", "550 "},
		{"elsewhere.example!victim@relay.test", "550 5.1.3 "},
		{"victim@[127.0.0.1]", "550 "},
		{"victim@relay.test.", "250 "}, // trailing dot: still our domain
	}
	for _, tc := range cases {
		t.Run(tc.rcpt, func(t *testing.T) {
			d := dial(t, ts.addr)
			d.greet()
			d.cmd("MAIL FROM:<a@sender.example>", "250 ")
			d.cmd("RCPT TO:<"+tc.rcpt+">", tc.want)
			d.cmd("QUIT", "221 ")
		})
	}
	for _, m := range ts.sink.received() {
		for _, r := range m.rcpts {
			if r != "victim@relay.test" {
				t.Errorf("sink got recipient %q", r)
			}
		}
	}
}

func TestBareLineEndingsRefused(t *testing.T) {
	t.Parallel()
	ts := startServer(t, nil, nil)
	for name, body := range map[string]string{
		"bare LF":            "line one\nline two\r\n",
		"smuggled end":       "hello\n.\r\nMAIL FROM:<evil@x>\r\n",
		"bare CR":            "line\rtwo\r\n",
		"smuggled end CR LF": "hello\r\n.\nRCPT TO:<x@y>\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			d := dial(t, ts.addr)
			d.greet()
			d.startData("bob@relay.test")
			d.send(message("", body) + "\r\n.\r\n")
			d.expect("550 5.5.2 ")
			// The connection stays consistent: a clean message goes through.
			d.startData("bob@relay.test")
			d.send(message("", "clean\r\n") + ".\r\n")
			d.expect("250 ")
		})
	}
	for _, m := range ts.sink.received() {
		if !strings.Contains(m.data, "clean") {
			t.Errorf("a refused message reached the sink:\n%s", m.data)
		}
	}
}

func TestNULInHeaderRefused(t *testing.T) {
	t.Parallel()
	ts := startServer(t, nil, nil)
	d := dial(t, ts.addr)
	d.greet()
	d.startData("bob@relay.test")
	d.send("Subject: a\x00b\r\n\r\nbody\r\n.\r\n")
	d.expect("550 5.6.0 ")
	if n := len(ts.sink.received()); n != 0 {
		t.Errorf("sink got %d messages", n)
	}
}

func TestSizeLimit(t *testing.T) {
	t.Parallel()
	ts := startServer(t, nil, func(c *policies.Config) { c.Limits.MessageSize = 2000 })
	d := dial(t, ts.addr)
	d.expect("220 ")
	d.send("EHLO client.example\r\n")
	if ehlo := d.expect("250 "); !strings.Contains(ehlo, "") {
		t.Fatal(ehlo)
	}
	d.cmd("MAIL FROM:<a@sender.example> SIZE=5000", "552 5.3.4 ")
	d.startData("bob@relay.test")
	d.send(message("", strings.Repeat("0123456789abcdef\r\n", 200)) + ".\r\n")
	d.expect("552 5.3.4 ")
	d.startData("bob@relay.test")
	d.send(message("", "small\r\n") + ".\r\n")
	d.expect("250 ")
	if n := len(ts.sink.received()); n != 1 {
		t.Errorf("sink got %d messages, want 1", n)
	}
}

func TestRecipientLimit(t *testing.T) {
	t.Parallel()
	ts := startServer(t, nil, func(c *policies.Config) { c.Limits.Recipients = 3 })
	d := dial(t, ts.addr)
	d.greet()
	d.cmd("MAIL FROM:<a@sender.example>", "250 ")
	for i := range 3 {
		d.cmd(fmt.Sprintf("RCPT TO:<u%d@relay.test>", i), "250 ")
	}
	d.cmd("RCPT TO:<u4@relay.test>", "452 4.5.3 ")
	d.cmd("DATA", "354 ")
	d.send(message("", "x\r\n") + ".\r\n")
	d.expect("250 ")
	got := ts.sink.received()
	if len(got) != 1 || len(got[0].rcpts) != 3 {
		t.Fatalf("sink got %+v, want one message to 3 recipients", got)
	}
}

func TestPipelinedTransactions(t *testing.T) {
	t.Parallel()
	ts := startServer(t, nil, nil)
	d := dial(t, ts.addr)
	d.expect("220 ")
	d.send("EHLO client.example\r\n")
	if r := d.expect("250 "); r == "" {
		t.Fatal("no EHLO reply")
	}
	// Two whole transactions in one write, as a PIPELINING client may send.
	var b strings.Builder
	for i := range 2 {
		fmt.Fprintf(&b, "MAIL FROM:<a@sender.example>\r\nRCPT TO:<bob@relay.test>\r\nRCPT TO:<nobody@elsewhere.example>\r\nDATA\r\n")
		b.WriteString(message("", fmt.Sprintf("message %d\r\n", i)) + ".\r\n")
	}
	b.WriteString("QUIT\r\n")
	d.send(b.String())
	for range 2 {
		d.expect("250 ") // MAIL
		d.expect("250 ") // RCPT
		d.expect("550 5.7.1 ")
		d.expect("354 ")
		d.expect("250 ")
	}
	d.expect("221 ")
	got := ts.sink.received()
	if len(got) != 2 || !strings.Contains(got[0].data, "message 0") || !strings.Contains(got[1].data, "message 1") {
		t.Fatalf("sink got %d messages: %+v", len(got), got)
	}
}

func TestChunking(t *testing.T) {
	t.Parallel()
	ts := startServer(t, nil, nil)
	d := dial(t, ts.addr)
	d.expect("220 ")
	ehlo := d.ehlo()
	for _, ext := range []string{"PIPELINING", "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES", "SIZE 26214400", "CHUNKING"} {
		if !strings.Contains(ehlo, ext) {
			t.Errorf("EHLO lacks %s:\n%s", ext, ehlo)
		}
	}
	if strings.Contains(ehlo, "STARTTLS") {
		t.Errorf("STARTTLS offered without a certificate")
	}
	msg := message("", "chunked body\r\n")
	d.cmd("MAIL FROM:<a@sender.example>", "250 ")
	d.cmd("RCPT TO:<bob@relay.test>", "250 ")
	half := len(msg) / 2
	d.send(fmt.Sprintf("BDAT %d\r\n%s", half, msg[:half]))
	d.expect("250 ")
	d.send(fmt.Sprintf("BDAT %d LAST\r\n%s", len(msg)-half, msg[half:]))
	d.expect("250 2.0.0 OK ")
	got := ts.sink.received()
	if len(got) != 1 || !strings.Contains(got[0].data, "chunked body") {
		t.Fatalf("sink got %+v", got)
	}
}

func TestVrfyExpnDiscloseNothing(t *testing.T) {
	t.Parallel()
	ts := startServer(t, nil, nil)
	d := dial(t, ts.addr)
	d.greet()
	known := d.cmd("VRFY bob@local.test", "252 ")
	unknown := d.cmd("VRFY nobody-at-all@local.test", "252 ")
	if known != unknown {
		t.Errorf("VRFY answers differ: %q vs %q", known, unknown)
	}
	d.cmd("EXPN staff", "502 ")
}

func TestDownstreamFailures(t *testing.T) {
	t.Parallel()
	t.Run("unreachable", func(t *testing.T) {
		t.Parallel()
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		dead := l.Addr().String()
		l.Close() // nothing listens there now
		ts := startServer(t, nil, func(c *policies.Config) {
			c.Domains["down.test"] = policies.Domain{Deliver: policies.DeliverRelay, Relay: dead}
		})
		err = sendVia(ts.addr, "a@sender.example", []string{"bob@down.test"}, message("", "x\r\n"))
		if se := asSMTPError(t, err); codeOf(se) != "451 4.4.1" {
			t.Errorf("got %s %q, want 451 4.4.1", codeOf(se), se.Message)
		}
	})
	t.Run("recipient refused is passed on", func(t *testing.T) {
		t.Parallel()
		ts := startServer(t, nil, nil)
		ts.sink.mu.Lock()
		ts.sink.rcptErr["nobody@relay.test"] = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
		ts.sink.mu.Unlock()
		d := dial(t, ts.addr)
		d.greet()
		d.cmd("MAIL FROM:<a@sender.example>", "250 ")
		d.cmd("RCPT TO:<nobody@relay.test>", "550 5.1.1 Downstream: no such user")
		d.cmd("RCPT TO:<bob@relay.test>", "250 ")
		d.cmd("DATA", "354 ")
		d.send(message("", "x\r\n") + ".\r\n")
		d.expect("250 ")
		got := ts.sink.received()
		if len(got) != 1 || strings.Join(got[0].rcpts, ",") != "bob@relay.test" {
			t.Fatalf("sink got %+v", got)
		}
	})
	t.Run("data tempfail keeps its class", func(t *testing.T) {
		t.Parallel()
		ts := startServer(t, nil, nil)
		ts.sink.mu.Lock()
		ts.sink.dataErr = &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 3, 1}, Message: "disk full"}
		ts.sink.mu.Unlock()
		err := sendVia(ts.addr, "a@sender.example", []string{"bob@relay.test"}, message("", "x\r\n"))
		if se := asSMTPError(t, err); codeOf(se) != "452 4.3.1" || !strings.Contains(se.Message, "disk full") {
			t.Errorf("got %s %q, want 452 4.3.1 passed on", codeOf(se), se.Message)
		}
	})
}

func TestDownstreamConnectionsReused(t *testing.T) {
	t.Parallel()
	ts := startServer(t, nil, nil)
	for i := range 10 {
		if err := sendVia(ts.addr, "a@sender.example", []string{"bob@relay.test"}, message("", fmt.Sprintf("n%d\r\n", i))); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(ts.sink.received()); n != 10 {
		t.Fatalf("sink got %d messages", n)
	}
	if s := ts.sink.sessionCount(); s != 1 {
		t.Errorf("downstream sessions = %d, want 1 (connection reused)", s)
	}
}

func TestOneRoutePerTransaction(t *testing.T) {
	t.Parallel()
	ts := startServer(t, nil, nil)
	d := dial(t, ts.addr)
	d.greet()
	d.cmd("MAIL FROM:<a@sender.example>", "250 ")
	d.cmd("RCPT TO:<bob@relay.test>", "250 ")
	d.cmd("RCPT TO:<carol@local.test>", "452 4.5.3 ")
	d.cmd("DATA", "354 ")
	d.send(message("", "x\r\n") + ".\r\n")
	d.expect("250 ")
	if len(ts.store.get("carol@local.test")) != 0 {
		t.Error("carol got the message in a transaction she was refused from")
	}
}

func TestPolicyActions(t *testing.T) {
	t.Parallel()
	score := func(n float64) []filter.Check {
		return []filter.Check{scoreCheck{filter.StageData, func(*filter.Txn) []filter.Symbol {
			return []filter.Symbol{{Name: "TEST_SCORE", Score: n}}
		}}}
	}
	cases := []struct {
		name  string
		score float64
		rcpt  string
		reply string
		key   string // memStore key the message must land in ("" = none)
	}{
		{"accept", 0, "carol@local.test", "250 2.0.0 ", "carol@local.test"},
		{"add header", 6, "carol@local.test", "250 2.0.0 ", "carol@local.test"},
		{"junk", 9, "carol@local.test", "250 2.0.0 ", "carol@local.test/Junk"},
		{"reject", 20, "carol@local.test", "550 5.7.1 ", ""},
		{"never reject", 20, "ceo@local.test", "250 2.0.0 ", "ceo@local.test/Junk"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ts := startServer(t, score(tc.score), func(c *policies.Config) {
				c.Policy.Recipients = map[string]policies.Override{"ceo@local.test": {NeverReject: true}}
			})
			d := dial(t, ts.addr)
			d.greet()
			d.cmd("MAIL FROM:<a@sender.example>", "250 ")
			d.cmd("RCPT TO:<"+tc.rcpt+">", "250 ")
			d.cmd("DATA", "354 ")
			d.send(message("", "x\r\n") + ".\r\n")
			r := d.expect(tc.reply)
			if !regexp.MustCompile(`[\[ ]\S+-\S+`).MatchString(r) {
				t.Errorf("reply %q carries no transaction id", r)
			}
			if tc.key != "" && len(ts.store.get(tc.key)) != 1 {
				t.Errorf("message not delivered to %s", tc.key)
			}
			if tc.key == "" && len(ts.store.get(tc.rcpt))+len(ts.store.get(tc.rcpt+"/Junk")) != 0 {
				t.Errorf("rejected message was delivered")
			}
		})
	}
}

func TestEarlyRejectAtRcpt(t *testing.T) {
	t.Parallel()
	ts := startServer(t, []filter.Check{scoreCheck{filter.StageConnect, func(*filter.Txn) []filter.Symbol {
		return []filter.Symbol{{Name: "TEST_BAD_CLIENT", Score: 50}}
	}}}, nil)
	d := dial(t, ts.addr)
	d.greet()
	d.cmd("MAIL FROM:<a@sender.example>", "250 ")
	d.cmd("RCPT TO:<bob@relay.test>", "550 5.7.1 ")
	if strings.Contains(ts.logs.String(), "TEST_BAD_CLIENT") == false {
		t.Error("the refusal was not logged with its symbols")
	}
}

func TestPolicyReloadKeepsConnections(t *testing.T) {
	t.Parallel()
	ts := startServer(t, []filter.Check{scoreCheck{filter.StageData, func(*filter.Txn) []filter.Symbol {
		return []filter.Symbol{{Name: "TEST_SCORE", Score: 10}}
	}}}, nil)
	d := dial(t, ts.addr)
	d.greet()
	send := func(want string) {
		d.startData("bob@relay.test")
		d.send(message("", "x\r\n") + ".\r\n")
		d.expect(want)
	}
	send("250 ")
	strict := policies.Default().Policy
	strict.Thresholds.Reject = ptrTo(9.0)
	p, err := policies.NewPolicy(strict)
	if err != nil {
		t.Fatal(err)
	}
	ts.live.Store(p)
	send("550 5.7.1 ") // same connection, new policy
}

func ptrTo(f float64) *float64 { return &f }

func TestConnectionLimits(t *testing.T) {
	t.Parallel()
	ts := startServer(t, nil, func(c *policies.Config) { c.Limits.ConnectionsPerIP = 2 })
	a, b := dial(t, ts.addr), dial(t, ts.addr)
	a.expect("220 ")
	b.expect("220 ")
	c := dial(t, ts.addr)
	c.expect("421 4.7.0 ")
	// Closing one frees its slot.
	a.cmd("QUIT", "221 ")
	a.c.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		e := dial(t, ts.addr)
		r := e.reply()
		if strings.HasPrefix(r, "220 ") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("slot never freed: %q", r)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestConcurrentClients(t *testing.T) {
	t.Parallel()
	ts := startServer(t, nil, nil)
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- sendVia(ts.addr, "a@sender.example", []string{"bob@relay.test"}, message("", fmt.Sprintf("c%d\r\n", i)))
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if n := len(ts.sink.received()); n != 20 {
		t.Errorf("sink got %d, want 20", n)
	}
}

func TestRouteFixedOnceDownstreamOpened(t *testing.T) {
	t.Parallel()
	ts := startServer(t, nil, nil)
	ts.sink.mu.Lock()
	ts.sink.rcptErr["nobody@relay.test"] = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	ts.sink.mu.Unlock()
	d := dial(t, ts.addr)
	d.greet()
	d.cmd("MAIL FROM:<a@sender.example>", "250 ")
	d.cmd("RCPT TO:<nobody@relay.test>", "550 5.1.1 ")
	// The downstream transaction is open on the relay route: a local
	// recipient must wait for another transaction.
	d.cmd("RCPT TO:<carol@local.test>", "452 4.5.3 ")
	d.cmd("RCPT TO:<bob@relay.test>", "250 ")
	d.cmd("DATA", "354 ")
	d.send(message("", "x\r\n") + ".\r\n")
	d.expect("250 ")
	if len(ts.store.get("carol@local.test")) != 0 {
		t.Error("carol got a message on the wrong route")
	}
}

func TestForgedAuthResultsRemoved(t *testing.T) {
	t.Parallel()
	ts := startServer(t, nil, nil) // hostname mx.moat.test
	forged := "Authentication-Results: mx.moat.test; spf=pass smtp.mailfrom=alice@sender.example\r\n" +
		"Authentication-Results: MX.MOAT.TEST.\r\n\t(comment); dkim=pass\r\n" +
		"Authentication-Results: mx.other.example; spf=fail\r\n"
	if err := sendVia(ts.addr, "alice@sender.example", []string{"bob@relay.test"}, message(forged, "x\r\n")); err != nil {
		t.Fatal(err)
	}
	got := ts.sink.received()
	if len(got) != 1 {
		t.Fatalf("sink got %d messages", len(got))
	}
	if strings.Contains(got[0].data, "mx.moat.test; spf=pass") || strings.Contains(got[0].data, "dkim=pass") {
		t.Errorf("a forged Authentication-Results with our authserv-id was passed on:\n%s", got[0].data)
	}
	if !strings.Contains(got[0].data, "Authentication-Results: mx.other.example; spf=fail") {
		t.Errorf("another host's Authentication-Results was removed:\n%s", got[0].data)
	}
}
