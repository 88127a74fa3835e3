package imap

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
)

func TestMoveJunkTraining(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.login(t, alice, nil)
	appendMsg(t, c, "INBOX", corpusMessage(t, "00001.eml"), nil)
	appendMsg(t, c, "INBOX", corpusMessage(t, "00046.eml"), nil)
	if calls := e.trainer.take(); len(calls) != 0 {
		t.Fatalf("APPEND to INBOX trained: %v", calls)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	junk, err := c.Status("Junk", &imap.StatusOptions{UIDValidity: true}).Wait()
	if err != nil {
		t.Fatal(err)
	}

	// Into Junk: spam, once.
	data, err := c.Move(imap.SeqSetNum(1), "Junk").Wait()
	if err != nil {
		t.Fatalf("MOVE to Junk: %v", err)
	}
	src, _ := data.SourceUIDs.(imap.UIDSet)
	dst, _ := data.DestUIDs.(imap.UIDSet)
	if data.UIDValidity != junk.UIDValidity || !src.Contains(1) || len(dst) != 1 {
		t.Errorf("COPYUID %+v, want Junk's UIDVALIDITY %d and one UID", data, junk.UIDValidity)
	}
	if n := c.Mailbox().NumMessages; n != 1 {
		t.Errorf("INBOX has %d messages after MOVE, want 1", n)
	}
	if calls := e.trainer.take(); !slices.Equal(calls, []trainCall{{alice, true}}) {
		t.Errorf("training after MOVE into Junk: %v, want one spam call", calls)
	}

	// Back out of Junk: ham, once.
	if _, err := c.Select("Junk", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Move(imap.SeqSetNum(1), "INBOX").Wait(); err != nil {
		t.Fatalf("MOVE to INBOX: %v", err)
	}
	if calls := e.trainer.take(); !slices.Equal(calls, []trainCall{{alice, false}}) {
		t.Errorf("training after MOVE out of Junk: %v, want one ham call", calls)
	}

	// Elsewhere: nothing.
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Move(imap.SeqSetNum(1), "Archive").Wait(); err != nil {
		t.Fatalf("MOVE to Archive: %v", err)
	}
	if calls := e.trainer.take(); len(calls) != 0 {
		t.Errorf("MOVE INBOX to Archive trained: %v", calls)
	}

	// mutt: COPY into Junk, then delete and EXPUNGE the original.
	if _, err := c.Copy(imap.SeqSetNum(1), "Junk").Wait(); err != nil {
		t.Fatalf("COPY to Junk: %v", err)
	}
	if err := c.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Expunge().Close(); err != nil {
		t.Fatal(err)
	}
	if calls := e.trainer.take(); !slices.Equal(calls, []trainCall{{alice, true}}) {
		t.Errorf("training after COPY into Junk and EXPUNGE: %v, want one spam call", calls)
	}

	// mbsync: APPEND into Junk.
	appendMsg(t, c, "Junk", simpleMessage("spammy", "buy now"), nil)
	if calls := e.trainer.take(); !slices.Equal(calls, []trainCall{{alice, true}}) {
		t.Errorf("training after APPEND into Junk: %v, want one spam call", calls)
	}
}

func TestCopy(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.login(t, alice, nil)
	for _, f := range []string{"00001.eml", "00333.eml"} {
		appendMsg(t, c, "INBOX", corpusMessage(t, f), &imap.AppendOptions{Flags: []imap.Flag{imap.FlagFlagged}})
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	data, err := c.Copy(imap.SeqSetNum(1, 2), "Archive").Wait()
	if err != nil {
		t.Fatalf("COPY: %v", err)
	}
	st, err := c.Status("Archive", &imap.StatusOptions{NumMessages: true, UIDValidity: true}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if *st.NumMessages != 2 || data.UIDValidity != st.UIDValidity {
		t.Errorf("Archive has %d messages, UIDVALIDITY %d; COPYUID %+v", *st.NumMessages, st.UIDValidity, data)
	}
	src, _ := data.SourceUIDs.Nums()
	dst, _ := data.DestUIDs.Nums()
	if !slices.Equal(src, []imap.UID{1, 2}) || len(dst) != 2 {
		t.Errorf("COPYUID source %v dest %v", src, dst)
	}
	if n := c.Mailbox().NumMessages; n != 2 {
		t.Errorf("INBOX has %d messages after COPY, want 2", n)
	}
	if _, err := c.Copy(imap.SeqSetNum(1), "Nope").Wait(); imapCode(err) != imap.ResponseCodeTryCreate {
		t.Errorf("COPY to a missing mailbox: %v, want NO [TRYCREATE]", err)
	}
	if _, err := c.Select("Archive", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	m := fetchOne(t, c, dst[0], &imap.FetchOptions{Flags: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}}})
	if !slices.Contains(m.Flags, imap.FlagFlagged) || len(m.BodySection) != 1 || len(m.BodySection[0].Bytes) == 0 {
		t.Errorf("copied message: flags %v, %d sections", m.Flags, len(m.BodySection))
	}
}

func TestExpunge(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.login(t, alice, nil)
	for i := range 4 {
		appendMsg(t, c, "INBOX", simpleMessage(fmt.Sprintf("x%d", i), "x"), nil)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	deleted := &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}
	if err := c.Store(imap.SeqSetNum(1, 2, 3), deleted, nil).Close(); err != nil {
		t.Fatal(err)
	}

	// UID EXPUNGE removes only the named message.
	seqs, err := c.UIDExpunge(imap.UIDSetNum(2)).Collect()
	if err != nil {
		t.Fatalf("UID EXPUNGE: %v", err)
	}
	if !slices.Equal(seqs, []uint32{2}) {
		t.Errorf("UID EXPUNGE 2 expunged %v, want [2]", seqs)
	}
	// EXPUNGE removes the rest of the \Deleted ones, highest first.
	seqs, err = c.Expunge().Collect()
	if err != nil {
		t.Fatalf("EXPUNGE: %v", err)
	}
	if !slices.Equal(seqs, []uint32{2, 1}) {
		t.Errorf("EXPUNGE expunged %v, want [2 1]", seqs)
	}
	if got := uidsOf(t, c); !slices.Equal(got, []imap.UID{4}) {
		t.Errorf("left: %v, want [4]", got)
	}
}

func TestAppend(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.login(t, alice, nil)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	before, err := c.Status("INBOX", &imap.StatusOptions{UIDNext: true, UIDValidity: true}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	date := time.Date(2020, 2, 29, 23, 59, 58, 0, time.FixedZone("", -5*3600))
	raw := simpleMessage("appended", "hello")
	cmd := c.Append("INBOX", int64(len(raw)), &imap.AppendOptions{Flags: []imap.Flag{imap.FlagSeen, "$Custom"}, Time: date})
	if _, err := cmd.Write(raw); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := cmd.Wait()
	if err != nil {
		t.Fatalf("APPEND: %v", err)
	}
	if data.UID != before.UIDNext || data.UIDValidity != before.UIDValidity {
		t.Errorf("APPENDUID %d %d, want %d %d", data.UIDValidity, data.UID, before.UIDValidity, before.UIDNext)
	}
	if n := c.Mailbox().NumMessages; n != 1 {
		t.Errorf("selected INBOX shows %d messages after APPEND, want 1", n)
	}
	m := fetchOne(t, c, data.UID, &imap.FetchOptions{Flags: true, InternalDate: true, RFC822Size: true})
	if !sameFlagSet(m.Flags, []imap.Flag{imap.FlagSeen, "$Custom"}) {
		t.Errorf("flags %v", m.Flags)
	}
	if !m.InternalDate.Equal(date) {
		t.Errorf("INTERNALDATE %v, want %v", m.InternalDate, date)
	}
	if m.RFC822Size != int64(len(raw)) {
		t.Errorf("RFC822.SIZE %d, want %d", m.RFC822Size, len(raw))
	}
}
