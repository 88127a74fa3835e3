package state_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/moatmail/moat/filter/state"
	"github.com/moatmail/moat/filter/state/statetest"
)

func openEmbedded(t *testing.T, dir string, clock *statetest.Clock) *state.Embedded {
	t.Helper()
	// A flush interval far longer than the test: commits happen only on
	// Flush and Close, when the test says so.
	s, err := state.OpenEmbedded(state.EmbeddedOptions{Dir: dir, Now: clock.Now, FlushInterval: time.Hour, SweepInterval: time.Hour, LockTimeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatalf("OpenEmbedded: %v", err)
	}
	return s
}

func mustDo(t *testing.T, s state.Store, ops ...*state.Op) {
	t.Helper()
	if err := s.Do(context.Background(), ops...); err != nil {
		t.Fatalf("Do: %v", err)
	}
}

func scanAll(t *testing.T, s state.Store, prefix string) []string {
	t.Helper()
	var keys []string
	if err := s.Scan(context.Background(), prefix, func(k string) error {
		keys = append(keys, k)
		return nil
	}); err != nil {
		t.Fatalf("Scan: %v", err)
	}
	return keys
}

func TestEmbeddedSurvivesRestart(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		flush bool // Flush before Close (Close alone must be enough)
	}{
		{"close commits the buffer", false},
		{"flush then close", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			clock := statetest.NewClock(epoch)
			s := openEmbedded(t, dir, clock)
			mustDo(t, s, state.Set("keep", []byte("v"), 0), state.Set("short", []byte("x"), time.Minute),
				state.HIncrBy("h", map[string]int64{"a": 2}, 0), state.Set("gone", nil, 0))
			if tt.flush {
				if err := s.Flush(); err != nil {
					t.Fatalf("Flush: %v", err)
				}
			}
			mustDo(t, s, state.Del("gone"))
			if err := s.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if err := s.Close(); err != nil {
				t.Fatalf("second Close: %v", err)
			}

			clock.Advance(time.Minute) // "short" expires while the store is closed
			s = openEmbedded(t, dir, clock)
			defer s.Close()
			keep, short, h := state.Get("keep"), state.Get("short"), state.HMGet("h", "a")
			mustDo(t, s, keep, short, h)
			if string(keep.Bytes()) != "v" || short.Found() || h.Ints()[0] != 2 {
				t.Fatalf("after restart: keep=%q short found=%v h.a=%d", keep.Bytes(), short.Found(), h.Ints()[0])
			}
			if got := scanAll(t, s, ""); !slices.Equal(got, []string{"h", "keep"}) {
				t.Fatalf("keys after restart: %q", got)
			}
		})
	}
}

// copyStore copies the store file as a crash would leave it: what was
// committed, without the write buffer.
func copyStore(t *testing.T, s *state.Embedded) string {
	t.Helper()
	raw, err := os.ReadFile(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, state.FileName), raw, 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestEmbeddedCrashWindow checks what a crash keeps: everything committed
// (by Flush or by the periodic flush), nothing of the buffer.
func TestEmbeddedCrashWindow(t *testing.T) {
	t.Parallel()
	clock := statetest.NewClock(epoch)
	s := openEmbedded(t, t.TempDir(), clock)
	defer s.Close()
	mustDo(t, s, state.Set("committed", []byte("1"), 0))
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	mustDo(t, s, state.Set("buffered", []byte("2"), 0))

	crashed := openEmbedded(t, copyStore(t, s), clock)
	a, b := state.Get("committed"), state.Get("buffered")
	mustDo(t, crashed, a, b)
	crashed.Close()
	if !a.Found() || b.Found() {
		t.Fatalf("after a crash: committed found %v, buffered found %v; want true, false", a.Found(), b.Found())
	}
}

// TestEmbeddedPeriodicFlush checks that writes reach the file without an
// explicit Flush.
func TestEmbeddedPeriodicFlush(t *testing.T) {
	t.Parallel()
	s, err := state.OpenEmbedded(state.EmbeddedOptions{Dir: t.TempDir(), FlushInterval: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mustDo(t, s, state.Set("k", []byte("v"), 0))
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := state.OpenEmbedded(state.EmbeddedOptions{Dir: copyStore(t, s)})
		if err == nil {
			get := state.Get("k")
			err = c.Do(context.Background(), get)
			c.Close()
			if err == nil && get.Found() {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the write never reached the file: %v", err)
		}
		time.Sleep(10 * time.Millisecond) // waiting for the flusher, not timing it
	}
}

func TestEmbeddedLocked(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	clock := statetest.NewClock(epoch)
	s := openEmbedded(t, dir, clock)
	_, err := state.OpenEmbedded(state.EmbeddedOptions{Dir: dir, LockTimeout: 20 * time.Millisecond})
	if !errors.Is(err, state.ErrLocked) {
		t.Fatalf("second open: %v, want ErrLocked", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := state.OpenEmbedded(state.EmbeddedOptions{Dir: dir, LockTimeout: 20 * time.Millisecond})
	if err != nil {
		t.Fatalf("open after the holder closed: %v", err)
	}
	s2.Close()
}

func TestEmbeddedSweep(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		committed bool // expired keys are in the file, not only the buffer
	}{
		{"buffered keys", false},
		{"committed keys", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			clock := statetest.NewClock(epoch)
			s := openEmbedded(t, dir, clock)
			for i := range 10 {
				ttl := time.Minute
				if i%2 == 0 {
					ttl = time.Hour
				}
				mustDo(t, s, state.Set(fmt.Sprintf("k%d", i), nil, ttl))
			}
			if tt.committed {
				if err := s.Flush(); err != nil {
					t.Fatal(err)
				}
			}
			clock.Advance(2 * time.Minute)
			// Rewritten after expiring: the sweep must not delete it.
			mustDo(t, s, state.Set("k1", []byte("new"), 0))
			n, err := s.Sweep()
			if err != nil {
				t.Fatalf("Sweep: %v", err)
			}
			if n != 4 {
				t.Fatalf("Sweep removed %d keys, want 4 (k3 k5 k7 k9)", n)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s = openEmbedded(t, dir, clock)
			defer s.Close()
			if got, want := scanAll(t, s, ""), []string{"k0", "k1", "k2", "k4", "k6", "k8"}; !slices.Equal(got, want) {
				t.Fatalf("keys = %q, want %q", got, want)
			}
		})
	}
}

func TestMemorySweep(t *testing.T) {
	t.Parallel()
	clock := statetest.NewClock(epoch)
	s := state.NewMemory(clock.Now)
	mustDo(t, s, state.Set("a", nil, time.Minute), state.Set("b", nil, 0))
	clock.Advance(time.Minute)
	if n, err := s.Sweep(); err != nil || n != 1 {
		t.Fatalf("Sweep = %d, %v; want 1", n, err)
	}
	if got := scanAll(t, s, ""); !slices.Equal(got, []string{"b"}) {
		t.Fatalf("keys = %q", got)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Do(context.Background(), state.Get("b")); !errors.Is(err, state.ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
}

// TestEmbeddedScanPages lists more keys than one scan page holds, spread
// over the file, the write buffer and deletions of committed keys.
func TestEmbeddedScanPages(t *testing.T) {
	t.Parallel()
	clock := statetest.NewClock(epoch)
	s := openEmbedded(t, t.TempDir(), clock)
	defer s.Close()
	var want []string
	for i := range 1500 {
		k := fmt.Sprintf("p:%05d", i)
		mustDo(t, s, state.Set(k, nil, 0))
		if i == 999 {
			if err := s.Flush(); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i := range 1500 {
		k := fmt.Sprintf("p:%05d", i)
		if i%7 == 0 {
			mustDo(t, s, state.Del(k))
			continue
		}
		want = append(want, k)
	}
	mustDo(t, s, state.Set("q:other", nil, 0), state.Set("p:0", nil, 0))
	want = append([]string{"p:0"}, want...)
	slices.Sort(want)
	if got := scanAll(t, s, "p:"); !slices.Equal(got, want) {
		t.Fatalf("Scan returned %d keys, want %d (first difference near %v)", len(got), len(want), firstDiff(got, want))
	}
}

func firstDiff(a, b []string) string {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return a[i] + " vs " + b[i]
		}
	}
	return "the end"
}

// TestEmbeddedConcurrent runs increments from many goroutines while
// commits and scans happen.
func TestEmbeddedConcurrent(t *testing.T) {
	t.Parallel()
	clock := statetest.NewClock(epoch)
	s := openEmbedded(t, t.TempDir(), clock)
	defer s.Close()
	const workers, each = 8, 200
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				mustDo(t, s, state.Incr("total", 1, 0), state.HIncrBy(fmt.Sprintf("w%d", w), map[string]int64{"n": 1}, 0))
				if i%50 == 0 {
					_ = s.Flush()
					scanAll(t, s, "w")
				}
			}
		})
	}
	wg.Wait()
	total := state.Get("total")
	mustDo(t, s, total)
	if string(total.Bytes()) != fmt.Sprint(workers*each) {
		t.Fatalf("total = %s, want %d", total.Bytes(), workers*each)
	}
}

func TestOpenChoosesBackend(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, err := state.Open(context.Background(), state.Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	e, ok := s.(*state.Embedded)
	if !ok || e.Path() == "" {
		t.Fatalf("Open without Redis = %T", s)
	}
	s.Close()
	if _, err := state.Open(context.Background(), state.Options{Redis: "mysql://x"}); err == nil {
		t.Fatal("Open with a bad URL succeeded")
	}
	if _, err := state.OpenEmbedded(state.EmbeddedOptions{}); err == nil {
		t.Fatal("OpenEmbedded without a directory succeeded")
	}
}

func BenchmarkEmbeddedIncr(b *testing.B) {
	s, err := state.OpenEmbedded(state.EmbeddedOptions{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		if err := s.Do(ctx, state.Incr(fmt.Sprintf("k%d", i%100000), 1, time.Hour)); err != nil {
			b.Fatal(err)
		}
	}
}
