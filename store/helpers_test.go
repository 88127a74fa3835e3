package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// trainCall is one call to fakeTrainer.
type trainCall struct {
	User string
	Spam bool
	Raw  string
}

// fakeTrainer records training calls.
type fakeTrainer struct {
	mu    sync.Mutex
	calls []trainCall
	err   error
}

func (f *fakeTrainer) Train(_ context.Context, user string, spam bool, raw []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, trainCall{user, spam, string(raw)})
	return f.err
}

// take returns and forgets the calls so far.
func (f *fakeTrainer) take() []trainCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.calls
	f.calls = nil
	return c
}

// cheapKDF keeps tests fast; one test checks the real parameters.
func cheapKDF() kdfParams { return kdfParams{time: 1, memory: 64, threads: 1} }

// openAt opens the store in dir with cheap password hashing; it is closed
// at cleanup.
func openAt(t testing.TB, dir string, o Options) *Store {
	t.Helper()
	o.Dir = dir
	s, err := Open(context.Background(), o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	s.kdf = cheapKDF()
	t.Cleanup(func() { s.Close() })
	return s
}

// newStore opens a store in a new directory with a trainer and a user
// alice@example.test (password "secret").
func newStore(t testing.TB) (*Store, *fakeTrainer, string) {
	t.Helper()
	dir := t.TempDir()
	tr := &fakeTrainer{}
	s := openAt(t, dir, Options{Trainer: tr})
	if err := s.AddUser(context.Background(), alice, "secret"); err != nil {
		t.Fatalf("AddUser: %v", err)
	}
	return s, tr, dir
}

const alice = "alice@example.test"

// msg builds a small message whose subject identifies it.
func msg(subject string) []byte {
	return fmt.Appendf(nil, "From: bob@example.test\r\nTo: alice@example.test\r\nSubject: %s\r\n\r\nHello %s.\r\n", subject, subject)
}

func deliver(t testing.TB, s *Store, junk bool, subject string) {
	t.Helper()
	if err := s.Deliver(context.Background(), alice, junk, bytes.NewReader(msg(subject))); err != nil {
		t.Fatalf("Deliver %s: %v", subject, err)
	}
}

func list(t testing.TB, s *Store, mailbox string) (MailboxInfo, []Message) {
	t.Helper()
	info, msgs, err := s.List(context.Background(), alice, mailbox)
	if err != nil {
		t.Fatalf("List %s: %v", mailbox, err)
	}
	return info, msgs
}

func uids(msgs []Message) []uint32 {
	var out []uint32
	for _, m := range msgs {
		out = append(out, m.UID)
	}
	return out
}

func read(t testing.TB, s *Store, mailbox string, uid uint32) string {
	t.Helper()
	b, err := s.OpenMessage(context.Background(), alice, mailbox, uid)
	if err != nil {
		t.Fatalf("OpenMessage %s %d: %v", mailbox, uid, err)
	}
	defer b.Close()
	buf := make([]byte, b.Size())
	if _, err := b.ReadAt(buf, 0); err != nil {
		t.Fatalf("ReadAt: %v", err)
	}
	return string(buf)
}

// checkConsistent reopens nothing: it runs fsck on a read-write copy of
// the view in s and fails on anything it would repair.
func checkConsistent(t testing.TB, s *Store) {
	t.Helper()
	present, err := s.scanFiles()
	if err != nil {
		t.Fatal(err)
	}
	var rep repairs
	counts := map[fileID]uint32{}
	errDry := errors.New("dry run")
	err = s.db.Update(func(tx *bolt.Tx) error {
		if err := s.fsck(tx, present, counts, &rep); err != nil {
			return err
		}
		return errDry // roll back
	})
	if !errors.Is(err, errDry) {
		t.Fatalf("fsck: %v", err)
	}
	if rep.any() {
		t.Errorf("index inconsistent: %+v", rep)
	}
	for f := range present {
		if counts[f] == 0 {
			t.Errorf("orphan file %s", s.path(f))
		}
	}
}

// corpus returns up to n messages from /work/shared/corpus/<kind>, or skips.
func corpus(t testing.TB, kind string, n int) [][]byte {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join("/work/shared/corpus", kind, "*.eml"))
	if len(files) == 0 {
		t.Skip("corpus not present")
	}
	sort.Strings(files)
	var out [][]byte
	for _, f := range files[:min(n, len(files))] {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

func wantErr(t testing.TB, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("err = %v, want %v", err, want)
	}
}

func equalUIDs(a, b []uint32) bool { return slices.Equal(a, b) }

// fixedClock is an injectable clock.
func fixedClock(t0 time.Time) func() time.Time { return func() time.Time { return t0 } }
