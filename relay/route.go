package relay

import (
	"context"
	"errors"
	"fmt"

	"github.com/emersion/go-smtp"

	"github.com/moatmail/moat/filter"
	"github.com/moatmail/moat/policies"
	"github.com/moatmail/moat/store"
)

// routeQueue is the route of recipients whose mail goes into the durable
// queue: relayed domains in mode: queue, and other domains for
// authenticated users.
const routeQueue = "queue"

// routeOf decides where mail for rcpt (in domain) goes: "local", the
// queue, or a downstream host:port relayed before-queue. A recipient that
// must be refused gets the reply to refuse it with.
func (ss *session) routeOf(rcpt, domain string) (string, *smtp.SMTPError) {
	t := ss.txn
	dom, served := ss.srv.cfg.Domains[domain]
	if !served {
		if t.AuthUser != "" && ss.srv.queue != nil {
			return routeQueue, nil // authenticated users relay anywhere
		}
		return "", replyRelayDenied(t.ID)
	}
	if dom.Deliver != policies.DeliverRelay {
		return policies.DeliverLocal, ss.checkLocalUser(rcpt)
	}
	route := dom.Relay
	if ss.srv.queue != nil && dom.Mode != policies.ModeProxy {
		route = routeQueue
	}
	if dom.VerifyRecipients && ss.srv.verifier != nil {
		if r := ss.verify(rcpt); r != nil {
			return "", r
		}
	}
	return route, nil
}

// checkLocalUser refuses recipients the store does not know.
func (ss *session) checkLocalUser(rcpt string) *smtp.SMTPError {
	u := ss.srv.users
	if u == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ss.srv.ctx, ss.srv.cfg.Limits.CheckTimeout.D())
	defer cancel()
	ok, err := u.UserExists(ctx, rcpt)
	switch {
	case err != nil:
		ss.srv.log.Error("user lookup failed", "txn", ss.txn.ID, "rcpt", rcpt, "err", err)
		return replyLocalError(ss.txn.ID)
	case !ok:
		return reply(550, smtp.EnhancedCode{5, 1, 1}, ss.txn.ID, "No such user here")
	}
	return nil
}

// verify asks the downstream (cached) whether it takes rcpt.
func (ss *session) verify(rcpt string) *smtp.SMTPError {
	ctx, cancel := context.WithTimeout(ss.srv.ctx, ss.srv.cfg.Limits.RelayTimeout.D())
	defer cancel()
	verdict, text, err := ss.srv.verifier.VerifyRecipient(ctx, rcpt)
	switch {
	case err == nil && verdict == RcptExists:
		return nil
	case err == nil && verdict == RcptUnknown:
		ss.srv.log.Info("recipient unknown downstream", "txn", ss.txn.ID, "rcpt", rcpt, "reply", text)
		return reply(550, smtp.EnhancedCode{5, 1, 1}, ss.txn.ID, "No such user here")
	}
	ss.srv.log.Warn("recipient verification failed", "txn", ss.txn.ID, "rcpt", rcpt, "reply", text, "err", err)
	if ss.srv.cfg.Callout.OnError == policies.CalloutAccept {
		return nil
	}
	return reply(451, smtp.EnhancedCode{4, 4, 3}, ss.txn.ID, "Cannot verify the recipient now, try again later")
}

// deliverLocal stores the message for every recipient. When some
// recipients got the message and a later one fails (over quota, removed
// meanwhile, a store error), refusing the message would duplicate it for
// the others on the client's retry: the failed recipients go into the
// queue instead, which retries the store and bounces what fails for good.
func (ss *session) deliverLocal(ctx context.Context, pre []byte, msg *filter.Message, v policies.Verdict) error {
	t := ss.txn
	if ss.srv.local == nil {
		ss.srv.log.Error("no local store configured", "txn", t.ID)
		return replyLocalError(t.ID)
	}
	junk := v.Action == policies.Junk
	var failed []string
	var first *smtp.SMTPError
	for _, rcpt := range t.Rcpts {
		err := ss.srv.local.Deliver(ctx, rcpt, junk, outgoing(pre, msg, &ss.srv.bufs, ss.srv.dropField))
		if err == nil {
			continue
		}
		r := localReply(t.ID, err)
		ss.srv.log.Error("local delivery failed", "txn", t.ID, "rcpt", rcpt, "reply", replyCode(r), "err", err)
		if first == nil || r.Code/100 == 4 {
			first = r // a temporary failure of any recipient makes the reply temporary
		}
		failed = append(failed, rcpt)
	}
	switch {
	case len(failed) == 0:
		return reply(250, smtp.EnhancedCode{2, 0, 0}, "", "OK "+t.ID+" delivered")
	case len(failed) == len(t.Rcpts):
		return first
	case ss.srv.queue == nil:
		ss.srv.log.Error("local delivery failed after other recipients got the message, and there is no queue to retry it", "txn", t.ID, "rcpts", failed)
		return reply(250, smtp.EnhancedCode{2, 0, 0}, "", "OK "+t.ID+" delivered")
	}
	env := ss.envelope(failed, junk)
	if _, err := ss.srv.queue.Enqueue(ctx, env, outgoing(pre, msg, &ss.srv.bufs, ss.srv.dropField)); err != nil {
		ss.srv.log.Error("queueing the recipients local delivery failed for", "txn", t.ID, "rcpts", failed, "err", err)
		return replyLocalError(t.ID) // nothing acknowledged: the client retries, the delivered ones get a duplicate
	}
	ss.srv.log.Warn("local delivery failed for some recipients; queued for retry or bounce", "txn", t.ID, "rcpts", failed)
	return reply(250, smtp.EnhancedCode{2, 0, 0}, "", "OK "+t.ID+" delivered")
}

// localReply maps a store error to the client's reply.
func localReply(id string, err error) *smtp.SMTPError {
	code, enh, text := localStatus(err)
	return reply(code, enh, id, text)
}

// LocalStatus is the SMTP status of a delivery into the store, for the
// front end and the queue alike: 250 2.0.0 when err is nil, 550 5.1.1 for
// an unknown user, 552 5.2.2 for a full mailbox, 451 4.3.0 otherwise.
func LocalStatus(err error) (code int, enhanced, text string) {
	code, enh, text := localStatus(err)
	return code, fmt.Sprintf("%d.%d.%d", enh[0], enh[1], enh[2]), text
}

func localStatus(err error) (int, smtp.EnhancedCode, string) {
	switch {
	case err == nil:
		return 250, smtp.EnhancedCode{2, 0, 0}, "Delivered"
	case errors.Is(err, store.ErrQuotaExceeded):
		return 552, smtp.EnhancedCode{5, 2, 2}, "Mailbox full"
	case errors.Is(err, store.ErrNoSuchUser):
		return 550, smtp.EnhancedCode{5, 1, 1}, "No such user here"
	}
	return 451, smtp.EnhancedCode{4, 3, 0}, "Temporary local error, try again later"
}
