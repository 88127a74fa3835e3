package store

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestUsers(t *testing.T) {
	ctx := context.Background()
	s, _, _ := newStore(t)

	t.Run("add existing", func(t *testing.T) {
		wantErr(t, s.AddUser(ctx, "Alice@Example.TEST", "x"), ErrUserExists)
	})
	t.Run("invalid names", func(t *testing.T) {
		for _, n := range []string{"", "alice", "@example.test", "alice@", "a b@example.test", "a\x00@x.test",
			"a@b@c", "a..b@example.test", "alice@example..test", strings.Repeat("a", 250) + "@example.test"} {
			wantErr(t, s.AddUser(ctx, n, "x"), ErrInvalidName)
		}
	})
	t.Run("empty password", func(t *testing.T) {
		wantErr(t, s.AddUser(ctx, "bob@example.test", ""), ErrInvalidPassword)
	})
	t.Run("authenticate", func(t *testing.T) {
		if err := s.Authenticate(ctx, "ALICE@example.test", "secret"); err != nil {
			t.Fatalf("good password: %v", err)
		}
		wantErr(t, s.Authenticate(ctx, alice, "wrong"), ErrAuthFailed)
		wantErr(t, s.Authenticate(ctx, "nobody@example.test", "secret"), ErrAuthFailed)
		wantErr(t, s.Authenticate(ctx, "not an address", "secret"), ErrAuthFailed)
	})
	t.Run("passwd", func(t *testing.T) {
		if err := s.SetPassword(ctx, alice, "new"); err != nil {
			t.Fatal(err)
		}
		wantErr(t, s.Authenticate(ctx, alice, "secret"), ErrAuthFailed)
		if err := s.Authenticate(ctx, alice, "new"); err != nil {
			t.Fatal(err)
		}
		wantErr(t, s.SetPassword(ctx, "nobody@example.test", "x"), ErrNoSuchUser)
	})
	t.Run("list and role mailboxes", func(t *testing.T) {
		if err := s.AddUser(ctx, "Bob@Example.test", "pw"); err != nil {
			t.Fatal(err)
		}
		us, err := s.Users(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(us) != 2 || us[0].Name != alice || us[1].Name != "bob@example.test" || us[1].Created.IsZero() {
			t.Fatalf("Users = %+v", us)
		}
		mbs, err := s.Mailboxes(ctx, "bob@example.test")
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, m := range mbs {
			got = append(got, m.Name+":"+m.Role)
			if !m.Subscribed || m.UIDValidity == 0 || m.UIDNext != 1 {
				t.Errorf("mailbox %+v", m)
			}
		}
		want := "INBOX:inbox Archive:archive Drafts:drafts Junk:junk Sent:sent Trash:trash"
		if strings.Join(got, " ") != want {
			t.Fatalf("mailboxes = %v, want %s", got, want)
		}
	})
	t.Run("exists", func(t *testing.T) {
		for name, want := range map[string]bool{alice: true, "BOB@example.test": true, "carol@example.test": false, "bad": false} {
			got, err := s.UserExists(ctx, name)
			if err != nil || got != want {
				t.Errorf("UserExists(%q) = %v, %v", name, got, err)
			}
		}
	})
	t.Run("delete", func(t *testing.T) {
		deliver(t, s, false, "to be deleted")
		if err := s.DeleteUser(ctx, alice); err != nil {
			t.Fatal(err)
		}
		wantErr(t, s.DeleteUser(ctx, alice), ErrNoSuchUser)
		wantErr(t, s.Authenticate(ctx, alice, "new"), ErrAuthFailed)
		wantErr(t, s.Deliver(ctx, alice, false, strings.NewReader("x")), ErrNoSuchUser)
		if _, _, err := s.List(ctx, alice, "INBOX"); err == nil {
			t.Fatal("List after DeleteUser succeeded")
		}
		checkConsistent(t, s)
	})
}

// TestPasswordHashReal checks the production argon2id parameters end to end.
func TestPasswordHashReal(t *testing.T) {
	s := openAt(t, t.TempDir(), Options{})
	s.kdf = defaultKDF()
	ctx := context.Background()
	if err := s.AddUser(ctx, alice, "correct horse"); err != nil {
		t.Fatal(err)
	}
	if err := s.Authenticate(ctx, alice, "correct horse"); err != nil {
		t.Fatal(err)
	}
	wantErr(t, s.Authenticate(ctx, alice, "correct horsE"), ErrAuthFailed)
	var rec userRec
	if err := s.userView(ctx, alice, func(u *utx) error { rec = u.rec; return nil }); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(rec.Hash, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash %q", rec.Hash)
	}
	// An unknown user costs about as much as a known one.
	start := time.Now()
	s.Authenticate(ctx, alice, "wrong")
	known := time.Since(start)
	start = time.Now()
	s.Authenticate(ctx, "nobody@example.test", "wrong")
	unknown := time.Since(start)
	if unknown < known/4 {
		t.Errorf("unknown user took %v, known %v: timing leaks existence", unknown, known)
	}
}

func TestQuota(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openAt(t, dir, Options{DefaultQuota: 200})
	if err := s.AddUser(ctx, alice, "pw"); err != nil {
		t.Fatal(err)
	}
	m := msg("q") // ~90 bytes
	deliver(t, s, false, "q")
	deliver(t, s, true, "q")
	wantErr(t, s.Deliver(ctx, alice, false, strings.NewReader(string(m))), ErrQuotaExceeded)
	_, _, err := s.Append(ctx, alice, "Sent", nil, time.Time{}, strings.NewReader(string(m)))
	wantErr(t, err, ErrQuotaExceeded)
	_, msgs := list(t, s, "INBOX")
	_, _, _, err = s.Copy(ctx, alice, "INBOX", uids(msgs), "Archive")
	wantErr(t, err, ErrQuotaExceeded)
	if _, _, _, err := s.Move(ctx, alice, "INBOX", uids(msgs), "Archive"); err != nil {
		t.Fatalf("Move within quota: %v", err)
	}
	if err := s.SetQuota(ctx, alice, 10000); err != nil {
		t.Fatal(err)
	}
	deliver(t, s, false, "q")
	wantErr(t, s.SetQuota(ctx, alice, -1), ErrInvalidQuota)
	us, _ := s.Users(ctx)
	if us[0].Quota != 10000 || us[0].Used != 3*int64(len(m)) {
		t.Fatalf("user %+v, message %d bytes", us[0], len(m))
	}
	checkConsistent(t, s)
}
