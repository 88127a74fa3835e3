package relay

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moatmail/moat/filter/ratelimit"
	"github.com/moatmail/moat/filter/state"
	"github.com/moatmail/moat/policies"
	"github.com/moatmail/moat/store"
)

// publicAddrListener reports a non-loopback address, as a listener on a
// public interface would; the traffic stays on 127.0.0.1.
type publicAddrListener struct{ net.Listener }

func (publicAddrListener) Addr() net.Addr {
	return &net.TCPAddr{IP: net.ParseIP("192.0.2.1"), Port: 587}
}

// memQueue records what the front end enqueues.
type memQueue struct{ envs []Envelope }

func (q *memQueue) Enqueue(_ context.Context, env Envelope, msg io.Reader) (string, error) {
	if _, err := io.Copy(io.Discard, msg); err != nil {
		return "", err
	}
	q.envs = append(q.envs, env)
	return env.ID, nil
}

// newStore opens a store in a temporary directory with the given users
// (password "<local part>-secret").
func newStore(t *testing.T, users ...string) *store.Store {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, store.Options{Dir: filepath.Join(t.TempDir(), "store")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	for _, u := range users {
		local, _, _ := strings.Cut(u, "@")
		if err := st.AddUser(ctx, u, local+"-secret"); err != nil {
			t.Fatal(err)
		}
	}
	return st
}

// startSubmission runs a server with one submission listener that looks
// public, the store's users and a queue; it returns the listener address.
func startSubmission(t *testing.T) (string, *memQueue) {
	t.Helper()
	st := newStore(t, "alice@local.test")
	q := &memQueue{}
	ts := startServerWith(t, setup{
		users: st, local: st, queue: q, tls: selfSigned(t),
		edit: func(c *policies.Config) {
			c.Listen.SMTP = nil
			c.Listen.Submission = policies.Listeners("127.0.0.1:0")
		},
		wrap: func(l net.Listener, _ policies.Listener) (net.Listener, error) { return publicAddrListener{l}, nil },
	})
	return ts.addr, q
}

func plain(user, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + pass))
}

// TestSubmissionAuth: on a submission listener with a public address, AUTH
// is neither offered nor accepted before STARTTLS, MAIL needs AUTH, a
// wrong password is refused, and an authenticated user may send from their
// own address only, to any domain (through the queue).
func TestSubmissionAuth(t *testing.T) {
	addr, q := startSubmission(t)

	d := dial(t, addr)
	d.greet()
	if ehlo := d.ehlo(); strings.Contains(ehlo, "AUTH") {
		t.Errorf("AUTH offered before TLS on a public listener:\n%s", ehlo)
	}
	d.cmd("AUTH PLAIN "+plain("alice@local.test", "alice-secret"), "523 5.7.10")
	d.cmd("MAIL FROM:<alice@local.test>", "530 5.7.0")

	d.cmd("STARTTLS", "220")
	tc := tls.Client(d.c, &tls.Config{InsecureSkipVerify: true, ServerName: "mx.moat.test"})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	d = &dialog{t: t, c: tc, br: bufio.NewReader(tc)}
	if ehlo := d.ehlo(); !strings.Contains(ehlo, "AUTH PLAIN LOGIN") {
		t.Errorf("AUTH not offered after STARTTLS:\n%s", ehlo)
	}
	d.cmd("MAIL FROM:<alice@local.test>", "530 5.7.0")
	d.cmd("AUTH PLAIN "+plain("alice@local.test", "wrong"), "535 5.7.8")
	d.cmd("AUTH PLAIN "+plain("alice@local.test", "alice-secret"), "235")
	d.cmd("MAIL FROM:<bob@local.test>", "553 5.7.1")
	d.cmd("MAIL FROM:<alice+lists@local.test>", "250")
	d.cmd("RCPT TO:<someone@foreign.example>", "250")
	d.cmd("DATA", "354")
	d.send("Subject: hi\r\nFrom: alice@local.test\r\n\r\nhello\r\n.\r\n")
	if r := d.expect("250"); !strings.Contains(r, "queued") {
		t.Errorf("end of data: %q, want 250 … queued", r)
	}
	if len(q.envs) != 1 || q.envs[0].Rcpts[0] != "someone@foreign.example" || q.envs[0].From != "alice+lists@local.test" {
		t.Errorf("queued %+v, want one message from alice+lists to someone@foreign.example", q.envs)
	}
}

// TestLocalPartialFailureQueued: when one local recipient cannot take the
// message (over quota) after another got it, the message is acknowledged
// and the failed recipient goes into the queue (which retries or bounces),
// so nobody gets a duplicate and nothing is dropped.
func TestLocalPartialFailureQueued(t *testing.T) {
	ctx := context.Background()
	st := newStore(t, "alice@local.test", "bob@local.test")
	if err := st.SetQuota(ctx, "bob@local.test", 10); err != nil {
		t.Fatal(err)
	}
	q := &memQueue{}
	ts := startServerWith(t, setup{users: st, local: st, queue: q})

	d := dial(t, ts.addr)
	d.greet()
	d.ehlo()
	d.cmd("MAIL FROM:<sender@example.org>", "250")
	d.cmd("RCPT TO:<alice@local.test>", "250")
	d.cmd("RCPT TO:<bob@local.test>", "250")
	d.cmd("DATA", "354")
	d.send("Subject: hi\r\nFrom: sender@example.org\r\n\r\nhello, a body longer than ten bytes\r\n.\r\n")
	if r := d.expect("250"); !strings.Contains(r, "delivered") {
		t.Errorf("end of data: %q, want 250 … delivered", r)
	}
	if _, msgs, err := st.List(ctx, "alice@local.test", store.Inbox); err != nil || len(msgs) != 1 {
		t.Errorf("alice's INBOX: %d messages (%v), want 1", len(msgs), err)
	}
	if len(q.envs) != 1 || len(q.envs[0].Rcpts) != 1 || q.envs[0].Rcpts[0] != "bob@local.test" || q.envs[0].From != "sender@example.org" {
		t.Errorf("queued %+v, want bob@local.test alone from sender@example.org", q.envs)
	}

	// Every recipient failing is the client's failure: 552, nothing queued.
	d.cmd("MAIL FROM:<sender@example.org>", "250")
	d.cmd("RCPT TO:<bob@local.test>", "250")
	d.cmd("DATA", "354")
	d.send("Subject: again\r\n\r\nanother body over the quota\r\n.\r\n")
	d.expect("552 5.2.2")
	if len(q.envs) != 1 {
		t.Errorf("queued %d envelopes after a whole refusal, want still 1", len(q.envs))
	}
}

// TestQueueDSNParameters: a queued domain's mail goes into the queue with
// the client's RET, ENVID, NOTIFY and ORCPT (RFC 3461).
func TestQueueDSNParameters(t *testing.T) {
	q := &memQueue{}
	ts := startServerWith(t, setup{queue: q, edit: func(c *policies.Config) {
		c.Domains["queued.test"] = policies.Domain{Deliver: policies.DeliverRelay, Relay: "127.0.0.1:9", Mode: policies.ModeQueue}
	}})
	d := dial(t, ts.addr)
	d.greet()
	if ehlo := d.ehlo(); !strings.Contains(ehlo, "DSN") {
		t.Errorf("EHLO does not offer DSN:\n%s", ehlo)
	}
	d.cmd("MAIL FROM:<sender@example.org> RET=HDRS ENVID=env-42", "250")
	d.cmd("RCPT TO:<a@queued.test> NOTIFY=NEVER", "250")
	d.cmd("RCPT TO:<b@queued.test> NOTIFY=FAILURE,DELAY ORCPT=rfc822;b@old.example", "250")
	d.cmd("RCPT TO:<c@queued.test>", "250")
	d.cmd("DATA", "354")
	d.send("Subject: hi\r\n\r\nbody\r\n.\r\n")
	if r := d.expect("250"); !strings.Contains(r, "queued") {
		t.Fatalf("end of data: %q, want 250 … queued", r)
	}
	if len(q.envs) != 1 {
		t.Fatalf("queued %d envelopes, want 1", len(q.envs))
	}
	env := q.envs[0]
	if env.Ret != "HDRS" || env.EnvID != "env-42" || len(env.Rcpt) != 3 {
		t.Fatalf("envelope %+v, want RET=HDRS ENVID=env-42 and 3 recipients' parameters", env)
	}
	if n := env.Rcpt[0].Notify; len(n) != 1 || n[0] != "NEVER" {
		t.Errorf("a's NOTIFY %v, want [NEVER]", n)
	}
	if r := env.Rcpt[1]; len(r.Notify) != 2 || r.ORcpt != "rfc822;b@old.example" {
		t.Errorf("b's parameters %+v, want FAILURE,DELAY and ORCPT rfc822;b@old.example", r)
	}
	if r := env.Rcpt[2]; r.Notify != nil || r.ORcpt != "" {
		t.Errorf("c's parameters %+v, want none", r)
	}
}

// TestAuthInsideTransactionRefused: AUTH after MAIL would let the sender
// given before it escape the ownership check (RFC 4954 section 4: 503).
func TestAuthInsideTransactionRefused(t *testing.T) {
	st := newStore(t, "alice@local.test")
	ts := startServerWith(t, setup{users: st})
	d := dial(t, ts.addr)
	d.greet()
	if ehlo := d.ehlo(); !strings.Contains(ehlo, "AUTH PLAIN") {
		t.Fatalf("no AUTH on a loopback listener:\n%s", ehlo)
	}
	d.cmd("MAIL FROM:<ceo@bank.example>", "250")
	d.cmd("AUTH PLAIN "+plain("alice@local.test", "alice-secret"), "503 5.5.1")
	d.cmd("RCPT TO:<someone@foreign.example>", "550 5.7.1")
	d.cmd("RSET", "250")
	d.cmd("AUTH PLAIN "+plain("alice@local.test", "alice-secret"), "235")
	d.cmd("MAIL FROM:<ceo@bank.example>", "553 5.7.1")
}

// TestRecipientsWithOtherPolicySeparated: a recipient under another
// override (never_reject here) must not share a transaction, where the
// least severe verdict would deliver to everyone.
func TestRecipientsWithOtherPolicySeparated(t *testing.T) {
	ts := startServerWith(t, setup{edit: func(c *policies.Config) {
		c.Policy.Recipients = map[string]policies.Override{"postmaster@local.test": {NeverReject: true}}
	}})
	d := dial(t, ts.addr)
	d.greet()
	d.ehlo()
	d.cmd("MAIL FROM:<sender@example.org>", "250")
	d.cmd("RCPT TO:<alice@local.test>", "250")
	d.cmd("RCPT TO:<postmaster@local.test>", "452 4.5.3")
	d.cmd("RCPT TO:<bob@local.test>", "250")
	d.cmd("RSET", "250")
	d.cmd("MAIL FROM:<sender@example.org>", "250")
	d.cmd("RCPT TO:<postmaster@local.test>", "250")
	d.cmd("RCPT TO:<alice@local.test>", "452 4.5.3")
}

// stateLimiter is a rate limiter over an in-memory state store, as moat
// serve's (cmd/moat) is over the shared one.
type stateLimiter struct{ l *ratelimit.Limiter }

func (s stateLimiter) TakeAll(ctx context.Context, reqs []LimitRequest) (int, time.Duration, error) {
	rr := make([]ratelimit.Request, len(reqs))
	for i, r := range reqs {
		rr[i] = ratelimit.Request{Rule: ratelimit.Rule{Name: r.Rule, Limit: r.Rate.Limit, Window: r.Rate.Window.D()}, Key: r.Key, N: 1}
	}
	ds, err := s.l.TakeAll(ctx, rr...)
	if err != nil {
		return -1, 0, err
	}
	for i, d := range ds {
		if !d.Allowed {
			return i, d.RetryAfter, nil
		}
	}
	return -1, 0, nil
}

// TestRateLimits: messages per client IP for unauthenticated mail, and per
// user (not per IP) for authenticated mail.
func TestRateLimits(t *testing.T) {
	st := newStore(t, "alice@local.test")
	lim := stateLimiter{ratelimit.New(state.NewMemory(time.Now), ratelimit.Options{})}
	ts := startServerWith(t, setup{users: st, limiter: lim, edit: func(c *policies.Config) {
		c.RateLimit.MessagesPerIP = &policies.Rate{Limit: 2, Window: policies.Duration(time.Minute)}
		c.RateLimit.MessagesPerUser = &policies.Rate{Limit: 3, Window: policies.Duration(time.Minute)}
	}})
	d := dial(t, ts.addr)
	d.greet()
	d.ehlo()
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RSET", "250")
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RSET", "250")
	d.cmd("MAIL FROM:<a@example.org>", "451 4.7.1")

	// Authenticated mail counts per user, so the IP's limit does not stop
	// it, and the user's does.
	d.cmd("AUTH PLAIN "+plain("alice@local.test", "alice-secret"), "235")
	for range 3 {
		d.cmd("MAIL FROM:<alice@local.test>", "250")
		d.cmd("RSET", "250")
	}
	d.cmd("MAIL FROM:<alice@local.test>", "451 4.7.1")
}
