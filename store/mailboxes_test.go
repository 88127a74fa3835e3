package store

import (
	"context"
	"strings"
	"testing"
)

func TestNormalizeMailbox(t *testing.T) {
	tests := []struct{ in, want string }{
		{"inbox", "INBOX"}, {"InBoX", "INBOX"}, {"inbox/sub", "INBOX/sub"}, {"Lists/go", "Lists/go"},
		{"Ünïcode", "Ünïcode"}, {"inboxes", "inboxes"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := NormalizeMailbox(tt.in)
			if err != nil || got != tt.want {
				t.Fatalf("= %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	for _, bad := range []string{"", "/", "a/", "/a", "a//b", "a*", "50%", "tab\there", "nul\x00", "\xff", strings.Repeat("x", 600)} {
		t.Run("bad "+bad, func(t *testing.T) {
			if _, err := NormalizeMailbox(bad); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func TestMailboxes(t *testing.T) {
	ctx := context.Background()
	s, _, _ := newStore(t)
	names := func() string {
		mbs, err := s.Mailboxes(ctx, alice)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, m := range mbs {
			out = append(out, m.Name)
		}
		return strings.Join(out, " ")
	}
	t.Run("create with parents", func(t *testing.T) {
		if err := s.CreateMailbox(ctx, alice, "Lists/go/nuts"); err != nil {
			t.Fatal(err)
		}
		if got := names(); got != "INBOX Archive Drafts Junk Lists Lists/go Lists/go/nuts Sent Trash" {
			t.Fatalf("names %s", got)
		}
		wantErr(t, s.CreateMailbox(ctx, alice, "Lists/go"), ErrMailboxExists)
		wantErr(t, s.CreateMailbox(ctx, alice, "inbox"), ErrMailboxExists)
		wantErr(t, s.CreateMailbox(ctx, alice, "a//b"), ErrInvalidName)
		wantErr(t, s.CreateMailbox(ctx, "nobody@example.test", "x"), ErrNoSuchUser)
	})
	t.Run("rename with children", func(t *testing.T) {
		deliver(t, s, false, "keep")
		if _, _, _, err := s.Move(ctx, alice, "INBOX", []uint32{1}, "Lists/go"); err != nil {
			t.Fatal(err)
		}
		before, _ := list(t, s, "Lists/go")
		if err := s.RenameMailbox(ctx, alice, "Lists", "Old/Lists"); err != nil {
			t.Fatal(err)
		}
		if got := names(); got != "INBOX Archive Drafts Junk Old Old/Lists Old/Lists/go Old/Lists/go/nuts Sent Trash" {
			t.Fatalf("names %s", got)
		}
		after, msgs := list(t, s, "Old/Lists/go")
		if after.UIDValidity != before.UIDValidity || len(msgs) != 1 || read(t, s, "Old/Lists/go", 1) != string(msg("keep")) {
			t.Fatalf("renamed mailbox %+v %+v", after, msgs)
		}
		wantErr(t, s.RenameMailbox(ctx, alice, "Old", "Trash"), ErrMailboxExists)
		wantErr(t, s.RenameMailbox(ctx, alice, "Old", "Old/x"), ErrInvalidName)
		wantErr(t, s.RenameMailbox(ctx, alice, "Missing", "x"), ErrNoSuchMailbox)
	})
	t.Run("protected", func(t *testing.T) {
		for _, n := range []string{"INBOX", "inbox", "Junk", "Trash", "Sent", "Drafts", "Archive"} {
			wantErr(t, s.DeleteMailbox(ctx, alice, n), ErrProtectedMailbox)
			wantErr(t, s.RenameMailbox(ctx, alice, n, "Other"), ErrProtectedMailbox)
		}
	})
	t.Run("subscribe", func(t *testing.T) {
		if err := s.Subscribe(ctx, alice, "Old/Lists", true); err != nil {
			t.Fatal(err)
		}
		mi, _ := s.Mailbox(ctx, alice, "Old/Lists")
		if !mi.Subscribed {
			t.Fatal("not subscribed")
		}
		if err := s.Subscribe(ctx, alice, "Junk", false); err != nil {
			t.Fatal(err)
		}
		mi, _ = s.Mailbox(ctx, alice, "Junk")
		if mi.Subscribed || mi.Role != RoleJunk {
			t.Fatalf("Junk %+v", mi)
		}
		wantErr(t, s.Subscribe(ctx, alice, "nope", true), ErrNoSuchMailbox)
	})
	t.Run("delete", func(t *testing.T) {
		if err := s.DeleteMailbox(ctx, alice, "Old/Lists/go"); err != nil {
			t.Fatal(err)
		}
		if got := names(); got != "INBOX Archive Drafts Junk Old Old/Lists Old/Lists/go/nuts Sent Trash" {
			t.Fatalf("names %s", got)
		}
		_, err := s.Mailbox(ctx, alice, "Old/Lists/go")
		wantErr(t, err, ErrNoSuchMailbox)
		us, _ := s.Users(ctx)
		if us[0].Used != 0 {
			t.Fatalf("usage after delete %d", us[0].Used)
		}
	})
	checkConsistent(t, s)
}
