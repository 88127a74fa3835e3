//go:build e2e

package main_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"
)

// forgedSpamHeaders are X-Spam-* fields a sender adds to make its mail look
// already scanned and clean (or to get someone else's mail filed as spam).
const forgedSpamHeaders = "X-Spam-Flag: NO\n" +
	"X-Spam-Status: No, score=-99.9 required=99.0 tests=FORGED_BY_SENDER\n" +
	"X-Spam-Score: -99.9\n" +
	"X-Spam-Action: no action\n" +
	"X-Spam-Level: FORGED\n"

// TestE2ERelayCorpus sends real corpus messages, with forged X-Spam-*
// fields on top, through moat with swaks and smtplib, and checks what the
// downstream server receives: moat's Received and X-Spam-* fields, none of
// the forged ones, the original message otherwise intact, and a txn log
// line for the id in the reply.
func TestE2ERelayCorpus(t *testing.T) {
	t.Parallel()
	requireTool(t, "swaks", "swaks")
	requireTool(t, "python3", "python3")
	s := startSink(t, nil)
	p, cfg := newConfig(t, s, "", "")
	m := startMoat(t, p, cfg)

	// The spam sample is tagged (add_header) by the default content rules
	// on top of MISSING_MESSAGE_ID; the hams are accepted.
	tests := []struct {
		name, client, file string
		wantTests          []string
		wantAction         string
	}{
		{"swaks/ham-00014", "swaks", hamA, nil, "accept"},
		{"smtplib/ham-00126", "smtplib", hamB, nil, "accept"},
		{"swaks/spam-00329", "swaks", spam, []string{"MISSING_MESSAGE_ID", "BODY_ONE_TIME_MAILING"}, "add_header"},
		{"smtplib/spam-00329", "smtplib", spam, []string{"MISSING_MESSAGE_ID", "BODY_ONE_TIME_MAILING"}, "add_header"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			orig := fixture(t, tc.file)
			path := tempMessage(t, tc.file, append([]byte(forgedSpamHeaders), orig...))
			rcpt := fmt.Sprintf("corpus-%d@relay.test", i)
			from := "sender@client.e2e.test"

			var final string
			switch tc.client {
			case "swaks":
				r := m.swaks(t, "--from", from, "--to", rcpt, "--data", "@"+path)
				if r.code != 0 {
					t.Fatalf("swaks exit %d:\n%s", r.code, r.out)
				}
				final = r.endOfData()
			case "smtplib":
				res := m.smtplibSend(t, sendTxn{From: from, Rcpts: []string{rcpt}, File: path})
				final = res.Transactions[0].Data.String()
			}
			if !strings.HasPrefix(final, "250 ") {
				t.Fatalf("end of data reply = %q, want 250", final)
			}
			idm := txnIDRE.FindStringSubmatch(final)
			if idm == nil || idm[2] != "relayed" {
				t.Fatalf("reply %q carries no \"OK <id> relayed\"", final)
			}
			id := idm[1]

			got := s.to(rcpt)
			if len(got) != 1 {
				t.Fatalf("sink got %d messages for %s, want 1", len(got), rcpt)
			}
			if got[0].From != from || !slices.Equal(got[0].Rcpts, []string{rcpt}) {
				t.Errorf("sink envelope = %s -> %q, want %s -> [%s]", got[0].From, got[0].Rcpts, from, rcpt)
			}
			fields, body := splitMessage(got[0].Data)
			if len(fields) == 0 || !strings.EqualFold(fields[0].name, "Received") {
				t.Fatalf("first header field is %+v, want moat's Received", fields[:min(1, len(fields))])
			}
			if rcv := fields[0].value; !strings.Contains(rcv, "by moat.e2e.test") || !strings.Contains(rcv, id) {
				t.Errorf("Received: %s\nwant \"by moat.e2e.test\" and the id %s", rcv, id)
			}
			action, tests := spamHeaders(t, fields)
			if action != tc.wantAction {
				t.Errorf("X-Spam-Action = %q, want %s", action, tc.wantAction)
			}
			for _, w := range tc.wantTests {
				if !slices.Contains(tests, w) {
					t.Errorf("X-Spam-Status tests=%q, want %s among them", tests, w)
				}
			}
			if strings.Contains(string(got[0].Data), "FORGED") {
				t.Errorf("a forged X-Spam field reached the downstream:\n%s", got[0].Data)
			}
			origFields, origBody := splitMessage(orig)
			if body != origBody {
				t.Errorf("body changed in transit:\n got %q\nwant %q", body, origBody)
			}
			for _, f := range origFields {
				if !slices.Contains(fields, f) {
					t.Errorf("original header field %s: %s lost in transit", f.name, f.value)
				}
			}
			m.log.waitLines(t, m.exited, 1, "msg=txn", "id="+id, "rcpts="+rcpt, "action="+tc.wantAction, `reply="250 2.0.0"`)
		})
	}
}

// TestE2ENoOpenRelay tries every way of naming a recipient outside the
// served domains. Each must be refused, and the downstream server must never
// be offered a recipient that is not a plain address in relay.test.
func TestE2ENoOpenRelay(t *testing.T) {
	t.Parallel()
	requireTool(t, "swaks", "swaks")
	s := startSink(t, nil)
	p, cfg := newConfig(t, s, "", "")
	m := startMoat(t, p, cfg)

	tricks := []struct{ name, rcpt, want string }{
		{"foreign domain", "user@evil.example", "550 5.7.1"},
		{"foreign domain ending like a served one", "user@evilrelay.test", "550 5.7.1"},
		{"served name as a subdomain of a foreign one", "user@relay.test.evil.example", "550 5.7.1"},
		{"percent hack", "user%evil.example@relay.test", "550"},
		{"source route to a foreign domain", "@relay.test:user@evil.example", "550"},
		{"quoted local part", `"user@evil.example"@relay.test`, "550"},
		{"two at-signs", "user@evil.example@relay.test", "550"},
		{"two at-signs, foreign last", "user@relay.test@evil.example", "550"},
		{"bang path", "evil.example!user@relay.test", "550"},
		{"bang path after user", "user!evil.example@relay.test", "550"},
		{"address literal", "user@[127.0.0.1]", "550"},
	}
	for _, tc := range tricks {
		t.Run(tc.name, func(t *testing.T) {
			r := m.swaks(t, "--from", "sender@client.e2e.test", "--to", tc.rcpt)
			if r.code != 24 { // 24: no recipient accepted
				t.Errorf("swaks exit %d, want 24 (no RCPT accepted):\n%s", r.code, r.out)
			}
			if got := r.replyAfter("RCPT TO:"); !strings.HasPrefix(got, tc.want+" ") {
				t.Errorf("RCPT TO:<%s> -> %q, want %s", tc.rcpt, got, tc.want)
			}
		})
	}

	t.Run("mixed with a served recipient", func(t *testing.T) {
		to := []string{"ok-mixed@relay.test"}
		for _, tc := range tricks {
			to = append(to, tc.rcpt)
		}
		r := m.swaks(t, "--from", "sender@client.e2e.test", "--to", strings.Join(to, ","))
		if r.code != 0 {
			t.Fatalf("swaks exit %d, want 0 (the served recipient gets the message):\n%s", r.code, r.out)
		}
		got := s.to("ok-mixed@relay.test")
		if len(got) != 1 || !slices.Equal(got[0].Rcpts, []string{"ok-mixed@relay.test"}) {
			t.Fatalf("sink got %+v, want one message for ok-mixed@relay.test alone", got)
		}
	})

	// RFC 5321 says a server may ignore a source route; if moat does, the
	// message must still go to the served domain only.
	t.Run("source route ending in a served domain", func(t *testing.T) {
		r := m.swaks(t, "--from", "sender@client.e2e.test", "--to", "@evil.example:routed@relay.test")
		reply := r.replyAfter("RCPT TO:")
		switch {
		case strings.HasPrefix(reply, "5"):
		case strings.HasPrefix(reply, "250 "):
			if got := s.to("routed@relay.test"); len(got) != 1 {
				t.Errorf("accepted, but the sink got %d messages for routed@relay.test", len(got))
			}
		default:
			t.Errorf("RCPT reply %q, want 5xx or 250\n%s", reply, r.out)
		}
	})

	for _, rcpt := range s.offered() {
		local, domain, ok := strings.Cut(rcpt, "@")
		if !ok || !strings.EqualFold(domain, "relay.test") || strings.ContainsAny(local, `@%!:"[]`) {
			t.Errorf("moat offered the downstream %q: not a plain relay.test address", rcpt)
		}
	}
}

// TestE2EDownstreamReplies checks that a downstream refusal is passed on in
// the same class and that an unreachable downstream gives 451 4.4.1.
func TestE2EDownstreamReplies(t *testing.T) {
	t.Parallel()
	requireTool(t, "swaks", "swaks")
	s := startSink(t, map[string]*smtp.SMTPError{
		"refused@relay.test": {Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"},
		"later@relay.test":   {Code: 450, EnhancedCode: smtp.EnhancedCode{4, 2, 1}, Message: "mailbox busy"},
	})
	p, cfg := newConfig(t, s, "", "")
	m := startMoat(t, p, cfg)

	tests := []struct{ name, rcpt, want string }{
		{"permanent refusal", "refused@relay.test", "550"},
		{"temporary refusal", "later@relay.test", "450"},
		{"unreachable downstream", "user@down.test", "451 4.4.1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := m.swaks(t, "--from", "sender@client.e2e.test", "--to", tc.rcpt)
			if r.code == 0 {
				t.Fatalf("swaks succeeded, want a refusal:\n%s", r.out)
			}
			reply := r.replyAfter("RCPT TO:")
			if strings.HasPrefix(reply, "250 ") {
				reply = r.endOfData() // refused after DATA instead
			}
			if !strings.HasPrefix(reply, tc.want+" ") {
				t.Errorf("reply %q, want %s", reply, tc.want)
			}
			if !strings.Contains(reply, "[") {
				t.Errorf("reply %q carries no transaction id", reply)
			}
			if got := s.to(tc.rcpt); len(got) != 0 {
				t.Errorf("sink has %d messages for %s", len(got), tc.rcpt)
			}
		})
	}
}

// TestE2EBareLineEndings sends message text with bare LF, bare CR, SMTP
// smuggling sequences and a NUL in a header over a raw socket: each is
// refused, nothing (smuggled or not) reaches the downstream, and the
// connection stays usable.
func TestE2EBareLineEndings(t *testing.T) {
	t.Parallel()
	requireTool(t, "python3", "python3")
	s := startSink(t, nil)
	p, cfg := newConfig(t, s, "", "")
	m := startMoat(t, p, cfg)

	tests := []struct {
		scenario, want string
		delivered      bool
	}{
		{"clean", "250", true},
		{"bare-lf", "550 5.5.2", false},
		{"bare-cr", "550 5.5.2", false},
		{"smuggle-lf", "550 5.5.2", false},
		{"smuggle-crlf-lf", "550 5.5.2", false},
		{"nul-header", "550 5.6.0", false},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			rcpt := "raw-" + tc.scenario + "@relay.test"
			r := m.raw(t, "data", tc.scenario, rcpt)
			if !strings.HasPrefix(r.Data, "354") {
				t.Fatalf("DATA -> %q, want 354 (MAIL %q, RCPT %q)", r.Data, r.Mail, r.Rcpt)
			}
			if !strings.HasPrefix(r.End, tc.want+" ") {
				t.Errorf("end of data -> %q, want %s", r.End, tc.want)
			}
			if !strings.HasPrefix(r.Rset, "250") || !strings.HasPrefix(r.Noop, "250") {
				t.Errorf("connection not usable afterwards: RSET %q, NOOP %q", r.Rset, r.Noop)
			}
			n := len(s.to(rcpt))
			if tc.delivered && n != 1 || !tc.delivered && n != 0 {
				t.Errorf("sink got %d messages for %s, want delivered=%v", n, rcpt, tc.delivered)
			}
			if got := s.to("smuggled-" + rcpt); len(got) != 0 {
				t.Errorf("a smuggled message reached the downstream: %q", got[0].Data)
			}
		})
	}
}

// TestE2EPipelining sends several transactions, one with a refused
// recipient, in a single write (DATA and BDAT forms) and checks every reply
// in order and every message at the downstream.
func TestE2EPipelining(t *testing.T) {
	t.Parallel()
	requireTool(t, "python3", "python3")
	s := startSink(t, nil)
	p, cfg := newConfig(t, s, "", "")
	m := startMoat(t, p, cfg)

	const n = 5
	for _, mode := range []string{"data", "bdat"} {
		t.Run(mode, func(t *testing.T) {
			prefix := "pipe-" + mode
			r := m.raw(t, "pipeline", mode, fmt.Sprint(n), prefix, "relay.test", "evil.example")
			if !hasEhlo(r.Ehlo, "PIPELINING") {
				t.Errorf("EHLO does not advertise PIPELINING: %q", r.Ehlo)
			}
			if mode == "bdat" && !hasEhlo(r.Ehlo, "CHUNKING") {
				t.Errorf("EHLO does not advertise CHUNKING: %q", r.Ehlo)
			}
			var want []string
			for i := range n {
				want = append(want, "250", "250")
				if i == 2 {
					want = append(want, "550")
				}
				if mode == "data" {
					want = append(want, "354")
				}
				want = append(want, "250")
			}
			want = append(want, "221")
			if len(r.Replies) != len(want) {
				t.Fatalf("%d replies, want %d: %q", len(r.Replies), len(want), r.Replies)
			}
			for i, w := range want {
				if !strings.HasPrefix(r.Replies[i], w+" ") {
					t.Errorf("reply %d = %q, want %s (all: %q)", i, r.Replies[i], w, r.Replies)
				}
			}
			for i := range n {
				rcpt := fmt.Sprintf("%s-%d@relay.test", prefix, i)
				got := s.to(rcpt)
				if len(got) != 1 {
					t.Errorf("sink got %d messages for %s, want 1", len(got), rcpt)
					continue
				}
				body := fmt.Sprintf("pipelined body %d", i)
				if !containsAll(got[0].Data, fmt.Sprintf("Subject: pipelined %d\r\n", i), body+"\r\n") ||
					strings.Count(string(got[0].Data), "pipelined body") != 1 {
					t.Errorf("message for %s is not message %d alone:\n%s", rcpt, i, got[0].Data)
				}
				if !slices.Equal(got[0].Rcpts, []string{rcpt}) {
					t.Errorf("message %d went to %q, want [%s]", i, got[0].Rcpts, rcpt)
				}
			}
		})
	}
	for _, rcpt := range s.offered() {
		if strings.Contains(rcpt, "evil.example") {
			t.Errorf("moat offered %s to the downstream", rcpt)
		}
	}
}
