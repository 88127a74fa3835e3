package imap

import (
	"bytes"
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// listed runs LIST and returns the mailboxes by name.
func listed(t *testing.T, c *imapclient.Client, ref, pattern string, o *imap.ListOptions) map[string]*imap.ListData {
	t.Helper()
	l, err := c.List(ref, pattern, o).Collect()
	if err != nil {
		t.Fatalf("LIST %q %q: %v", ref, pattern, err)
	}
	out := make(map[string]*imap.ListData, len(l))
	for _, d := range l {
		out[d.Mailbox] = d
	}
	return out
}

func names(m map[string]*imap.ListData) []string {
	var out []string
	for n := range m {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

func TestListSpecialUse(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.login(t, alice, nil)

	all := listed(t, c, "", "*", nil)
	want := map[string]imap.MailboxAttr{
		"INBOX": "", "Junk": imap.MailboxAttrJunk, "Trash": imap.MailboxAttrTrash, "Sent": imap.MailboxAttrSent,
		"Drafts": imap.MailboxAttrDrafts, "Archive": imap.MailboxAttrArchive,
	}
	if got := names(all); len(got) != len(want) {
		t.Fatalf("LIST \"\" * = %v, want the six role mailboxes", got)
	}
	for name, attr := range want {
		d := all[name]
		if d == nil {
			t.Errorf("%s not listed", name)
			continue
		}
		if d.Delim != '/' {
			t.Errorf("%s: delimiter %q, want /", name, d.Delim)
		}
		if attr != "" && !slices.Contains(d.Attrs, attr) {
			t.Errorf("%s: attributes %v, want %s", name, d.Attrs, attr)
		}
		if !slices.Contains(d.Attrs, imap.MailboxAttrHasNoChildren) {
			t.Errorf("%s: attributes %v, want \\HasNoChildren", name, d.Attrs)
		}
	}

	special := listed(t, c, "", "*", &imap.ListOptions{SelectSpecialUse: true})
	if got := names(special); !slices.Equal(got, []string{"Archive", "Drafts", "Junk", "Sent", "Trash"}) {
		t.Errorf("LIST (SPECIAL-USE) = %v", got)
	}
	if got := names(listed(t, c, "", "inbox", nil)); !slices.Equal(got, []string{"INBOX"}) {
		t.Errorf("LIST \"\" inbox = %v, want INBOX", got)
	}
	l, err := c.List("", "", nil).Collect()
	if err != nil || len(l) != 1 || l[0].Delim != '/' || !slices.Contains(l[0].Attrs, imap.MailboxAttrNoSelect) {
		t.Errorf("LIST \"\" \"\" = %+v, %v; want the delimiter", l, err)
	}
	ns, err := c.Namespace().Wait()
	if err != nil || len(ns.Personal) != 1 || ns.Personal[0].Delim != '/' || ns.Personal[0].Prefix != "" {
		t.Errorf("NAMESPACE = %+v, %v", ns, err)
	}
}

func TestMailboxLifecycle(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.login(t, alice, nil)

	if err := c.Create("Lists/go", nil).Wait(); err != nil {
		t.Fatalf("CREATE Lists/go: %v", err)
	}
	if err := c.Create("Lists/go", nil).Wait(); imapCode(err) != imap.ResponseCodeAlreadyExists {
		t.Errorf("CREATE existing: %v, want NO [ALREADYEXISTS]", err)
	}
	if err := c.Create("Projects/", nil).Wait(); err != nil {
		t.Errorf("CREATE with a trailing delimiter: %v", err)
	}
	top := listed(t, c, "", "%", nil)
	if d := top["Lists"]; d == nil || !slices.Contains(d.Attrs, imap.MailboxAttrHasChildren) {
		t.Errorf("LIST %% Lists = %+v, want \\HasChildren", d)
	}
	if _, ok := top["Lists/go"]; ok {
		t.Error("LIST % went below the first level")
	}
	if _, ok := top["Projects"]; !ok {
		t.Errorf("LIST %% = %v, want Projects", names(top))
	}
	if got := names(listed(t, c, "Lists/", "%", nil)); !slices.Equal(got, []string{"Lists/go"}) {
		t.Errorf("LIST Lists/ %% = %v", got)
	}

	// Subscriptions.
	if err := c.Subscribe("Lists/go").Wait(); err != nil {
		t.Fatalf("SUBSCRIBE: %v", err)
	}
	sub := listed(t, c, "", "*", &imap.ListOptions{SelectSubscribed: true})
	if d := sub["Lists/go"]; d == nil || !slices.Contains(d.Attrs, imap.MailboxAttrSubscribed) {
		t.Errorf("LIST (SUBSCRIBED) = %v, want Lists/go \\Subscribed", names(sub))
	}
	if err := c.Unsubscribe("Lists/go").Wait(); err != nil {
		t.Fatalf("UNSUBSCRIBE: %v", err)
	}
	if _, ok := listed(t, c, "", "*", &imap.ListOptions{SelectSubscribed: true})["Lists/go"]; ok {
		t.Error("Lists/go still subscribed")
	}

	// RENAME and DELETE.
	if err := c.Rename("Lists/go", "Lists/golang", nil).Wait(); err != nil {
		t.Fatalf("RENAME: %v", err)
	}
	after := listed(t, c, "", "*", nil)
	if _, ok := after["Lists/golang"]; !ok {
		t.Errorf("after RENAME: %v", names(after))
	}
	if _, ok := after["Lists/go"]; ok {
		t.Errorf("old name still listed after RENAME: %v", names(after))
	}
	if err := c.Delete("Lists/golang").Wait(); err != nil {
		t.Fatalf("DELETE: %v", err)
	}

	tests := []struct {
		name string
		run  func() error
		want imap.ResponseCode
	}{
		{"DELETE missing", func() error { return c.Delete("Nope").Wait() }, imap.ResponseCodeNonExistent},
		{"DELETE INBOX", func() error { return c.Delete("INBOX").Wait() }, imap.ResponseCodeCannot},
		{"SELECT missing", func() error { _, err := c.Select("Nope", nil).Wait(); return err }, imap.ResponseCodeNonExistent},
		{"STATUS missing", func() error {
			_, err := c.Status("Nope", &imap.StatusOptions{NumMessages: true}).Wait()
			return err
		}, imap.ResponseCodeNonExistent},
		{"APPEND missing", func() error {
			raw := simpleMessage("x", "y")
			cmd := c.Append("Nope", int64(len(raw)), nil)
			_, _ = cmd.Write(raw)
			_ = cmd.Close()
			_, err := cmd.Wait()
			return err
		}, imap.ResponseCodeTryCreate},
		{"CREATE invalid name", func() error { return c.Create("a//b", nil).Wait() }, imap.ResponseCodeCannot},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.run(); imapCode(err) != tt.want {
				t.Errorf("got %v, want NO [%s]", err, tt.want)
			}
		})
	}
}

func TestStatus(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.login(t, alice, nil)
	m1, m2 := simpleMessage("one", "first"), simpleMessage("two", "second")
	appendMsg(t, c, "INBOX", m1, &imap.AppendOptions{Flags: []imap.Flag{imap.FlagSeen}})
	uid := appendMsg(t, c, "INBOX", m2, &imap.AppendOptions{Flags: []imap.Flag{imap.FlagDeleted}})

	st, err := c.Status("INBOX", &imap.StatusOptions{
		NumMessages: true, UIDNext: true, UIDValidity: true, NumUnseen: true, NumDeleted: true, Size: true,
	}).Wait()
	if err != nil {
		t.Fatalf("STATUS: %v", err)
	}
	if *st.NumMessages != 2 || *st.NumUnseen != 1 || *st.NumDeleted != 1 || st.UIDNext != uid+1 || st.UIDValidity == 0 {
		t.Errorf("STATUS = messages %d unseen %d deleted %d uidnext %d uidvalidity %d",
			*st.NumMessages, *st.NumUnseen, *st.NumDeleted, st.UIDNext, st.UIDValidity)
	}
	if want := int64(len(m1) + len(m2)); *st.Size != want {
		t.Errorf("STATUS SIZE = %d, want %d", *st.Size, want)
	}

	// LIST-STATUS gives the same figures.
	l, err := c.List("", "INBOX", &imap.ListOptions{ReturnStatus: &imap.StatusOptions{NumMessages: true}}).Collect()
	if err != nil || len(l) != 1 || l[0].Status == nil || *l[0].Status.NumMessages != 2 {
		t.Errorf("LIST RETURN (STATUS (MESSAGES)) = %+v, %v", l, err)
	}
}

func TestQuota(t *testing.T) {
	e := newEnv(t, envOptions{})
	if err := e.st.SetQuota(context.Background(), alice, 100); err != nil {
		t.Fatal(err)
	}
	c := e.login(t, alice, nil)
	raw := simpleMessage("big", strings.Repeat("x", 200))
	cmd := c.Append("INBOX", int64(len(raw)), nil)
	_, _ = cmd.Write(raw)
	_ = cmd.Close()
	if _, err := cmd.Wait(); imapCode(err) != imap.ResponseCodeOverQuota {
		t.Errorf("APPEND over quota: %v, want NO [OVERQUOTA]", err)
	}
}

func TestInternalErrorsAreGeneric(t *testing.T) {
	logged := &syncBuffer{}
	e := newEnv(t, envOptions{log: slog.New(slog.NewTextHandler(logged, nil))})
	c := e.login(t, alice, nil)
	if err := e.st.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := c.Status("INBOX", &imap.StatusOptions{NumMessages: true}).Wait()
	if imapCode(err) != imap.ResponseCodeUnavailable {
		t.Fatalf("STATUS on a closed store: %v, want NO [UNAVAILABLE]", err)
	}
	if strings.Contains(err.Error(), "store") {
		t.Errorf("the client was told the detail: %v", err)
	}
	if !strings.Contains(logged.String(), "cmd=STATUS") || !strings.Contains(logged.String(), "user="+alice) {
		t.Errorf("log lacks the detail:\n%s", logged.String())
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
