package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

func next(t *testing.T, w Watcher) Change {
	t.Helper()
	select {
	case c, ok := <-w.Changes():
		if !ok {
			t.Fatal("watcher closed")
		}
		return c
	case <-time.After(5 * time.Second):
		t.Fatal("no change")
	}
	return Change{}
}

func TestWatch(t *testing.T) {
	ctx := context.Background()
	s, _, _ := newStore(t)
	if err := s.AddUser(ctx, "bob@example.test", "pw"); err != nil {
		t.Fatal(err)
	}
	w := s.Watch("Alice@Example.test")
	other := s.Watch("bob@example.test")
	t.Cleanup(other.Cancel)

	deliver(t, s, false, "a")
	if c := next(t, w); c.Kind != ChangeAdded || c.Mailbox != "INBOX" || !equalUIDs(c.UIDs, []uint32{1}) || c.User != alice {
		t.Fatalf("change %+v", c)
	}
	s.SetFlags(ctx, alice, "INBOX", []uint32{1}, FlagsAdd, []string{`\Seen`})
	if c := next(t, w); c.Kind != ChangeFlags || !equalUIDs(c.UIDs, []uint32{1}) {
		t.Fatalf("change %+v", c)
	}
	s.Move(ctx, alice, "INBOX", []uint32{1}, "Archive")
	if c := next(t, w); c.Kind != ChangeExpunged || c.Mailbox != "INBOX" {
		t.Fatalf("change %+v", c)
	}
	if c := next(t, w); c.Kind != ChangeAdded || c.Mailbox != "Archive" {
		t.Fatalf("change %+v", c)
	}
	s.CreateMailbox(ctx, alice, "New")
	if c := next(t, w); c.Kind != ChangeMailboxes {
		t.Fatalf("change %+v", c)
	}
	select {
	case c := <-other.Changes():
		t.Fatalf("bob saw alice's change %+v", c)
	default:
	}

	t.Run("overflow", func(t *testing.T) {
		for range watchBuffer + 10 {
			s.SetFlags(ctx, alice, "Archive", []uint32{1}, FlagsReplace, []string{`\Seen`})
			s.SetFlags(ctx, alice, "Archive", []uint32{1}, FlagsReplace, nil)
		}
		var kinds []ChangeKind
		for len(w.Changes()) > 0 {
			kinds = append(kinds, next(t, w).Kind)
		}
		if len(kinds) == 0 || len(kinds) > watchBuffer || kinds[len(kinds)-1] != ChangeMailboxes && kinds[0] != ChangeMailboxes {
			t.Fatalf("after overflow: %d changes, %v", len(kinds), kinds)
		}
	})
	t.Run("cancel", func(t *testing.T) {
		w.Cancel()
		w.Cancel()
		deliver(t, s, false, "b")
		if _, ok := <-w.Changes(); ok {
			t.Fatal("change after cancel")
		}
	})
}

func TestLockMaildrop(t *testing.T) {
	s, _, _ := newStore(t)
	unlock, err := s.LockMaildrop(alice)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.LockMaildrop("ALICE@example.test")
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second lock: %v", err)
	}
	other, err := s.LockMaildrop("bob@example.test")
	if err != nil {
		t.Fatal(err)
	}
	other()
	unlock()
	unlock()
	again, err := s.LockMaildrop(alice)
	if err != nil {
		t.Fatalf("after unlock: %v", err)
	}
	again()
}
