//go:build e2e

// Helpers of the queue end-to-end tests: configuration, SMTP clients,
// the queue CLI, scripted downstream servers and DSN parsing.

package main_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// ---- configuration ----------------------------------------------------

// queueSetup is what a queue test's moat differs in from configYAML's.
type queueSetup struct {
	sink    string // relay.test's and queue.test's downstream; "" is a dead port
	domains string // more domains (YAML at column 0, one key per domain)
	extra   string // more top-level YAML
	policy  string
}

// startQueueMoat writes a configuration with configYAML's domains plus
// qs.domains and starts moat on it.
func startQueueMoat(t *testing.T, qs queueSetup) (*moatProc, cfgParams, string) {
	t.Helper()
	p, cfg := newConfig(t, nil, "", qs.policy)
	if qs.sink != "" {
		p.Sink = qs.sink
	}
	p.Extra = qs.extra
	y := configYAML(p)
	if qs.domains != "" {
		const key = "\ndomains:\n"
		if !strings.Contains(y, key) {
			t.Fatalf("configYAML has no domains: section:\n%s", y)
		}
		y = strings.Replace(y, key, key+indent(qs.domains), 1)
	}
	writeFile(t, cfg, y)
	return startMoat(t, p, cfg), p, cfg
}

// ---- clients ----------------------------------------------------------

// sendOut is the outcome of one transaction.
type sendOut struct {
	rcpts []string // the reply to each RCPT: "250" or "550 5.1.1 …"
	data  string   // the end-of-data reply; "" when no DATA was sent
	id    string   // the transaction id of a 250 "OK <id> queued"
}

// dialSMTP opens a go-smtp client connection to moat, EHLO done.
func dialSMTP(addr string) (*smtp.Client, error) {
	conn, err := net.DialTimeout("tcp", addr, startTimeout)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	c := smtp.NewClient(conn)
	c.CommandTimeout, c.SubmissionTimeout = 20*time.Second, 20*time.Second
	if err := c.Hello("queue.client.e2e.test"); err != nil {
		c.Close()
		return nil, fmt.Errorf("EHLO: %w", err)
	}
	return c, nil
}

// sendOn runs one transaction on c. Refusals are replies in the result;
// the error is for a transaction that could not run (I/O, MAIL refused).
// With msg nil, or no recipient accepted, it ends with RSET instead of
// DATA.
func sendOn(c *smtp.Client, from string, rcpts []string, msg []byte) (sendOut, error) {
	var out sendOut
	if err := c.Mail(from, nil); err != nil {
		return out, fmt.Errorf("MAIL FROM:<%s>: %w", from, err)
	}
	accepted := 0
	for _, r := range rcpts {
		err := c.Rcpt(r, nil)
		var se *smtp.SMTPError
		if err != nil && !errors.As(err, &se) {
			return out, fmt.Errorf("RCPT TO:<%s>: %w", r, err)
		}
		out.rcpts = append(out.rcpts, smtpReplyText(err))
		if err == nil {
			accepted++
		}
	}
	if msg == nil || accepted == 0 {
		return out, c.Reset()
	}
	w, err := c.Data()
	if err != nil {
		return out, fmt.Errorf("DATA: %w", err)
	}
	if _, err := w.Write(msg); err != nil {
		return out, fmt.Errorf("message text: %w", err)
	}
	resp, err := w.CloseWithResponse()
	if err != nil {
		var se *smtp.SMTPError
		if !errors.As(err, &se) {
			return out, fmt.Errorf("end of data: %w", err)
		}
		out.data = smtpReplyText(err)
		return out, nil
	}
	out.data = "250 " + resp.StatusText
	if m := queuedRE.FindStringSubmatch(out.data); m != nil {
		out.id = m[1]
	}
	return out, nil
}

// smtpSend runs one transaction over a new connection to m.
func smtpSend(t *testing.T, m *moatProc, from string, rcpts []string, msg []byte) sendOut {
	t.Helper()
	c, err := dialSMTP(m.addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	out, err := sendOn(c, from, rcpts, msg)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Quit(); err != nil {
		t.Errorf("QUIT: %v", err)
	}
	return out
}

// mustQueue sends a message that must be queued and returns its id.
func mustQueue(t *testing.T, m *moatProc, from string, rcpts []string, msg []byte) string {
	t.Helper()
	out := smtpSend(t, m, from, rcpts, msg)
	if out.id == "" {
		t.Fatalf("MAIL FROM:<%s> to %v: RCPT %v, end of data %q; want 250 \"OK <id> queued\"", from, rcpts, out.rcpts, out.data)
	}
	return out.id
}

// queueMessage is a small, clean message tagged X-Test-Seq: seq.
func queueMessage(from, seq string) []byte {
	if from == "" {
		from = "mailer-daemon@client.e2e.test"
	}
	return []byte(fmt.Sprintf("From: <%s>\r\nTo: <rcpt@queue.test>\r\nSubject: queue test %s\r\n"+
		"Date: %s\r\nMessage-ID: <%s@client.e2e.test>\r\nX-Test-Seq: %[2]s\r\n\r\n"+
		"This is queue test message %[2]s.\r\n",
		from, seq, time.Now().Format(time.RFC1123Z), seq))
}

// ---- the queue CLI ----------------------------------------------------

// queueListing is `moat queue list --json`.
type queueListing struct {
	Messages []struct {
		ID, From, State, LastError string
		Spam                       bool
		Rcpts                      []struct {
			Addr, State, LastError string
			Attempts               int
		}
	}
	Counts struct{ Messages, Active, Deferred, Bouncing int }
}

func listQueue(t *testing.T, cfg string) queueListing {
	t.Helper()
	out, code := moatCmd(t, "", "queue", "list", "-c", cfg, "--json")
	if code != 0 {
		t.Fatalf("moat queue list: exit %d\n%s", code, out)
	}
	var l queueListing
	if err := json.Unmarshal([]byte(out), &l); err != nil {
		t.Fatalf("moat queue list --json: %v\n%s", err, out)
	}
	return l
}

// waitFor polls cond until it holds; it fails the test when the timeout
// passes or moat exits first.
func waitFor(t *testing.T, m *moatProc, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		m.alive(t)
		if time.Now().After(deadline) {
			t.Fatalf("no %s after %v", what, timeout)
		}
		time.Sleep(150 * time.Millisecond)
	}
}

// waitQueueEmpty waits until every queued message (DSNs included) is done.
func waitQueueEmpty(t *testing.T, m *moatProc, cfg string) {
	t.Helper()
	var last queueListing
	waitFor(t, m, queueWait, "empty queue", func() bool {
		last = listQueue(t, cfg)
		return last.Counts.Messages == 0 && len(last.Messages) == 0
	})
}

// ---- downstream servers -----------------------------------------------

// serveSMTP serves go-smtp sessions on ln until the test ends.
func serveSMTP(t *testing.T, ln net.Listener, lmtp bool, newSession func() smtp.Session) {
	t.Helper()
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return newSession(), nil }))
	srv.Domain = "downstream.e2e.test"
	srv.LMTP = lmtp
	srv.ReadTimeout, srv.WriteTimeout = 30*time.Second, 30*time.Second
	srv.MaxMessageBytes = 64 << 20
	// Connections cut by a killed moat are expected in the crash test.
	srv.ErrorLog = log.New(io.Discard, "", 0)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
}

// startSinkAt starts a sink (see startSink) on addr, a port moat was
// told about while nothing listened there.
func startSinkAt(t *testing.T, addr string, refuse map[string]*smtp.SMTPError) *sink {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("sink on %s: %v", addr, err)
	}
	s := &sink{addr: addr, refuse: refuse}
	serveSMTP(t, ln, false, func() smtp.Session { return &sinkSession{sink: s} })
	return s
}

// downstream is a scripted SMTP or LMTP server: each hook chooses a reply
// (nil: 250) from how often it was asked before; it records what it got.
type downstream struct {
	addr string
	// rcptReply answers the n-th RCPT (from 1) of rcpt (lower case).
	rcptReply func(rcpt string, n int) *smtp.SMTPError
	// dataReply answers the n-th end of data (SMTP).
	dataReply func(n int) *smtp.SMTPError
	// lmtpReply is rcpt's status the n-th time a message is sent to it
	// (LMTP).
	lmtpReply func(rcpt string, n int) *smtp.SMTPError

	mu        sync.Mutex
	rcpts     map[string]int // RCPTs offered by address
	datas     []time.Time    // every end of data
	lmtpTimes map[string]int // LMTP messages by recipient
	got       []sinkMsg      // accepted messages; Rcpts: those that got 2xx
}

// startDownstream serves d on a new loopback port.
func startDownstream(t *testing.T, d *downstream, lmtp bool) *downstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d.addr = ln.Addr().String()
	d.rcpts, d.lmtpTimes = map[string]int{}, map[string]int{}
	serveSMTP(t, ln, lmtp, func() smtp.Session { return &dsSession{d: d} })
	return d
}

// snapshot returns copies of what d recorded.
func (d *downstream) snapshot() (rcpts map[string]int, datas []time.Time, lmtp map[string]int, got []sinkMsg) {
	d.mu.Lock()
	defer d.mu.Unlock()
	cp := func(m map[string]int) map[string]int {
		out := make(map[string]int, len(m))
		for k, v := range m {
			out[k] = v
		}
		return out
	}
	return cp(d.rcpts), slices.Clone(d.datas), cp(d.lmtpTimes), slices.Clone(d.got)
}

// accepted counts the accepted copies for rcpt.
func (d *downstream) accepted(rcpt string) int {
	_, _, _, got := d.snapshot()
	n := 0
	for _, m := range got {
		if slices.Contains(m.Rcpts, rcpt) {
			n++
		}
	}
	return n
}

type dsSession struct {
	envelope
	d *downstream
}

func (s *dsSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	to = strings.ToLower(to)
	s.d.mu.Lock()
	defer s.d.mu.Unlock()
	s.d.rcpts[to]++
	if h := s.d.rcptReply; h != nil {
		if e := h(to, s.d.rcpts[to]); e != nil {
			return e
		}
	}
	s.rcpts = append(s.rcpts, to)
	return nil
}

func (s *dsSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.d.mu.Lock()
	defer s.d.mu.Unlock()
	s.d.datas = append(s.d.datas, time.Now())
	if h := s.d.dataReply; h != nil {
		if e := h(len(s.d.datas)); e != nil {
			return e
		}
	}
	s.d.got = append(s.d.got, sinkMsg{From: s.from, Rcpts: slices.Clone(s.rcpts), Data: b})
	return nil
}

func (s *dsSession) LMTPData(r io.Reader, status smtp.StatusCollector) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.d.mu.Lock()
	defer s.d.mu.Unlock()
	s.d.datas = append(s.d.datas, time.Now())
	var ok []string
	for _, rcpt := range s.rcpts {
		s.d.lmtpTimes[rcpt]++
		var e *smtp.SMTPError
		if h := s.d.lmtpReply; h != nil {
			e = h(rcpt, s.d.lmtpTimes[rcpt])
		}
		if e != nil {
			status.SetStatus(rcpt, e)
			continue
		}
		status.SetStatus(rcpt, nil)
		ok = append(ok, rcpt)
	}
	if len(ok) > 0 {
		s.d.got = append(s.d.got, sinkMsg{From: s.from, Rcpts: ok, Data: b})
	}
	return nil
}

// ---- messages at the downstream ---------------------------------------

// seqOf returns a message's X-Test-Seq.
func seqOf(b []byte) string {
	fields, _ := splitMessage(b)
	if v := values(fields, "X-Test-Seq"); len(v) > 0 {
		return v[0]
	}
	return ""
}

// checkReceived requires moat's Received field, naming id, on top.
func checkReceived(t *testing.T, b []byte, id string) {
	t.Helper()
	fields, _ := splitMessage(b)
	if len(fields) == 0 || !strings.EqualFold(fields[0].name, "Received") {
		t.Errorf("message %s: first header field is not moat's Received:\n%s", id, b)
		return
	}
	if v := fields[0].value; !strings.Contains(v, "by moat.e2e.test") || !strings.Contains(v, id) {
		t.Errorf("Received: %s\nwant \"by moat.e2e.test\" and the id %s", v, id)
	}
}

// dsnReport is what a DSN says.
type dsnReport struct {
	to       string   // its To: field
	parts    []string // the media types of its parts
	final    []string // Final-Recipient addresses
	actions  []string
	statuses []string
	diags    []string
	headers  string // the text/rfc822-headers part
}

// isDSN reports whether a message is a multipart/report.
func isDSN(b []byte) bool {
	msg, err := mail.ReadMessage(bytes.NewReader(b))
	if err != nil {
		return false
	}
	mt, _, _ := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	return mt == "multipart/report"
}

// parseDSN reads an RFC 3464 delivery status notification.
func parseDSN(t *testing.T, b []byte) dsnReport {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("DSN: %v\n%s", err, b)
	}
	var rep dsnReport
	rep.to = msg.Header.Get("To")
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/report" || params["report-type"] != "delivery-status" {
		t.Fatalf("DSN Content-Type %q (%v), want multipart/report; report-type=delivery-status", msg.Header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("DSN parts: %v\n%s", err, b)
		}
		ct, _, _ := mime.ParseMediaType(part.Header.Get("Content-Type"))
		body, err := io.ReadAll(part)
		if err != nil {
			t.Fatalf("DSN part %s: %v", ct, err)
		}
		rep.parts = append(rep.parts, ct)
		switch ct {
		case "message/delivery-status":
			for _, line := range strings.Split(strings.ReplaceAll(string(body), "\r\n", "\n"), "\n") {
				name, value, _ := strings.Cut(line, ":")
				value = strings.TrimSpace(value)
				switch strings.ToLower(name) {
				case "final-recipient":
					_, addr, _ := strings.Cut(value, ";")
					rep.final = append(rep.final, strings.TrimSpace(addr))
				case "action":
					rep.actions = append(rep.actions, value)
				case "status":
					rep.statuses = append(rep.statuses, value)
				case "diagnostic-code":
					rep.diags = append(rep.diags, value)
				}
			}
		case "text/rfc822-headers":
			rep.headers = string(body)
		}
	}
	return rep
}

// checkDSN requires a DSN reporting exactly refused, with status, and the
// original headers of seq.
func checkDSN(t *testing.T, b []byte, to, refused, status, seq string) {
	t.Helper()
	rep := parseDSN(t, b)
	if !strings.Contains(rep.to, to) {
		t.Errorf("DSN To: %q, want %s", rep.to, to)
	}
	if !slices.Equal(rep.parts, []string{"text/plain", "message/delivery-status", "text/rfc822-headers"}) {
		t.Errorf("DSN parts %q, want text/plain, message/delivery-status, text/rfc822-headers", rep.parts)
	}
	if !slices.Equal(rep.final, []string{refused}) || !slices.Equal(rep.actions, []string{"failed"}) || !slices.Equal(rep.statuses, []string{status}) {
		t.Errorf("DSN reports Final-Recipient %q Action %q Status %q; want only %s, failed, %s", rep.final, rep.actions, rep.statuses, refused, status)
	}
	if len(rep.diags) != 1 || !strings.HasPrefix(rep.diags[0], "smtp; 550") {
		t.Errorf("DSN Diagnostic-Code %q, want the downstream's 550", rep.diags)
	}
	for _, want := range []string{"X-Test-Seq: " + seq, "Subject: queue test " + seq, "Message-ID: <" + seq + "@client.e2e.test>", "Received: "} {
		if !strings.Contains(rep.headers, want) {
			t.Errorf("DSN's text/rfc822-headers lack %q:\n%s", want, rep.headers)
		}
	}
	if strings.Contains(rep.headers, "This is queue test message") {
		t.Errorf("DSN's text/rfc822-headers hold the body:\n%s", rep.headers)
	}
}
