//go:build e2e

package main_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/moatmail/moat/filter/dnsx/dnstest"
)

// TestE2EAuthSignedChain signs with a key from `moat dkim keygen` (RSA and
// Ed25519): instance A signs mail from its trusted network and relays it to
// instance B, which verifies the signature and reports dkim=pass and
// dmarc=pass in its Authentication-Results; the signature alone makes DMARC
// pass when SPF fails, while the same message sent unsigned is rejected.
func TestE2EAuthSignedChain(t *testing.T) {
	t.Parallel()
	requireTool(t, "swaks", "swaks")
	for _, typ := range []string{"rsa", "ed25519"} {
		t.Run(typ, func(t *testing.T) {
			t.Parallel()
			key, record := dkimKeygen(t, typ, "example.test", "s1")
			dns := authDNS(t, record)
			s := startSink(t, nil)
			pb, cfgB := authConfig(t, authHostB, dns.Addr(), s.addr, "", "")
			b := startMoat(t, pb, cfgB)
			// outage.test (SPF -all, p=reject) signs with the same key, but
			// its key's zone answers SERVFAIL.
			outage := strings.Replace(record, "._domainkey.example.test. ", "._domainkey.outage.test. ", 1)
			for _, z := range []string{
				"$ORIGIN outage.test.\n@ 300 IN SOA ns.outage.test. hostmaster.outage.test. 1 3600 600 86400 60\n" +
					"@ 300 IN TXT \"v=spf1 -all\"\n_dmarc 300 IN TXT \"v=DMARC1; p=reject\"\n",
				"_domainkey.outage.test. 300 IN SOA ns.outage.test. hostmaster.outage.test. 1 3600 600 86400 60\n" + outage + "\n",
			} {
				if err := dns.AddZone(z); err != nil {
					t.Fatal(err)
				}
			}
			dns.SetMode("_domainkey.outage.test", dnstest.ServFail)
			sign := fmt.Sprintf("dkim:\n  sign:\n    example.test: {selector: s1, key: %q}\n    outage.test: {selector: s1, key: %q}\n", key, key)
			pa, cfgA := authConfig(t, authHostA, dns.Addr(), b.addr(), "trusted_networks: [127.0.0.1/32]\n", sign)
			a := startMoat(t, pa, cfgA)
			alg := map[string]string{"rsa": "rsa-sha256", "ed25519": "ed25519-sha256"}[typ]

			t.Run("signed by A, verified by B", func(t *testing.T) {
				const rcpt = "signed@relay.test"
				head := "Authentication-Results: " + authHostB + "; dkim=pass header.d=forged-by-sender.test\n" +
					"Authentication-Results: mx.other.test; spf=pass smtp.mailfrom=someone@example.test\n"
				file := authMessage(t, "signed-"+typ, "someone@example.test", head)
				r := authSend(t, a, "127.0.0.1", "someone@example.test", rcpt, file)
				if reply := finalReply(r); !strings.Contains(reply, " relayed") {
					t.Fatalf("A: end of data -> %q, want 250 … relayed\n%s", reply, r.out)
				}
				fields, body, action, tests := delivered(t, s, r, rcpt)

				sigs := values(fields, "DKIM-Signature")
				if len(sigs) != 1 {
					t.Fatalf("sink: %d DKIM-Signature fields, want A's one", len(sigs))
				}
				tags := dkimTags(sigs[0])
				if tags["d"] != "example.test" || tags["s"] != "s1" || tags["a"] != alg {
					t.Errorf("DKIM-Signature d=%q s=%q a=%q, want d=example.test s=s1 a=%s", tags["d"], tags["s"], tags["a"], alg)
				}
				if h := strings.Split(strings.ToLower(tags["h"]), ":"); !slices.Contains(h, "from") || slices.Contains(h, "authentication-results") {
					t.Errorf("DKIM-Signature h=%s: want From signed and no Authentication-Results", tags["h"])
				}

				rs, n := resultsBy(fields, authHostB)
				if n != 1 {
					t.Fatalf("sink: %d Authentication-Results fields by %s, want B's own only:\n%q", n, authHostB, values(fields, "Authentication-Results"))
				}
				checkResult(t, rs, "spf", "pass", map[string]string{"smtp.mailfrom": "someone@example.test"})
				checkResult(t, rs, "dkim", "pass", map[string]string{"header.d": "example.test", "header.s": "s1", "header.a": alg})
				checkResult(t, rs, "dmarc", "pass", map[string]string{"header.from": "example.test"})
				if _, n := resultsBy(fields, authHostA); n != 0 {
					t.Errorf("A wrote Authentication-Results for a trusted client's mail")
				}
				if got := values(fields, "Authentication-Results"); !slices.Contains(got, "mx.other.test; spf=pass smtp.mailfrom=someone@example.test") {
					t.Errorf("the other host's Authentication-Results was lost: %q", got)
				}
				if strings.Contains(strings.Join(values(fields, "Authentication-Results"), "\n"), "forged-by-sender") {
					t.Errorf("the forged Authentication-Results with B's authserv-id reached the sink")
				}
				if m := missing(tests, "SPF_PASS", "DKIM_VALID", "DKIM_VALID_AUTHOR", "DMARC_PASS"); m != nil {
					t.Errorf("B's X-Spam-Status tests=%q lack %q", tests, m)
				}
				if action != "accept" {
					t.Errorf("X-Spam-Action = %q, want accept", action)
				}
				if _, want := splitMessage([]byte(lf(fixtureFile(t, file)))); body != want {
					t.Errorf("body changed on the way:\n got %q\nwant %q", body, want)
				}
			})

			// A subdomain of a key's domain is signed with that key (d= the
			// parent, whatever the case of the From address), and DMARC
			// finds the policy at the organisational domain and passes on
			// the relaxed alignment of the signature.
			t.Run("subdomain author", func(t *testing.T) {
				const rcpt = "subdomain@relay.test"
				file := authMessage(t, "subdomain-"+typ, "someone@News.Example.Test", "")
				r := authSend(t, a, "127.0.0.1", "someone@news.example.test", rcpt, file)
				fields, _, action, _ := delivered(t, s, r, rcpt)
				if sigs := values(fields, "DKIM-Signature"); len(sigs) != 1 || dkimTags(sigs[0])["d"] != "example.test" {
					t.Fatalf("DKIM-Signature fields %q, want one with d=example.test", sigs)
				}
				rs, _ := resultsBy(fields, authHostB)
				checkResult(t, rs, "spf", "none", nil)
				checkResult(t, rs, "dkim", "pass", map[string]string{"header.d": "example.test"})
				checkResult(t, rs, "dmarc", "pass", map[string]string{"header.from": "news.example.test"})
				if action != "accept" {
					t.Errorf("X-Spam-Action = %q, want accept", action)
				}
			})

			// A's signed message as the sink got it, sent to B again from
			// outside: as is it still verifies; changed, it does not.
			t.Run("modified after signing", func(t *testing.T) {
				const src = "tamper-src@relay.test"
				r := authSend(t, a, "127.0.0.1", "someone@example.test", src, authMessage(t, "tamper-"+typ, "someone@example.test", ""))
				delivered(t, s, r, src)
				signed := lf(s.to(src)[0].Data)
				changes := []struct {
					name, old, new string
					dkim           string
				}{
					{"unchanged", "", "", "pass"},
					{"body", "\nHello,\n", "\nHello!\n", "fail"},
					{"subject", "Subject: sender authentication", "Subject: changed authentication", "fail"},
					{"subject added", "", "Subject: a second subject\n", "fail"}, // Subject is oversigned
				}
				for i, c := range changes {
					t.Run(c.name, func(t *testing.T) {
						msg := strings.Replace(signed, c.old, c.new, 1)
						if c.old == "" {
							msg = c.new + signed
						}
						if c.name != "unchanged" && msg == signed {
							t.Fatalf("the change %q -> %q does not apply to the message", c.old, c.new)
						}
						rcpt := fmt.Sprintf("tampered-%d@relay.test", i)
						r := authSend(t, b, "127.0.0.1", "someone@example.test", rcpt, tempMessage(t, "tampered.eml", []byte(msg)))
						fields, _, _, tests := delivered(t, s, r, rcpt)
						rs, n := resultsBy(fields, authHostB)
						if n != 1 {
							t.Errorf("%d Authentication-Results fields by B, want B's new one only", n)
						}
						checkResult(t, rs, "dkim", c.dkim, map[string]string{"header.d": "example.test", "header.s": "s1"})
						want := map[string]string{"pass": "DKIM_VALID_AUTHOR", "fail": "DKIM_INVALID"}[c.dkim]
						if !slices.Contains(tests, want) {
							t.Errorf("X-Spam-Status tests=%q, want %s", tests, want)
						}
					})
				}
			})

			// The key cannot be fetched and SPF fails: DMARC cannot tell,
			// so p=reject is not applied.
			t.Run("key lookup fails", func(t *testing.T) {
				const rcpt = "outage@relay.test"
				file := authMessage(t, "outage-"+typ, "someone@outage.test", "")
				r := authSend(t, a, "127.0.0.1", "someone@outage.test", rcpt, file)
				fields, _, action, tests := delivered(t, s, r, rcpt)
				rs, _ := resultsBy(fields, authHostB)
				checkResult(t, rs, "spf", "fail", nil)
				checkResult(t, rs, "dkim", "temperror", map[string]string{"header.d": "outage.test"})
				checkResult(t, rs, "dmarc", "temperror", map[string]string{"header.from": "outage.test"})
				if m := missing(tests, "DKIM_TEMPERROR", "DMARC_TEMPERROR"); m != nil {
					t.Errorf("X-Spam-Action %s tests=%q, lacking %q", action, tests, m)
				}
			})

			// Past limits.memory_spool (1 MiB) both instances spool the
			// message to disk: A signs it from there, B verifies it.
			t.Run("spooled message", func(t *testing.T) {
				requireTool(t, "python3", "python3")
				const rcpt = "spooled@relay.test"
				res := a.smtplibSend(t, sendTxn{From: "someone@example.test", Rcpts: []string{rcpt}, BodySize: 3 << 20})
				if d := res.Transactions[0].Data; d.code() != 250 {
					t.Fatalf("A: end of data -> %v, want 250", d)
				}
				got := s.to(rcpt)
				if len(got) != 1 || len(got[0].Data) < 3<<20 {
					t.Fatalf("sink got %d messages for %s (or a short one), want 1 of 3 MiB", len(got), rcpt)
				}
				fields, _ := splitMessage(got[0].Data)
				rs, _ := resultsBy(fields, authHostB)
				checkResult(t, rs, "dkim", "pass", map[string]string{"header.d": "example.test", "header.s": "s1"})
				checkResult(t, rs, "dmarc", "pass", map[string]string{"header.from": "example.test"})
			})

			// The bounce domain mailer.test fails SPF and publishes no
			// DMARC record: only the aligned signature can make DMARC pass.
			t.Run("DMARC passes on the signature alone", func(t *testing.T) {
				file := authMessage(t, "bulk-"+typ, "someone@example.test", "")
				unsigned := authSend(t, b, "127.0.0.1", "bounce@mailer.test", "unsigned@relay.test", file)
				if reply := finalReply(unsigned); !strings.HasPrefix(reply, "550 5.7.1 ") {
					t.Errorf("unsigned, SPF fail, p=reject: B answered %q at the end of data, want 550 5.7.1\n%s", reply, unsigned.out)
				}
				if got := s.to("unsigned@relay.test"); len(got) != 0 {
					t.Errorf("the unsigned message reached the sink")
				}

				const rcpt = "bulk@relay.test"
				r := authSend(t, a, "127.0.0.1", "bounce@mailer.test", rcpt, file)
				fields, _, action, tests := delivered(t, s, r, rcpt)
				rs, _ := resultsBy(fields, authHostB)
				checkResult(t, rs, "spf", "fail", map[string]string{"smtp.mailfrom": "bounce@mailer.test"})
				checkResult(t, rs, "dkim", "pass", map[string]string{"header.d": "example.test", "header.s": "s1"})
				checkResult(t, rs, "dmarc", "pass", map[string]string{"header.from": "example.test"})
				if m := missing(tests, "SPF_FAIL", "DKIM_VALID_AUTHOR", "DMARC_PASS"); m != nil || action != "accept" {
					t.Errorf("X-Spam-Action %s tests=%q (lacking %q), want accept with SPF_FAIL, DKIM_VALID_AUTHOR, DMARC_PASS", action, tests, m)
				}
			})
		})
	}
}

// fixtureFile reads a file a test wrote.
func fixtureFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestE2EAuthForgedResults sends B, over smtplib, a message carrying
// Authentication-Results fields in every spelling of B's authserv-id: all
// are gone at the sink, B's own is the only one with its id, and those of
// other hosts (one whose id merely starts with B's name) are kept as sent.
func TestE2EAuthForgedResults(t *testing.T) {
	t.Parallel()
	requireTool(t, "python3", "python3")
	dns := authDNS(t)
	s := startSink(t, nil)
	p, cfg := authConfig(t, authHostB, dns.Addr(), s.addr, "", "")
	m := startMoat(t, p, cfg)

	cases := []struct {
		name, field string // field: name and value, may be folded
		kept        bool
	}{
		{"our id", "Authentication-Results: b.auth.e2e.test; dkim=pass header.d=fake1.test", false},
		{"upper case, trailing dot", "Authentication-Results: B.Auth.E2E.Test.; spf=pass smtp.mailfrom=x@fake2.test", false},
		{"after a comment", "Authentication-Results: (verified) b.auth.e2e.test; dmarc=pass header.from=fake3.test", false},
		{"quoted", `Authentication-Results: "b.auth.e2e.test"; dkim=pass header.d=fake4.test`, false},
		{"with a version", "Authentication-Results: b.auth.e2e.test 1; dkim=pass header.d=fake5.test", false},
		{"folded", "Authentication-Results: b.auth.e2e.test;\n\tdkim=pass header.d=fake6.test", false},
		{"lower-case field name", "authentication-results: b.auth.e2e.test; dkim=pass header.d=fake7.test", false},
		{"unterminated comment", "Authentication-Results: b.auth.e2e.test (oops; dkim=pass header.d=fake8.test", false},
		{"comment right after the id", "Authentication-Results: b.auth.e2e.test(ok); dkim=pass header.d=fake9.test", false},
		{"folded before the id", "Authentication-Results:\n\tb.auth.e2e.test; dkim=pass header.d=fake10.test", false},
		{"other host", "Authentication-Results: mx.other.test; dkim=pass header.d=kept1.test", true},
		{"our name as a prefix", "Authentication-Results: b.auth.e2e.test.evil.test; dkim=pass header.d=kept2.test", true},
		{"our name in a comment", "Authentication-Results: (b.auth.e2e.test) mx.other.test; spf=pass smtp.mailfrom=x@kept4.test", true},
		{"our name in a property", "Authentication-Results: mx.other.test; dkim=pass header.d=b.auth.e2e.test header.s=kept3", true},
	}
	var head strings.Builder
	for _, c := range cases {
		head.WriteString(c.field + "\n")
	}
	file := authMessage(t, "forged", "someone@example.test", head.String())
	const rcpt = "forged@relay.test"
	res := m.smtplibSend(t, sendTxn{From: "someone@example.test", Rcpts: []string{rcpt}, File: file})
	if d := res.Transactions[0].Data; d.code() != 250 {
		t.Fatalf("end of data -> %v, want 250", d)
	}
	got := s.to(rcpt)
	if len(got) != 1 {
		t.Fatalf("sink got %d messages, want 1", len(got))
	}
	fields, _ := splitMessage(got[0].Data)
	ars := values(fields, "Authentication-Results")
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, value, _ := strings.Cut(c.field, ":")
			value = strings.Join(strings.Fields(value), " ") // as splitMessage unfolds it
			if c.kept != slices.Contains(ars, value) {
				t.Errorf("%q at the sink: %v, want %v; Authentication-Results there:\n%s", value, !c.kept, c.kept, strings.Join(ars, "\n"))
			}
		})
	}
	rs, n := resultsBy(fields, authHostB)
	if n != 1 {
		t.Fatalf("%d Authentication-Results fields with B's id, want B's own only:\n%s", n, strings.Join(ars, "\n"))
	}
	checkResult(t, rs, "spf", "pass", map[string]string{"smtp.mailfrom": "someone@example.test"})
	checkResult(t, rs, "dkim", "none", nil)
	checkResult(t, rs, "dmarc", "pass", map[string]string{"header.from": "example.test"})
	if strings.Contains(string(got[0].Data), "fake") {
		t.Errorf("a forged field reached the sink:\n%s", got[0].Data)
	}
}

// TestE2EAuthDMARC sends unsigned mail whose From domain fails SPF from
// 127.0.0.2 to B under three configurations: by default p=reject is
// refused with 550 5.7.1 at the end of data and p=quarantine is delivered
// as junk; with dmarc.reject_action: junk p=reject is delivered as junk;
// from a trusted forwarder's network the failure is not punished.
func TestE2EAuthDMARC(t *testing.T) {
	t.Parallel()
	requireTool(t, "swaks", "swaks")
	dns := authDNS(t)
	type send struct {
		iface, from string
		reject      bool   // 550 5.7.1 at the end of data
		action      string // else: X-Spam-Action
		symbol      string // and this symbol in X-Spam-Status
		dmarc       string // and dmarc= in Authentication-Results
		head        string // with from "": the From fields; MAIL FROM is y@example.test
	}
	configs := []struct {
		name, extra string
		sends       []send
	}{
		{"default", "", []send{
			{"127.0.0.2", "x@strict.test", true, "", "DMARC_FAIL_REJECT", "", ""},
			{"127.0.0.2", "x@quarantine.test", false, "junk", "DMARC_FAIL_QUARANTINE", "fail", ""},
			{"127.0.0.2", "x@example.test", false, "accept", "DMARC_PASS", "pass", ""}, // SPF passes for 127.0.0.0/8
			{"127.0.0.2", "x@hardfail.test", false, "accept", "DMARC_NONE", "none", ""},
			// Several authors: DMARC cannot apply, so the p=reject of one
			// of them is not enforced, but it does not pass either.
			{"127.0.0.2", "", false, "accept", "DMARC_BAD_FROM", "permerror", "From: x@strict.test, y@example.test\n"},
			{"127.0.0.2", "", false, "accept", "DMARC_BAD_FROM", "permerror", "From: x@strict.test\nFrom: y@example.test\n"},
		}},
		{"reject_action junk", "dmarc:\n  reject_action: junk\n", []send{
			{"127.0.0.2", "x@strict.test", false, "junk", "DMARC_FAIL_REJECT", "fail", ""},
			{"127.0.0.2", "x@quarantine.test", false, "junk", "DMARC_FAIL_QUARANTINE", "fail", ""},
		}},
		{"trusted forwarder", "dmarc:\n  trusted_forwarders:\n    networks: [127.0.0.2/32]\n", []send{
			{"127.0.0.2", "x@strict.test", false, "accept", "DMARC_FAIL_FORWARDER", "fail", ""},
			{"127.0.0.1", "x@strict.test", true, "", "DMARC_FAIL_REJECT", "", ""},
		}},
	}
	for _, cf := range configs {
		t.Run(cf.name, func(t *testing.T) {
			t.Parallel()
			s := startSink(t, nil)
			p, cfg := authConfig(t, authHostB, dns.Addr(), s.addr, "", cf.extra)
			m := startMoat(t, p, cfg)
			for i, sd := range cf.sends {
				name, mailFrom := sd.from, sd.from
				if sd.from == "" {
					name, mailFrom = strings.ReplaceAll(strings.TrimSpace(sd.head), "\n", " "), "y@example.test"
				}
				t.Run(name+" from "+sd.iface, func(t *testing.T) {
					rcpt := fmt.Sprintf("dmarc-%d@relay.test", i)
					file := authMessage(t, fmt.Sprintf("dmarc-%d", i), sd.from, sd.head)
					r := authSend(t, m, sd.iface, mailFrom, rcpt, file)
					if sd.reject {
						reply := finalReply(r)
						if !strings.HasPrefix(reply, "550 5.7.1 ") {
							t.Fatalf("end of data -> %q, want 550 5.7.1\n%s", reply, r.out)
						}
						if len(s.to(rcpt)) != 0 {
							t.Errorf("a rejected message reached the sink")
						}
						m.log.waitLines(t, m.exited, 1, "msg=txn", "rcpts="+rcpt, "action=reject", sd.symbol)
						return
					}
					fields, _, action, tests := delivered(t, s, r, rcpt)
					if action != sd.action || !slices.Contains(tests, sd.symbol) {
						t.Errorf("X-Spam-Action %s tests=%q, want %s with %s", action, tests, sd.action, sd.symbol)
					}
					rs, _ := resultsBy(fields, authHostB)
					var props map[string]string
					if _, domain, ok := strings.Cut(sd.from, "@"); ok {
						props = map[string]string{"header.from": domain}
					}
					checkResult(t, rs, "dmarc", sd.dmarc, props)
				})
			}
		})
	}
}

// TestE2EAuthSPF checks the SPF result of each kind of sender domain in
// X-Spam-Status and Authentication-Results, and that greylisting keys a
// sender whose SPF passes on its domain ("spf:DOMAIN") and any other on the
// client network.
func TestE2EAuthSPF(t *testing.T) {
	t.Parallel()
	requireTool(t, "swaks", "swaks")
	dns := authDNS(t)

	t.Run("results", func(t *testing.T) {
		t.Parallel()
		s := startSink(t, nil)
		p, cfg := authConfig(t, authHostB, dns.Addr(), s.addr, "", "")
		m := startMoat(t, p, cfg)
		cases := []struct{ domain, symbol, result string }{
			{"example.test", "SPF_PASS", "pass"},
			{"hardfail.test", "SPF_FAIL", "fail"},
			{"softfail.test", "SPF_SOFTFAIL", "softfail"},
			{"neutral.test", "SPF_NEUTRAL", "neutral"},
			{"nospf.test", "SPF_NONE", "none"},
			{"broken.test", "SPF_PERMERROR", "permerror"},
		}
		for _, c := range cases {
			t.Run(c.domain, func(t *testing.T) {
				from := "sender@" + c.domain
				rcpt := "spf-" + c.result + "@relay.test"
				r := authSend(t, m, "127.0.0.1", from, rcpt, authMessage(t, "spf-"+c.result, from, ""))
				fields, _, _, tests := delivered(t, s, r, rcpt)
				var spf []string
				for _, n := range tests {
					if strings.HasPrefix(n, "SPF_") {
						spf = append(spf, n)
					}
				}
				if !slices.Equal(spf, []string{c.symbol}) {
					t.Errorf("X-Spam-Status tests=%q: SPF symbols %q, want exactly %s", tests, spf, c.symbol)
				}
				rs, _ := resultsBy(fields, authHostB)
				checkResult(t, rs, "spf", c.result, map[string]string{"smtp.mailfrom": from})
			})
		}
		// A bounce (null sender) is checked on the HELO name.
		t.Run("null sender", func(t *testing.T) {
			const rcpt = "spf-bounce@relay.test"
			file := authMessage(t, "spf-bounce", "mailer-daemon@helo.example.test", "")
			r := m.swaks(t, "--helo", "helo.example.test", "--from", "<>", "--to", rcpt, "--data", "@"+file)
			fields, _, _, tests := delivered(t, s, r, rcpt)
			if !slices.Contains(tests, "SPF_PASS") {
				t.Errorf("X-Spam-Status tests=%q, want SPF_PASS for the HELO name", tests)
			}
			rs, _ := resultsBy(fields, authHostB)
			checkResult(t, rs, "spf", "pass", map[string]string{"smtp.helo": "helo.example.test"})
		})
	})

	t.Run("greylisting key", func(t *testing.T) {
		t.Parallel()
		s := startSink(t, nil)
		p, cfg := authConfig(t, authHostB, dns.Addr(), s.addr, "", "greylist:\n  enabled: true\n  delay: 1h\n")
		m := startMoat(t, p, cfg)
		cases := []struct{ from, rcpt, client string }{
			{"sender@example.test", "grey-pass@relay.test", "spf:example.test"},
			{"sender@softfail.test", "grey-soft@relay.test", "127.0.0.0/24"},
		}
		for _, c := range cases {
			r := m.swaks(t, "--from", c.from, "--to", c.rcpt)
			if reply := r.replyAfter("RCPT TO:"); !strings.HasPrefix(reply, "451 4.7.1 Greylisted") {
				t.Fatalf("%s: RCPT -> %q, want greylisted\n%s", c.from, reply, r.out)
			}
		}
		es := greylistList(t, cfg)
		for _, c := range cases {
			if e, ok := findEntry(es, "triplet", c.client, c.rcpt); !ok || e.Triplet.Sender != c.from {
				t.Errorf("no greylist triplet %s %s %s in %+v", c.client, c.from, c.rcpt, es)
			}
		}
		if len(es) != len(cases) {
			t.Errorf("greylist holds %d entries, want %d: %+v", len(es), len(cases), es)
		}
	})
}

// TestE2EAuthKeygenCLI runs `moat dkim keygen` without --out (the key goes
// under data_dir), checks that the dkim.sign entry it prints makes a
// configuration `moat policy check` accepts, and that bad arguments and
// bad sign/DMARC settings are refused with a message.
func TestE2EAuthKeygenCLI(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	cfg := filepath.Join(dir, "moat.yaml")
	writeFile(t, cfg, fmt.Sprintf("data_dir: %q\nlisten: {smtp: [\"127.0.0.1:0\"]}\n", dataDir))

	t.Run("key under data_dir", func(t *testing.T) {
		stdout, stderr, code := runMoat(t, nil, "dkim", "keygen", "-c", cfg, "--type", "ed25519", "Example.TEST", "sel-1")
		if code != 0 {
			t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
		}
		key := filepath.Join(dataDir, "dkim", "example.test.sel-1.pem")
		st, err := os.Stat(key)
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("key %s: %v, mode %v; want a 0600 file", key, err, st)
		}
		if st, err := os.Stat(filepath.Dir(key)); err != nil || st.Mode().Perm()&0o077 != 0 {
			t.Errorf("key directory %s: %v, %v; want it closed to group and others", filepath.Dir(key), err, st)
		}
		if !strings.Contains(stdout, "written to "+key+"\n") || !strings.Contains(stdout, "\nsel-1._domainkey.example.test. IN TXT \"v=DKIM1; k=ed25519; p=") {
			t.Errorf("stdout does not name %s or lacks the TXT record:\n%s", key, stdout)
		}
		// The printed entry, uncommented, is a valid configuration.
		_, snippet, ok := strings.Cut(stdout, "; dkim:\n")
		if !ok {
			t.Fatalf("no dkim: entry printed:\n%s", stdout)
		}
		text := fmt.Sprintf("data_dir: %q\nlisten: {smtp: [\"127.0.0.1:0\"]}\ndkim:\n", dataDir)
		for _, l := range strings.Split(strings.TrimRight(snippet, "\n"), "\n") {
			text += strings.TrimPrefix(l, "; ") + "\n"
		}
		signed := filepath.Join(dir, "signed.yaml")
		writeFile(t, signed, text)
		if stdout, stderr, code := runMoat(t, nil, "policy", "check", "-c", signed); code != 0 {
			t.Errorf("moat policy check on the printed entry: exit %d\n%s\n%s%s", code, text, stdout, stderr)
		}
	})

	bad := []struct {
		name string
		args []string
		code int
		want string // in stderr
	}{
		{"unknown type", []string{"keygen", "--type", "dsa", "example.test", "s1"}, 2, `--type: want rsa or ed25519, got "dsa"`},
		{"bad domain", []string{"keygen", "bad domain", "s1"}, 1, "not a domain name"},
		{"bad selector", []string{"keygen", "example.test", "bad sel"}, 1, "not a valid selector"},
		{"no selector", []string{"keygen", "example.test"}, 2, "usage: moat dkim keygen"},
		{"no subcommand", nil, 2, "usage: moat dkim keygen"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "key.pem")
			args := append([]string{"dkim"}, tc.args...)
			if len(tc.args) > 0 {
				args = append([]string{"dkim", "keygen", "--out", out}, tc.args[1:]...)
			}
			stdout, stderr, code := runMoat(t, nil, args...)
			if code != tc.code || !strings.Contains(stderr, tc.want) {
				t.Errorf("moat %q: exit %d, stderr %q; want exit %d and %q", args, code, stderr, tc.code, tc.want)
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("moat %q wrote a key; stdout %q", args, stdout)
			}
		})
	}

	configs := []struct{ name, text, want string }{
		{"missing key file", "dkim:\n  sign:\n    example.test: {selector: s1, key: /nonexistent/key.pem}\n", "dkim.sign.example.test: dkim key for example.test: open /nonexistent/key.pem"},
		{"no selector", "dkim:\n  sign:\n    example.test: {key: /nonexistent/key.pem}\n", "dkim.sign.example.test: want selector: and key:"},
		{"reject_action accept", "dmarc:\n  reject_action: accept\n", "dmarc.reject_action: accept would let DMARC failures through"},
		{"forwarder network", "dmarc:\n  trusted_forwarders:\n    networks: [not-a-net]\n", "dmarc.trusted_forwarders.networks[0]: "},
	}
	for _, tc := range configs {
		t.Run("config/"+tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "moat.yaml")
			writeFile(t, path, fmt.Sprintf("data_dir: %q\n", dataDir)+tc.text)
			stdout, stderr, code := runMoat(t, nil, "policy", "check", "-c", path)
			if out := stdout + stderr; code != 1 || !strings.Contains(out, path+":") || !strings.Contains(out, tc.want) {
				t.Errorf("moat policy check: exit %d\n%s\nwant exit 1 and FILE:LINE: %s…", code, out, tc.want)
			}
		})
	}
}
