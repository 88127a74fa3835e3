//go:build e2e

package main_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// clientUser is one store user of TestE2EClients; every subtest has its
// own, so a client that deletes what it fetched cannot disturb another.
type clientUser struct{ name, password string }

// The users of TestE2EClients, by subtest.
var (
	fetchmailUser = clientUser{"fetchmail@local.test", "fetchmail-secret"}
	mpopUser      = clientUser{"mpop@local.test", "mpop-secret-1"}
	mbsyncUser    = clientUser{"mbsync@local.test", "mbsync-secret"}
	muttUser      = clientUser{"mutt@local.test", "mutt-secret-1"}
)

// TestE2EClients reads the built-in store with real mail clients from
// Debian, the way a site without a mail server of its own would: fetchmail
// and mpop over POP3, mbsync over IMAP, and mutt moving mail into Junk over
// IMAP (its COPY + EXPUNGE). Three corpus messages are delivered by SMTP to
// each user first: two hams land in INBOX, the spam (no Message-ID, scored
// into the junk band) in Junk. Every client must fetch exactly those
// messages, byte for byte as far as the original headers go.
func TestE2EClients(t *testing.T) {
	t.Parallel()
	requireTool(t, "python3", "python3")
	// MISSING_MESSAGE_ID at 9 puts spam-00329 between junk (8) and reject (15).
	p, cfg := newConfig(t, nil, "", "scores:\n  MISSING_MESSAGE_ID: 9\n")
	p.IMAPPort, p.POP3Port = freePort(t), freePort(t)
	writeFile(t, cfg, configYAML(p))
	m := startMoat(t, p, cfg)

	users := []clientUser{fetchmailUser, mpopUser, mbsyncUser, muttUser}
	var rcpts []string
	for _, u := range users {
		addUser(t, cfg, u.name, u.password)
		rcpts = append(rcpts, u.name)
	}
	var txns []sendTxn
	for _, f := range []string{hamA, hamB, spam} {
		txns = append(txns, sendTxn{From: "sender@client.e2e.test", Rcpts: rcpts, File: filepath.Join("testdata", f)})
	}
	for i, tx := range m.smtplibSend(t, txns...).Transactions {
		if tx.Data.code() != 250 || !strings.Contains(tx.Data.String(), " delivered") {
			t.Fatalf("transaction %d: end of data -> %q, want 250 … delivered", i, tx.Data)
		}
	}
	inbox := []string{hamA, hamB}

	t.Run("fetchmail", func(t *testing.T) {
		requireTool(t, "fetchmail", "fetchmail")
		u, dir := fetchmailUser, t.TempDir()
		rc, out := filepath.Join(dir, "fetchmailrc"), filepath.Join(dir, "out")
		// fetchmail takes the password only from an rcfile (mode 600).
		writeFile(t, rc, fmt.Sprintf("set no syslog\npoll 127.0.0.1 protocol pop3 service %d user %q password %q\n",
			p.POP3Port, u.name, u.password))
		mda, err := filepath.Abs(filepath.Join("testdata", "clients_mda.sh"))
		if err != nil {
			t.Fatal(err)
		}
		fetch := func(keep bool) (string, int) {
			args := []string{"--nodetach", "-f", rc, "-i", filepath.Join(dir, "idfile"), "-a",
				"--sslproto", "", "--mda", mda + " " + out}
			if keep {
				args = append(args, "-k")
			}
			return runTool(t, nil, "fetchmail", args...)
		}
		// First with --keep: everything is fetched and stays on the server.
		if log, code := fetch(true); code != 0 {
			t.Fatalf("fetchmail --keep: exit %d, want 0 (mail retrieved)\n%s", code, log)
		}
		checkFetched(t, out, inbox)
		// Then without: the same two again (fetchall), deleted at QUIT.
		if log, code := fetch(false); code != 0 {
			t.Fatalf("fetchmail: exit %d, want 0 (mail retrieved)\n%s", code, log)
		}
		if n := len(mailFiles(t, out)); n != 2*len(inbox) {
			t.Errorf("%d messages delivered after the second run, want %d", n, 2*len(inbox))
		}
		// Now the maildrop is empty: fetchmail's "no mail" status.
		if log, code := fetch(false); code != 1 {
			t.Errorf("fetchmail on an emptied maildrop: exit %d, want 1 (no mail)\n%s", code, log)
		}
	})

	t.Run("mpop", func(t *testing.T) {
		requireTool(t, "mpop", "mpop")
		u, dir := mpopUser, t.TempDir()
		md := filepath.Join(dir, "Maildir")
		for _, sub := range []string{"cur", "new", "tmp"} {
			if err := os.MkdirAll(filepath.Join(md, sub), 0o700); err != nil {
				t.Fatal(err)
			}
		}
		conf := filepath.Join(dir, "mpoprc")
		writeFile(t, conf, fmt.Sprintf(`defaults
tls off
auth user
only_new off
keep off
account default
host 127.0.0.1
port %d
user %s
password %s
uidls_file %s
delivery maildir %s
`, p.POP3Port, u.name, u.password, filepath.Join(dir, "uidls"), md))
		if log, code := runTool(t, nil, "mpop", "-C", conf, "-a"); code != 0 {
			t.Fatalf("mpop: exit %d\n%s", code, log)
		}
		checkFetched(t, filepath.Join(md, "new"), inbox)
		// keep off: the messages were deleted, a second run finds none.
		log, code := runTool(t, nil, "mpop", "-C", conf, "-a")
		if code != 0 {
			t.Fatalf("mpop (second run): exit %d\n%s", code, log)
		}
		if n := len(mailFiles(t, filepath.Join(md, "new"))); n != len(inbox) {
			t.Errorf("%d messages in the Maildir after a second run, want still %d\n%s", n, len(inbox), log)
		}
	})

	t.Run("mbsync", func(t *testing.T) {
		requireTool(t, "mbsync", "isync")
		u, dir := mbsyncUser, t.TempDir()
		local := filepath.Join(dir, "mail")
		if err := os.Mkdir(local, 0o700); err != nil { // mbsync creates folders, not the store
			t.Fatal(err)
		}
		conf := filepath.Join(dir, "mbsyncrc")
		writeFile(t, conf, fmt.Sprintf(`IMAPAccount moat
Host 127.0.0.1
Port %d
User %s
Pass %s
SSLType None
AuthMechs LOGIN

IMAPStore moat-remote
Account moat

MaildirStore moat-local
Path %s/
Inbox %s/INBOX
SubFolders Verbatim

Channel moat
Far :moat-remote:
Near :moat-local:
Patterns INBOX Junk
Create Near
Sync Pull
SyncState *
`, p.IMAPPort, u.name, u.password, local, local))
		if log, code := runTool(t, nil, "mbsync", "-c", conf, "-a"); code != 0 {
			t.Fatalf("mbsync: exit %d\n%s", code, log)
		}
		checkMaildir(t, filepath.Join(local, "INBOX"), inbox)
		checkMaildir(t, filepath.Join(local, "Junk"), []string{spam})
		// A second pull finds nothing new.
		if log, code := runTool(t, nil, "mbsync", "-c", conf, "-a"); code != 0 {
			t.Fatalf("mbsync (second run): exit %d\n%s", code, log)
		}
		checkMaildir(t, filepath.Join(local, "INBOX"), inbox)
		checkMaildir(t, filepath.Join(local, "Junk"), []string{spam})
	})

	t.Run("mutt", func(t *testing.T) {
		requireTool(t, "mutt", "mutt")
		requireTool(t, "tmux", "tmux")
		u := muttUser
		spam0, _ := bayesCounts(t, cfg)
		muttMoveAll(t, p.IMAPPort, u, "INBOX", "Junk")
		var in imapInspect
		mailbox(t, &in, "imap-inspect", "127.0.0.1", strconv.Itoa(p.IMAPPort), u.name, u.password)
		if in.Inbox.Exists != 0 || in.Junk.Exists != 3 {
			t.Errorf("after mutt saved all of INBOX to Junk: INBOX %d, Junk %d messages; want 0 and 3", in.Inbox.Exists, in.Junk.Exists)
		}
		if s, _ := bayesCounts(t, cfg); s != spam0+int64(len(inbox)) {
			t.Errorf("spam learned %d after mutt's COPY+EXPUNGE of %d messages into Junk, want %d", s, len(inbox), spam0+int64(len(inbox)))
		}
	})
}

// mailFiles returns the regular files in dir whose names do not start with
// a dot.
func mailFiles(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if e.Type().IsRegular() && !strings.HasPrefix(e.Name(), ".") {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	return out
}

// checkFetched requires dir to hold exactly the fixtures want (in any
// order), each identified by its Subject and Message-ID.
func checkFetched(t *testing.T, dir string, want []string) {
	t.Helper()
	checkMessages(t, dir, mailFiles(t, dir), want)
}

// checkMaildir requires the Maildir folder dir to hold exactly the fixtures
// want in cur/ and new/, with nothing left in tmp/.
func checkMaildir(t *testing.T, dir string, want []string) {
	t.Helper()
	files := append(mailFiles(t, filepath.Join(dir, "cur")), mailFiles(t, filepath.Join(dir, "new"))...)
	if tmp := mailFiles(t, filepath.Join(dir, "tmp")); len(tmp) != 0 {
		t.Errorf("%s/tmp holds %d files", dir, len(tmp))
	}
	checkMessages(t, dir, files, want)
}

// checkMessages matches files to the fixtures want one to one by their
// original Subject and Message-ID (or, for a message without one, its
// Subject and the last line of its body).
func checkMessages(t *testing.T, dir string, files, want []string) {
	t.Helper()
	if len(files) != len(want) {
		t.Fatalf("%s holds %d messages, want %d (%v)", dir, len(files), len(want), want)
	}
	left := append([]string(nil), want...)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		got := lf(b)
		found := -1
		for i, name := range left {
			if containsAll([]byte(got), fixtureMarks(t, name)...) {
				found = i
				break
			}
		}
		if found < 0 {
			t.Errorf("%s matches none of %v; it starts:\n%.600s", f, left, got)
			continue
		}
		left = append(left[:found], left[found+1:]...)
	}
	if len(left) != 0 {
		t.Errorf("%s lacks %v", dir, left)
	}
}

// fixtureMarks returns the lines that identify a committed message: its
// Subject and Message-ID header lines as they are in the file, and its
// last body line.
func fixtureMarks(t *testing.T, name string) []string {
	t.Helper()
	s := lf(fixture(t, name))
	var marks []string
	for _, line := range strings.Split(s, "\n") {
		if line == "" {
			break
		}
		l := strings.ToLower(line)
		if strings.HasPrefix(l, "subject:") || strings.HasPrefix(l, "message-id:") {
			marks = append(marks, line+"\n")
		}
	}
	body := strings.TrimRight(s, "\n")
	marks = append(marks, body[strings.LastIndex(body, "\n")+1:])
	return marks
}

// muttMoveAll drives real mutt over IMAP in a detached tmux session (mutt
// has no batch mode for mailbox operations; it needs a terminal): open src,
// tag all, save to dest, sync and quit. The screen is polled until each
// step shows its result, within clientTimeout.
func muttMoveAll(t *testing.T, port int, u clientUser, src, dest string) {
	t.Helper()
	dir := t.TempDir()
	rc := filepath.Join(dir, "muttrc")
	writeFile(t, rc, fmt.Sprintf(`set folder="imap://%s@127.0.0.1:%d/"
set imap_user="%[1]s"
set imap_pass="%[3]s"
set spoolfile="+%[4]s"
set ssl_starttls=no
set ssl_force_tls=no
set header_cache=""
set message_cachedir=""
set move=no
set confirmappend=no
set confirmcreate=no
set delete=yes
set quit=yes
set wait_key=no
set mail_check_stats=no
set sort=date-received
`, u.name, port, u.password, src))
	sock := filepath.Join(dir, "tmux.sock")
	done := filepath.Join(dir, "done")
	tmux := func(args ...string) string {
		t.Helper()
		out, err := exec.Command("tmux", append([]string{"-S", sock}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("tmux %q: %v\n%s", args, err, out)
		}
		return string(out)
	}
	tmux("new-session", "-d", "-s", "m", "-x", "200", "-y", "50",
		fmt.Sprintf("mutt -n -F %s; echo $? > %s; sleep 5", rc, done))
	t.Cleanup(func() { _ = exec.Command("tmux", "-S", sock, "kill-server").Run() })
	screen := func() string { return tmux("capture-pane", "-p", "-t", "m") }
	waitFor := func(what string, ok func(string) bool) {
		t.Helper()
		deadline := time.Now().Add(clientTimeout)
		for {
			s := screen()
			if ok(s) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("mutt: no %s within %v; screen:\n%s", what, clientTimeout, s)
			}
			time.Sleep(100 * time.Millisecond) // polling a terminal: no event to wait on
		}
	}
	waitFor("index with 2 messages", func(s string) bool { return strings.Contains(s, "Msgs:2") })
	tmux("send-keys", "-t", "m", "T", "~A", "Enter")
	waitFor("2 tagged", func(s string) bool { return strings.Contains(s, "Tag:2") })
	tmux("send-keys", "-t", "m", ";s")
	waitFor("save prompt", func(s string) bool { return strings.Contains(s, "Save tagged") })
	tmux("send-keys", "-t", "m", "C-u", "="+dest, "Enter")
	waitFor("messages marked deleted", func(s string) bool { return strings.Contains(s, "Del:2") })
	tmux("send-keys", "-t", "m", "$")
	waitFor("sync", func(s string) bool { return strings.Contains(s, "Msgs:0") || strings.Contains(s, "Mailbox is empty") })
	tmux("send-keys", "-t", "m", "q")
	deadline := time.Now().Add(clientTimeout)
	for {
		b, err := os.ReadFile(done)
		if err == nil && strings.TrimSpace(string(b)) != "" {
			if code := strings.TrimSpace(string(b)); code != "0" {
				t.Fatalf("mutt exited %s", code)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("mutt did not exit within %v; screen:\n%s", clientTimeout, screen())
		}
		time.Sleep(100 * time.Millisecond) // waiting for a file another process writes
	}
}
