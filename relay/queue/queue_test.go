package queue

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestDeliverOK(t *testing.T) {
	s := newSink(t)
	q := openQueue(t, Options{Dir: t.TempDir(), Courier: &smtpCourier{route: sinkRoute(s)}})
	body := testMessage("hello")
	id := enqueue(t, q, Envelope{ID: "txn-1", From: "alice@src.example", Rcpts: []string{"bob@dst.example", "carol@dst.example", "bob@dst.example"}}, body)
	if id != "txn-1" {
		t.Errorf("id = %q, want the transaction id", id)
	}
	eventually(t, "delivery", func() bool { return queued(q) == 0 })
	got := s.received()
	if len(got) != 1 {
		t.Fatalf("sink got %d messages, want 1 transaction", len(got))
	}
	if got[0].From != "alice@src.example" || strings.Join(got[0].Rcpts, ",") != "bob@dst.example,carol@dst.example" {
		t.Errorf("envelope = %q → %q", got[0].From, got[0].Rcpts)
	}
	if string(got[0].Data) != body {
		t.Errorf("data = %q, want %q", got[0].Data, body)
	}
	if st := q.Stats(); st.Delivered != 2 || st.Enqueued != 1 || st.Messages != 0 {
		t.Errorf("stats = %+v", st)
	}
}

func TestEnqueueIDs(t *testing.T) {
	q := openQueue(t, Options{Dir: t.TempDir()})
	env := Envelope{ID: "same", From: "a@x.example", Rcpts: []string{"b@y.example"}}
	a := enqueue(t, q, env, "Subject: a\r\n\r\na\r\n")
	b := enqueue(t, q, env, "Subject: b\r\n\r\nb\r\n")
	env.ID = ""
	c := enqueue(t, q, env, "Subject: c\r\n\r\nc\r\n")
	if a != "same" || b == a || c == "" || c == a || c == b {
		t.Errorf("ids = %q %q %q, want distinct, the first as asked", a, b, c)
	}
	for name, env := range map[string]Envelope{
		"no recipients": {From: "a@x.example"},
		"CRLF in rcpt":  {From: "a@x.example", Rcpts: []string{"b@y.example\r\nRCPT TO:<c@z>"}},
		"empty rcpt":    {From: "a@x.example", Rcpts: []string{""}},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := q.Enqueue(context.Background(), env, strings.NewReader("x")); err == nil {
				t.Error("accepted")
			}
		})
	}
}

func TestRetryAfter4xx(t *testing.T) {
	s := newSink(t)
	clock := newClock()
	var mu sync.Mutex
	tries := 0
	s.setRcptReply(func(string) string {
		mu.Lock()
		defer mu.Unlock()
		tries++
		if tries == 1 {
			return "451 4.3.0 try later"
		}
		return "250 2.1.5 ok"
	})
	q := openQueue(t, Options{Dir: t.TempDir(), Courier: &smtpCourier{route: sinkRoute(s)},
		Now: clock.Now, MinBackoff: time.Minute, MaxBackoff: time.Hour})
	id := enqueue(t, q, Envelope{From: "alice@src.example", Rcpts: []string{"bob@dst.example"}}, testMessage("retry"))
	waitDeferred(t, q, 1)

	list, counts, err := q.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || counts.Deferred != 1 {
		t.Fatalf("list = %+v, counts = %+v", list, counts)
	}
	m := list[0]
	wantNext := clock.Now().Add(time.Minute)
	if m.ID != id || m.Attempts != 1 || !m.NextAttempt.Equal(wantNext) || m.LastError != "451 4.3.0 try later" {
		t.Errorf("summary = %+v, want 1 attempt, next at %v, the 451", m, wantNext)
	}

	clock.Advance(59 * time.Second)
	q.Kick()
	if n, _, _ := q.List(context.Background()); len(n) != 1 || s.count("bob@dst.example") != 0 {
		t.Fatal("retried before its time")
	}
	clock.Advance(time.Second)
	q.Kick()
	eventually(t, "retry", func() bool { return queued(q) == 0 })
	if n := s.count("bob@dst.example"); n != 1 {
		t.Errorf("delivered %d times, want 1", n)
	}
}

func TestBackoff(t *testing.T) {
	tests := []struct {
		name     string
		attempts int
		jitter   float64
		want     time.Duration
	}{
		{"first, no jitter", 1, 0.5, time.Minute},
		{"second doubles", 2, 0.5, 2 * time.Minute},
		{"fifth", 5, 0.5, 16 * time.Minute},
		{"capped", 20, 0.5, time.Hour},
		{"low jitter kept above min", 1, 0, time.Minute},
		{"high jitter", 3, 0.99, time.Duration(float64(4*time.Minute) * 1.49)},
		{"high jitter capped", 7, 0.99, time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := &Queue{opt: Options{MinBackoff: time.Minute, MaxBackoff: time.Hour, Jitter: func() float64 { return tt.jitter }}}
			if got := q.backoff(tt.attempts); got != tt.want {
				t.Errorf("backoff(%d) = %v, want %v", tt.attempts, got, tt.want)
			}
		})
	}
}

func TestOneOfThreeRefused(t *testing.T) {
	s := newSink(t)
	s.setRcptReply(func(r string) string {
		if r == "bob@dst.example" {
			return "550 5.1.1 no such user"
		}
		return "250 2.1.5 ok"
	})
	q := openQueue(t, Options{Dir: t.TempDir(), Courier: &smtpCourier{route: sinkRoute(s)}})
	id := enqueue(t, q, Envelope{ID: "t3", From: "alice@src.example",
		Rcpts: []string{"ann@dst.example", "bob@dst.example", "cat@dst.example"}}, testMessage("three"))
	eventually(t, "delivery and DSN", func() bool { return queued(q) == 0 && s.count("alice@src.example") == 1 })

	for _, r := range []string{"ann@dst.example", "cat@dst.example"} {
		if n := s.count(r); n != 1 {
			t.Errorf("%s got %d copies, want 1", r, n)
		}
	}
	if n := s.count("bob@dst.example"); n != 0 {
		t.Errorf("bob got %d copies", n)
	}
	var dsns []sunk
	for _, m := range s.received() {
		if m.From == "" {
			dsns = append(dsns, m)
		}
	}
	if len(dsns) != 1 {
		t.Fatalf("%d DSNs, want 1", len(dsns))
	}
	rep := parseDSN(t, dsns[0].Data)
	if len(rep.rcpts) != 1 || rep.rcpts[0]["Final-Recipient"] != "rfc822; bob@dst.example" {
		t.Fatalf("DSN recipients = %v, want bob only", rep.rcpts)
	}
	if got := rep.rcpts[0]["Status"]; got != "5.1.1" {
		t.Errorf("Status = %q", got)
	}
	if got := rep.rcpts[0]["Diagnostic-Code"]; got != "smtp; 550 5.1.1 no such user" {
		t.Errorf("Diagnostic-Code = %q", got)
	}
	if got := rep.fields["X-Moat-Queue-Id"]; got != id {
		t.Errorf("queue id in DSN = %q", got)
	}
	st := q.Stats()
	if st.Delivered != 3 || st.Bounced != 1 || st.DSNs != 1 {
		t.Errorf("stats = %+v, want 3 delivered (2 + the DSN), 1 bounced, 1 DSN", st)
	}
}

func TestDownThenUp(t *testing.T) {
	s := newSink(t)
	s.down()
	clock := newClock()
	q := openQueue(t, Options{Dir: t.TempDir(), Courier: &smtpCourier{route: sinkRoute(s)}, Now: clock.Now})
	enqueue(t, q, Envelope{From: "alice@src.example", Rcpts: []string{"bob@dst.example"}}, testMessage("down"))
	waitDeferred(t, q, 1)
	list, _, _ := q.List(context.Background())
	if len(list) != 1 || !strings.HasPrefix(list[0].LastError, "451 4.4.1 ") || !strings.Contains(list[0].LastError, "refused") {
		t.Fatalf("list = %+v, want the connection error", list)
	}
	s.up()
	clock.Advance(time.Minute)
	q.Kick()
	eventually(t, "delivery", func() bool { return queued(q) == 0 })
	if n := s.count("bob@dst.example"); n != 1 {
		t.Errorf("delivered %d times", n)
	}
}

func TestRouteDown(t *testing.T) {
	var calls atomic.Int32
	c := &memCourier{deliver: func(string, string, []string, []byte) ([]Result, error) {
		calls.Add(1)
		return nil, errors.New("dial tcp 127.0.0.1:25: connection refused")
	}}
	clock := newClock()
	q := openQueue(t, Options{Dir: t.TempDir(), Courier: c, Now: clock.Now})
	enqueue(t, q, Envelope{From: "a@src.example", Rcpts: []string{"b@dst.example"}}, testMessage("1"))
	waitDeferred(t, q, 1)
	for i := range 4 {
		enqueue(t, q, Envelope{From: "a@src.example", Rcpts: []string{"b@dst.example"}}, testMessage(fmt.Sprint(i)))
	}
	waitDeferred(t, q, 5)
	if n := calls.Load(); n != 1 {
		t.Errorf("%d transactions tried on a route that just failed, want 1", n)
	}
	list, _, _ := q.List(context.Background())
	for _, m := range list {
		if !strings.Contains(m.LastError, "connection refused") || m.Attempts != 1 {
			t.Errorf("%s: %d attempts, last error %q", m.ID, m.Attempts, m.LastError)
		}
	}
	clock.Advance(time.Minute)
	q.Kick()
	eventually(t, "new attempts", func() bool { return calls.Load() > 1 })
}

func TestMaxAge(t *testing.T) {
	s := newSink(t)
	s.setRcptReply(func(r string) string {
		if strings.HasSuffix(r, "@dst.example") {
			return "452 4.2.2 mailbox full"
		}
		return "250 2.1.5 ok"
	})
	clock := newClock()
	q := openQueue(t, Options{Dir: t.TempDir(), Courier: &smtpCourier{route: sinkRoute(s)}, Now: clock.Now,
		MaxAge: 3 * time.Hour, MinBackoff: time.Minute, MaxBackoff: time.Hour})
	enqueue(t, q, Envelope{From: "alice@src.example", Rcpts: []string{"bob@dst.example"}, Received: clock.Now(),
		DSN: DSNOptions{EnvID: "env-42"}}, testMessage("old"))
	// Attempts at 0, 1m, 3m, 7m, 15m, 31m, 63m, 123m, then capped at the
	// deadline (180m): 9 attempts.
	for i := 0; i < 100 && queued(q) > 0; i++ {
		want := q.Stats().Deferred + 1
		eventually(t, "attempt", func() bool { return q.Stats().Deferred >= want || q.Stats().Expired > 0 })
		list, _, _ := q.List(context.Background())
		if len(list) == 0 || list[0].Rcpts[0].State != Pending {
			break
		}
		if next := list[0].NextAttempt; next.After(clock.Now().Add(3 * time.Hour)) {
			t.Fatalf("next attempt %v after the deadline", next)
		}
		clock.Advance(list[0].NextAttempt.Sub(clock.Now()))
		q.Kick()
	}
	eventually(t, "DSN", func() bool { return queued(q) == 0 && s.count("alice@src.example") == 1 })
	st := q.Stats()
	if st.Expired != 1 || st.Deferred != 8 {
		t.Errorf("stats = %+v, want 8 deferrals then expiry", st)
	}
	var dsn sunk
	for _, m := range s.received() {
		if m.From == "" {
			dsn = m
		}
	}
	rep := parseDSN(t, dsn.Data)
	if len(rep.rcpts) != 1 {
		t.Fatalf("DSN recipients = %v", rep.rcpts)
	}
	r := rep.rcpts[0]
	if r["Action"] != "failed" || r["Status"] != "4.2.2" || r["Diagnostic-Code"] != "smtp; 452 4.2.2 mailbox full" {
		t.Errorf("DSN recipient fields = %v", r)
	}
	if rep.fields["Original-Envelope-Id"] != "env-42" {
		t.Errorf("per-message fields = %v", rep.fields)
	}
}

func TestNoBounce(t *testing.T) {
	tests := []struct {
		name string
		env  Envelope
	}{
		{"null sender", Envelope{From: "", Rcpts: []string{"bob@dst.example"}}},
		{"spam", Envelope{From: "alice@src.example", Spam: true, Rcpts: []string{"bob@dst.example"}}},
		{"notify never", Envelope{From: "alice@src.example", Rcpts: []string{"bob@dst.example"},
			DSN: DSNOptions{Rcpts: []RcptOptions{{Notify: []string{"NEVER"}}}}}},
		{"notify success only", Envelope{From: "alice@src.example", Rcpts: []string{"bob@dst.example"},
			DSN: DSNOptions{Rcpts: []RcptOptions{{Notify: []string{"SUCCESS"}}}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &memCourier{deliver: func(_, _ string, rcpts []string, _ []byte) ([]Result, error) {
				return nil, &DeliveryError{Code: 550, Enhanced: "5.7.1", Text: "go away"}
			}}
			q := openQueue(t, Options{Dir: t.TempDir(), Courier: c})
			enqueue(t, q, tt.env, testMessage("nb"))
			eventually(t, "failure", func() bool { return queued(q) == 0 })
			st := q.Stats()
			if st.Dropped != 1 || st.DSNs != 0 || st.Bounced != 0 {
				t.Errorf("stats = %+v, want dropped, no DSN", st)
			}
		})
	}
	t.Run("a failing DSN is not bounced", func(t *testing.T) {
		c := &memCourier{deliver: func(_, _ string, rcpts []string, _ []byte) ([]Result, error) {
			return []Result{{Code: 550, Enhanced: "5.1.1", Text: "unknown"}}, nil
		}}
		q := openQueue(t, Options{Dir: t.TempDir(), Courier: c})
		enqueue(t, q, Envelope{From: "alice@src.example", Rcpts: []string{"bob@dst.example"}}, testMessage("x"))
		eventually(t, "failure", func() bool { return queued(q) == 0 && q.Stats().Dropped == 1 })
		if st := q.Stats(); st.DSNs != 1 || st.Bounced != 1 {
			t.Errorf("stats = %+v, want one DSN, itself dropped", st)
		}
	})
}

func TestRouteErrors(t *testing.T) {
	c := &memCourier{}
	routes := &routeCourier{memCourier: c, err: map[string]error{
		"temp@dst.example": errors.New("no MX yet"),
		"perm@dst.example": &DeliveryError{Code: 550, Enhanced: "5.1.2", Text: "no such domain"},
	}}
	clock := newClock()
	q := openQueue(t, Options{Dir: t.TempDir(), Courier: routes, Now: clock.Now})
	enqueue(t, q, Envelope{From: "alice@src.example", Rcpts: []string{"ok@dst.example", "temp@dst.example", "perm@dst.example"}}, testMessage("r"))
	eventually(t, "attempts", func() bool {
		st := q.Stats()
		return st.Delivered >= 1 && st.Deferred == 1 && st.DSNs == 1
	})
	d, err := q.Show(context.Background(), enqueueIDOf(t, q, "alice@src.example"))
	if err != nil {
		t.Fatal(err)
	}
	states := map[string]State{}
	for _, r := range d.Rcpts {
		states[r.Addr] = r.State
	}
	if states["ok@dst.example"] != Delivered || states["temp@dst.example"] != Pending || states["perm@dst.example"] != Bounced {
		t.Errorf("states = %v", states)
	}
}

// routeCourier fails Route for some recipients.
type routeCourier struct {
	*memCourier
	err map[string]error
}

func (c *routeCourier) Route(rcpt string) (string, error) {
	if err := c.err[rcpt]; err != nil {
		return "", err
	}
	return c.memCourier.Route(rcpt)
}

// enqueueIDOf finds the queued message from sender.
func enqueueIDOf(t *testing.T, q *Queue, from string) string {
	t.Helper()
	list, _, err := q.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range list {
		if s.From == from {
			return s.ID
		}
	}
	t.Fatalf("no message from %q queued", from)
	return ""
}

func TestPerRouteLimit(t *testing.T) {
	release := make(chan struct{})
	var mu sync.Mutex
	active, peak := map[string]int{}, map[string]int{}
	c := &memCourier{deliver: func(route, _ string, rcpts []string, _ []byte) ([]Result, error) {
		mu.Lock()
		active[route]++
		peak[route] = max(peak[route], active[route])
		mu.Unlock()
		<-release
		mu.Lock()
		active[route]--
		mu.Unlock()
		return []Result{{Code: 250}}, nil
	}}
	q := openQueue(t, Options{Dir: t.TempDir(), Courier: c, Workers: 8, PerRoute: 2})
	for i := range 6 {
		enqueue(t, q, Envelope{From: "a@src.example", Rcpts: []string{"x@one.example"}}, testMessage("p"))
		if i < 3 {
			enqueue(t, q, Envelope{From: "a@src.example", Rcpts: []string{"y@two.example"}}, testMessage("p"))
		}
	}
	eventually(t, "both routes busy", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return active["mem:one.example"] == 2 && active["mem:two.example"] == 2
	})
	close(release)
	eventually(t, "all delivered", func() bool { return queued(q) == 0 })
	if peak["mem:one.example"] != 2 || peak["mem:two.example"] != 2 {
		t.Errorf("peak concurrency = %v, want 2 per route", peak)
	}
}

func TestRestartResumes(t *testing.T) {
	dir := t.TempDir()
	s := newSink(t)
	s.setRcptReply(func(r string) string {
		if r == "later@dst.example" {
			return "451 4.3.0 not now"
		}
		return "250 2.1.5 ok"
	})
	clock := newClock()
	q, err := Open(context.Background(), Options{Dir: dir, Courier: &smtpCourier{route: sinkRoute(s)}, Now: clock.Now, Hostname: "h"})
	if err != nil {
		t.Fatal(err)
	}
	enqueue(t, q, Envelope{ID: "a", From: "alice@src.example", Rcpts: []string{"now@dst.example", "later@dst.example"}}, testMessage("a"))
	waitDeferred(t, q, 1)
	if err := q.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	ro, err := Open(context.Background(), Options{Dir: dir, ReadOnly: true})
	if err != nil {
		t.Fatalf("read-only open: %v", err)
	}
	if list, _, _ := ro.List(context.Background()); len(list) != 1 || list[0].Rcpts[0].State != Delivered || list[0].Rcpts[1].State != Pending {
		t.Errorf("read-only list = %+v", list)
	}
	ro.Close(context.Background())

	// Reopen with the downstream accepting everything, later.
	s.setRcptReply(nil)
	clock.Advance(2 * time.Minute)
	q = openQueue(t, Options{Dir: dir, Courier: &smtpCourier{route: sinkRoute(s)}, Now: clock.Now})
	eventually(t, "resumed delivery", func() bool { return queued(q) == 0 })
	if a, b := s.count("now@dst.example"), s.count("later@dst.example"); a != 1 || b != 1 {
		t.Errorf("copies: now=%d later=%d, want 1 each (no resend to the delivered one)", a, b)
	}
}

func TestTornTail(t *testing.T) {
	tests := []struct {
		name string
		tail func(valid []byte) []byte // appended to the segment
	}{
		{"partial header", func([]byte) []byte { return []byte{0x40, 0} }},
		{"zeros", func([]byte) []byte { return make([]byte, 4096) }},
		{"bad CRC", func(valid []byte) []byte {
			// A copy of the segment's last record with a flipped byte.
			rec := append([]byte(nil), valid...)
			rec[len(rec)-1] ^= 0xff
			return rec
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			q, err := Open(context.Background(), Options{Dir: dir, Hostname: "h"})
			if err != nil {
				t.Fatal(err)
			}
			enqueue(t, q, Envelope{ID: "keep", From: "a@src.example", Rcpts: []string{"b@dst.example"}}, testMessage("k"))
			q.mu.Lock()
			m := q.msgs["keep"]
			off, end := m.seg.f, m.bodyOff+m.bodySize
			start := end - m.recSize
			q.mu.Unlock()
			valid := make([]byte, end-start)
			if _, err := off.ReadAt(valid, start); err != nil {
				t.Fatal(err)
			}
			q.Close(context.Background())
			path := filepath.Join(dir, "0000000000000001.seg")
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.Write(tt.tail(valid))
			f.Close()

			c := &memCourier{}
			q = openQueue(t, Options{Dir: dir, Courier: c})
			eventually(t, "delivery", func() bool { return queued(q) == 0 })
			if got := c.deliveries(); len(got) != 1 || got[0].Rcpts[0] != "b@dst.example" {
				t.Errorf("delivered %v", got)
			}
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Size() < end || fi.Size() > end+2048 {
				t.Errorf("segment size %d after reopen, want the torn tail cut at %d and new records", fi.Size(), end)
			}
		})
	}
}

func TestLocked(t *testing.T) {
	dir := t.TempDir()
	openQueue(t, Options{Dir: dir})
	if _, err := Open(context.Background(), Options{Dir: dir}); !errors.Is(err, ErrLocked) {
		t.Errorf("second Open: %v, want ErrLocked", err)
	}
}

// failingReader returns n bytes of x, then an error.
type failingReader struct{ n int }

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, errors.New("client went away")
	}
	k := min(len(p), r.n)
	for i := range p[:k] {
		p[i] = 'x'
	}
	r.n -= k
	return k, nil
}

func TestEnqueueBody(t *testing.T) {
	large := testMessage("large") + strings.Repeat("0123456789abcdef\r\n", 20000) // 360 KB: streamed
	tests := []struct {
		name    string
		body    func() io.Reader
		wantErr bool
		want    string
	}{
		{"small", func() io.Reader { return strings.NewReader(testMessage("s")) }, false, testMessage("s")},
		{"large", func() io.Reader { return strings.NewReader(large) }, false, large},
		{"empty", func() io.Reader { return strings.NewReader("") }, false, ""},
		{"error in the first chunk", func() io.Reader { return &failingReader{n: 100} }, true, ""},
		{"error while streaming", func() io.Reader { return &failingReader{n: 300 << 10} }, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			q, err := Open(context.Background(), Options{Dir: dir, Hostname: "h"})
			if err != nil {
				t.Fatal(err)
			}
			_, err = q.Enqueue(context.Background(), Envelope{ID: "m", From: "a@src.example", Rcpts: []string{"b@dst.example"}}, tt.body())
			if (err != nil) != tt.wantErr {
				t.Fatalf("Enqueue error = %v, want error %v", err, tt.wantErr)
			}
			// The log goes on after a failed write.
			enqueue(t, q, Envelope{ID: "after", From: "a@src.example", Rcpts: []string{"b@dst.example"}}, testMessage("after"))
			q.Close(context.Background())

			c := &memCourier{}
			q = openQueue(t, Options{Dir: dir, Courier: c})
			eventually(t, "deliveries", func() bool { return queued(q) == 0 })
			got := map[string]string{}
			for _, d := range c.deliveries() {
				got[subjectOf(d.Data)] = string(d.Data)
			}
			wantN := 2
			if tt.wantErr {
				wantN = 1
			}
			if len(c.deliveries()) != wantN || got["after"] != testMessage("after") {
				t.Fatalf("delivered %d messages (%v), want %d", len(c.deliveries()), len(got), wantN)
			}
			if !tt.wantErr {
				found := false
				for _, d := range c.deliveries() {
					found = found || string(d.Data) == tt.want
				}
				if !found {
					t.Errorf("message not delivered intact")
				}
			}
		})
	}
}

func TestCloseInFlight(t *testing.T) {
	dir := t.TempDir()
	started := make(chan struct{})
	q, err := Open(context.Background(), Options{Dir: dir, Hostname: "h", Courier: &ctxCourier{&memCourier{}, started}})
	if err != nil {
		t.Fatal(err)
	}
	enqueue(t, q, Envelope{ID: "m", From: "a@src.example", Rcpts: []string{"b@dst.example"}}, testMessage("m"))
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := q.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Close = %v, want the deadline", err)
	}
	m := &memCourier{}
	q = openQueue(t, Options{Dir: dir, Courier: m})
	eventually(t, "delivery after restart", func() bool { return queued(q) == 0 })
	if d := m.deliveries(); len(d) != 1 {
		t.Errorf("delivered %d times", len(d))
	}
}

// ctxCourier blocks in Deliver until the queue cancels the context.
type ctxCourier struct {
	*memCourier
	started chan struct{}
}

func (c *ctxCourier) Deliver(ctx context.Context, route, from string, rcpts []string, msg io.Reader) ([]Result, error) {
	close(c.started)
	<-ctx.Done()
	return nil, ctx.Err()
}
