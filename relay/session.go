package relay

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/moatmail/moat/filter"
	"github.com/moatmail/moat/filter/greylist"
	"github.com/moatmail/moat/filter/msgauth"
	"github.com/moatmail/moat/policies"
)

// session is one client connection after HELO/EHLO. It implements
// smtp.Session. go-smtp calls it from the connection's goroutine, except
// Data for BDAT, which runs on its own goroutine while the connection's
// goroutine may call Reset or Logout (RSET, EHLO or QUIT between chunks):
// mu keeps those apart.
type session struct {
	mu sync.Mutex

	srv   *Server
	conn  *smtp.Conn
	txn   *filter.Txn
	keep  int // symbols recorded before MAIL (connect and helo stages)
	kind  string
	rates *policies.RateLimitConfig // the listener's rate limits
	cs    *connState                // the connection's tracked state (nil if untracked)

	mailOpts smtp.MailOptions
	rcptDSN  map[string]RcptDSN // NOTIFY and ORCPT by accepted recipient
	route    string             // "local" or the downstream host:port of this transaction
	down     *downTxn           // the open downstream transaction, in relay mode
	logged   bool               // the current transaction has been logged
	start    time.Time
}

func (s *Server) newSession(c *smtp.Conn, kind string, lo policies.Listener) (*session, error) {
	now := s.now()
	t := &filter.Txn{
		ID:       s.ids.next(),
		Start:    now,
		ClientIP: remoteIP(c.Conn()),
		Helo:     c.Hostname(),
	}
	_, t.TLS = c.TLSConnectionState()
	sess := &session{srv: s, conn: c, txn: t, start: now, kind: kind, rates: lo.RateLimit, cs: s.conns.state(c.Conn())}
	if sess.rates == nil {
		sess.rates = &s.cfg.RateLimit
	}
	pol := s.policy.Load()
	t.Trusted = pol.Trusted(t.ClientIP)
	// A connection counts once: after STARTTLS go-smtp makes a new session.
	first := sess.cs == nil || !sess.cs.counted.Swap(true)
	if name, retry := sess.limit(
		limitRule{"connections_per_ip", sess.rates.ConnectionsPerIP, ipKey(t.ClientIP)},
		limitRule{"connections_per_net", sess.rates.ConnectionsPerNet, netKey(t.ClientIP)},
	); first && name != "" {
		// 421 and close: the next read fails at once.
		_ = c.Conn().SetReadDeadline(time.Now())
		return nil, reply(421, smtp.EnhancedCode{4, 7, 0}, t.ID, "Too many connections from your address, try again in "+retry.Round(time.Second).String())
	}
	if sess.inbound() {
		ctx, cancel := context.WithCancel(s.ctx)
		sess.connectStage(ctx)
		s.pipeline.Run(ctx, t, filter.StageHelo)
		cancel()
	}
	sess.keep = t.SymbolCount()
	return sess, nil
}

// connectStage runs the connect-stage checks (DNS lists, FCrDNS), or, for
// a new session on a connection that had one (after STARTTLS), adds the
// symbols they found then: they depend on the client address only.
func (ss *session) connectStage(ctx context.Context) {
	cs := ss.cs
	if cs != nil && cs.connectRan {
		ss.txn.Add(cs.connect...)
		return
	}
	ss.srv.pipeline.Run(ctx, ss.txn, filter.StageConnect)
	if cs != nil {
		cs.connect, cs.connectRan = ss.txn.Symbols(), true
	}
}

// setBusy marks the connection as in a mail transaction (shutdown lets it
// finish) or between transactions (shutdown closes it).
func (ss *session) setBusy(b bool) {
	if ss.cs != nil {
		ss.cs.busy.Store(b)
	}
}

// inbound reports whether the transaction is mail from outside that the
// checks run on: not from a trusted network, not on a submission listener,
// not from an authenticated user.
func (ss *session) inbound() bool {
	return !ss.txn.Trusted && ss.kind == kindMX && ss.txn.AuthUser == ""
}

// Mail handles MAIL FROM.
func (ss *session) Mail(from string, opts *smtp.MailOptions) error {
	t := ss.txn
	if ss.srv.stopping.Load() {
		_ = ss.conn.Conn().SetReadDeadline(time.Now()) // close after this reply
		return reply(421, smtp.EnhancedCode{4, 3, 2}, t.ID, "Service shutting down, try again later")
	}
	if !validSender(from) {
		return replyBadSender(t.ID)
	}
	if ss.kind != kindMX && t.AuthUser == "" {
		return reply(530, smtp.EnhancedCode{5, 7, 0}, t.ID, "Authentication required")
	}
	if t.AuthUser != "" && !ownsSender(t.AuthUser, from) {
		return reply(553, smtp.EnhancedCode{5, 7, 1}, t.ID, "Sender address not owned by the authenticated user")
	}
	rules := []limitRule{
		{"messages_per_ip", ss.rates.MessagesPerIP, ipKey(t.ClientIP)},
		{"messages_per_net", ss.rates.MessagesPerNet, netKey(t.ClientIP)},
	}
	if t.AuthUser != "" {
		rules = []limitRule{{"messages_per_user", ss.rates.MessagesPerUser, "user:" + t.AuthUser}}
	}
	if name, retry := ss.limit(rules...); name != "" {
		return replyRateLimited(t.ID, retry)
	}
	t.MailFrom = from
	ss.setBusy(true)
	if opts != nil {
		ss.mailOpts = *opts
	}
	ss.start = ss.srv.now()
	ss.logged = false
	if ss.inbound() {
		ss.srv.pipeline.Run(ss.srv.ctx, t, filter.StageMail)
	}
	return nil
}

// Rcpt handles RCPT TO: the recipient must be in a served domain, in the
// plain local@domain form, on the same route as the transaction's other
// recipients, not refused by policy on what is known so far, and (in relay
// mode) accepted by the downstream server.
func (ss *session) Rcpt(to string, opts *smtp.RcptOptions) error {
	t := ss.txn
	local, domain, ok := splitRecipient(to)
	if !ok {
		return ss.refuseRcpt(to, replyBadRecipient(t.ID), "bad address syntax")
	}
	rcpt := local + "@" + domain
	route, refusal := ss.routeOf(rcpt, domain)
	if refusal != nil {
		return ss.refuseRcpt(to, refusal, "route: "+refusal.Message)
	}
	if ss.route != "" && route != ss.route {
		return ss.refuseRcpt(to, replyOtherRoute(t.ID), "other route")
	}
	if len(t.Rcpts) > 0 && !ss.srv.policy.Load().SamePolicy(t.Rcpts[0], rcpt) {
		return ss.refuseRcpt(to, replyOtherPolicy(t.ID), "other recipient policy")
	}
	for _, r := range t.Rcpts {
		if strings.EqualFold(r, rcpt) {
			return nil // a duplicate: already accepted
		}
	}

	if t.AuthUser == "" {
		if name, retry := ss.limit(limitRule{"rcpts_per_sender_domain", ss.rates.RcptsPerSenderDomain, senderDomainKey(t.MailFrom)}); name != "" {
			return ss.refuseRcpt(to, replyRateLimited(t.ID, retry), "rate limit "+name)
		}
	}

	t.Rcpts = append(t.Rcpts, rcpt)
	// A refused recipient takes its rcpt-stage symbols with it: they must
	// not follow the message to the recipients that are accepted.
	mark := t.SymbolCount()
	if ss.inbound() {
		ss.srv.pipeline.Run(ss.srv.ctx, t, filter.StageRcpt)
		var grey greylist.Result
		greylisted := false
		if gl := ss.srv.greylist; gl != nil {
			r, ok := gl.Take(t, rcpt)
			grey, greylisted = r, ok && r.Greylisted()
		}
		// Early verdict for this recipient alone, on what is known so far.
		all := t.Rcpts
		t.Rcpts = all[len(all)-1:]
		v := ss.srv.policy.Load().Evaluate(t)
		t.Rcpts = all
		if v.Action == policies.Reject || v.Action == policies.Tempfail {
			t.Rcpts = all[:len(all)-1]
			t.TruncateSymbols(mark)
			r := replyReject(t.ID)
			if v.Action == policies.Tempfail {
				r = replyTempfail(t.ID)
			}
			return ss.refuseRcptVerdict(to, r, v)
		}
		if greylisted {
			t.Rcpts = all[:len(all)-1]
			t.TruncateSymbols(mark)
			return ss.refuseRcpt(to, replyGreylist(t.ID, grey.ReplyText(ss.srv.now())), grey.Reason)
		}
	}

	if route != policies.DeliverLocal && route != routeQueue {
		err := ss.relayRcpt(route, rcpt)
		if ss.down != nil {
			ss.route = route // the downstream transaction is open on this route
		}
		if err != nil {
			t.Rcpts = t.Rcpts[:len(t.Rcpts)-1]
			t.TruncateSymbols(mark)
			return ss.refuseRcpt(to, downstreamReply(t.ID, err), "downstream: "+err.Error())
		}
	}
	ss.route = route
	ss.noteRcptDSN(rcpt, opts)
	return nil
}

// noteRcptDSN remembers an accepted recipient's NOTIFY and ORCPT.
func (ss *session) noteRcptDSN(rcpt string, opts *smtp.RcptOptions) {
	if opts == nil || (len(opts.Notify) == 0 && opts.OriginalRecipient == "") {
		return
	}
	d := RcptDSN{}
	for _, n := range opts.Notify {
		d.Notify = append(d.Notify, string(n))
	}
	if opts.OriginalRecipient != "" {
		d.ORcpt = strings.ToLower(string(opts.OriginalRecipientType)) + ";" + opts.OriginalRecipient
	}
	if ss.rcptDSN == nil {
		ss.rcptDSN = make(map[string]RcptDSN)
	}
	ss.rcptDSN[rcpt] = d
}

// envelope returns the queue envelope of the transaction for rcpts.
func (ss *session) envelope(rcpts []string, spam bool) Envelope {
	t := ss.txn
	env := Envelope{ID: t.ID, From: t.MailFrom, Rcpts: rcpts, Received: ss.srv.now(), Spam: spam,
		Ret: string(ss.mailOpts.Return), EnvID: ss.mailOpts.EnvelopeID}
	if len(ss.rcptDSN) > 0 {
		env.Rcpt = make([]RcptDSN, len(rcpts))
		for i, r := range rcpts {
			env.Rcpt[i] = ss.rcptDSN[r]
		}
	}
	return env
}

// relayRcpt opens the downstream transaction if needed and forwards RCPT.
func (ss *session) relayRcpt(addr, rcpt string) error {
	ctx, cancel := context.WithTimeout(ss.srv.ctx, ss.srv.cfg.Limits.RelayTimeout.D())
	defer cancel()
	if ss.down != nil {
		return ss.down.rcpt(ctx, rcpt)
	}
	d, rcptErr, err := ss.srv.pool.begin(ctx, addr, ss.txn.MailFrom, &ss.mailOpts, rcpt)
	if err != nil {
		return err
	}
	ss.down = d
	return rcptErr
}

// Data receives the message, runs the data stage, applies the verdict and
// delivers. The reply is 250 only once the message is on disk (local) or the
// downstream server has said 250.
func (ss *session) Data(r io.Reader) error {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	t := ss.txn
	if d := ss.srv.cfg.Limits.DataTimeout.D(); d > 0 {
		// The wall clock, not the injected one. The read deadline bounds
		// DATA; BDAT chunks come between commands, whose reads reset it,
		// so the reader also stops at the deadline.
		deadline := time.Now().Add(d)
		_ = ss.conn.Conn().SetReadDeadline(deadline)
		r = deadlineReader{r: r, deadline: deadline}
	}
	msg, rerr := ss.receive(r)
	if msg != nil {
		defer ss.release(msg)
	}
	if rerr != nil {
		return ss.finish(rerr, policies.Verdict{Action: policies.Reject})
	}
	t.Msg = msg

	if ss.inbound() { // trusted and authenticated mail is not checked: no symbols
		ctx, cancel := context.WithCancel(ss.srv.ctx)
		ss.srv.pipeline.Run(ctx, t, filter.StageData)
		cancel()
	}
	v := ss.srv.policy.Load().Evaluate(t)
	if b := ss.srv.bayes; b != nil && ss.inbound() {
		actx, cancel := context.WithTimeout(ss.srv.ctx, ss.srv.cfg.Limits.CheckTimeout.D())
		_, _, err := b.AutoLearn(actx, msg, v.Score, v.Symbols)
		cancel()
		if err != nil {
			ss.srv.log.Warn("bayes autolearn failed", "txn", t.ID, "err", err)
		}
	}
	if v.Action == policies.Greylist {
		if r, ok := ss.greylistScore(&v); ok {
			return ss.finish(replyGreylist(t.ID, r.ReplyText(ss.srv.now())), v)
		}
		v.Action = v.Passed
	}
	switch v.Action {
	case policies.Reject:
		return ss.finish(replyReject(t.ID), v)
	case policies.Tempfail:
		return ss.finish(replyTempfail(t.ID), v)
	}
	return ss.finish(ss.deliver(msg, v), v)
}

// greylistScore asks the greylist (mode score) about every recipient of a
// message the policy wants greylisted. It reports the recipient to answer
// 451 for, if any; otherwise the message passed greylisting (or there is no
// greylisting in score mode, or the backend failed: greylisting fails open)
// and the caller falls back to the verdict's Passed action. The greylist
// symbols are added to the transaction and the verdict.
func (ss *session) greylistScore(v *policies.Verdict) (greylist.Result, bool) {
	gl := ss.srv.greylist
	if gl == nil || gl.Options().Mode != greylist.Score {
		return greylist.Result{}, false
	}
	ctx, cancel := context.WithTimeout(ss.srv.ctx, ss.srv.cfg.Limits.CheckTimeout.D())
	defer cancel()
	rs, _ := gl.DecideAll(ctx, ss.txn) // an error is logged and gives GREYLIST_TEMPFAIL results
	for _, r := range rs {
		if sym, ok := r.Symbol(); ok && !ss.txn.Has(sym.Name) {
			ss.txn.Add(sym)
			v.Symbols = append(v.Symbols, sym)
		}
	}
	return greylist.LatestRetry(rs)
}

// receive spools the message, refusing bare CR/LF, oversize messages and
// NUL bytes in the header.
func (ss *session) receive(r io.Reader) (*filter.Message, error) {
	id := ss.txn.ID
	spool := filter.NewSpoolBuffer(ss.srv.spoolDir, ss.srv.cfg.Limits.MemorySpool, ss.srv.bufs.getSpool())
	var bare bareCheck
	_, err := ss.srv.bufs.copyBuffered(io.MultiWriter(&bare, spool), r)
	if err != nil {
		spool.Discard()
		var ne net.Error
		switch {
		case errors.Is(err, smtp.ErrDataTooLarge):
			return nil, replyTooLarge(id)
		case errors.As(err, &ne) && ne.Timeout():
			return nil, replyTimeout(id)
		case errors.Is(err, smtp.ErrDataReset):
			return nil, err
		}
		var se *smtp.SMTPError
		if errors.As(err, &se) {
			return nil, se
		}
		ss.srv.log.Warn("receiving message failed", "txn", id, "err", err)
		return nil, replyLocalError(id)
	}
	if bare.found() {
		spool.Discard()
		return nil, replyBareLF(id)
	}
	msg, err := spool.Finish()
	if errors.Is(err, filter.ErrHeaderNUL) {
		return msg, replyNUL(id)
	}
	return msg, err
}

// deliver adds moat's headers and hands the message to the route.
func (ss *session) deliver(msg *filter.Message, v policies.Verdict) error {
	t := ss.txn
	ri := receivedInfo{
		helo: t.Helo, ip: t.ClientIP, hostname: ss.srv.cfg.Hostname, tls: t.TLS,
		auth: t.AuthUser != "", id: t.ID, when: ss.srv.now(),
	}
	if len(t.Rcpts) == 1 {
		ri.rcpt = t.Rcpts[0]
	}
	pre := appendReceived(make([]byte, 0, 1024), ri)
	if s := ss.srv.signer; s != nil && (t.Trusted || t.AuthUser != "") {
		sig, err := s.Sign(msg)
		switch {
		case err == nil:
			pre = append(pre, sig...)
		case !errors.Is(err, msgauth.ErrNoKey):
			ss.srv.log.Error("DKIM signing failed; sending unsigned", "txn", t.ID, "err", err)
		}
	}
	if a := ss.srv.auth; a != nil && ss.inbound() {
		pre = append(pre, a.HeaderField(t)...)
	}
	pre = appendSpamHeaders(pre, v)

	ctx, cancel := context.WithTimeout(ss.srv.ctx, ss.srv.cfg.Limits.RelayTimeout.D())
	defer cancel()
	if ss.route == policies.DeliverLocal {
		if ss.srv.local == nil {
			ss.srv.log.Error("no local store configured", "txn", t.ID)
			return replyLocalError(t.ID)
		}
		return ss.deliverLocal(ctx, pre, msg, v)
	}
	if ss.route == routeQueue {
		env := ss.envelope(t.Rcpts, v.Action == policies.Junk)
		if _, err := ss.srv.queue.Enqueue(ctx, env, outgoing(pre, msg, &ss.srv.bufs, ss.srv.dropField)); err != nil {
			ss.srv.log.Error("enqueue failed", "txn", t.ID, "err", err)
			return replyLocalError(t.ID)
		}
		return reply(250, smtp.EnhancedCode{2, 0, 0}, "", "OK "+t.ID+" queued")
	}
	if ss.down == nil {
		return replyDownstreamDown(t.ID)
	}
	d := ss.down
	ss.down = nil
	text, err := d.data(ctx, outgoing(pre, msg, &ss.srv.bufs, ss.srv.dropField))
	if err != nil {
		d.abort()
		return downstreamReply(t.ID, err)
	}
	d.finish()
	return reply(250, smtp.EnhancedCode{2, 0, 0}, "", "OK "+t.ID+" relayed: "+headerSafe(text, 200))
}

// release frees the message's spool file and recycles its memory, unless a
// check that timed out may still be reading it.
func (ss *session) release(msg *filter.Message) {
	ss.txn.Msg = nil
	msg.Close()
	for _, tm := range ss.txn.Timings() {
		if tm.Failed {
			return
		}
	}
	ss.srv.bufs.putSpool(msg.Prefix())
}

// finish logs the transaction and returns the reply for go-smtp. A 250 is
// passed as an *smtp.SMTPError with code 250, which go-smtp writes as is.
func (ss *session) finish(r error, v policies.Verdict) error {
	var se *smtp.SMTPError
	if r != nil && !errors.As(r, &se) {
		ss.srv.log.Error("transaction failed", "txn", ss.txn.ID, "err", r)
		se = replyLocalError(ss.txn.ID)
		r = se
	}
	ss.logTxn(replyCode(se), v)
	ss.forgetAuth()
	return r
}

// forgetAuth drops the transaction's authentication results.
func (ss *session) forgetAuth() {
	if a := ss.srv.auth; a != nil {
		a.Forget(ss.txn.ID)
	}
}

// refuseRcpt logs a refused recipient and returns the reply.
func (ss *session) refuseRcpt(to string, r *smtp.SMTPError, why string) error {
	ss.srv.log.Info("rcpt refused", "txn", ss.txn.ID, "ip", ss.txn.ClientIP.String(), "from", ss.txn.MailFrom, "rcpt", to, "reply", replyCode(r), "why", why)
	return r
}

// refuseRcptVerdict logs a recipient refused by policy, with the symbols.
func (ss *session) refuseRcptVerdict(to string, r *smtp.SMTPError, v policies.Verdict) error {
	ss.srv.log.Info("rcpt refused", "txn", ss.txn.ID, "ip", ss.txn.ClientIP.String(), "from", ss.txn.MailFrom, "rcpt", to, "reply", replyCode(r), "action", v.Action.String(), "score", v.Score, "symbols", symbolList(v.Symbols))
	return r
}

// logTxn writes the one log line of a transaction.
func (ss *session) logTxn(code string, v policies.Verdict) {
	t := ss.txn
	ss.logged = true
	ss.srv.log.LogAttrs(ss.srv.ctx, slog.LevelInfo, "txn",
		slog.String("id", t.ID),
		slog.String("ip", t.ClientIP.String()),
		slog.String("helo", t.Helo),
		slog.String("from", t.MailFrom),
		slog.String("rcpts", strings.Join(t.Rcpts, ",")),
		slog.String("symbols", symbolList(v.Symbols)),
		slog.Float64("score", round1(v.Score)),
		slog.String("action", v.Action.String()),
		slog.String("reply", code),
		slog.Duration("duration", ss.srv.now().Sub(ss.start)),
		slog.String("timings", timingList(t.Timings())),
		slog.String("user", t.AuthUser),
	)
	if code != "abandoned" {
		ss.srv.metrics.Transaction(v.Action.String(), v.Symbols, t.Timings(), ss.srv.now().Sub(ss.start))
	}
}

// Reset ends the current transaction (after DATA, RSET or a new EHLO).
func (ss *session) Reset() {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.setBusy(false)
	t := ss.txn
	if t.MailFrom != "" || len(t.Rcpts) > 0 {
		if !ss.logged && len(t.Rcpts) > 0 {
			ss.logTxn("abandoned", policies.Verdict{})
		}
	}
	if ss.down != nil {
		ss.down.abort()
		ss.down = nil
	}
	ss.forgetAuth()
	t.ResetMessage(ss.keep)
	t.ID = ss.srv.ids.next()
	ss.route = ""
	ss.mailOpts = smtp.MailOptions{}
	ss.rcptDSN = nil
	ss.logged = false
	ss.start = ss.srv.now()
	// A new EHLO may change the name; go-smtp keeps it on the connection.
	t.Helo = ss.conn.Hostname()
}

// Logout ends the session.
func (ss *session) Logout() error {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.setBusy(false)
	ss.forgetAuth()
	if ss.down != nil {
		ss.down.abort()
		ss.down = nil
	}
	return nil
}

func symbolList(syms []filter.Symbol) string {
	var b strings.Builder
	for i, s := range syms {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(s.Name)
		b.WriteByte('(')
		b.WriteString(formatScore(s.Score))
		b.WriteByte(')')
	}
	return b.String()
}

func timingList(ts []filter.Timing) string {
	var b strings.Builder
	for i, tm := range ts {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(tm.Check)
		b.WriteByte('/')
		b.WriteString(tm.Stage.String())
		b.WriteByte('=')
		b.WriteString(tm.Duration.Round(time.Microsecond).String())
	}
	return b.String()
}
