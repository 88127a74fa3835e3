package store

import (
	"bytes"
	"context"
	"io"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestStoreDeliver(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	dir := t.TempDir()
	s := openAt(t, dir, Options{Now: fixedClock(t0)})
	if err := s.AddUser(ctx, alice, "pw"); err != nil {
		t.Fatal(err)
	}
	t.Run("inbox and junk", func(t *testing.T) {
		deliver(t, s, false, "one")
		deliver(t, s, false, "two")
		deliver(t, s, true, "spam")
		info, msgs := list(t, s, "inbox")
		if info.Name != "INBOX" || info.Messages != 2 || info.Unseen != 2 || info.UIDNext != 3 || !equalUIDs(uids(msgs), []uint32{1, 2}) {
			t.Fatalf("INBOX %+v %+v", info, msgs)
		}
		if msgs[0].Size != int64(len(msg("one"))) || !msgs[0].Internal.Equal(t0) || len(msgs[0].Flags) != 0 {
			t.Fatalf("message %+v", msgs[0])
		}
		if got := read(t, s, "INBOX", 2); got != string(msg("two")) {
			t.Fatalf("body %q", got)
		}
		_, jm := list(t, s, "Junk")
		if len(jm) != 1 || !strings.Contains(read(t, s, "Junk", jm[0].UID), "spam") {
			t.Fatalf("Junk %+v", jm)
		}
	})
	t.Run("unknown user", func(t *testing.T) {
		for _, rcpt := range []string{"nobody@example.test", "not an address"} {
			wantErr(t, s.Deliver(ctx, rcpt, false, strings.NewReader("x")), ErrNoSuchUser)
		}
	})
	t.Run("bare LF becomes CRLF", func(t *testing.T) {
		if err := s.Deliver(ctx, "ALICE@example.test", false, strings.NewReader("Subject: lf\n\nline\r\nend\n")); err != nil {
			t.Fatal(err)
		}
		_, msgs := list(t, s, "INBOX")
		last := msgs[len(msgs)-1]
		if got := read(t, s, "INBOX", last.UID); got != "Subject: lf\r\n\r\nline\r\nend\r\n" || last.Size != int64(len(got)) {
			t.Fatalf("body %q size %d", got, last.Size)
		}
	})
	t.Run("failed read leaves nothing", func(t *testing.T) {
		before := countFiles(t, dir)
		err := s.Deliver(ctx, alice, false, io.MultiReader(strings.NewReader("partial"), errReader{}))
		if err == nil {
			t.Fatal("Deliver with failing reader succeeded")
		}
		if after := countFiles(t, dir); after != before {
			t.Fatalf("files %d -> %d", before, after)
		}
	})
	t.Run("corpus", func(t *testing.T) {
		for i, raw := range append(corpus(t, "ham", 5), corpus(t, "spam", 5)...) {
			if err := s.Deliver(ctx, alice, i >= 5, bytes.NewReader(raw)); err != nil {
				t.Fatal(err)
			}
		}
		_, msgs := list(t, s, "Junk")
		got := read(t, s, "Junk", msgs[len(msgs)-1].UID)
		if !strings.Contains(got, "\r\n") || strings.Contains(strings.ReplaceAll(got, "\r\n", ""), "\n") {
			t.Fatal("stored corpus message is not CRLF throughout")
		}
	})
	checkConsistent(t, s)
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, io.ErrUnexpectedEOF }

func countFiles(t *testing.T, dir string) int {
	t.Helper()
	s := &Store{dir: dir}
	present, err := s.scanFiles()
	if err != nil {
		t.Fatal(err)
	}
	return len(present)
}

func TestMessages(t *testing.T) {
	ctx := context.Background()
	s, _, _ := newStore(t)
	date := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

	uid, uv, err := s.Append(ctx, alice, "Drafts", []string{`\seen`, `\DRAFT`, "$label1", `\Recent`, "$LABEL1"}, date, bytes.NewReader(msg("draft")))
	if err != nil {
		t.Fatal(err)
	}
	info, msgs := list(t, s, "Drafts")
	if uid != 1 || uv != info.UIDValidity || info.Unseen != 0 {
		t.Fatalf("Append = %d %d, info %+v", uid, uv, info)
	}
	if !slices.Equal(msgs[0].Flags, []string{`\Seen`, `\Draft`, "$label1"}) || !msgs[0].Internal.Equal(date) {
		t.Fatalf("appended %+v", msgs[0])
	}
	for i := range 4 {
		deliver(t, s, false, "m"+string(rune('0'+i)))
	}

	t.Run("flags", func(t *testing.T) {
		tests := []struct {
			name  string
			op    FlagOp
			flags []string
			want  []string
		}{
			{"add", FlagsAdd, []string{`\SEEN`, `\Flagged`}, []string{`\Seen`, `\Flagged`}},
			{"add again", FlagsAdd, []string{`\Seen`, "Work"}, []string{`\Seen`, `\Flagged`, "Work"}},
			{"remove", FlagsRemove, []string{`\flagged`, "work"}, []string{`\Seen`}},
			{"replace", FlagsReplace, []string{`\Answered`, "$Forwarded"}, []string{`\Answered`, "$Forwarded"}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, err := s.SetFlags(ctx, alice, "INBOX", []uint32{2, 1, 99}, tt.op, tt.flags)
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != 2 || got[0].UID != 1 || got[1].UID != 2 {
					t.Fatalf("SetFlags returned %+v", got)
				}
				_, msgs := list(t, s, "INBOX")
				if !slices.Equal(msgs[0].Flags, tt.want) || !slices.Equal(msgs[1].Flags, tt.want) {
					t.Fatalf("flags %v / %v, want %v", msgs[0].Flags, msgs[1].Flags, tt.want)
				}
			})
		}
		info, _ := list(t, s, "INBOX")
		if info.Unseen != 4 {
			t.Fatalf("unseen %d", info.Unseen)
		}
	})
	t.Run("copy", func(t *testing.T) {
		src, dst, dv, err := s.Copy(ctx, alice, "INBOX", []uint32{3, 1, 42}, "Archive")
		if err != nil {
			t.Fatal(err)
		}
		ai, am := list(t, s, "Archive")
		if !equalUIDs(src, []uint32{1, 3}) || !equalUIDs(dst, []uint32{1, 2}) || dv != ai.UIDValidity || len(am) != 2 {
			t.Fatalf("Copy = %v %v %d; Archive %+v", src, dst, dv, am)
		}
		if !slices.Equal(am[0].Flags, []string{`\Answered`, "$Forwarded"}) || read(t, s, "Archive", 2) != string(msg("m2")) {
			t.Fatalf("copied %+v", am[0])
		}
		_, im := list(t, s, "INBOX")
		if len(im) != 4 {
			t.Fatalf("INBOX after copy %d", len(im))
		}
	})
	t.Run("move", func(t *testing.T) {
		src, dst, _, err := s.Move(ctx, alice, "INBOX", []uint32{1, 2}, "Archive")
		if err != nil {
			t.Fatal(err)
		}
		if !equalUIDs(src, []uint32{1, 2}) || !equalUIDs(dst, []uint32{3, 4}) {
			t.Fatalf("Move = %v %v", src, dst)
		}
		_, im := list(t, s, "INBOX")
		_, am := list(t, s, "Archive")
		if !equalUIDs(uids(im), []uint32{3, 4}) || !equalUIDs(uids(am), []uint32{1, 2, 3, 4}) {
			t.Fatalf("after move INBOX %v Archive %v", uids(im), uids(am))
		}
		if read(t, s, "Archive", 4) != string(msg("m1")) {
			t.Fatal("moved body differs")
		}
		_, err = s.OpenMessage(ctx, alice, "INBOX", 1)
		wantErr(t, err, ErrNoSuchMessage)
		_, _, _, err = s.Move(ctx, alice, "INBOX", []uint32{3}, "Nope")
		wantErr(t, err, ErrNoSuchMailbox)
	})
	t.Run("expunge", func(t *testing.T) {
		if _, err := s.SetFlags(ctx, alice, "Archive", []uint32{1, 2, 4}, FlagsAdd, []string{`\Deleted`}); err != nil {
			t.Fatal(err)
		}
		gone, err := s.Expunge(ctx, alice, "Archive", []uint32{1, 2, 3})
		if err != nil || !equalUIDs(gone, []uint32{1, 2}) {
			t.Fatalf("Expunge = %v, %v", gone, err)
		}
		gone, err = s.Expunge(ctx, alice, "Archive", nil)
		if err != nil || !equalUIDs(gone, []uint32{4}) {
			t.Fatalf("Expunge all = %v, %v", gone, err)
		}
		// The copy of m2 survives the original's expunge.
		if read(t, s, "INBOX", 3) != string(msg("m2")) {
			t.Fatal("shared file removed too early")
		}
	})
	t.Run("open body survives expunge", func(t *testing.T) {
		b, err := s.OpenMessage(ctx, alice, "INBOX", 4)
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		if err := s.Delete(ctx, alice, "INBOX", []uint32{4, 77}); err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(b)
		if err != nil || string(got) != string(msg("m3")) {
			t.Fatalf("read after delete: %q, %v", got, err)
		}
	})
	t.Run("uidnext never goes back", func(t *testing.T) {
		info, _ := list(t, s, "Archive")
		if info.Messages != 1 || info.UIDNext != 5 {
			t.Fatalf("Archive %+v", info)
		}
		_, dst, _, _ := s.Copy(ctx, alice, "INBOX", []uint32{3}, "Archive")
		if !equalUIDs(dst, []uint32{5}) {
			t.Fatalf("new uid %v", dst)
		}
	})
	checkConsistent(t, s)
}

func TestUIDsAcrossRestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openAt(t, dir, Options{})
	if err := s.AddUser(ctx, alice, "pw"); err != nil {
		t.Fatal(err)
	}
	deliver(t, s, false, "a")
	deliver(t, s, false, "b")
	if err := s.Delete(ctx, alice, "INBOX", []uint32{2}); err != nil {
		t.Fatal(err)
	}
	before, _ := list(t, s, "INBOX")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wantErr(t, s.Deliver(ctx, alice, false, strings.NewReader("x")), ErrClosed)

	s = openAt(t, dir, Options{})
	deliver(t, s, false, "c")
	after, msgs := list(t, s, "INBOX")
	if after.UIDValidity != before.UIDValidity || !equalUIDs(uids(msgs), []uint32{1, 3}) {
		t.Fatalf("after restart %+v uids %v", after, uids(msgs))
	}
	if err := s.CreateMailbox(ctx, alice, "x"); err != nil {
		t.Fatal(err)
	}
	xi, _ := list(t, s, "x")
	if err := s.DeleteMailbox(ctx, alice, "x"); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateMailbox(ctx, alice, "x"); err != nil {
		t.Fatal(err)
	}
	xi2, _ := list(t, s, "x")
	if xi2.UIDValidity == xi.UIDValidity {
		t.Fatalf("re-created mailbox reuses UIDVALIDITY %d", xi.UIDValidity)
	}
	checkConsistent(t, s)
}

func TestSecondProcessFailsFast(t *testing.T) {
	dir := t.TempDir()
	openAt(t, dir, Options{})
	// bbolt's flock is per open file description, so a second Open in the
	// same process sees the lock as another process would.
	start := time.Now()
	_, err := Open(context.Background(), Options{Dir: dir})
	wantErr(t, err, ErrStoreLocked)
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("took %v", d)
	}
}
