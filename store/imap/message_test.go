package imap

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	gomessage "github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"
)

// corpusFiles returns ham messages of the shared corpus: plain text, and
// multipart ones.
func corpusFiles() []string {
	return []string{"00001.eml", "00046.eml", "00333.eml", "00086.eml", "00673.eml"}
}

// fetchOne fetches one message by UID.
func fetchOne(t *testing.T, c *imapclient.Client, uid imap.UID, o *imap.FetchOptions) *imapclient.FetchMessageBuffer {
	t.Helper()
	msgs, err := c.Fetch(imap.UIDSetNum(uid), o).Collect()
	if err != nil {
		t.Fatalf("UID FETCH %d: %v", uid, err)
	}
	if len(msgs) != 1 {
		t.Fatalf("UID FETCH %d: %d messages", uid, len(msgs))
	}
	return msgs[0]
}

func TestFetchCorpus(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.login(t, alice, nil)
	raws := make(map[imap.UID][]byte)
	date := time.Date(2002, 12, 2, 11, 24, 20, 0, time.UTC)
	files := corpusFiles()
	for _, f := range files {
		raw := corpusMessage(t, f)
		raws[appendMsg(t, c, "INBOX", raw, &imap.AppendOptions{Time: date})] = crlf(raw)
	}
	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if int(sel.NumMessages) != len(files) {
		t.Fatalf("SELECT: %d messages, want %d", sel.NumMessages, len(files))
	}

	for uid, raw := range raws {
		h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(raw)))
		if err != nil {
			t.Fatalf("uid %d: header: %v", uid, err)
		}
		mh := mail.Header{Header: gomessage.Header{Header: h}}
		headerEnd := bytes.Index(raw, []byte("\r\n\r\n")) + 4

		m := fetchOne(t, c, uid, &imap.FetchOptions{
			UID: true, Flags: true, InternalDate: true, RFC822Size: true, Envelope: true,
			BodyStructure: &imap.FetchItemBodyStructure{Extended: true},
			BodySection: []*imap.FetchItemBodySection{
				{Peek: true},
				{Peek: true, Specifier: imap.PartSpecifierHeader},
				{Peek: true, Specifier: imap.PartSpecifierText},
				{Peek: true, Partial: &imap.SectionPartial{Offset: 10, Size: 20}},
				{Peek: true, Specifier: imap.PartSpecifierHeader, HeaderFields: []string{"Subject"}},
			},
		})
		t.Run(fmt.Sprintf("uid%d", uid), func(t *testing.T) {
			if m.RFC822Size != int64(len(raw)) {
				t.Errorf("RFC822.SIZE %d, want %d", m.RFC822Size, len(raw))
			}
			if !m.InternalDate.Equal(date) {
				t.Errorf("INTERNALDATE %v, want %v", m.InternalDate, date)
			}
			subject, _ := mh.Subject()
			msgID, _ := mh.MessageID()
			if m.Envelope == nil || m.Envelope.Subject != subject || m.Envelope.MessageID != msgID {
				t.Errorf("ENVELOPE %+v, want subject %q message-id %q", m.Envelope, subject, msgID)
			}
			from, _ := mh.AddressList("From")
			if len(from) > 0 && (len(m.Envelope.From) == 0 || m.Envelope.From[0].Addr() != from[0].Address) {
				t.Errorf("ENVELOPE from %+v, want %s", m.Envelope.From, from[0].Address)
			}
			sections := m.BodySection
			if len(sections) != 5 {
				t.Fatalf("%d body sections, want 5", len(sections))
			}
			checks := []struct {
				name string
				got  []byte
				want []byte
			}{
				{"BODY[]", sections[0].Bytes, raw},
				{"BODY[HEADER]", sections[1].Bytes, raw[:headerEnd]},
				{"BODY[TEXT]", sections[2].Bytes, raw[headerEnd:]},
				{"BODY[]<10.20>", sections[3].Bytes, raw[10:30]},
			}
			for _, ck := range checks {
				if !bytes.Equal(ck.got, ck.want) {
					t.Errorf("%s: %d bytes differ from the %d expected", ck.name, len(ck.got), len(ck.want))
				}
			}
			if got := string(sections[4].Bytes); !strings.HasPrefix(strings.ToLower(got), "subject:") || !strings.HasSuffix(got, "\r\n\r\n") {
				t.Errorf("BODY[HEADER.FIELDS (SUBJECT)] = %q", got)
			}
			checkStructure(t, m.BodyStructure, mh, raw[headerEnd:], c, uid)
			if slices.Contains(m.Flags, imap.FlagSeen) {
				t.Error("BODY.PEEK set \\Seen")
			}
		})
	}

	// A fetch without PEEK sets \Seen and says so.
	var uid imap.UID = 1
	m := fetchOne(t, c, uid, &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{Specifier: imap.PartSpecifierText}}})
	if !slices.Contains(m.Flags, imap.FlagSeen) {
		t.Errorf("BODY[TEXT] response flags %v, want \\Seen", m.Flags)
	}
	if m := fetchOne(t, c, uid, &imap.FetchOptions{Flags: true}); !slices.Contains(m.Flags, imap.FlagSeen) {
		t.Errorf("flags after BODY[TEXT] %v, want \\Seen", m.Flags)
	}
}

// checkStructure compares BODYSTRUCTURE with the message's MIME structure
// and fetches BODY[1] of multipart messages.
func checkStructure(t *testing.T, bs imap.BodyStructure, mh mail.Header, body []byte, c *imapclient.Client, uid imap.UID) {
	t.Helper()
	mediaType, params, _ := mh.ContentType()
	if !strings.HasPrefix(mediaType, "multipart/") {
		sp, ok := bs.(*imap.BodyStructureSinglePart)
		if !ok {
			t.Fatalf("BODYSTRUCTURE %T for %s", bs, mediaType)
		}
		if got := strings.ToLower(sp.Type + "/" + sp.Subtype); got != mediaType {
			t.Errorf("BODYSTRUCTURE type %s, want %s", got, mediaType)
		}
		if int(sp.Size) != len(body) {
			t.Errorf("BODYSTRUCTURE size %d, want %d", sp.Size, len(body))
		}
		return
	}
	mp, ok := bs.(*imap.BodyStructureMultiPart)
	if !ok {
		t.Fatalf("BODYSTRUCTURE %T for %s", bs, mediaType)
	}
	if got := "multipart/" + strings.ToLower(mp.Subtype); got != mediaType {
		t.Errorf("BODYSTRUCTURE subtype %s, want %s", got, mediaType)
	}
	mr := textproto.NewMultipartReader(bytes.NewReader(body), params["boundary"])
	var first []byte
	n := 0
	for {
		p, err := mr.NextPart()
		if err != nil {
			break
		}
		if n == 0 {
			first, _ = io.ReadAll(p)
		}
		n++
	}
	if len(mp.Children) != n {
		t.Errorf("BODYSTRUCTURE has %d parts, want %d", len(mp.Children), n)
	}
	m := fetchOne(t, c, uid, &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{Peek: true, Part: []int{1}}}})
	if len(m.BodySection) != 1 || !bytes.Equal(m.BodySection[0].Bytes, first) {
		t.Errorf("BODY[1] differs from the first part (%d bytes)", len(first))
	}
}

func TestFetchBinary(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.login(t, alice, nil)
	raw := []byte("From: bob@example.test\r\nTo: alice@example.test\r\nSubject: binary\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n" +
		"--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\nAAEC/w==\r\n--b--\r\n")
	uid := appendMsg(t, c, "INBOX", raw, nil)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	m := fetchOne(t, c, uid, &imap.FetchOptions{
		BinarySection:     []*imap.FetchItemBinarySection{{Part: []int{2}, Peek: true}},
		BinarySectionSize: []*imap.FetchItemBinarySectionSize{{Part: []int{2}}},
	})
	if len(m.BinarySection) != 1 || !bytes.Equal(m.BinarySection[0].Bytes, []byte{0, 1, 2, 0xff}) {
		t.Errorf("BINARY[2] = %+v, want 00 01 02 ff", m.BinarySection)
	}
	if len(m.BinarySectionSize) != 1 || m.BinarySectionSize[0].Size != 4 {
		t.Errorf("BINARY.SIZE[2] = %+v, want 4", m.BinarySectionSize)
	}
}

func TestSearch(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.login(t, alice, nil)
	day := func(d int) time.Time { return time.Date(2024, 3, d, 12, 0, 0, 0, time.UTC) }
	msgs := []struct {
		raw   []byte
		flags []imap.Flag
		date  time.Time
	}{
		{simpleMessage("lunch", "shall we meet at noon"), []imap.Flag{imap.FlagSeen}, day(1)},
		{simpleMessage("report", "the quarterly numbers"), []imap.Flag{imap.FlagFlagged, "$Work"}, day(2)},
		{[]byte("From: Carol <carol@example.org>\r\nTo: alice@example.test\r\nSubject: =?UTF-8?Q?caf=C3=A9?=\r\n" +
			"X-Tag: blue\r\n\r\n" + strings.Repeat("padding line\r\n", 100)), nil, day(3)},
		{corpusMessage(t, "00046.eml"), []imap.Flag{imap.FlagDeleted}, day(4)},
	}
	for _, m := range msgs {
		appendMsg(t, c, "INBOX", m.raw, &imap.AppendOptions{Flags: m.flags, Time: m.date})
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cr   imap.SearchCriteria
		want []uint32
	}{
		{"ALL", imap.SearchCriteria{}, []uint32{1, 2, 3, 4}},
		{"sequence set", imap.SearchCriteria{SeqNum: []imap.SeqSet{imap.SeqSetNum(2, 4)}}, []uint32{2, 4}},
		{"UID range", imap.SearchCriteria{UID: []imap.UIDSet{{imap.UIDRange{Start: 2, Stop: 3}}}}, []uint32{2, 3}},
		{"SEEN", imap.SearchCriteria{Flag: []imap.Flag{imap.FlagSeen}}, []uint32{1}},
		{"UNSEEN", imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagSeen}}, []uint32{2, 3, 4}},
		{"DELETED", imap.SearchCriteria{Flag: []imap.Flag{imap.FlagDeleted}}, []uint32{4}},
		{"KEYWORD any case", imap.SearchCriteria{Flag: []imap.Flag{"$work"}}, []uint32{2}},
		{"FROM", imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "From", Value: "CAROL"}}}, []uint32{3}},
		{"SUBJECT encoded word", imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: "café"}}}, []uint32{3}},
		{"HEADER present", imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "X-Tag", Value: ""}}}, []uint32{3}},
		{"BODY", imap.SearchCriteria{Body: []string{"quarterly"}}, []uint32{2}},
		{"BODY not in header", imap.SearchCriteria{Body: []string{"carol"}}, nil},
		{"TEXT in header", imap.SearchCriteria{Text: []string{"carol"}}, []uint32{3}},
		{"SINCE", imap.SearchCriteria{Since: day(3)}, []uint32{3, 4}},
		{"BEFORE", imap.SearchCriteria{Before: day(2)}, []uint32{1}},
		{"ON", imap.SearchCriteria{Since: day(2), Before: day(3)}, []uint32{2}},
		{"LARGER", imap.SearchCriteria{Larger: 1000}, []uint32{3, 4}},
		{"SMALLER", imap.SearchCriteria{Smaller: 1000}, []uint32{1, 2}},
		{"NOT", imap.SearchCriteria{Not: []imap.SearchCriteria{{Flag: []imap.Flag{imap.FlagSeen}}}}, []uint32{2, 3, 4}},
		{"OR", imap.SearchCriteria{Or: [][2]imap.SearchCriteria{{
			{Flag: []imap.Flag{imap.FlagSeen}}, {Flag: []imap.Flag{imap.FlagFlagged}},
		}}}, []uint32{1, 2}},
		{"AND of several", imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagDeleted}, Larger: 100, Body: []string{"padding"}}, []uint32{3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, err := c.Search(&tt.cr, nil).Wait()
			if err != nil {
				t.Fatalf("SEARCH: %v", err)
			}
			if got := data.AllSeqNums(); !slices.Equal(got, tt.want) {
				t.Errorf("SEARCH = %v, want %v", got, tt.want)
			}
			udata, err := c.UIDSearch(&tt.cr, nil).Wait()
			if err != nil {
				t.Fatalf("UID SEARCH: %v", err)
			}
			var got []uint32
			for _, u := range udata.AllUIDs() {
				got = append(got, uint32(u))
			}
			if !slices.Equal(got, tt.want) { // UIDs are 1..4 here
				t.Errorf("UID SEARCH = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestStoreFlags(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.login(t, alice, nil)
	for i := range 3 {
		appendMsg(t, c, "INBOX", simpleMessage(fmt.Sprintf("m%d", i), "x"), nil)
	}
	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(sel.PermanentFlags, imap.FlagWildcard) {
		t.Errorf("PERMANENTFLAGS %v, want \\*", sel.PermanentFlags)
	}
	flagsOf := func(seq uint32) []imap.Flag {
		msgs, err := c.Fetch(imap.SeqSetNum(seq), &imap.FetchOptions{Flags: true}).Collect()
		if err != nil || len(msgs) != 1 {
			t.Fatalf("FETCH %d FLAGS: %v", seq, err)
		}
		return msgs[0].Flags
	}
	steps := []struct {
		name   string
		set    imap.SeqSet
		op     imap.StoreFlagsOp
		silent bool
		flags  []imap.Flag
		check  uint32
		want   []imap.Flag
	}{
		{"add", imap.SeqSetNum(1, 2), imap.StoreFlagsAdd, false, []imap.Flag{imap.FlagFlagged, "$Label1"}, 2, []imap.Flag{imap.FlagFlagged, "$Label1"}},
		{"add in other case", imap.SeqSetNum(2), imap.StoreFlagsAdd, false, []imap.Flag{`\SEEN`}, 2, []imap.Flag{imap.FlagFlagged, "$Label1", imap.FlagSeen}},
		{"remove", imap.SeqSetNum(2), imap.StoreFlagsDel, false, []imap.Flag{imap.FlagFlagged}, 2, []imap.Flag{"$Label1", imap.FlagSeen}},
		{"replace silently", imap.SeqSetNum(3), imap.StoreFlagsSet, true, []imap.Flag{imap.FlagAnswered}, 3, []imap.Flag{imap.FlagAnswered}},
		{"star", imap.SeqSet{imap.SeqRange{Start: 0, Stop: 0}}, imap.StoreFlagsAdd, false, []imap.Flag{imap.FlagDraft}, 3, []imap.Flag{imap.FlagAnswered, imap.FlagDraft}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			resp, err := c.Store(st.set, &imap.StoreFlags{Op: st.op, Silent: st.silent, Flags: st.flags}, nil).Collect()
			if err != nil {
				t.Fatalf("STORE: %v", err)
			}
			if st.silent && len(resp) != 0 {
				t.Errorf(".SILENT answered with %d FETCH responses", len(resp))
			}
			// imapclient cannot match responses to "*": they arrive as
			// unilateral data.
			if !st.silent && !st.set.Dynamic() && len(resp) == 0 {
				t.Error("STORE answered without FETCH responses")
			}
			if got := flagsOf(st.check); !sameFlagSet(got, st.want) {
				t.Errorf("flags of %d = %v, want %v", st.check, got, st.want)
			}
		})
	}
}

func sameFlagSet(a, b []imap.Flag) bool {
	as, bs := make([]string, len(a)), make([]string, len(b))
	for i, f := range a {
		as[i] = string(f)
	}
	for i, f := range b {
		bs[i] = string(f)
	}
	return sameFlags(as, bs)
}

func TestExamineIsReadOnly(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.login(t, alice, nil)
	appendMsg(t, c, "INBOX", simpleMessage("ro", "x"), &imap.AppendOptions{Flags: []imap.Flag{imap.FlagDeleted}})
	if _, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		t.Fatal(err)
	}
	m := fetchOne(t, c, 1, &imap.FetchOptions{Flags: true, BodySection: []*imap.FetchItemBodySection{{}}})
	if slices.Contains(m.Flags, imap.FlagSeen) {
		t.Error("BODY[] on an EXAMINEd mailbox set \\Seen")
	}
	if _, err := c.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagSeen}}, nil).Collect(); err == nil {
		t.Error("STORE on an EXAMINEd mailbox succeeded")
	}
	if err := c.Expunge().Close(); err == nil {
		t.Error("EXPUNGE on an EXAMINEd mailbox succeeded")
	}
	if err := c.UnselectAndExpunge().Wait(); err != nil {
		t.Errorf("CLOSE: %v", err)
	}
	st, err := c.Status("INBOX", &imap.StatusOptions{NumMessages: true}).Wait()
	if err != nil || *st.NumMessages != 1 {
		t.Errorf("after CLOSE of an EXAMINEd mailbox: %v messages, %v; want the \\Deleted message kept", st, err)
	}
}
