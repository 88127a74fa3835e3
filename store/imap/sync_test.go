package imap

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// updates collects a client's unilateral data.
type updates struct {
	exists  chan uint32
	expunge chan uint32
	flags   chan flagUpdate
}

type flagUpdate struct {
	seq   uint32
	flags []imap.Flag
}

func newUpdates() *updates {
	return &updates{exists: make(chan uint32, 64), expunge: make(chan uint32, 64), flags: make(chan flagUpdate, 64)}
}

func (u *updates) options() *imapclient.Options {
	return &imapclient.Options{UnilateralDataHandler: &imapclient.UnilateralDataHandler{
		Mailbox: func(d *imapclient.UnilateralDataMailbox) {
			if d.NumMessages != nil {
				u.exists <- *d.NumMessages
			}
		},
		Expunge: func(seq uint32) { u.expunge <- seq },
		Fetch: func(msg *imapclient.FetchMessageData) {
			b, err := msg.Collect()
			if err == nil && b.Flags != nil {
				u.flags <- flagUpdate{b.SeqNum, b.Flags}
			}
		},
	}}
}

// next waits for the next value on ch; the deadline only bounds a test
// that would otherwise hang.
func next[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("no %s", what)
		panic("unreachable")
	}
}

// none checks that nothing is waiting on ch.
func none[T any](t *testing.T, ch <-chan T, what string) {
	t.Helper()
	select {
	case v := <-ch:
		t.Errorf("unexpected %s: %v", what, v)
	default:
	}
}

func TestIdle(t *testing.T) {
	e := newEnv(t, envOptions{})
	u := newUpdates()
	a := e.login(t, alice, u.options())
	b := e.login(t, alice, nil)
	appendMsg(t, b, "INBOX", simpleMessage("first", "x"), nil)
	if _, err := a.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	idle, err := a.Idle()
	if err != nil {
		t.Fatalf("IDLE: %v", err)
	}

	appendMsg(t, b, "INBOX", simpleMessage("second", "x"), nil)
	if n := next(t, u.exists, "EXISTS after APPEND"); n != 2 {
		t.Errorf("EXISTS %d after APPEND, want 2", n)
	}
	if err := e.st.Deliver(context.Background(), alice, false, bytes.NewReader(simpleMessage("third", "x"))); err != nil {
		t.Fatal(err)
	}
	if n := next(t, u.exists, "EXISTS after delivery"); n != 3 {
		t.Errorf("EXISTS %d after delivery, want 3", n)
	}
	if _, err := b.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := b.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagFlagged}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	if f := next(t, u.flags, "FETCH FLAGS"); f.seq != 1 || !slices.Contains(f.flags, imap.FlagFlagged) {
		t.Errorf("FETCH %d FLAGS %v, want 1 with \\Flagged", f.seq, f.flags)
	}
	if err := b.Store(imap.SeqSetNum(2), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	next(t, u.flags, "FETCH FLAGS of the \\Deleted message")
	if err := b.Expunge().Close(); err != nil {
		t.Fatal(err)
	}
	if seq := next(t, u.expunge, "EXPUNGE"); seq != 2 {
		t.Errorf("EXPUNGE %d, want 2", seq)
	}
	if err := idle.Close(); err != nil {
		t.Fatal(err)
	}
	if err := idle.Wait(); err != nil {
		t.Fatalf("IDLE: %v", err)
	}
	if got := uidsOf(t, a); !slices.Equal(got, []imap.UID{1, 3}) {
		t.Errorf("after IDLE: UIDs %v, want [1 3]", got)
	}
}

// TestSessionsSeeExpunges checks that a session's sequence numbers stay
// its own while another session expunges: EXPUNGE waits for a command
// that allows it.
func TestSessionsSeeExpunges(t *testing.T) {
	e := newEnv(t, envOptions{})
	u := newUpdates()
	a := e.login(t, alice, u.options())
	b := e.login(t, alice, nil)
	for i := range 5 {
		appendMsg(t, b, "INBOX", simpleMessage(fmt.Sprintf("m%d", i), "x"), nil)
	}
	for _, c := range []*imapclient.Client{a, b} {
		if _, err := c.Select("INBOX", nil).Wait(); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Store(imap.SeqSetNum(2), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	if seqs, err := b.Expunge().Collect(); err != nil || !slices.Equal(seqs, []uint32{2}) {
		t.Fatalf("B EXPUNGE: %v %v", seqs, err)
	}

	// A's FETCH and SEARCH still use A's numbering; no EXPUNGE yet. The
	// first FETCH lets A's session learn of the expunge (the store
	// announced it before B's EXPUNGE completed); the message it may not
	// report yet is then left out.
	if _, err := a.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{Flags: true}).Collect(); err != nil {
		t.Fatal(err)
	}
	msgs, err := a.Fetch(imap.SeqSet{{Start: 1, Stop: 5}}, &imap.FetchOptions{UID: true}).Collect()
	if err != nil {
		t.Fatalf("A FETCH: %v", err)
	}
	got := map[uint32]imap.UID{}
	for _, m := range msgs {
		got[m.SeqNum] = m.UID
	}
	if want := map[uint32]imap.UID{1: 1, 3: 3, 4: 4, 5: 5}; len(got) != len(want) || got[1] != 1 || got[3] != 3 || got[4] != 4 || got[5] != 5 {
		t.Errorf("A FETCH 1:5 = %v, want %v (the expunged message left out)", got, want)
	}
	data, err := a.Search(&imap.SearchCriteria{}, nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if s := data.AllSeqNums(); !slices.Equal(s, []uint32{1, 3, 4, 5}) {
		t.Errorf("A SEARCH ALL = %v, want [1 3 4 5]", s)
	}
	none(t, u.expunge, "EXPUNGE during FETCH or SEARCH")

	// NOOP may expunge.
	if err := a.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	if seq := next(t, u.expunge, "EXPUNGE at NOOP"); seq != 2 {
		t.Errorf("A got EXPUNGE %d, want 2", seq)
	}
	if got := uidsOf(t, a); !slices.Equal(got, []imap.UID{1, 3, 4, 5}) {
		t.Errorf("A UIDs %v, want [1 3 4 5]", got)
	}

	// And the other way round: A expunges, B learns at its next NOOP.
	bu := newUpdates()
	b2 := e.login(t, alice, bu.options())
	if _, err := b2.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := a.Store(imap.SeqSetNum(4), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	if seqs, err := a.UIDExpunge(imap.UIDSetNum(5)).Collect(); err != nil || !slices.Equal(seqs, []uint32{4}) {
		t.Fatalf("A UID EXPUNGE 5: %v %v", seqs, err)
	}
	if err := b2.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	if seq := next(t, bu.expunge, "EXPUNGE at B's NOOP"); seq != 4 {
		t.Errorf("B got EXPUNGE %d, want 4", seq)
	}
	if got := uidsOf(t, b2); !slices.Equal(got, []imap.UID{1, 3, 4}) {
		t.Errorf("B UIDs %v, want [1 3 4]", got)
	}
}

// TestNoopSeesNewMail checks polling without IDLE.
func TestNoopSeesNewMail(t *testing.T) {
	e := newEnv(t, envOptions{})
	u := newUpdates()
	a := e.login(t, alice, u.options())
	if _, err := a.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if err := e.st.Deliver(context.Background(), alice, false, bytes.NewReader(simpleMessage(fmt.Sprintf("m%d", i), "x"))); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.st.Deliver(context.Background(), alice, true, bytes.NewReader(simpleMessage("junk", "x"))); err != nil {
		t.Fatal(err)
	}
	if err := a.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	if n := next(t, u.exists, "EXISTS at NOOP"); n != 2 {
		t.Errorf("EXISTS %d, want 2 (the junk message went to Junk)", n)
	}
	if got := a.Mailbox().NumMessages; got != 2 {
		t.Errorf("client counts %d messages, want 2", got)
	}
}
