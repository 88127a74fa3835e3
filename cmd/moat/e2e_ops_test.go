//go:build e2e

package main_test

// End-to-end tests of the operations features (issue 8): metrics and
// health endpoints, rate limits shared through Redis, submission with AUTH
// (clear-text AUTH: see the proxy subtest of TestE2EOpsSubmission), the
// PROXY protocol, certificate reload on SIGHUP and graceful shutdown under
// load. The helpers, all named ops*, follow the tests.

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/moatmail/moat/filter/state/statetest"
)

// TestE2EOpsMetrics sends a short mixed load and checks that /metrics
// counts exactly what was sent, and that /healthz and /readyz answer 200.
func TestE2EOpsMetrics(t *testing.T) {
	t.Parallel()
	s := startSink(t, nil)
	mport := freePort(t)
	p, cfg := opsConfig(t, s, func(p cfgParams) string {
		return fmt.Sprintf("smtp: [\"127.0.0.1:%d\"]\nmetrics: \"127.0.0.1:%d\"\n", p.Port, mport)
	}, "")
	m := startMoat(t, p, cfg)
	maddr := fmt.Sprintf("127.0.0.1:%d", mport)

	for _, path := range []string{"/healthz", "/readyz"} {
		if code, body := opsHTTPGet(t, maddr, path); code != http.StatusOK {
			t.Errorf("GET %s: %d %q, want 200", path, code, body)
		}
	}

	gtube, err := os.ReadFile(gtubeFile)
	if err != nil {
		t.Fatal(err)
	}
	c := opsDial(t, m.addr(), "metrics.client.e2e.test")
	steps := []struct {
		name  string
		rcpts []string
		msg   []byte
		want  opsTxn // replies: prefixes
	}{
		{"accepted", []string{"m1@relay.test"}, opsMessage("metrics-1", "m1@relay.test"),
			opsTxn{Mail: "250", Rcpts: []string{"250"}, Data: "250 "}},
		{"one recipient refused", []string{"m2@relay.test", "nobody@foreign.example"}, opsMessage("metrics-2", "m2@relay.test"),
			opsTxn{Mail: "250", Rcpts: []string{"250", "550 5.7.1"}, Data: "250 "}},
		{"GTUBE rejected", []string{"m3@relay.test"}, gtube,
			opsTxn{Mail: "250", Rcpts: []string{"250"}, Data: "550 5.7.1"}},
	}
	for _, st := range steps {
		got := opsSend(c, "sender@client.e2e.test", st.rcpts, st.msg)
		if !got.hasPrefixes(st.want) {
			t.Errorf("%s: replies %+v, want prefixes %+v", st.name, got, st.want)
		}
	}
	opsQuit(t, c)
	c = opsDial(t, m.addr(), "metrics.client.e2e.test")
	if got := opsSend(c, "sender@client.e2e.test", []string{"m4@relay.test"}, opsMessage("metrics-4", "m4@relay.test")); !strings.HasPrefix(got.Data, "250 ") {
		t.Errorf("second connection: end of data %q, want 250", got.Data)
	}
	opsQuit(t, c)
	const accepted, rejected, myConns = 3, 1, 2

	if n := len(s.messages()); n != accepted {
		t.Errorf("sink got %d messages, want %d", n, accepted)
	}
	for _, r := range s.offered() {
		if strings.HasSuffix(r, "@foreign.example") {
			t.Errorf("the refused recipient %s was offered downstream", r)
		}
	}

	// connections_active drops when moat has seen the QUITs: poll for it.
	var ms opsMetrics
	deadline := time.Now().Add(logTimeout)
	for {
		ms = opsScrape(t, maddr)
		if v, _ := ms.sum("moat_connections_active", "listener", "smtp"); v == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	checks := []struct {
		name   string
		labels []string
		want   float64
	}{
		{"moat_transactions_total", []string{"action", "accept"}, accepted},
		{"moat_transactions_total", []string{"action", "reject"}, rejected},
		{"moat_transactions_total", nil, accepted + rejected},
		{"moat_transaction_duration_seconds_count", nil, accepted + rejected},
		{"moat_symbols_total", []string{"symbol", "GTUBE"}, 1},
		{"moat_connections_active", []string{"listener", "smtp"}, 0},
	}
	for _, ck := range checks {
		got, ok := ms.sum(ck.name, ck.labels...)
		if !ok || got != ck.want {
			t.Errorf("%s%v = %v (present %v), want %v", ck.name, ck.labels, got, ok, ck.want)
		}
	}
	// startMoat's probe is one more connection.
	if got, _ := ms.sum("moat_connections_total", "listener", "smtp"); got < myConns || got > myConns+1 {
		t.Errorf("moat_connections_total{listener=smtp} = %v, want %d (+1 for the start probe)", got, myConns)
	}
	if got, _ := ms.sum("moat_check_duration_seconds_count"); got == 0 {
		t.Errorf("moat_check_duration_seconds has no observations")
	}
	if t.Failed() {
		t.Logf("scrape:\n%s", ms.text)
	}
}

// TestE2EOpsRateLimit runs two moat processes on one redis-server: the
// per-IP message and connection counters are shared, so the second
// instance refuses what the first one already counted.
func TestE2EOpsRateLimit(t *testing.T) {
	t.Parallel()
	redis := statetest.StartRedis(t)
	s := startSink(t, nil)
	extra := fmt.Sprintf("state:\n  redis: %q\n  prefix: %q\nratelimit:\n"+
		"  messages_per_ip: {limit: 3, window: 1m}\n  connections_per_ip: {limit: 4, window: 1m}\n",
		redis.URL, statetest.UniquePrefix())
	pa, cfgA := opsConfig(t, s, nil, extra)
	pb, cfgB := opsConfig(t, s, nil, extra)
	a, b := startMoat(t, pa, cfgA), startMoat(t, pb, cfgB)

	// Session 1 (on A): messages 1 and 2.
	c := opsDial(t, a.addr(), "rate.client.e2e.test")
	for i := 1; i <= 2; i++ {
		rcpt := fmt.Sprintf("rl%d@relay.test", i)
		if got := opsSend(c, "sender@client.e2e.test", []string{rcpt}, opsMessage("rl-"+strconv.Itoa(i), rcpt)); !strings.HasPrefix(got.Data, "250 ") {
			t.Fatalf("instance A, message %d: %+v, want 250", i, got)
		}
	}
	opsQuit(t, c)
	// Session 2 (on B): message 3 passes, message 4 is over the limit.
	c = opsDial(t, b.addr(), "rate.client.e2e.test")
	if got := opsSend(c, "sender@client.e2e.test", []string{"rl3@relay.test"}, opsMessage("rl-3", "rl3@relay.test")); !strings.HasPrefix(got.Data, "250 ") {
		t.Fatalf("instance B, message 3: %+v, want 250", got)
	}
	if got := opsSend(c, "sender@client.e2e.test", []string{"rl4@relay.test"}, opsMessage("rl-4", "rl4@relay.test")); !strings.HasPrefix(got.Mail, "451 4.7.1 ") {
		t.Errorf("instance B, message 4: MAIL -> %q, want 451 4.7.1 (the limit of 3 counts A's two messages)", got.Mail)
	}
	opsQuit(t, c)
	if got := s.to("rl4@relay.test"); len(got) != 0 {
		t.Errorf("the message over the limit reached the sink")
	}
	b.log.waitLines(t, b.exited, 1, `msg="rate limited"`, "limit=messages_per_ip")

	// Sessions 3 and 4 fill connections_per_ip (4); the fifth is refused.
	opsDial(t, a.addr(), "rate.client.e2e.test")
	opsDial(t, b.addr(), "rate.client.e2e.test")
	c = opsDial(t, b.addr(), "")
	if got := smtpReplyText(c.Hello("rate.client.e2e.test")); !strings.HasPrefix(got, "421 4.7.0 ") {
		t.Errorf("fifth session: EHLO -> %q, want 421 4.7.0", got)
	}
	b.log.waitLines(t, b.exited, 1, `msg="rate limited"`, "limit=connections_per_ip")
}

// TestE2EOpsSubmission checks the submission listener: AUTH over STARTTLS
// against the store's users, authenticated relay to a foreign domain, the
// sender address bound to the user, and no relay without AUTH. (See the
// file comment for clear-text AUTH.)
func TestE2EOpsSubmission(t *testing.T) {
	t.Parallel()
	requireTool(t, "swaks", "swaks")
	sub, subProxy := freePort(t), freePort(t)
	p, cfg := opsConfig(t, nil, func(p cfgParams) string {
		return fmt.Sprintf("smtp: [\"127.0.0.1:%d\"]\nsubmission:\n  - \"127.0.0.1:%d\"\n  - {address: \"127.0.0.1:%d\", proxy_protocol: true}\n",
			p.Port, sub, subProxy)
	}, "tls:\n  self_signed: true\nproxy:\n  trusted: [127.0.0.1]\n")
	m := startMoat(t, p, cfg)
	m.log.waitLines(t, m.exited, 1, "SELF-SIGNED")
	addUser(t, cfg, "alice@local.test", "alice-secret-1")
	addUser(t, cfg, "bob@local.test", "bob-secret-1")
	subAddr := fmt.Sprintf("127.0.0.1:%d", sub)

	// The generated certificate, verified as the root of trust.
	pemCert, err := os.ReadFile(filepath.Join(p.DataDir, "tls", "cert.pem"))
	if err != nil {
		t.Fatalf("self_signed: no certificate in data_dir/tls: %v", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pemCert) {
		t.Fatal("data_dir/tls/cert.pem holds no certificate")
	}
	tlsCfg := &tls.Config{RootCAs: roots, ServerName: "moat.e2e.test", MinVersion: tls.VersionTLS12}
	startTLS := func(t *testing.T) *smtp.Client {
		t.Helper()
		c, err := opsStartTLS(t, subAddr, tlsCfg)
		if err != nil {
			t.Fatalf("STARTTLS: %v", err)
		}
		return c
	}

	t.Run("no AUTH without TLS", func(t *testing.T) {
		c := opsDial(t, subAddr, "sub.client.e2e.test")
		if ok, _ := c.Extension("STARTTLS"); !ok {
			t.Errorf("submission does not offer STARTTLS")
		}
		if got := smtpReplyText(c.Mail("alice@local.test", nil)); !strings.HasPrefix(got, "530 5.7.0 ") {
			t.Errorf("MAIL in clear without AUTH -> %q, want 530 5.7.0", got)
		}
	})
	t.Run("no AUTH after STARTTLS", func(t *testing.T) {
		c := startTLS(t)
		if got := smtpReplyText(c.Mail("alice@local.test", nil)); !strings.HasPrefix(got, "530 5.7.0 ") {
			t.Errorf("MAIL without AUTH -> %q, want 530 5.7.0", got)
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		c := startTLS(t)
		if got := smtpReplyText(c.Auth(sasl.NewPlainClient("", "alice@local.test", "not-her-password"))); !strings.HasPrefix(got, "535 5.7.8 ") {
			t.Errorf("AUTH PLAIN with a wrong password -> %q, want 535 5.7.8", got)
		}
		m.log.waitLines(t, m.exited, 1, `msg="auth failed"`, "user=alice@local.test")
	})
	t.Run("sender of another user", func(t *testing.T) {
		c := startTLS(t)
		if err := c.Auth(sasl.NewLoginClient("alice@local.test", "alice-secret-1")); err != nil {
			t.Fatalf("AUTH LOGIN: %v", err)
		}
		if got := smtpReplyText(c.Mail("bob@local.test", nil)); !strings.HasPrefix(got, "553 5.7.1 ") {
			t.Errorf("MAIL FROM bob as alice -> %q, want 553 5.7.1", got)
		}
		got := opsSend(c, "alice+tag@local.test", []string{"bob@local.test"}, opsMessage("sub-local", "bob@local.test"))
		if !strings.HasPrefix(got.Data, "250 ") {
			t.Errorf("alice (+tag) to bob: %+v, want 250", got)
		}
	})
	t.Run("swaks authenticated relay", func(t *testing.T) {
		msg := tempMessage(t, "relay.eml", opsMessage("sub-relay", "someone@foreign.example"))
		var r swaksRun
		r.out, r.code = runTool(t, nil, "swaks", "--server", subAddr, "--helo", "swaks.client.e2e.test", "--timeout", "20",
			"--tls", "--auth", "PLAIN", "--auth-user", "alice@local.test", "--auth-password", "alice-secret-1",
			"--from", "alice@local.test", "--to", "someone@foreign.example", "--data", "@"+msg)
		// Under TLS swaks marks lines ~> and <~ (<~* for errors).
		r.out = strings.NewReplacer(" ~> ", " -> ", "<~* ", "<** ", "<~ ", "<- ").Replace(r.out)
		if got := r.endOfData(); r.code != 0 || !regexp.MustCompile(`^250 2\.0\.0 OK \S+ queued$`).MatchString(got) {
			t.Fatalf("swaks exit %d, end of data %q; want 250 … queued\n%s", r.code, got, r.out)
		}
		if got := r.replyAfter("AUTH"); !strings.HasPrefix(got, "235 ") {
			t.Errorf("AUTH PLAIN -> %q, want 235", got)
		}
		m.log.waitLines(t, m.exited, 1, "msg=txn", "rcpts=someone@foreign.example", "user=alice@local.test")
	})
	// A client behind a PROXY protocol proxy on this host reaches a
	// loopback listener, but it is not a loopback client: its password
	// must not travel in clear.
	t.Run("no clear-text AUTH through a proxy", func(t *testing.T) {
		conn := opsProxyDial(t, fmt.Sprintf("127.0.0.1:%d", subProxy), 2, "192.0.2.7")
		c := smtp.NewClient(conn)
		c.CommandTimeout, c.SubmissionTimeout = 20*time.Second, 20*time.Second
		if err := c.Hello("proxied.client.e2e.test"); err != nil {
			t.Fatalf("EHLO: %v", err)
		}
		if ok, mechs := c.Extension("AUTH"); ok {
			t.Errorf("EHLO without TLS to a proxied client offers AUTH %s", mechs)
		}
		got := smtpReplyText(c.Auth(sasl.NewPlainClient("", "alice@local.test", "alice-secret-1")))
		if !regexp.MustCompile(`^5\d\d 5\.7\.\d+ `).MatchString(got) {
			t.Errorf("clear-text AUTH PLAIN from 192.0.2.7 -> %q, want refused (5xx 5.7.x, such as 523 5.7.10)", got)
		}
	})
	t.Run("no relay without AUTH on smtp", func(t *testing.T) {
		c := opsDial(t, m.addr(), "mx.client.e2e.test")
		got := opsSend(c, "sender@client.e2e.test", []string{"someone@foreign.example"}, nil)
		if len(got.Rcpts) != 1 || !strings.HasPrefix(got.Rcpts[0], "550 5.7.1 ") {
			t.Errorf("unauthenticated RCPT to a foreign domain -> %q, want 550 5.7.1", got.Rcpts)
		}
	})
}

// TestE2EOpsProxyProtocol sends PROXY v1 and v2 headers from a trusted
// address (the client address they carry drives the log and the Received
// header) and from an untrusted one (closed without a greeting).
func TestE2EOpsProxyProtocol(t *testing.T) {
	t.Parallel()
	s := startSink(t, nil)
	listen := func(pp int) func(p cfgParams) string {
		return func(p cfgParams) string {
			return fmt.Sprintf("smtp:\n  - \"127.0.0.1:%d\"\n  - {address: \"127.0.0.1:%d\", proxy_protocol: true}\n", p.Port, pp)
		}
	}
	ppTrusted, ppUntrusted := freePort(t), freePort(t)
	p, cfg := opsConfig(t, s, listen(ppTrusted), "proxy:\n  trusted: [127.0.0.1]\n")
	pu, cfgU := opsConfig(t, s, listen(ppUntrusted), "proxy:\n  trusted: [10.0.0.0/8]\n")
	m, mu := startMoat(t, p, cfg), startMoat(t, pu, cfgU)

	for _, tc := range []struct {
		version int
		client  string
	}{{2, "192.0.2.7"}, {1, "198.51.100.9"}} {
		t.Run(fmt.Sprintf("trusted v%d", tc.version), func(t *testing.T) {
			conn := opsProxyDial(t, fmt.Sprintf("127.0.0.1:%d", ppTrusted), tc.version, tc.client)
			c := smtp.NewClient(conn)
			c.CommandTimeout, c.SubmissionTimeout = 20*time.Second, 20*time.Second
			if err := c.Hello("proxy.client.e2e.test"); err != nil {
				t.Fatalf("EHLO through PROXY v%d: %v", tc.version, err)
			}
			rcpt := fmt.Sprintf("proxy-v%d@relay.test", tc.version)
			got := opsSend(c, "sender@client.e2e.test", []string{rcpt}, opsMessage(fmt.Sprintf("proxy-v%d", tc.version), rcpt))
			opsQuit(t, c)
			if !strings.HasPrefix(got.Data, "250 ") {
				t.Fatalf("through PROXY v%d: %+v, want 250", tc.version, got)
			}
			m.log.waitLines(t, m.exited, 1, "msg=txn", "ip="+tc.client+" ", "rcpts="+rcpt)
			msgs := s.to(rcpt)
			if len(msgs) != 1 {
				t.Fatalf("sink got %d messages for %s, want 1", len(msgs), rcpt)
			}
			if recv := opsField(msgs[0].Data, "Received"); !strings.Contains(recv, "(["+tc.client+"])") {
				t.Errorf("moat's Received header %q does not name [%s]", recv, tc.client)
			}
		})
	}
	t.Run("trusted without header", func(t *testing.T) {
		opsExpectClosed(t, fmt.Sprintf("127.0.0.1:%d", ppTrusted), []byte("EHLO noheader.client.e2e.test\r\n"))
	})
	t.Run("untrusted", func(t *testing.T) {
		h := opsProxyHeader(t, 2, "192.0.2.7", ppUntrusted)
		opsExpectClosed(t, fmt.Sprintf("127.0.0.1:%d", ppUntrusted), h)
		mu.log.waitLines(t, mu.exited, 1, "not from a trusted PROXY protocol peer", "addr=127.0.0.1:")
		if got := mu.log.lines("msg=txn"); len(got) != 0 {
			t.Errorf("the untrusted instance logged transactions: %q", got)
		}
	})
}

// TestE2EOpsTLSReload swaps the certificate files and sends SIGHUP: new
// handshakes see the new certificate without a restart. TLS below 1.2 is
// refused.
func TestE2EOpsTLSReload(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	certA := opsWriteCert(t, certFile, keyFile, 0xA1)
	p, cfg := opsConfig(t, nil, nil, fmt.Sprintf("tls:\n  cert: %q\n  key: %q\n", certFile, keyFile))
	m := startMoat(t, p, cfg)

	roots := x509.NewCertPool()
	roots.AddCert(certA)
	if got := opsHandshakeSerial(t, m.addr(), roots); got.Cmp(certA.SerialNumber) != 0 {
		t.Fatalf("first handshake: serial %x, want %x", got, certA.SerialNumber)
	}
	certB := opsWriteCert(t, certFile, keyFile, 0xB2)
	roots.AddCert(certB)
	m.signal(t, syscall.SIGHUP)
	m.log.waitLines(t, m.exited, 1, `msg="certificate reloaded"`)
	if got := opsHandshakeSerial(t, m.addr(), roots); got.Cmp(certB.SerialNumber) != 0 {
		t.Errorf("after SIGHUP: serial %x, want %x", got, certB.SerialNumber)
	}
	m.alive(t)

	if _, err := opsStartTLS(t, m.addr(), &tls.Config{RootCAs: roots, ServerName: "moat.e2e.test", MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}); err == nil {
		t.Errorf("a TLS 1.1 handshake succeeded; want TLS 1.2 minimum")
	}
}

// TestE2EOpsGracefulShutdown sends SIGTERM while eight clients send 200
// messages into the queue: moat lets the sessions in flight finish and
// exits cleanly. The downstream is down during the load, so everything
// acknowledged is still in the queue then; after a restart on the same
// data_dir with the downstream up, every acknowledged message arrives.
func TestE2EOpsGracefulShutdown(t *testing.T) {
	t.Parallel()
	const total, workers, perConn, termAfter = 200, 8, 5, 40
	p, cfg := opsConfig(t, nil, nil, "queue:\n  min_backoff: 1s\n  max_backoff: 2s\n")
	m := startMoat(t, p, cfg)

	var (
		next  atomic.Int64
		acked sync.Map // Message-ID -> reply
		nAck  atomic.Int64
		wg    sync.WaitGroup
		term  sync.Once
	)
	// A worker stops at its first failure: stopErrs says why; broken gets
	// transactions cut after MAIL was accepted (shutdown must let them end).
	stopErrs, broken := make(chan string, workers), make(chan string, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				conn, err := net.DialTimeout("tcp", m.addr(), 5*time.Second)
				if err != nil {
					stopErrs <- fmt.Sprintf("worker %d: dial: %v", w, err)
					return
				}
				c := smtp.NewClient(conn)
				c.CommandTimeout, c.SubmissionTimeout = 20*time.Second, 20*time.Second
				if err := c.Hello("load.client.e2e.test"); err != nil {
					c.Close()
					stopErrs <- fmt.Sprintf("worker %d: EHLO: %v", w, err)
					return
				}
				for range perConn {
					i := next.Add(1)
					if i > total {
						_ = c.Quit()
						return
					}
					id := fmt.Sprintf("ops-shutdown-%d", i)
					r := opsSend(c, "sender@client.e2e.test", []string{"q@queue.test"}, opsMessage(id, "q@queue.test"))
					if !strings.HasPrefix(r.Data, "250 ") {
						c.Close()
						if r.Mail == "250" && (strings.HasPrefix(r.Data, "error:") || strings.HasPrefix(r.Rcpts[0], "error:")) {
							broken <- fmt.Sprintf("message %d: %+v", i, r)
						}
						stopErrs <- fmt.Sprintf("worker %d: message %d: %+v", w, i, r)
						return
					}
					acked.Store("<"+id+"@client.e2e.test>", r.Data)
					if nAck.Add(1) == termAfter {
						term.Do(func() { _ = m.cmd.Process.Signal(syscall.SIGTERM) })
					}
				}
				_ = c.Quit()
			}
		}()
	}
	wg.Wait()
	close(stopErrs)
	close(broken)
	for e := range stopErrs {
		t.Logf("client stopped: %s", e)
	}
	for e := range broken {
		t.Errorf("a transaction in flight was cut by the shutdown: %s", e)
	}
	select {
	case <-m.exited:
		if m.waitErr != nil {
			t.Errorf("moat after SIGTERM: %v", m.waitErr)
		}
	case <-time.After(stopTimeout):
		t.Fatalf("moat still running %v after SIGTERM", stopTimeout)
	}
	m.log.waitLines(t, m.exited, 1, `msg="shutting down"`)
	var want []string
	acked.Range(func(k, _ any) bool { want = append(want, k.(string)); return true })
	t.Logf("%d of %d messages acknowledged before the shutdown", len(want), total)
	if len(want) < termAfter {
		t.Fatalf("only %d messages acknowledged", len(want))
	}

	// Restart on the same data_dir, queue.test's downstream now up.
	s := startSink(t, nil)
	p.Sink = s.addr
	writeFile(t, cfg, configYAML(p))
	m2 := startMoat(t, p, cfg)
	deadline := time.Now().Add(20 * time.Second)
	var missing []string
	for {
		seen := map[string]int{}
		for _, msg := range s.messages() {
			seen[opsField(msg.Data, "Message-ID")]++
		}
		missing = missing[:0]
		for _, id := range want {
			if seen[id] == 0 {
				missing = append(missing, id)
			}
		}
		if len(missing) == 0 {
			for id, n := range seen {
				if n > 1 {
					t.Logf("duplicate delivery: %s arrived %d times", id, n)
				}
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d acknowledged messages never reached the sink, e.g. %q", len(missing), missing[:min(5, len(missing))])
		}
		time.Sleep(100 * time.Millisecond)
	}
	m2.alive(t)
}
