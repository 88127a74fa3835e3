//go:build e2e

package main_test

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// The load of the store crash test.
const (
	scUser      = "alice@local.test"
	scPass      = "alice-crash-secret"
	scSMTP      = 4                // SMTP client connections
	scIMAP      = 2                // IMAP clients moving and flagging
	scKillAt    = 200              // acknowledged deliveries before the kill
	scLoadLimit = 15 * time.Second // the kill comes at the latest then
	scMinAcked  = 20               // fewer acknowledgements: the load did not run
	scDrain     = 10 * time.Second // clients noticing the kill
	scMovePick  = 4                // UIDs a mover picks in each pass
)

// scMsgID finds the number in a Message-ID of the crash test.
var scMsgID = regexp.MustCompile(`<crash-(\d+)@test>`)

// scHeader and scBody make the FETCH items of the check after the restart.
var (
	scHeader = &imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader, HeaderFields: []string{"Message-ID"}, Peek: true}
	scBody   = &imap.FetchItemBodySection{Specifier: imap.PartSpecifierText, Peek: true}
)

// scText is the body of message n: about 3 KB, so that a torn write
// would show.
func scText(n int) string {
	var b strings.Builder
	for i := range 40 {
		fmt.Fprintf(&b, "crash-%d line %02d: the quick brown fox jumps over the lazy dog, again and again\r\n", n, i)
	}
	return b.String()
}

// scMessage is the whole message n as sent.
func scMessage(n int) []byte {
	return []byte(fmt.Sprintf("From: <load@client.e2e.test>\r\nTo: <%s>\r\nSubject: store crash test %d\r\n"+
		"Date: %s\r\nMessage-ID: <crash-%d@test>\r\n\r\n%s",
		scUser, n, time.Now().Format(time.RFC1123Z), n, scText(n)))
}

// storeLoad is the state of the load before the kill, shared by the
// clients.
type storeLoad struct {
	next    atomic.Int64 // the last Message-ID number handed out
	killed  atomic.Bool  // set just before the kill: I/O errors are expected
	reached chan struct{}
	once    sync.Once

	mu       sync.Mutex
	sent     map[int]bool // DATA began
	acked    map[int]bool // 250 at the end of data
	refused  []string     // other replies
	refusedN map[int]bool // the messages that got them
	errs     []string     // failures that are not the kill's
	moves    int          // messages moved (COPYUID source UIDs)
	stores   int          // UID STORE commands done
	passes   int          // mover passes over a mailbox
	maxUID   map[string]imap.UID
	validity map[string]uint32
	clients  []*imapclient.Client
}

func newStoreLoad() *storeLoad {
	return &storeLoad{
		reached: make(chan struct{}),
		sent:    map[int]bool{}, acked: map[int]bool{}, refusedN: map[int]bool{},
		maxUID: map[string]imap.UID{}, validity: map[string]uint32{},
	}
}

// fail records a failure of a client; a failure of I/O after the kill is
// expected and not recorded. A server's tagged NO or BAD always is.
func (l *storeLoad) fail(err error, format string, args ...any) {
	var ie *imap.Error
	if l.killed.Load() && !errors.As(err, &ie) {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.errs = append(l.errs, fmt.Sprintf(format, args...)+": "+err.Error())
}

// sawUIDs records the UIDs and UIDVALIDITY a client was shown in box.
func (l *storeLoad) sawUIDs(box string, validity uint32, uids []imap.UID) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if v, ok := l.validity[box]; ok && v != validity && validity != 0 {
		l.errs = append(l.errs, fmt.Sprintf("%s: UIDVALIDITY changed from %d to %d under load", box, v, validity))
	}
	if validity != 0 {
		l.validity[box] = validity
	}
	for _, u := range uids {
		l.maxUID[box] = max(l.maxUID[box], u)
	}
}

// sender delivers messages over one SMTP connection until the kill.
func (l *storeLoad) sender(addr string, stop <-chan struct{}) {
	c, err := dialSMTP(addr)
	if err != nil {
		l.fail(err, "SMTP dial")
		return
	}
	defer c.Close()
	for {
		select {
		case <-stop:
			return
		default:
		}
		n := int(l.next.Add(1))
		l.mu.Lock()
		l.sent[n] = true
		l.mu.Unlock()
		out, err := sendOn(c, "load@client.e2e.test", []string{scUser}, scMessage(n))
		if err != nil {
			l.fail(err, "SMTP crash-%d", n)
			return
		}
		l.mu.Lock()
		if strings.HasPrefix(out.data, "250") {
			l.acked[n] = true
		} else {
			l.refused = append(l.refused, fmt.Sprintf("crash-%d: RCPT %q, end of data %q", n, out.rcpts, out.data))
			l.refusedN[n] = true
		}
		k := len(l.acked)
		l.mu.Unlock()
		if k >= scKillAt {
			l.once.Do(func() { close(l.reached) })
		}
	}
}

// mover logs in over IMAP and, until the kill, moves a few messages from
// INBOX to Junk and from Junk back, and sets or clears flags on others.
func (l *storeLoad) mover(addr string, id int, stop <-chan struct{}) {
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		l.fail(err, "IMAP %d dial", id)
		return
	}
	l.mu.Lock()
	l.clients = append(l.clients, c)
	l.mu.Unlock()
	defer c.Close()
	if err := c.Login(scUser, scPass).Wait(); err != nil {
		l.fail(err, "IMAP %d LOGIN", id)
		return
	}
	for pass := 0; ; pass++ {
		for _, dir := range [][2]string{{"INBOX", "Junk"}, {"Junk", "INBOX"}} {
			select {
			case <-stop:
				return
			default:
			}
			if !l.movePass(c, id, pass, dir[0], dir[1]) {
				return
			}
		}
	}
}

// movePass selects from, moves some of its messages to to and stores
// flags on others; false means the client must stop.
func (l *storeLoad) movePass(c *imapclient.Client, id, pass int, from, to string) bool {
	sel, err := c.Select(from, nil).Wait()
	if err != nil {
		l.fail(err, "IMAP %d SELECT %s", id, from)
		return false
	}
	sd, err := c.UIDSearch(&imap.SearchCriteria{}, nil).Wait()
	if err != nil {
		l.fail(err, "IMAP %d UID SEARCH ALL in %s", id, from)
		return false
	}
	uids := sd.AllUIDs()
	l.sawUIDs(from, sel.UIDValidity, uids)
	if len(uids) == 0 {
		return true
	}
	// The newest messages (just delivered or moved in) and a spread of
	// older ones; the two movers pick different ones.
	var pick []imap.UID
	for i := range scMovePick {
		var u imap.UID
		if i%2 == 0 {
			u = uids[len(uids)-1-(i/2+id)%len(uids)]
		} else {
			u = uids[(pass*7+id*3+i)%len(uids)]
		}
		if !slices.Contains(pick, u) {
			pick = append(pick, u)
		}
	}
	md, err := c.Move(imap.UIDSetNum(pick...), to).Wait()
	if err != nil {
		l.fail(err, "IMAP %d UID MOVE %v %s -> %s", id, pick, from, to)
		return false
	}
	moved, _ := md.SourceUIDs.(imap.UIDSet)
	dest, _ := md.DestUIDs.(imap.UIDSet)
	srcNums, _ := moved.Nums()
	destNums, _ := dest.Nums()
	l.sawUIDs(to, md.UIDValidity, destNums)
	var flag []imap.UID
	for _, u := range uids {
		if !slices.Contains(pick, u) && int(u)%3 == pass%3 {
			flag = append(flag, u)
		}
	}
	op := imap.StoreFlagsAdd
	if pass%2 == 1 {
		op = imap.StoreFlagsDel
	}
	if len(flag) > 0 {
		st := &imap.StoreFlags{Op: op, Silent: true, Flags: []imap.Flag{imap.FlagSeen, imap.FlagFlagged}}
		if err := c.Store(imap.UIDSetNum(flag...), st, nil).Close(); err != nil {
			l.fail(err, "IMAP %d UID STORE %v in %s", id, flag, from)
			return false
		}
	}
	l.mu.Lock()
	l.moves += len(srcNums)
	l.passes++
	if len(flag) > 0 {
		l.stores++
	}
	l.mu.Unlock()
	return true
}

// TestE2EStoreCrash kills moat with SIGKILL while SMTP clients deliver to
// the built-in store and IMAP clients move messages between INBOX and
// Junk and change flags, restarts it on the same data_dir and requires
// every acknowledged message in exactly one of the two mailboxes, intact,
// and an index that agrees with itself: STATUS, SELECT and FETCH counts,
// UNSEEN and SIZE, strictly increasing UIDs, no UID handed out before the
// kill given again, and UIDVALIDITY unchanged.
func TestE2EStoreCrash(t *testing.T) {
	t.Parallel()
	begin := time.Now()
	p, cfg := newConfig(t, nil, "", "")
	p.IMAPPort = freePort(t)
	writeFile(t, cfg, configYAML(p))
	m := startMoat(t, p, cfg)
	addUser(t, cfg, scUser, scPass)
	imapAddr := fmt.Sprintf("127.0.0.1:%d", p.IMAPPort)

	l := newStoreLoad()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range scSMTP {
		wg.Go(func() { l.sender(m.addr(), stop) })
	}
	for id := range scIMAP {
		wg.Go(func() { l.mover(imapAddr, id, stop) })
	}
	ended := make(chan struct{})
	go func() { wg.Wait(); close(ended) }()
	limit := time.NewTimer(scLoadLimit)
	defer limit.Stop()
	select {
	case <-l.reached:
	case <-limit.C:
	case <-ended:
	}

	l.killed.Store(true)
	if err := m.cmd.Process.Kill(); err != nil {
		t.Fatalf("kill -9: %v", err)
	}
	<-m.exited
	close(stop)
	drain := time.NewTimer(scDrain)
	defer drain.Stop()
	select {
	case <-ended:
	case <-drain.C:
		l.mu.Lock()
		for _, c := range l.clients {
			_ = c.Close()
		}
		l.mu.Unlock()
		t.Fatalf("clients still running %v after the kill", scDrain)
	}
	// Every client has returned: the load's state is final.
	loadTime := time.Since(begin)
	if len(l.errs) > 0 {
		t.Errorf("%d client failures before the kill:\n%s", len(l.errs), strings.Join(l.errs, "\n"))
	}
	if len(l.refused) > 0 {
		t.Errorf("%d deliveries refused before the kill: %q", len(l.refused), l.refused)
	}
	if lines := m.log.lines("level=ERROR"); len(lines) > 0 {
		t.Errorf("errors logged before the kill:\n%s", strings.Join(lines, "\n"))
	}
	if len(l.acked) < scMinAcked {
		t.Fatalf("only %d deliveries acknowledged before the kill; the load did not run", len(l.acked))
	}
	if l.moves == 0 {
		t.Errorf("no message was moved before the kill; the IMAP load did not run")
	}

	m2 := startMoat(t, p, cfg)
	for _, line := range m2.log.lines("store: recover") {
		t.Logf("repair after the restart: %s", line)
	}
	c, err := imapclient.DialInsecure(imapAddr, nil)
	if err != nil {
		t.Fatalf("IMAP dial after the restart: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if err := c.Login(scUser, scPass).Wait(); err != nil {
		t.Fatalf("LOGIN after the restart: %v", err)
	}
	where := map[int][]string{} // message number -> "box/uid" of each copy
	boxes := map[string]scBox{}
	for _, box := range []string{"INBOX", "Junk"} {
		b := l.checkBox(t, c, box)
		boxes[box] = b
		for n, uid := range b.ids {
			where[n] = append(where[n], fmt.Sprintf("%s/%d", box, uid))
		}
	}

	var missing, dups, unknown, refusedStored []string
	unacked := 0
	for n := range l.acked {
		if len(where[n]) == 0 {
			missing = append(missing, fmt.Sprintf("crash-%d", n))
		}
	}
	for n, locs := range where {
		if len(locs) > 1 {
			dups = append(dups, fmt.Sprintf("crash-%d at %v", n, locs))
		}
		switch {
		case !l.sent[n]:
			unknown = append(unknown, fmt.Sprintf("crash-%d", n))
		case !l.acked[n]:
			unacked++
		}
	}
	for n := range l.refusedN {
		if len(where[n]) > 0 {
			refusedStored = append(refusedStored, fmt.Sprintf("crash-%d at %v", n, where[n]))
		}
	}
	slices.Sort(missing)
	slices.Sort(dups)
	if len(missing) > 0 {
		t.Errorf("%d acknowledged messages lost: %v", len(missing), missing)
	}
	if len(dups) > 0 {
		t.Errorf("%d messages stored more than once: %v", len(dups), dups)
	}
	if len(unknown) > 0 {
		t.Errorf("messages never sent are stored: %v", unknown)
	}
	if len(refusedStored) > 0 {
		t.Errorf("refused messages are stored: %v", refusedStored)
	}

	l.checkNewDelivery(t, m2, c, boxes)
	if lines := m2.log.lines("level=ERROR"); len(lines) > 0 {
		t.Errorf("errors logged after the restart:\n%s", strings.Join(lines, "\n"))
	}
	t.Logf("kill -9 after %v: %d sent, %d acknowledged, %d stored (%d never acknowledged; INBOX %d, Junk %d); "+
		"%d messages moved and %d UID STOREs in %d mover passes before the kill; whole test %v",
		loadTime.Round(time.Millisecond), len(l.sent), len(l.acked), len(where), unacked,
		len(boxes["INBOX"].ids), len(boxes["Junk"].ids), l.moves, l.stores, l.passes, time.Since(begin).Round(time.Millisecond))
}

// scBox is what the check after the restart found in a mailbox.
type scBox struct {
	ids      map[int]imap.UID // message number -> UID
	maxUID   imap.UID
	uidNext  imap.UID
	messages uint32
}

// checkBox checks one mailbox after the restart against itself and
// against what the clients saw before the kill, and returns its messages.
func (l *storeLoad) checkBox(t *testing.T, c *imapclient.Client, box string) scBox {
	t.Helper()
	so := &imap.StatusOptions{NumMessages: true, UIDNext: true, UIDValidity: true, NumUnseen: true, Size: c.Caps().Has(imap.CapIMAP4rev2) || c.Caps().Has(imap.CapStatusSize)}
	st, err := c.Status(box, so).Wait()
	if err != nil {
		t.Fatalf("STATUS %s: %v", box, err)
	}
	sel, err := c.Select(box, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		t.Fatalf("EXAMINE %s: %v", box, err)
	}
	var msgs []*imapclient.FetchMessageBuffer
	if sel.NumMessages > 0 {
		fo := &imap.FetchOptions{UID: true, Flags: true, RFC822Size: true, BodySection: []*imap.FetchItemBodySection{scHeader, scBody}}
		msgs, err = c.Fetch(imap.SeqSet{{Start: 1, Stop: sel.NumMessages}}, fo).Collect()
		if err != nil {
			t.Fatalf("FETCH 1:%d in %s: %v", sel.NumMessages, box, err)
		}
	}
	slices.SortFunc(msgs, func(a, b *imapclient.FetchMessageBuffer) int { return int(a.SeqNum) - int(b.SeqNum) })
	if st.NumMessages == nil || *st.NumMessages != uint32(len(msgs)) || sel.NumMessages != uint32(len(msgs)) {
		t.Errorf("%s: STATUS MESSAGES %v, SELECT EXISTS %d, FETCH returned %d", box, fmtPtr(st.NumMessages), sel.NumMessages, len(msgs))
	}
	l.mu.Lock()
	validity, seenMax := l.validity[box], l.maxUID[box]
	l.mu.Unlock()
	if st.UIDValidity != sel.UIDValidity || (validity != 0 && st.UIDValidity != validity) {
		t.Errorf("%s: UIDVALIDITY %d (STATUS) %d (SELECT), %d before the kill; want all equal", box, st.UIDValidity, sel.UIDValidity, validity)
	}
	b := scBox{ids: map[int]imap.UID{}, uidNext: st.UIDNext, messages: uint32(len(msgs))}
	var unseen uint32
	var size int64
	for i, msg := range msgs {
		if msg.SeqNum != uint32(i+1) {
			t.Errorf("%s: FETCH results have sequence numbers %d at position %d", box, msg.SeqNum, i+1)
		}
		if msg.UID <= b.maxUID {
			t.Errorf("%s: UID %d at sequence %d follows UID %d; UIDs must increase strictly", box, msg.UID, msg.SeqNum, b.maxUID)
		}
		b.maxUID = max(b.maxUID, msg.UID)
		if !slices.Contains(msg.Flags, imap.FlagSeen) {
			unseen++
		}
		size += msg.RFC822Size
		hdr := msg.FindBodySection(scHeader)
		mm := scMsgID.FindSubmatch(hdr)
		if mm == nil {
			t.Errorf("%s UID %d: no crash-test Message-ID in %q", box, msg.UID, hdr)
			continue
		}
		n, _ := strconv.Atoi(string(mm[1]))
		if prev, ok := b.ids[n]; ok {
			t.Errorf("%s: crash-%d at UIDs %d and %d", box, n, prev, msg.UID)
		}
		b.ids[n] = msg.UID
		if body := string(msg.FindBodySection(scBody)); body != scText(n) {
			t.Errorf("%s UID %d (crash-%d): body of %d bytes differs from the %d sent (torn or mixed up)", box, msg.UID, n, len(body), len(scText(n)))
		}
		if msg.RFC822Size <= int64(len(scMessage(n))) {
			t.Errorf("%s UID %d (crash-%d): RFC822.SIZE %d, want more than the %d bytes sent (moat adds Received)", box, msg.UID, n, msg.RFC822Size, len(scMessage(n)))
		}
	}
	if st.NumUnseen == nil || *st.NumUnseen != unseen {
		t.Errorf("%s: STATUS UNSEEN %v, but %d messages lack \\Seen", box, fmtPtr(st.NumUnseen), unseen)
	}
	if so.Size && (st.Size == nil || *st.Size != size) {
		t.Errorf("%s: STATUS SIZE %v, but the RFC822.SIZEs add up to %d", box, fmtPtr(st.Size), size)
	}
	if st.UIDNext <= b.maxUID || st.UIDNext != sel.UIDNext {
		t.Errorf("%s: UIDNEXT %d (STATUS) %d (SELECT), highest UID %d", box, st.UIDNext, sel.UIDNext, b.maxUID)
	}
	if st.UIDNext <= seenMax {
		t.Errorf("%s: UIDNEXT %d after the restart, but clients were shown UID %d before the kill: UIDs would be reused", box, st.UIDNext, seenMax)
	}
	if err := c.Unselect().Wait(); err != nil {
		t.Fatalf("UNSELECT %s: %v", box, err)
	}
	return b
}

// checkNewDelivery delivers one more message after the restart and
// requires it in INBOX or Junk with a UID above every UID there and no
// lower than the UIDNEXT before it.
func (l *storeLoad) checkNewDelivery(t *testing.T, m *moatProc, c *imapclient.Client, boxes map[string]scBox) {
	t.Helper()
	n := int(l.next.Add(1))
	out := smtpSend(t, m, "load@client.e2e.test", []string{scUser}, scMessage(n))
	if !strings.HasPrefix(out.data, "250") {
		t.Fatalf("delivery after the restart: RCPT %q, end of data %q; want 250", out.rcpts, out.data)
	}
	found := ""
	for _, box := range []string{"INBOX", "Junk"} {
		before := boxes[box]
		st, err := c.Status(box, &imap.StatusOptions{NumMessages: true}).Wait()
		if err != nil {
			t.Fatalf("STATUS %s: %v", box, err)
		}
		if *st.NumMessages == before.messages {
			continue
		}
		if *st.NumMessages != before.messages+1 || found != "" {
			t.Errorf("%s: %d messages after one more delivery, %d before", box, *st.NumMessages, before.messages)
			continue
		}
		found = box
		if _, err := c.Select(box, &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
			t.Fatalf("EXAMINE %s: %v", box, err)
		}
		msgs, err := c.Fetch(imap.SeqSetNum(*st.NumMessages), &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{scHeader}}).Collect()
		if err != nil || len(msgs) != 1 {
			t.Fatalf("FETCH %d in %s: %d results, %v", *st.NumMessages, box, len(msgs), err)
		}
		if !strings.Contains(string(msgs[0].FindBodySection(scHeader)), fmt.Sprintf("<crash-%d@test>", n)) {
			t.Errorf("%s: the last message is not the one delivered after the restart: %q", box, msgs[0].FindBodySection(scHeader))
		}
		if uid := msgs[0].UID; uid <= before.maxUID || uid < before.uidNext {
			t.Errorf("%s: the delivery after the restart got UID %d; want above every existing UID (%d) and at least UIDNEXT %d",
				box, uid, before.maxUID, before.uidNext)
		} else {
			t.Logf("delivery after the restart: %s UID %d (highest before %d, UIDNEXT %d)", box, uid, before.maxUID, before.uidNext)
		}
		if err := c.Unselect().Wait(); err != nil {
			t.Fatalf("UNSELECT %s: %v", box, err)
		}
	}
	if found == "" {
		t.Errorf("the message delivered after the restart (crash-%d) is in neither INBOX nor Junk", n)
	}
}

// fmtPtr renders an optional STATUS number.
func fmtPtr[T any](p *T) string {
	if p == nil {
		return "(none)"
	}
	return fmt.Sprint(*p)
}
