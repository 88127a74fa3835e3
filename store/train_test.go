package store

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// classes summarises trainer calls as "spam"/"ham" with the subject.
func classes(calls []trainCall) []string {
	var out []string
	for _, c := range calls {
		class := "ham"
		if c.Spam {
			class = "spam"
		}
		subj := ""
		if _, rest, ok := strings.Cut(c.Raw, "Subject: "); ok {
			subj, _, _ = strings.Cut(rest, "\r\n")
		}
		out = append(out, class+":"+subj)
	}
	return out
}

func TestTraining(t *testing.T) {
	ctx := context.Background()
	s, tr, _ := newStore(t)
	steps := []struct {
		name string
		do   func() error
		want []string
	}{
		{"delivery to junk trains nothing", func() error {
			deliver(t, s, true, "j1") // Junk 1
			deliver(t, s, false, "i1")
			deliver(t, s, false, "i2")
			return nil
		}, nil},
		{"move out of junk is ham", func() error {
			_, _, _, err := s.Move(ctx, alice, "Junk", []uint32{1}, "INBOX") // INBOX 3
			return err
		}, []string{"ham:j1"}},
		{"move into junk reverses once", func() error {
			_, _, _, err := s.Move(ctx, alice, "INBOX", []uint32{3}, "Junk") // Junk 2
			return err
		}, []string{"spam:j1"}},
		{"junk to trash trains nothing", func() error {
			_, _, _, err := s.Move(ctx, alice, "Junk", []uint32{2}, "Trash") // Trash 1
			return err
		}, nil},
		{"repeat into junk does nothing", func() error {
			_, _, _, err := s.Move(ctx, alice, "Trash", []uint32{1}, "Junk") // Junk 3, already spam
			return err
		}, nil},
		{"copy into junk then expunge (mutt)", func() error {
			if _, _, _, err := s.Copy(ctx, alice, "INBOX", []uint32{1}, "Junk"); err != nil { // Junk 4
				return err
			}
			if _, err := s.SetFlags(ctx, alice, "INBOX", []uint32{1}, FlagsAdd, []string{`\Deleted`}); err != nil {
				return err
			}
			_, err := s.Expunge(ctx, alice, "INBOX", nil)
			return err
		}, []string{"spam:i1"}},
		{"copy out of junk is ham, and the original remembers", func() error {
			if _, _, _, err := s.Copy(ctx, alice, "Junk", []uint32{4}, "Archive"); err != nil { // Archive 1
				return err
			}
			_, _, _, err := s.Move(ctx, alice, "Junk", []uint32{4}, "INBOX") // INBOX 4, already ham
			return err
		}, []string{"ham:i1"}},
		{"$Junk keyword", func() error {
			_, err := s.SetFlags(ctx, alice, "INBOX", []uint32{2}, FlagsAdd, []string{"$junk"})
			return err
		}, []string{"spam:i2"}},
		{"$Junk again does nothing", func() error {
			if _, err := s.SetFlags(ctx, alice, "INBOX", []uint32{2}, FlagsRemove, []string{"$Junk"}); err != nil {
				return err
			}
			_, err := s.SetFlags(ctx, alice, "INBOX", []uint32{2}, FlagsAdd, []string{"$Junk"})
			return err
		}, nil},
		{"$NotJunk by replace reverses", func() error {
			_, err := s.SetFlags(ctx, alice, "INBOX", []uint32{2}, FlagsReplace, []string{`\Seen`, "$NotJunk"})
			return err
		}, []string{"ham:i2"}},
		{"append into junk is spam", func() error {
			_, _, err := s.Append(ctx, alice, "Junk", nil, time.Time{}, bytes.NewReader(msg("a1")))
			return err
		}, []string{"spam:a1"}},
		{"append elsewhere trains nothing", func() error {
			_, _, err := s.Append(ctx, alice, "Sent", []string{"$Junk"}, time.Time{}, bytes.NewReader(msg("a2")))
			return err
		}, nil},
		{"junk to junk trains nothing", func() error {
			deliver(t, s, true, "j2")
			_, _, _, err := s.Copy(ctx, alice, "Junk", []uint32{6}, "Junk")
			return err
		}, nil},
		{"smtp junk moved to a folder is ham", func() error {
			_, _, _, err := s.Move(ctx, alice, "Junk", []uint32{6}, "Archive")
			return err
		}, []string{"ham:j2"}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if err := st.do(); err != nil {
				t.Fatal(err)
			}
			got := tr.take()
			if !slices.Equal(classes(got), st.want) {
				t.Fatalf("training calls %v, want %v", classes(got), st.want)
			}
			for _, c := range got {
				if c.User != alice {
					t.Fatalf("trained for %q", c.User)
				}
			}
		})
	}
	checkConsistent(t, s)
}

func TestTrainingSurvivesRestartAndErrors(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	tr := &fakeTrainer{err: errors.New("bayes down")}
	s := openAt(t, dir, Options{Trainer: tr})
	if err := s.AddUser(ctx, alice, "pw"); err != nil {
		t.Fatal(err)
	}
	deliver(t, s, false, "x")
	if _, _, _, err := s.Move(ctx, alice, "INBOX", []uint32{1}, "Junk"); err != nil {
		t.Fatalf("Move must not fail for a trainer error: %v", err)
	}
	if got := classes(tr.take()); !slices.Equal(got, []string{"spam:x"}) {
		t.Fatalf("calls %v", got)
	}
	s.Close()
	tr2 := &fakeTrainer{}
	s = openAt(t, dir, Options{Trainer: tr2})
	if _, _, _, err := s.Move(ctx, alice, "Junk", []uint32{1}, "Trash"); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := s.Move(ctx, alice, "Trash", []uint32{1}, "Junk"); err != nil {
		t.Fatal(err)
	}
	if got := tr2.take(); len(got) != 0 {
		t.Fatalf("trained again after restart: %v", classes(got))
	}
}
