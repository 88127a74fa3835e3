//go:build e2e

package main_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// The committed real messages (see testdata/README.md).
const (
	hamA = "ham-00014.eml"  // complete headers; scores nothing
	hamB = "ham-00126.eml"  // complete headers; scores nothing
	spam = "spam-00329.eml" // no Message-ID: scores MISSING_MESSAGE_ID
)

// fixture returns a committed test message.
func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// tempMessage writes a message to a temporary file and returns its path.
func tempMessage(t *testing.T, name string, b []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// lf turns CRLF line endings into LF, to compare messages whatever line
// endings a client or moat used.
func lf(b []byte) string { return strings.ReplaceAll(string(b), "\r\n", "\n") }

// field is one header field, unfolded.
type field struct{ name, value string }

// splitMessage returns a message's header fields (unfolded, in order) and
// its body, with LF line endings and without trailing empty lines (swaks
// adds one when the file ends in a newline).
func splitMessage(b []byte) ([]field, string) {
	s := lf(b)
	head, body, ok := strings.Cut(s, "\n\n")
	if !ok {
		head, body = s, ""
	}
	body = strings.TrimRight(body, "\n")
	var fields []field
	for _, line := range strings.Split(head, "\n") {
		if line == "" {
			continue
		}
		if (line[0] == ' ' || line[0] == '\t') && len(fields) > 0 {
			fields[len(fields)-1].value += " " + strings.TrimSpace(line)
			continue
		}
		name, value, _ := strings.Cut(line, ":")
		fields = append(fields, field{name: name, value: strings.TrimSpace(value)})
	}
	return fields, body
}

// values returns the values of the fields called name (case-insensitive).
func values(fields []field, name string) []string {
	var out []string
	for _, f := range fields {
		if strings.EqualFold(f.name, name) {
			out = append(out, f.value)
		}
	}
	return out
}

// The tests= list may be folded after a comma, as SpamAssassin does, so
// the unfolded value can have white space after commas.
var spamStatusRE = regexp.MustCompile(`^(Yes|No), score=(-?[0-9]+\.[0-9]) required=(-?[0-9]+\.[0-9]) tests=(\S+(?:,\s*\S+)*)$`)

// spamHeaders checks moat's X-Spam-* fields: each present once,
// consistent with each other, and nothing else starting with X-Spam-. It
// returns X-Spam-Action and the tests= list.
func spamHeaders(t *testing.T, fields []field) (action string, tests []string) {
	t.Helper()
	one := func(name string) string {
		v := values(fields, name)
		if len(v) != 1 {
			t.Fatalf("%s: %d fields %q, want exactly 1", name, len(v), v)
		}
		return v[0]
	}
	flag, score, status := one("X-Spam-Flag"), one("X-Spam-Score"), one("X-Spam-Status")
	action = one("X-Spam-Action")
	for _, f := range fields {
		switch strings.ToLower(f.name) {
		case "x-spam-flag", "x-spam-score", "x-spam-status", "x-spam-action":
		default:
			if strings.HasPrefix(strings.ToLower(f.name), "x-spam-") {
				t.Errorf("incoming %s: %s was not removed", f.name, f.value)
			}
		}
	}
	m := spamStatusRE.FindStringSubmatch(status)
	if m == nil {
		t.Fatalf("X-Spam-Status = %q, want Yes|No, score=… required=… tests=…", status)
	}
	if want := map[string]string{"Yes": "YES", "No": "NO"}[m[1]]; flag != want {
		t.Errorf("X-Spam-Flag = %q but X-Spam-Status says %q", flag, m[1])
	}
	if score != m[2] {
		t.Errorf("X-Spam-Score = %q but X-Spam-Status score=%s", score, m[2])
	}
	if m[4] != "none" {
		for _, name := range strings.Split(m[4], ",") {
			tests = append(tests, strings.TrimSpace(name))
		}
	}
	return action, tests
}

// txnIDRE matches the transaction id in a 250 reply: "OK <id> relayed…" or
// "OK <id> delivered".
var txnIDRE = regexp.MustCompile(`OK (\S+) (relayed|delivered)`)

// smtpReply is [code, text] as smtp_send.py prints it.
type smtpReply []any

func (r smtpReply) code() int {
	if len(r) < 1 {
		return 0
	}
	f, _ := r[0].(float64)
	return int(f)
}

func (r smtpReply) String() string {
	if len(r) < 2 {
		return "<none>"
	}
	return strconv.Itoa(r.code()) + " " + r[1].(string)
}

// sendResult is smtp_send.py's output.
type sendResult struct {
	Ehlo         smtpReply `json:"ehlo"`
	Features     []string  `json:"features"`
	Error        string    `json:"error"`
	Transactions []struct {
		Mail  smtpReply   `json:"mail"`
		Rcpts []smtpReply `json:"rcpts"`
		Data  smtpReply   `json:"data"`
	} `json:"transactions"`
}

// sendTxn is one transaction for smtp_send.py.
type sendTxn struct {
	From        string   `json:"from"`
	MailOptions []string `json:"mail_options,omitempty"`
	Rcpts       []string `json:"rcpts"`
	File        string   `json:"file,omitempty"`
	Data        string   `json:"data,omitempty"`
	BodySize    int      `json:"body_size,omitempty"`
}

// smtplibSend runs testdata/smtp_send.py: the transactions over one
// smtplib connection to moat.
func (p *moatProc) smtplibSend(t *testing.T, txns ...sendTxn) sendResult {
	t.Helper()
	spec, err := json.Marshal(map[string]any{"helo": "smtplib.client.e2e.test", "transactions": txns})
	if err != nil {
		t.Fatal(err)
	}
	out := python(t, "smtp_send.py", "127.0.0.1", strconv.Itoa(p.port), string(spec))
	var res sendResult
	if err := json.Unmarshal([]byte(lastLine(out)), &res); err != nil {
		t.Fatalf("smtp_send.py output: %v\n%s", err, out)
	}
	if res.Error != "" {
		t.Fatalf("smtp_send.py: %s\n%s", res.Error, out)
	}
	if len(res.Transactions) != len(txns) {
		t.Fatalf("smtp_send.py ran %d transactions, want %d:\n%s", len(res.Transactions), len(txns), out)
	}
	return res
}

// rawResult is raw_smtp.py's output.
type rawResult struct {
	Ehlo    []string `json:"ehlo"`
	Mail    string   `json:"mail"`
	Rcpt    string   `json:"rcpt"`
	Data    string   `json:"data"`
	End     string   `json:"end"`
	Rset    string   `json:"rset"`
	Noop    string   `json:"noop"`
	Replies []string `json:"replies"`
	Error   string   `json:"error"`
}

// raw runs testdata/raw_smtp.py against moat.
func (p *moatProc) raw(t *testing.T, args ...string) rawResult {
	t.Helper()
	out := python(t, "raw_smtp.py", append([]string{"127.0.0.1", strconv.Itoa(p.port)}, args...)...)
	var res rawResult
	if err := json.Unmarshal([]byte(lastLine(out)), &res); err != nil {
		t.Fatalf("raw_smtp.py output: %v\n%s", err, out)
	}
	if res.Error != "" {
		t.Fatalf("raw_smtp.py %q: %s\n%s", args, res.Error, out)
	}
	return res
}

// lastLine returns the last non-empty line of a program's output.
func lastLine(out string) string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	return lines[len(lines)-1]
}

// hasEhlo reports whether an EHLO reply advertises keyword.
func hasEhlo(lines []string, keyword string) bool {
	for _, l := range lines {
		if len(l) > 4 && strings.EqualFold(strings.Fields(l[4:] + " x")[0], keyword) {
			return true
		}
	}
	return false
}

// containsAll reports whether b contains every one of subs.
func containsAll(b []byte, subs ...string) bool {
	for _, s := range subs {
		if !bytes.Contains(b, []byte(s)) {
			return false
		}
	}
	return true
}
