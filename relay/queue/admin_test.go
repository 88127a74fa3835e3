package queue

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestAdmin(t *testing.T) {
	dir := t.TempDir()
	s := newSink(t)
	s.down()
	clock := newClock()
	opt := Options{Dir: dir, Courier: &smtpCourier{route: sinkRoute(s)}, Now: clock.Now, Hostname: "h",
		Jitter: func() float64 { return 0.5 }}
	q, err := Open(context.Background(), opt)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	a := enqueue(t, q, Envelope{ID: "a", From: "alice@src.example", Rcpts: []string{"bob@dst.example"},
		DSN: DSNOptions{Ret: "full", EnvID: "E"}}, testMessage("first"))
	clock.Advance(time.Second)
	b := enqueue(t, q, Envelope{ID: "b", From: "carol@src.example", Rcpts: []string{"dan@dst.example", "eve@dst.example"}}, testMessage("second"))
	waitDeferred(t, q, 2)

	t.Run("list", func(t *testing.T) {
		list, c, err := q.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 2 || list[0].ID != a || list[1].ID != b {
			t.Fatalf("list = %+v, want a then b", list)
		}
		if c.Messages != 2 || c.Deferred != 2 || c.Active != 0 || c.Recipients[Pending] != 3 {
			t.Errorf("counts = %+v", c)
		}
		if list[0].Age != time.Second || list[0].Size != int64(len(testMessage("first"))) || list[0].Attempts != 1 ||
			list[0].State != "deferred" || !strings.Contains(list[0].LastError, "refused") {
			t.Errorf("summary = %+v", list[0])
		}
		if len(list[1].Rcpts) != 2 || list[1].Rcpts[1].Addr != "eve@dst.example" || list[1].Rcpts[1].State != Pending ||
			!list[1].Rcpts[1].NextAttempt.Equal(clock.Now().Add(time.Minute)) {
			t.Errorf("recipients = %+v", list[1].Rcpts)
		}
	})
	t.Run("show", func(t *testing.T) {
		d, err := q.Show(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		if d.Ret != "FULL" || d.EnvID != "E" || d.From != "alice@src.example" ||
			!strings.HasPrefix(d.Headers, "From: <alice@src.example>\r\n") || strings.Contains(d.Headers, "Hello") {
			t.Errorf("detail = %+v", d)
		}
		if _, err := q.Show(ctx, "nope"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Show(nope) = %v", err)
		}
	})
	t.Run("delete", func(t *testing.T) {
		if err := q.Delete(ctx, b); err != nil {
			t.Fatal(err)
		}
		if err := q.Delete(ctx, b); !errors.Is(err, ErrNotFound) {
			t.Errorf("second Delete = %v", err)
		}
		if _, c, _ := q.List(ctx); c.Messages != 1 {
			t.Errorf("counts after delete = %+v", c)
		}
	})
	if err := q.Close(ctx); err != nil {
		t.Fatal(err)
	}

	// The deletion survives a restart; "retry all" delivers the rest now
	// rather than at its next attempt.
	s.up()
	q = openQueue(t, opt)
	if _, c, _ := q.List(ctx); c.Messages != 1 {
		t.Fatalf("after restart: %+v", c)
	}
	if _, c, _ := q.List(ctx); c.Deferred != 1 {
		t.Fatalf("not deferred before retry: %+v", c)
	}
	n, err := q.Retry(ctx, "all")
	if err != nil || n != 1 {
		t.Fatalf("Retry(all) = %d, %v", n, err)
	}
	eventually(t, "delivery", func() bool { return queued(q) == 0 })
	if s.count("bob@dst.example") != 1 || s.count("dan@dst.example") != 0 {
		t.Errorf("received = %+v", s.received())
	}
	if _, err := q.Retry(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Retry(nope) = %v", err)
	}
}

func TestReadOnly(t *testing.T) {
	dir := t.TempDir()
	q := openQueue(t, Options{Dir: dir}) // no courier: stored only
	enqueue(t, q, Envelope{ID: "x", From: "a@src.example", Rcpts: []string{"b@dst.example"}}, testMessage("ro"))
	ro, err := Open(context.Background(), Options{Dir: dir, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close(context.Background())
	list, c, err := ro.List(context.Background())
	if err != nil || len(list) != 1 || list[0].ID != "x" || c.Messages != 1 {
		t.Fatalf("read-only List = %+v %+v %v", list, c, err)
	}
	if d, err := ro.Show(context.Background(), "x"); err != nil || !strings.Contains(d.Headers, "Subject: ro") {
		t.Errorf("read-only Show = %+v, %v", d, err)
	}
	if err := ro.Delete(context.Background(), "x"); !errors.Is(err, ErrReadOnly) {
		t.Errorf("read-only Delete = %v", err)
	}
	if _, err := ro.Enqueue(context.Background(), Envelope{Rcpts: []string{"b@dst.example"}}, strings.NewReader("x")); !errors.Is(err, ErrReadOnly) {
		t.Errorf("read-only Enqueue = %v", err)
	}
	none, err := Open(context.Background(), Options{Dir: filepath.Join(dir, "missing"), ReadOnly: true})
	if err != nil {
		t.Fatalf("read-only Open of a missing queue: %v", err)
	}
	if list, c, err := none.List(context.Background()); len(list) != 0 || c.Messages != 0 || err != nil {
		t.Errorf("missing queue lists %v %+v %v", list, c, err)
	}
	none.Close(context.Background())
}

func TestCompaction(t *testing.T) {
	dir := t.TempDir()
	c := &memCourier{deliver: func(_, _ string, rcpts []string, _ []byte) ([]Result, error) {
		if rcpts[0] == "stuck@dst.example" {
			return []Result{{Code: 451, Enhanced: "4.2.1", Text: "later"}}, nil
		}
		return []Result{{Code: 250}}, nil
	}}
	clock := newClock()
	opt := Options{Dir: dir, Courier: c, Now: clock.Now, SegmentSize: 8 << 10}
	q := openQueue(t, opt)
	enqueue(t, q, Envelope{ID: "stuck", From: "a@src.example", Rcpts: []string{"stuck@dst.example"}}, testMessage("stuck"))
	big := testMessage("filler") + strings.Repeat("x", 2000) + "\r\n"
	for range 200 {
		enqueue(t, q, Envelope{From: "a@src.example", Rcpts: []string{"ok@dst.example"}}, big)
	}
	eventually(t, "deliveries", func() bool { return queued(q) == 1 })
	segs := func() int {
		m, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
		return len(m)
	}
	q.kickCompactor()
	eventually(t, "compaction", func() bool { return segs() <= 3 })
	if st := q.Stats(); st.LogBytes > 3*opt.SegmentSize+4096 {
		t.Errorf("log holds %d bytes for one small message", st.LogBytes)
	}
	q.Close(context.Background())

	// The copied message is still there, with its state, after a restart.
	q = openQueue(t, opt)
	list, _, err := q.List(context.Background())
	if err != nil || len(list) != 1 || list[0].ID != "stuck" || list[0].Attempts != 1 {
		t.Fatalf("after restart: %+v, %v", list, err)
	}
	d, err := q.Show(context.Background(), "stuck")
	if err != nil || !strings.Contains(d.Headers, "Subject: stuck") {
		t.Errorf("Show = %+v, %v", d, err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "0000000000000001.seg")); err == nil {
		t.Errorf("first segment still there (%d bytes)", fi.Size())
	}
}

func TestDeleteThenReuseID(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	inDeliver := make(chan struct{}, 1)
	release := make(chan struct{})
	c := &memCourier{deliver: func(_, _ string, rcpts []string, body []byte) ([]Result, error) {
		if rcpts[0] == "slow@dst.example" {
			inDeliver <- struct{}{}
			<-release
		}
		return []Result{{Code: 451, Text: "later"}}, nil
	}}
	opt := Options{Dir: dir, Courier: c}
	q, err := Open(ctx, opt)
	if err != nil {
		t.Fatal(err)
	}
	enqueue(t, q, Envelope{ID: "x", From: "a@src.example", Rcpts: []string{"b@dst.example"}}, testMessage("old-x"))
	waitDeferred(t, q, 1)
	if err := q.Delete(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	if id := enqueue(t, q, Envelope{ID: "x", From: "a@src.example", Rcpts: []string{"b@dst.example"}}, testMessage("new-x")); id != "x" {
		t.Errorf("id of an idle deleted message not reused: %q", id)
	}

	// Deleted while its delivery is in flight: the id stays taken until
	// the delivery is over, so that its late records cannot touch a new
	// message.
	enqueue(t, q, Envelope{ID: "y", From: "a@src.example", Rcpts: []string{"slow@dst.example"}}, testMessage("old-y"))
	<-inDeliver
	if err := q.Delete(ctx, "y"); err != nil {
		t.Fatal(err)
	}
	y2 := enqueue(t, q, Envelope{ID: "y", From: "a@src.example", Rcpts: []string{"c@dst.example"}}, testMessage("new-y"))
	if y2 == "y" {
		t.Error("id of a busy deleted message reused")
	}
	close(release)
	waitDeferred(t, q, 2)
	q.Close(ctx)

	q = openQueue(t, Options{Dir: dir})
	list, _, _ := q.List(ctx)
	subjects := map[string]string{}
	for _, s := range list {
		d, err := q.Show(ctx, s.ID)
		if err != nil {
			t.Fatal(err)
		}
		_, subj, _ := strings.Cut(d.Headers, "Subject: ")
		subjects[s.ID], _, _ = strings.Cut(subj, "\r\n")
	}
	if len(subjects) != 2 || subjects["x"] != "new-x" || subjects[y2] != "new-y" {
		t.Errorf("after restart: %v", subjects)
	}
}
