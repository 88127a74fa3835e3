package relay

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// authTimeout bounds one password check.
const authTimeout = 10 * time.Second

// AuthMechanisms lists the SASL mechanisms offered (go-smtp shows them only
// over TLS, or on loopback and allow_plaintext listeners).
func (ss *session) AuthMechanisms() []string {
	if ss.srv.users == nil {
		return nil
	}
	return []string{sasl.Plain, sasl.Login}
}

// Auth returns the SASL server for mech. AUTH is refused inside a mail
// transaction (RFC 4954 section 4): the sender given before it would
// escape the ownership check.
func (ss *session) Auth(mech string) (sasl.Server, error) {
	if ss.srv.users == nil {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	if ss.txn.MailFrom != "" || len(ss.txn.Rcpts) > 0 {
		return nil, reply(503, smtp.EnhancedCode{5, 5, 1}, "", "AUTH not permitted during a mail transaction")
	}
	switch strings.ToUpper(mech) {
	case sasl.Plain:
		return sasl.NewPlainServer(func(identity, user, pass string) error {
			if identity != "" && !strings.EqualFold(identity, user) {
				return replyAuthFailed()
			}
			return ss.authenticate(user, pass)
		}), nil
	case sasl.Login:
		return &loginServer{auth: ss.authenticate}, nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

// authenticate checks a user's password, throttled by the login guard.
func (ss *session) authenticate(user, pass string) error {
	t := ss.txn
	ctx, cancel := context.WithTimeout(ss.srv.ctx, authTimeout)
	defer cancel()
	user = strings.ToLower(user)
	if g := ss.srv.guard; g != nil {
		if err := g.Allow(ctx, t.ClientIP, user); err != nil {
			ss.srv.metrics.RateLimited("auth_failures")
			ss.srv.log.Warn("auth throttled", "ip", t.ClientIP.String(), "user", user, "err", err)
			return reply(454, smtp.EnhancedCode{4, 7, 0}, "", "Too many failed logins, try again later")
		}
	}
	err := ss.srv.users.Authenticate(ctx, user, pass)
	if err != nil {
		if g := ss.srv.guard; g != nil {
			g.Failed(ctx, t.ClientIP, user)
		}
		ss.srv.metrics.LoginFailed("smtp")
		ss.srv.log.Info("auth failed", "ip", t.ClientIP.String(), "user", user, "listener", ss.kind, "err", err)
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			return reply(454, smtp.EnhancedCode{4, 7, 0}, "", "Temporary authentication failure")
		}
		return replyAuthFailed()
	}
	if g := ss.srv.guard; g != nil {
		g.Succeeded(ctx, t.ClientIP, user)
	}
	t.AuthUser = user
	// The checks of the connection (DNS lists, FCrDNS, HELO) concern
	// inbound mail; an authenticated user's mail is not judged by them.
	t.TruncateSymbols(0)
	ss.keep = 0
	ss.srv.log.Info("auth ok", "ip", t.ClientIP.String(), "user", user, "listener", ss.kind)
	return nil
}

func replyAuthFailed() *smtp.SMTPError {
	return reply(535, smtp.EnhancedCode{5, 7, 8}, "", "Authentication credentials invalid")
}

// loginServer is the server side of the LOGIN mechanism
// (draft-murchison-sasl-login): it asks for the user name, then the
// password.
type loginServer struct {
	auth func(user, pass string) error
	user string
	step int
}

// Next implements sasl.Server.
func (l *loginServer) Next(response []byte) ([]byte, bool, error) {
	switch l.step {
	case 0:
		l.step = 1
		if len(response) == 0 { // no initial response: ask for it
			return []byte("Username:"), false, nil
		}
		fallthrough
	case 1:
		l.user = string(response)
		l.step = 2
		return []byte("Password:"), false, nil
	case 2:
		l.step = 3
		if err := l.auth(l.user, string(response)); err != nil {
			return nil, true, err
		}
		return nil, true, nil
	}
	return nil, true, errors.New("unexpected client response")
}

// ownsSender reports whether the envelope sender belongs to the
// authenticated user: the same address, or the user's address with a
// +tag.
func ownsSender(user, from string) bool {
	local, domain, ok := strings.Cut(strings.ToLower(from), "@")
	if !ok {
		return false
	}
	if base, _, tagged := strings.Cut(local, "+"); tagged {
		local = base
	}
	return local+"@"+domain == user
}
