package queue

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is a test clock advanced by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// eventually waits (up to 10s) for cond to hold: deliveries are
// asynchronous.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// sunk is one message received by a sink.
type sunk struct {
	From  string
	Rcpts []string
	Data  []byte
}

// sink is a small SMTP server on 127.0.0.1 recording what it accepts.
// rcptReply and dataReply script its answers (nil: 250).
type sink struct {
	t    testing.TB
	addr string

	mu        sync.Mutex
	ln        net.Listener
	conns     map[net.Conn]bool
	msgs      []sunk
	rcptReply func(rcpt string) string // "250 2.1.5 ok"
	wg        sync.WaitGroup
}

func newSink(t testing.TB) *sink {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &sink{t: t, addr: ln.Addr().String(), conns: map[net.Conn]bool{}}
	s.serve(ln)
	t.Cleanup(func() {
		s.down()
		s.wg.Wait()
	})
	return s
}

func (s *sink) serve(ln net.Listener) {
	s.mu.Lock()
	s.ln = ln
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns[c] = true
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.session(c)
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
				c.Close()
			}()
		}
	}()
}

// down closes the listener and every connection: dials are refused.
func (s *sink) down() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln != nil {
		s.ln.Close()
		s.ln = nil
	}
	for c := range s.conns {
		c.Close()
	}
}

// up listens again on the same address.
func (s *sink) up() {
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		s.t.Fatal(err)
	}
	s.serve(ln)
}

func (s *sink) setRcptReply(f func(string) string) {
	s.mu.Lock()
	s.rcptReply = f
	s.mu.Unlock()
}

func (s *sink) received() []sunk {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]sunk(nil), s.msgs...)
}

// count returns how many messages the sink accepted for rcpt.
func (s *sink) count(rcpt string) int {
	n := 0
	for _, m := range s.received() {
		for _, r := range m.Rcpts {
			if r == rcpt {
				n++
			}
		}
	}
	return n
}

func (s *sink) session(c net.Conn) {
	br := bufio.NewReader(c)
	bw := bufio.NewWriter(c)
	reply := func(line string) bool {
		bw.WriteString(line + "\r\n")
		return bw.Flush() == nil
	}
	if !reply("220 sink ESMTP") {
		return
	}
	var cur sunk
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		verb := strings.ToUpper(line)
		switch {
		case strings.HasPrefix(verb, "EHLO"), strings.HasPrefix(verb, "HELO"):
			reply("250 sink")
		case strings.HasPrefix(verb, "MAIL FROM:"):
			cur = sunk{From: strings.Trim(line[len("MAIL FROM:"):], "<> ")}
			reply("250 2.1.0 ok")
		case strings.HasPrefix(verb, "RCPT TO:"):
			rcpt := strings.Trim(line[len("RCPT TO:"):], "<> ")
			s.mu.Lock()
			f := s.rcptReply
			s.mu.Unlock()
			ans := "250 2.1.5 ok"
			if f != nil {
				ans = f(rcpt)
			}
			if strings.HasPrefix(ans, "2") {
				cur.Rcpts = append(cur.Rcpts, rcpt)
			}
			reply(ans)
		case verb == "DATA":
			if len(cur.Rcpts) == 0 {
				reply("554 5.5.1 no valid recipients")
				continue
			}
			reply("354 go ahead")
			var data bytes.Buffer
			for {
				l, err := br.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				data.WriteString(strings.TrimPrefix(l, "."))
			}
			cur.Data = data.Bytes()
			s.mu.Lock()
			s.msgs = append(s.msgs, cur)
			s.mu.Unlock()
			cur = sunk{}
			reply("250 2.0.0 queued")
		case verb == "RSET":
			cur = sunk{}
			reply("250 2.0.0 ok")
		case verb == "NOOP":
			reply("250 2.0.0 ok")
		case verb == "QUIT":
			reply("221 2.0.0 bye")
			return
		default:
			reply("500 5.5.2 what")
		}
	}
}

// smtpCourier is a minimal SMTP client courier for tests; routes are
// "smtp:ADDR". With reuse, connections are kept between transactions.
type smtpCourier struct {
	route func(rcpt string) (string, error)
	reuse bool

	mu   sync.Mutex
	idle map[string][]*smtpConn
}

func (c *smtpCourier) Route(rcpt string) (string, error) { return c.route(rcpt) }

func (c *smtpCourier) Deliver(ctx context.Context, route, from string, rcpts []string, msg io.Reader) ([]Result, error) {
	addr, ok := strings.CutPrefix(route, "smtp:")
	if !ok {
		return nil, fmt.Errorf("bad route %q", route)
	}
	var sc *smtpConn
	c.mu.Lock()
	if l := c.idle[addr]; len(l) > 0 {
		sc = l[len(l)-1]
		c.idle[addr] = l[:len(l)-1]
	}
	c.mu.Unlock()
	if sc == nil {
		var err error
		if sc, err = dialSMTP(ctx, addr); err != nil {
			return nil, err
		}
	}
	res, err := sc.transact(from, rcpts, msg)
	if err != nil || !c.reuse {
		if err == nil {
			sc.cmd("QUIT")
		}
		sc.c.Close()
		return res, err
	}
	c.mu.Lock()
	if c.idle == nil {
		c.idle = map[string][]*smtpConn{}
	}
	c.idle[addr] = append(c.idle[addr], sc)
	c.mu.Unlock()
	return res, nil
}

func (c *smtpCourier) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, l := range c.idle {
		for _, sc := range l {
			sc.c.Close()
		}
	}
	c.idle = nil
}

// smtpConn is a client connection after EHLO.
type smtpConn struct {
	c  net.Conn
	br *bufio.Reader
	bw *bufio.Writer
}

func dialSMTP(ctx context.Context, addr string) (*smtpConn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	sc := &smtpConn{c: conn, br: bufio.NewReader(conn), bw: bufio.NewWriter(conn)}
	if r, err := sc.cmd(""); err != nil || r.Code != 220 {
		conn.Close()
		return nil, errors.Join(err, &DeliveryError{Code: r.Code, Enhanced: r.Enhanced, Text: r.Text})
	}
	if _, err := sc.cmd("EHLO test"); err != nil {
		conn.Close()
		return nil, err
	}
	return sc, nil
}

// cmd sends line (none if empty) and reads a one-line reply.
func (sc *smtpConn) cmd(line string) (Result, error) {
	sc.c.SetDeadline(time.Now().Add(30 * time.Second))
	if line != "" {
		sc.bw.WriteString(line + "\r\n")
		if err := sc.bw.Flush(); err != nil {
			return Result{}, err
		}
	}
	l, err := sc.br.ReadString('\n')
	if err != nil {
		return Result{}, err
	}
	return parseReply(l)
}

// transact runs MAIL, RCPT… and DATA; the connection is ready for
// another transaction after a nil error.
func (sc *smtpConn) transact(from string, rcpts []string, msg io.Reader) ([]Result, error) {
	r, err := sc.cmd("MAIL FROM:<" + from + ">")
	if err != nil {
		return nil, err
	}
	if r.Code != 250 {
		sc.cmd("RSET")
		return nil, &DeliveryError{Code: r.Code, Enhanced: r.Enhanced, Text: r.Text}
	}
	res := make([]Result, len(rcpts))
	accepted := 0
	for i, rc := range rcpts {
		r, err := sc.cmd("RCPT TO:<" + rc + ">")
		if err != nil {
			return nil, err
		}
		res[i] = r
		if r.Code/100 == 2 {
			accepted++
		}
	}
	if accepted == 0 {
		_, err := sc.cmd("RSET")
		return res, err
	}
	if r, err := sc.cmd("DATA"); err != nil || r.Code != 354 {
		return nil, errors.Join(err, fmt.Errorf("DATA: %v", r))
	}
	scan := bufio.NewScanner(msg)
	scan.Buffer(make([]byte, 64<<10), 16<<20)
	for scan.Scan() {
		l := strings.TrimSuffix(scan.Text(), "\r")
		if strings.HasPrefix(l, ".") {
			l = "." + l
		}
		sc.bw.WriteString(l + "\r\n")
	}
	if err := scan.Err(); err != nil {
		return nil, err
	}
	r, err = sc.cmd(".")
	if err != nil {
		return nil, err
	}
	for i := range res {
		if res[i].Code/100 == 2 {
			res[i] = r
		}
	}
	return res, nil
}

func parseReply(l string) (Result, error) {
	l = strings.TrimRight(l, "\r\n")
	if len(l) < 3 {
		return Result{}, fmt.Errorf("short reply %q", l)
	}
	var r Result
	if _, err := fmt.Sscanf(l[:3], "%d", &r.Code); err != nil {
		return Result{}, fmt.Errorf("bad reply %q", l)
	}
	rest := strings.TrimSpace(l[3:])
	if f, t, ok := strings.Cut(rest, " "); ok && enhancedRE.MatchString(f) {
		r.Enhanced, rest = f, t
	}
	r.Text = rest
	return r, nil
}

// sinkRoute routes every recipient to s.
func sinkRoute(s *sink) func(string) (string, error) {
	return func(string) (string, error) { return "smtp:" + s.addr, nil }
}

// memCourier delivers in memory; deliver scripts it (nil: all 250).
type memCourier struct {
	deliver func(route, from string, rcpts []string, body []byte) ([]Result, error)

	mu   sync.Mutex
	got  []sunk
	done chan string // receives the first recipient of each delivery, if set
}

func (c *memCourier) Route(rcpt string) (string, error) {
	_, dom, _ := strings.Cut(rcpt, "@")
	return "mem:" + dom, nil
}

func (c *memCourier) Deliver(ctx context.Context, route, from string, rcpts []string, msg io.Reader) ([]Result, error) {
	body, err := io.ReadAll(msg)
	if err != nil {
		return nil, err
	}
	var res []Result
	if c.deliver != nil {
		res, err = c.deliver(route, from, rcpts, body)
	} else {
		res = make([]Result, len(rcpts))
		for i := range res {
			res[i] = Result{Code: 250, Enhanced: "2.0.0", Text: "ok"}
		}
	}
	if err == nil {
		c.mu.Lock()
		c.got = append(c.got, sunk{From: from, Rcpts: rcpts, Data: body})
		c.mu.Unlock()
		if c.done != nil {
			c.done <- rcpts[0]
		}
	}
	return res, err
}

func (c *memCourier) deliveries() []sunk {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]sunk(nil), c.got...)
}

// testMessage is a small message with a subject.
func testMessage(subject string) string {
	return "From: <alice@src.example>\r\nTo: <bob@dst.example>\r\nSubject: " + subject +
		"\r\nMessage-ID: <" + subject + "@src.example>\r\n\r\nHello.\r\n.leading dot\r\n"
}

// openQueue opens a queue in dir with test defaults and closes it at the
// end of the test.
func openQueue(t testing.TB, opt Options) *Queue {
	t.Helper()
	if opt.Hostname == "" {
		opt.Hostname = "mx.test.example"
	}
	if opt.Jitter == nil {
		opt.Jitter = func() float64 { return 0.5 } // backoff exactly MinBackoff·2ⁿ
	}
	q, err := Open(context.Background(), opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		q.Close(ctx)
	})
	return q
}

// queued returns the number of queued messages.
func queued(q *Queue) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.msgs)
}

// waitDeferred waits until n messages wait for a retry.
func waitDeferred(t testing.TB, q *Queue, n int) {
	t.Helper()
	eventually(t, fmt.Sprintf("%d deferred messages", n), func() bool {
		_, c, _ := q.List(context.Background())
		return c.Deferred == n
	})
}

// enqueue queues a message or fails the test.
func enqueue(t testing.TB, q *Queue, env Envelope, body string) string {
	t.Helper()
	id, err := q.Enqueue(context.Background(), env, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return id
}
