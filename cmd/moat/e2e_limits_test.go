//go:build e2e

package main_test

import (
	"bufio"
	"net"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestE2ELimits checks the size and recipient limits with a small
// configuration: each answers with its code, and the connection and the
// transaction stay consistent afterwards. It ends with the per-IP
// connection limit.
func TestE2ELimits(t *testing.T) {
	t.Parallel()
	requireTool(t, "swaks", "swaks")
	requireTool(t, "python3", "python3")
	s := startSink(t, nil)
	p, cfg := newConfig(t, s, "message_size: 4096\nrecipients: 3\nconnections_per_ip: 2\n", "")
	m := startMoat(t, p, cfg)

	t.Run("swaks oversize message", func(t *testing.T) {
		r := m.swaks(t, "--from", "sender@client.e2e.test", "--to", "big@relay.test",
			"--body", strings.Repeat("0123456789abcdef ", 400)) // 6800 bytes
		if r.code != 26 { // 26: not accepted after data
			t.Errorf("swaks exit %d, want 26:\n%s", r.code, r.out)
		}
		if got := r.endOfData(); !strings.HasPrefix(got, "552 5.3.4 ") {
			t.Errorf("end of data -> %q, want 552 5.3.4", got)
		}
		if got := s.to("big@relay.test"); len(got) != 0 {
			t.Errorf("sink got the oversize message (%d bytes)", len(got[0].Data))
		}
	})

	t.Run("smtplib one connection", func(t *testing.T) {
		small := "From: <small@client.e2e.test>\r\nSubject: small\r\n" +
			"Date: Mon, 01 Jan 2024 00:00:00 +0000\r\nMessage-ID: <small@client.e2e.test>\r\n\r\nsmall\r\n"
		many := []string{"r1@relay.test", "r2@relay.test", "r3@relay.test", "r4@relay.test", "r5@relay.test"}
		res := m.smtplibSend(t,
			sendTxn{From: "sender@client.e2e.test", MailOptions: []string{"SIZE=100000"}, Rcpts: []string{"declared@relay.test"}, Data: small},
			sendTxn{From: "sender@client.e2e.test", Rcpts: []string{"undeclared@relay.test"}, BodySize: 6000},
			sendTxn{From: "sender@client.e2e.test", Rcpts: many, Data: small},
			sendTxn{From: "sender@client.e2e.test", Rcpts: []string{"after@relay.test"}, Data: small},
		)
		if !slices.Contains(res.Features, "size") {
			t.Errorf("EHLO features %q lack SIZE", res.Features)
		}
		tx := res.Transactions
		if got := tx[0].Mail.String(); !strings.HasPrefix(got, "552 5.3.4") {
			t.Errorf("MAIL SIZE=100000 -> %q, want 552 5.3.4", got)
		}
		if got := tx[1].Data.String(); !strings.HasPrefix(got, "552 5.3.4") {
			t.Errorf("6000-byte message -> %q, want 552 5.3.4", got)
		}
		var codes []int
		for _, r := range tx[2].Rcpts {
			codes = append(codes, r.code())
		}
		if !slices.Equal(codes, []int{250, 250, 250, 452, 452}) {
			t.Errorf("RCPT replies %v, want 250 ×3 then 452 ×2", tx[2].Rcpts)
		}
		for _, r := range tx[2].Rcpts[3:] {
			if !strings.HasPrefix(r.String(), "452 4.5.3") {
				t.Errorf("RCPT over the limit -> %q, want 452 4.5.3", r)
			}
		}
		if tx[2].Data.code() != 250 || tx[3].Data.code() != 250 {
			t.Errorf("DATA after limits -> %q and %q, want 250", tx[2].Data, tx[3].Data)
		}
		if got := s.to("r1@relay.test"); len(got) != 1 || !slices.Equal(got[0].Rcpts, many[:3]) {
			t.Errorf("sink got %+v, want one message for %q", got, many[:3])
		}
		for _, rcpt := range []string{"declared@relay.test", "undeclared@relay.test", "r4@relay.test", "r5@relay.test"} {
			if got := s.to(rcpt); len(got) != 0 {
				t.Errorf("sink got %d messages for %s", len(got), rcpt)
			}
		}
		if got := s.to("after@relay.test"); len(got) != 1 {
			t.Errorf("sink got %d messages for after@relay.test, want 1", len(got))
		}
	})

	// Five connections held open at once: exactly two get 220, the others
	// 421 4.7.0. (Counting rather than asserting the order keeps the test
	// exact even if an earlier connection's slot is given back a moment
	// after the client saw it close.)
	t.Run("connections per IP", func(t *testing.T) {
		var greetings []string
		for range 5 {
			c, err := net.DialTimeout("tcp", m.addr(), 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			line, err := bufio.NewReader(c).ReadString('\n')
			if err != nil {
				t.Fatalf("reading greeting: %v", err)
			}
			greetings = append(greetings, strings.TrimSpace(line))
		}
		ok := 0
		for _, g := range greetings {
			switch {
			case strings.HasPrefix(g, "220 "):
				ok++
			case !strings.HasPrefix(g, "421 4.7.0 "):
				t.Errorf("greeting %q, want 220 or 421 4.7.0", g)
			}
		}
		if ok != 2 {
			t.Errorf("%d of 5 simultaneous connections got 220, want connections_per_ip = 2: %q", ok, greetings)
		}
	})
}
