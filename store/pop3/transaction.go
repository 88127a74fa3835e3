package pop3

import (
	"errors"
	"strconv"

	"github.com/moatmail/moat/store"
)

// cmdStat answers STAT: the number and size of the messages not deleted.
func (ss *session) cmdStat(cmd command) {
	if len(cmd.Args) != 0 {
		ss.badCommand("STAT takes no arguments")
		return
	}
	n, size := ss.drop.stat()
	ss.ok("%d %d", n, size)
}

// cmdList answers LIST [n].
func (ss *session) cmdList(cmd command) {
	ss.listing(cmd, func(m *dropMsg) string { return strconv.FormatInt(m.size, 10) })
}

// cmdUIDL answers UIDL [n].
func (ss *session) cmdUIDL(cmd command) {
	ss.listing(cmd, ss.drop.uidl)
}

// listing answers LIST or UIDL: one message's value, or every
// undeleted message's as a multi-line response.
func (ss *session) listing(cmd command, value func(*dropMsg) string) {
	switch len(cmd.Args) {
	case 0:
		n, size := ss.drop.stat()
		ss.ok("%d messages (%d octets)", n, size)
		for i := range ss.drop.msgs {
			m := &ss.drop.msgs[i]
			if m.deleted {
				continue
			}
			ss.w.WriteString(strconv.Itoa(i + 1))
			ss.w.WriteByte(' ')
			ss.w.WriteString(value(m))
			ss.w.WriteString("\r\n")
		}
		ss.w.WriteString(".\r\n")
	case 1:
		m, k, err := ss.drop.message(cmd.Args[0])
		if err != nil {
			ss.numberError(err)
			return
		}
		ss.ok("%d %s", k, value(m))
	default:
		ss.badCommand("%s takes at most one argument", cmd.Name)
	}
}

// numberError answers a bad message-number argument; a malformed one
// counts as a bad command.
func (ss *session) numberError(err error) {
	if errors.Is(err, errBadNumber) {
		ss.badCommand("%s", err)
		return
	}
	ss.fail("%s", err)
}

// cmdDele marks a message deleted.
func (ss *session) cmdDele(cmd command) {
	if len(cmd.Args) != 1 {
		ss.badCommand("DELE takes one argument")
		return
	}
	m, k, err := ss.drop.message(cmd.Args[0])
	if err != nil {
		ss.numberError(err)
		return
	}
	m.deleted = true
	ss.ok("message %d deleted", k)
}

// cmdRset unmarks every message.
func (ss *session) cmdRset(cmd command) {
	if len(cmd.Args) != 0 {
		ss.badCommand("RSET takes no arguments")
		return
	}
	ss.drop.reset()
	n, size := ss.drop.stat()
	ss.ok("maildrop has %d messages (%d octets)", n, size)
}

// cmdRetr sends a whole message. It reports whether the session must end
// (the message could not be read to its end after +OK was sent).
func (ss *session) cmdRetr(cmd command) bool {
	if len(cmd.Args) != 1 {
		ss.badCommand("RETR takes one argument")
		return false
	}
	m, _, err := ss.drop.message(cmd.Args[0])
	if err != nil {
		ss.numberError(err)
		return false
	}
	return ss.send(m, false, 0)
}

// cmdTop sends a message's header and the first lines of its body.
func (ss *session) cmdTop(cmd command) bool {
	if len(cmd.Args) != 2 {
		ss.badCommand("TOP takes two arguments: message number and line count")
		return false
	}
	m, _, err := ss.drop.message(cmd.Args[0])
	if err != nil {
		ss.numberError(err)
		return false
	}
	lines, err := parseNumber(cmd.Args[1])
	if err != nil {
		ss.badCommand("invalid line count")
		return false
	}
	return ss.send(m, true, int(min(lines, 1<<31-1)))
}

// send writes a message as a multi-line response: whole, or (top) its
// header and the first lines of its body.
func (ss *session) send(m *dropMsg, top bool, lines int) bool {
	b, err := ss.srv.o.Backend.OpenMessage(ss.ctx, ss.login, mailbox, m.uid)
	if errors.Is(err, store.ErrNoSuchMessage) {
		ss.fail("message was removed by another session")
		return false
	}
	if err != nil {
		ss.log.Error("pop3: opening message failed", "user", ss.login, "uid", m.uid, "err", err)
		ss.fail("[SYS/TEMP] cannot read the message now; try again later")
		return false
	}
	defer b.Close()
	if top {
		ss.ok("top of message follows")
	} else {
		ss.ok("%d octets", m.size)
	}
	if ss.buf == nil {
		ss.buf = make([]byte, 32<<10)
	}
	ww := newWireWriter(ss.w)
	ww.top, ww.topLines = top, lines
	if err := copyMessage(ww, bodyReader(b), ss.buf); err != nil {
		// The client has +OK and part of the message: it must not take
		// that part for the whole, so no terminator; just hang up.
		ss.log.Error("pop3: reading message failed", "user", ss.login, "uid", m.uid, "err", err)
		ss.w.Reset(ss.conn())
		return true
	}
	ww.finish()
	if !top && ww.n != m.size {
		ss.log.Warn("pop3: message size changed since login", "user", ss.login, "uid", m.uid, "listed", m.size, "sent", ww.n)
	}
	return false
}

// cmdQuit enters the UPDATE state: the messages marked deleted are removed
// from the store and the maildrop released.
func (ss *session) cmdQuit() {
	uids := ss.drop.deleted()
	n, _ := ss.drop.stat()
	if len(uids) > 0 {
		if err := ss.srv.o.Backend.Delete(ss.ctx, ss.login, mailbox, uids); err != nil {
			ss.log.Error("pop3: deleting messages failed", "user", ss.login, "count", len(uids), "err", err)
			ss.fail("[SYS/TEMP] some deleted messages not removed; try again later")
			return
		}
		ss.log.Info("pop3: messages deleted", "user", ss.login, "count", len(uids))
	}
	ss.ok("%s POP3 server signing off (%d messages left)", ss.srv.o.Hostname, n)
}
