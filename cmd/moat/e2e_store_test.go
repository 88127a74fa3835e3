//go:build e2e

package main_test

import (
	"encoding/json"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// moatCmd runs the moat binary with args (and stdin) and returns its
// output and exit code.
func moatCmd(t *testing.T, stdin string, args ...string) (string, int) {
	t.Helper()
	var in []byte
	if stdin != "" {
		in = []byte(stdin)
	}
	return runTool(t, in, moatBin, args...)
}

// addUser creates a store user through the running server's control
// socket.
func addUser(t *testing.T, cfg, name, password string) {
	t.Helper()
	if out, code := moatCmd(t, password+"\n", "user", "add", "-c", cfg, name); code != 0 {
		t.Fatalf("moat user add %s: exit %d\n%s", name, code, out)
	}
}

// mailbox runs testdata/mailbox_client.py and decodes its JSON result.
func mailbox(t *testing.T, v any, args ...string) {
	t.Helper()
	out := python(t, "mailbox_client.py", args...)
	var probe struct {
		Error string `json:"error"`
	}
	line := lastLine(out)
	if err := json.Unmarshal([]byte(line), &probe); err != nil {
		t.Fatalf("mailbox_client.py %q: %v\n%s", args, err, out)
	}
	if probe.Error != "" {
		t.Fatalf("mailbox_client.py %q: %s", args, probe.Error)
	}
	if err := json.Unmarshal([]byte(line), v); err != nil {
		t.Fatal(err)
	}
}

// bayesCounts returns the global model's learned counts.
func bayesCounts(t *testing.T, cfg string) (spam, ham int64) {
	t.Helper()
	out, code := moatCmd(t, "", "bayes", "stats", "-c", cfg, "--json")
	if code != 0 {
		t.Fatalf("moat bayes stats: exit %d\n%s", code, out)
	}
	var st struct {
		Spam int64 `json:"spam_learned"`
		Ham  int64 `json:"ham_learned"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("bayes stats: %v\n%s", err, out)
	}
	return st.Spam, st.Ham
}

type imapBox struct {
	Exists   int `json:"exists"`
	Messages []struct {
		UID              int  `json:"uid"`
		Size             int  `json:"size"`
		HasEnvelope      bool `json:"has_envelope"`
		HasBodystructure bool `json:"has_bodystructure"`
	} `json:"messages"`
	FirstBodyLen     int  `json:"first_body_len"`
	FirstHasReceived bool `json:"first_body_has_received"`
	SearchAll        int  `json:"search_all"`
	SearchNone       int  `json:"search_none"`
}

type imapInspect struct {
	Capabilities []string `json:"capabilities"`
	List         []string `json:"list"`
	Inbox        imapBox  `json:"INBOX"`
	Junk         imapBox  `json:"Junk"`
}

// TestE2EStore runs the built-in store end to end: users made with `moat
// user add` through the running server, mail for a deliver: local domain
// accepted only for them (550 5.1.1 otherwise), junk filed in Junk, read
// back with imaplib and poplib, and moves into and out of Junk over IMAP
// training the Bayes scorer exactly once each.
func TestE2EStore(t *testing.T) {
	t.Parallel()
	requireTool(t, "python3", "python3")
	// MISSING_MESSAGE_ID at 9 puts spam-00329 between junk (8) and reject (15).
	p, cfg := newConfig(t, nil, "", "scores:\n  MISSING_MESSAGE_ID: 9\n")
	p.IMAPPort, p.POP3Port = freePort(t), freePort(t)
	writeFile(t, cfg, configYAML(p))
	m := startMoat(t, p, cfg)

	addUser(t, cfg, "alice@local.test", "alice-secret")
	addUser(t, cfg, "Bob@Local.Test", "bob-secret-1")
	out, code := moatCmd(t, "", "user", "list", "-c", cfg)
	if code != 0 || !strings.Contains(out, "alice@local.test") || !strings.Contains(out, "bob@local.test") {
		t.Fatalf("moat user list: exit %d\n%s", code, out)
	}
	if out, code := moatCmd(t, "short\n", "user", "add", "-c", cfg, "carol@local.test"); code == 0 {
		t.Errorf("a 5-character password was accepted:\n%s", out)
	}

	res := m.smtplibSend(t,
		sendTxn{From: "sender@client.e2e.test", Rcpts: []string{"alice@local.test", "Bob@Local.Test", "nobody@local.test"}, File: filepath.Join("testdata", hamA)},
		sendTxn{From: "sender@client.e2e.test", Rcpts: []string{"alice@local.test"}, File: filepath.Join("testdata", spam)},
	)
	if r := res.Transactions[0].Rcpts; len(r) != 3 || r[0].code() != 250 || r[1].code() != 250 || !strings.HasPrefix(r[2].String(), "550 5.1.1") {
		t.Errorf("RCPT replies %v, want 250, 250, 550 5.1.1 for the unknown user", r)
	}
	for i, tx := range res.Transactions {
		if tx.Data.code() != 250 || !strings.Contains(tx.Data.String(), " delivered") {
			t.Errorf("transaction %d: end of data -> %q, want 250 … delivered", i, tx.Data)
		}
	}

	port := strconv.Itoa(p.IMAPPort)
	var in imapInspect
	mailbox(t, &in, "imap-inspect", "127.0.0.1", port, "alice@local.test", "alice-secret")
	for _, c := range []string{"IMAP4REV1", "IMAP4REV2", "IDLE", "MOVE", "UIDPLUS", "SPECIAL-USE"} {
		if !containsFold(in.Capabilities, c) {
			t.Errorf("capabilities %v lack %s", in.Capabilities, c)
		}
	}
	if !strings.Contains(strings.Join(in.List, "\n"), `\Junk`) {
		t.Errorf("LIST %v has no \\Junk special-use mailbox", in.List)
	}
	if in.Inbox.Exists != 1 || in.Junk.Exists != 1 {
		t.Fatalf("INBOX has %d, Junk %d messages; want 1 and 1 (ham to INBOX, junk to Junk)", in.Inbox.Exists, in.Junk.Exists)
	}
	msg := in.Inbox.Messages[0]
	if !msg.HasEnvelope || !msg.HasBodystructure || msg.Size <= len(fixture(t, hamA)) || in.Inbox.FirstBodyLen != msg.Size || !in.Inbox.FirstHasReceived {
		t.Errorf("INBOX message %+v, body %d bytes (Received: %v); want ENVELOPE, BODYSTRUCTURE, size > the original %d with moat's headers, BODY[] of RFC822.SIZE",
			msg, in.Inbox.FirstBodyLen, in.Inbox.FirstHasReceived, len(fixture(t, hamA)))
	}
	if in.Inbox.SearchAll != 1 || in.Inbox.SearchNone != 0 {
		t.Errorf("SEARCH ALL found %d, SEARCH FROM <no match> %d; want 1 and 0", in.Inbox.SearchAll, in.Inbox.SearchNone)
	}

	// Training: INBOX -> Junk (MOVE) is spam, Junk -> INBOX ham, and a
	// second time the same way changes nothing.
	spam0, ham0 := bayesCounts(t, cfg)
	var mv struct {
		Left int `json:"left_in_src"`
	}
	mailbox(t, &mv, "imap-move", "127.0.0.1", port, "alice@local.test", "alice-secret", "INBOX", "Junk", "move")
	if s, h := bayesCounts(t, cfg); s != spam0+1 || h != ham0 {
		t.Errorf("after a move into Junk: spam %d ham %d, want %d and %d", s, h, spam0+1, ham0)
	}
	// Junk now holds two; mutt-style COPY + EXPUNGE moves the oldest (the
	// delivered junk, never trained) back: ham.
	mailbox(t, &mv, "imap-move", "127.0.0.1", port, "alice@local.test", "alice-secret", "Junk", "INBOX", "copy-expunge")
	if s, h := bayesCounts(t, cfg); s != spam0+1 || h != ham0+1 {
		t.Errorf("after a copy+expunge out of Junk: spam %d ham %d, want %d and %d", s, h, spam0+1, ham0+1)
	}

	// POP3 serves bob's INBOX: STAT, UIDL, TOP, RETR, DELE at QUIT.
	var pop struct {
		Capa      []string `json:"capa"`
		Stat      []int    `json:"stat"`
		UIDL      []string `json:"uidl"`
		Octets    int      `json:"retr_octets"`
		StatAfter []int    `json:"stat_after"`
	}
	mailbox(t, &pop, "pop3", "127.0.0.1", strconv.Itoa(p.POP3Port), "bob@local.test", "bob-secret-1")
	if len(pop.Stat) != 2 || pop.Stat[0] != 1 || len(pop.UIDL) != 1 || pop.Octets < len(fixture(t, hamA)) {
		t.Errorf("POP3 STAT %v UIDL %v RETR %d octets; want one message of at least %d", pop.Stat, pop.UIDL, pop.Octets, len(fixture(t, hamA)))
	}
	if len(pop.StatAfter) != 2 || pop.StatAfter[0] != 0 {
		t.Errorf("POP3 STAT after DELE+QUIT %v, want 0 messages", pop.StatAfter)
	}
	for _, c := range []string{"UIDL", "TOP", "USER", "RESP-CODES"} {
		if !containsFold(pop.Capa, c) {
			t.Errorf("CAPA %v lacks %s", pop.Capa, c)
		}
	}
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}
