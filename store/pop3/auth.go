package pop3

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"

	"github.com/moatmail/moat/store"
)

// plaintextOK reports whether this session may receive a password.
func (ss *session) plaintextOK() bool {
	return plaintextAllowed(ss.conn().LocalAddr(), ss.tls, ss.lo.AllowPlaintext)
}

// refusePlaintext answers a login attempt where passwords may not be sent.
func (ss *session) refusePlaintext() {
	ss.bad++
	if ss.srv.o.TLS != nil {
		ss.fail("[AUTH] plaintext authentication is disabled on this connection; use STLS first")
		return
	}
	ss.fail("[AUTH] plaintext authentication is disabled on this connection; use a TLS listener")
}

// cmdUser remembers the user name for PASS. It does not say whether the
// user exists.
func (ss *session) cmdUser(cmd command) {
	if !ss.plaintextOK() {
		ss.refusePlaintext()
		return
	}
	if len(cmd.Args) != 1 {
		ss.user = ""
		ss.badCommand("USER takes one argument")
		return
	}
	ss.user = cmd.Args[0]
	ss.ok("send PASS")
}

// cmdPass logs in the user named by USER. It reports whether the session
// must end.
func (ss *session) cmdPass(cmd command) bool {
	if !ss.plaintextOK() {
		ss.refusePlaintext()
		return false
	}
	if ss.user == "" {
		ss.badCommand("USER first")
		return false
	}
	user := ss.user
	ss.user = ""
	if cmd.Rest == "" {
		ss.badCommand("PASS takes one argument")
		return false
	}
	return ss.authenticate(user, cmd.Rest)
}

// cmdAuth runs AUTH (RFC 5034) with the PLAIN mechanism (RFC 4616); with
// no argument it lists the mechanisms. It reports whether the session
// must end.
func (ss *session) cmdAuth(cmd command) bool {
	ss.user = ""
	if len(cmd.Args) == 0 {
		ss.ok("mechanisms follow")
		if ss.plaintextOK() {
			ss.w.WriteString("PLAIN\r\n")
		}
		ss.w.WriteString(".\r\n")
		return false
	}
	if len(cmd.Args) > 2 {
		ss.badCommand("AUTH takes a mechanism and an optional initial response")
		return false
	}
	if !strings.EqualFold(cmd.Args[0], "PLAIN") {
		ss.badCommand("unsupported authentication mechanism")
		return false
	}
	if !ss.plaintextOK() {
		ss.refusePlaintext()
		return false
	}
	var resp string
	if len(cmd.Args) == 2 {
		resp = cmd.Args[1]
		if resp == "=" {
			resp = ""
		}
	} else {
		ss.w.WriteString("+ \r\n")
		line, err := ss.readLine(maxSASLLine)
		if errors.Is(err, errLineTooLong) {
			ss.badCommand("authentication response too long")
			return false
		}
		if err != nil {
			return true
		}
		resp = string(trimEOL(line))
		if resp == "*" {
			ss.fail("authentication cancelled")
			return false
		}
	}
	raw, err := base64.StdEncoding.DecodeString(resp)
	if err != nil {
		ss.badCommand("authentication response is not valid base64")
		return false
	}
	parts := bytes.Split(raw, []byte{0})
	if len(parts) != 3 {
		ss.badCommand("malformed PLAIN response")
		return false
	}
	authz, authc, pass := string(parts[0]), string(parts[1]), string(parts[2])
	if authz != "" && !strings.EqualFold(authz, authc) {
		ss.authFails++
		ss.fail("[AUTH] acting as another user is not allowed")
		return ss.authFails >= maxAuthFailures
	}
	return ss.authenticate(authc, pass)
}

// authenticate checks a user's password, locks the maildrop and takes its
// snapshot; on success the session is in the TRANSACTION state. It
// reports whether the session must end (too many failures).
func (ss *session) authenticate(name, pass string) bool {
	ctx := ss.ctx
	user, err := store.NormalizeUser(name)
	if err != nil {
		// Not a user name at all: a failed login like any other.
		user = strings.ToLower(name)
	}
	if g := ss.srv.o.Guard; g != nil {
		if err := g.Allow(ctx, ss.ip, user); err != nil {
			ss.log.Info("pop3: login throttled", "user", user, "err", err)
			ss.authFails++
			ss.fail("[LOGIN-DELAY] too many failed logins; try again later")
			return ss.authFails >= maxAuthFailures
		}
	}
	if err == nil {
		err = ss.srv.o.Backend.Authenticate(ctx, user, pass)
	}
	switch {
	case err == nil:
	case errors.Is(err, store.ErrAuthFailed), errors.Is(err, store.ErrNoSuchUser), errors.Is(err, store.ErrInvalidName):
		ss.log.Info("pop3: login failed", "user", user)
		if g := ss.srv.o.Guard; g != nil {
			g.Failed(ctx, ss.ip, user)
		}
		ss.authFails++
		ss.fail("[AUTH] invalid user name or password")
		return ss.authFails >= maxAuthFailures
	default:
		ss.log.Error("pop3: authentication failed", "user", user, "err", err)
		ss.fail("[SYS/TEMP] authentication is unavailable; try again later")
		return false
	}
	if g := ss.srv.o.Guard; g != nil {
		g.Succeeded(ctx, ss.ip, user)
	}
	unlock, err := ss.srv.o.Backend.LockMaildrop(user)
	if errors.Is(err, store.ErrLocked) {
		ss.fail("[IN-USE] maildrop is in use by another session")
		return false
	}
	if err != nil {
		ss.log.Error("pop3: locking maildrop failed", "user", user, "err", err)
		ss.fail("[SYS/TEMP] cannot open the maildrop; try again later")
		return false
	}
	if ss.buf == nil {
		ss.buf = make([]byte, 32<<10)
	}
	info, msgs, err := ss.srv.o.Backend.List(ctx, user, mailbox)
	var drop *maildrop
	if err == nil {
		drop, err = ss.srv.snapshot(ctx, user, info, msgs, ss.buf)
	}
	if err != nil {
		unlock()
		ss.log.Error("pop3: listing maildrop failed", "user", user, "err", err)
		ss.fail("[SYS/TEMP] cannot open the maildrop; try again later")
		return false
	}
	ss.state, ss.login, ss.unlock, ss.drop = stateTransaction, user, unlock, drop
	n, size := drop.stat()
	ss.log.Info("pop3: login", "user", user, "messages", n, "tls", ss.tls)
	ss.ok("maildrop has %d messages (%d octets)", n, size)
	return false
}

// cmdSTLS starts TLS (RFC 2595). It reports whether the session must end.
func (ss *session) cmdSTLS(cmd command) bool {
	switch {
	case len(cmd.Args) != 0:
		ss.badCommand("STLS takes no arguments")
		return false
	case ss.srv.o.TLS == nil:
		ss.badCommand("STLS is not available")
		return false
	case ss.tls:
		ss.badCommand("TLS is already active")
		return false
	}
	ss.user = ""
	ss.ok("begin TLS negotiation")
	if !ss.flush() {
		return true
	}
	if err := ss.handshake(); err != nil {
		ss.log.Info("pop3: STLS handshake failed", "err", err)
		return true
	}
	return false
}
