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

// Sender authentication end to end: `moat dkim keygen`, a moat instance A
// signing mail from its trusted network and relaying it to an instance B,
// which verifies it, writes Authentication-Results, removes forged ones and
// applies the From domain's DMARC policy. Every instance asks a DNS server
// of the test's own (dnstest) that serves the list test zones and the
// sender domains below.

// The two instances' hostnames, which are their authserv-ids.
const (
	authHostA = "a.auth.e2e.test"
	authHostB = "b.auth.e2e.test"
)

// authZones are the sender domains every auth test's DNS server serves
// (example.test is added with its DKIM key records by authDNS).
var authZones = map[string]string{
	"mailer.test":     `@ IN TXT "v=spf1 -all"`, // a bulk sender's bounce domain, no DMARC
	"strict.test":     "@ IN TXT \"v=spf1 -all\"\n_dmarc IN TXT \"v=DMARC1; p=reject\"",
	"quarantine.test": "@ IN TXT \"v=spf1 -all\"\n_dmarc IN TXT \"v=DMARC1; p=quarantine\"",
	"hardfail.test":   `@ IN TXT "v=spf1 -all"`,
	"softfail.test":   `@ IN TXT "v=spf1 ~all"`,
	"neutral.test":    `@ IN TXT "v=spf1 ?all"`,
	"broken.test":     `@ IN TXT "v=spf1 ip4:127.0.0.0/33 -all"`,
	"nospf.test":      `@ IN TXT "not an SPF record"`,
}

// authDNS starts a DNS server with the list test zones, authZones and
// example.test: SPF pass for 127.0.0.0/8, DMARC p=reject, a HELO name
// helo.example.test with SPF pass for 127.0.0.1, and the given DKIM key
// records (zone file lines, as `moat dkim keygen` prints them).
func authDNS(t *testing.T, keyRecords ...string) *dnstest.Server {
	t.Helper()
	srv := dnstest.Start(t, dnsZones...)
	zone := func(origin, body string) string {
		return fmt.Sprintf("$ORIGIN %s.\n$TTL 300\n@ IN SOA ns.%s. hostmaster.%s. 1 3600 600 86400 60\n%s\n", origin, origin, origin, body)
	}
	example := "@ IN TXT \"v=spf1 ip4:127.0.0.0/8 -all\"\n_dmarc IN TXT \"v=DMARC1; p=reject\"\n" +
		"helo IN A 127.0.0.1\nhelo IN TXT \"v=spf1 ip4:127.0.0.1 -all\"\n" + strings.Join(keyRecords, "\n")
	if err := srv.AddZone(zone("example.test", example)); err != nil {
		t.Fatalf("example.test zone: %v", err)
	}
	for origin, body := range authZones {
		if err := srv.AddZone(zone(origin, body)); err != nil {
			t.Fatalf("%s zone: %v", origin, err)
		}
	}
	return srv
}

// authConfig writes the configuration of an instance called hostname that
// asks the DNS server at dns and relays relay.test to relayTo. policy and
// extra are YAML blocks as in cfgParams.
func authConfig(t *testing.T, hostname, dns, relayTo, policy, extra string) (cfgParams, string) {
	t.Helper()
	dir := t.TempDir()
	p := cfgParams{
		Port: freePort(t), DataDir: filepath.Join(dir, "data"), DeadPort: freePort(t),
		Sink: relayTo, Policy: policy, Extra: extra,
	}
	text := configYAML(p)
	for _, r := range [][2]string{
		{"hostname: moat.e2e.test\n", "hostname: " + hostname + "\n"},
		{fmt.Sprintf("servers: [%q]", dnsAddr), fmt.Sprintf("servers: [%q]", dns)},
	} {
		if strings.Count(text, r[0]) != 1 {
			t.Fatalf("the configuration template no longer holds %q once:\n%s", r[0], text)
		}
		text = strings.Replace(text, r[0], r[1], 1)
	}
	path := filepath.Join(dir, "moat.yaml")
	writeFile(t, path, text)
	return p, path
}

// dkimKeygen runs `moat dkim keygen --type typ --out FILE domain selector`
// and checks what it wrote and printed; it returns the key file and the
// TXT record line to put in a zone.
func dkimKeygen(t *testing.T, typ, domain, selector string) (keyFile, record string) {
	t.Helper()
	keyFile = filepath.Join(t.TempDir(), domain+"."+selector+".pem")
	stdout, stderr, code := runMoat(t, nil, "dkim", "keygen", "--type", typ, "--out", keyFile, domain, selector)
	if code != 0 {
		t.Fatalf("moat dkim keygen --type %s: exit %d\n%s%s", typ, code, stdout, stderr)
	}
	st, err := os.Stat(keyFile)
	if err != nil {
		t.Fatalf("moat dkim keygen wrote no key: %v", err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", st.Mode().Perm())
	}
	key, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(key), "-----BEGIN PRIVATE KEY-----\n") {
		t.Errorf("key file does not start with a PKCS #8 PEM block:\n%.60s", key)
	}
	owner := selector + "._domainkey." + domain + ". IN TXT "
	for _, line := range strings.Split(stdout, "\n") {
		if strings.HasPrefix(line, owner) {
			record = line
		}
	}
	if record == "" {
		t.Fatalf("moat dkim keygen printed no %q record:\n%s", owner, stdout)
	}
	text := strings.TrimPrefix(record, owner)
	if !strings.HasPrefix(text, `"v=DKIM1; k=`+typ+"; p=") {
		t.Errorf("TXT record %s, want \"v=DKIM1; k=%s; p=…\"", text, typ)
	}
	for _, s := range strings.Split(strings.Trim(text, `"`), `" "`) {
		if len(s) > 255 {
			t.Errorf("TXT record string of %d bytes (at most 255): %s", len(s), s)
		}
	}
	if !strings.Contains(stdout, domain+": {selector: "+selector+", key: ") {
		t.Errorf("moat dkim keygen does not print the dkim.sign entry:\n%s", stdout)
	}

	// A second run never overwrites the key.
	if _, _, code := runMoat(t, nil, "dkim", "keygen", "--type", typ, "--out", keyFile, domain, selector); code == 0 {
		t.Errorf("moat dkim keygen over an existing key file: exit 0, want an error")
	}
	if again, _ := os.ReadFile(keyFile); string(again) != string(key) {
		t.Errorf("moat dkim keygen changed an existing key file")
	}
	return keyFile, record
}

// authMessage writes a message from the From address from to a temporary
// file, with the header fields in head (LF line endings) on top, and
// returns its path; with from "" head holds the From fields. Its body
// has a line starting with a dot and trailing white space, which a
// signature must survive on the way.
func authMessage(t *testing.T, name, from, head string) string {
	t.Helper()
	if from != "" {
		head += "From: Someone <" + from + ">\n"
	}
	msg := head + "To: Recipient <rcpt@relay.test>\n" +
		"Subject: sender authentication " + name + "\n" +
		"Date: Mon, 01 Jan 2024 00:00:00 +0000\n" +
		"Message-ID: <" + name + "@auth.e2e.test>\n" +
		"MIME-Version: 1.0\n" +
		"Content-Type: text/plain; charset=us-ascii\n" +
		"\n" +
		"Hello,\n\n.a line that starts with a dot\ntrailing white space \t\n-- \nsomeone\n"
	return tempMessage(t, name+".eml", []byte(msg))
}

// authSend sends the message file with swaks from the local address iface.
func authSend(t *testing.T, m *moatProc, iface, mailFrom, rcpt, file string) swaksRun {
	t.Helper()
	return m.swaks(t, "--local-interface", iface, "--from", mailFrom, "--to", rcpt, "--data", "@"+file)
}

// finalReply returns the reply to the end of the message text: the one
// after swaks's "-> ." line ("" when there is none). swaksRun.endOfData
// would stop at a dot-stuffed body line such as "-> ..text".
func finalReply(r swaksRun) string {
	lines := strings.Split(strings.ReplaceAll(r.out, "\r", ""), "\n")
	for i, l := range lines {
		if strings.TrimSpace(l) != "-> ." {
			continue
		}
		for _, m := range lines[i+1:] {
			if sm := swaksReply.FindStringSubmatch(m); sm != nil && (len(sm[1]) < 4 || sm[1][3] == ' ') {
				return sm[1]
			}
		}
	}
	return ""
}

// delivered checks that the end of data was accepted and that the sink got
// exactly one message for rcpt, and returns its header fields, body and
// X-Spam-Action and tests.
func delivered(t *testing.T, s *sink, r swaksRun, rcpt string) (fields []field, body, action string, tests []string) {
	t.Helper()
	if reply := finalReply(r); !strings.HasPrefix(reply, "250 ") {
		t.Fatalf("end of data -> %q, want 250\n%s", reply, r.out)
	}
	got := s.to(rcpt)
	if len(got) != 1 {
		t.Fatalf("sink got %d messages for %s, want 1", len(got), rcpt)
	}
	fields, body = splitMessage(got[0].Data)
	action, tests = spamHeaders(t, fields)
	return fields, body, action, tests
}

// arResult is one result of an Authentication-Results field: the method,
// its value and its properties (ptype.property → value).
type arResult struct {
	method, value string
	props         map[string]string
}

// parseAR parses an (unfolded) Authentication-Results value written the
// way RFC 8601 allows: comments anywhere, an optional version after the
// authserv-id, which may be a quoted string.
func parseAR(v string) (id string, results []arResult) {
	var b strings.Builder
	depth, quoted := 0, false
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '\\' && (quoted || depth > 0) && i+1 < len(v):
			if depth == 0 {
				b.WriteByte(v[i+1])
			}
			i++
		case c == '"' && depth == 0:
			quoted = !quoted
		case c == '(' && !quoted:
			depth++
		case c == ')' && !quoted && depth > 0:
			depth--
			b.WriteByte(' ')
		case depth == 0:
			b.WriteByte(c)
		}
	}
	parts := strings.Split(b.String(), ";")
	if f := strings.Fields(parts[0]); len(f) > 0 {
		id = f[0]
	}
	for _, p := range parts[1:] {
		f := strings.Fields(p)
		if len(f) == 0 || f[0] == "none" {
			continue
		}
		method, value, _ := strings.Cut(f[0], "=")
		r := arResult{method: strings.ToLower(method), value: strings.ToLower(value), props: map[string]string{}}
		for _, kv := range f[1:] {
			if k, v, ok := strings.Cut(kv, "="); ok {
				r.props[strings.ToLower(k)] = v
			}
		}
		results = append(results, r)
	}
	return id, results
}

// resultsBy returns the results of the Authentication-Results fields whose
// authserv-id is id, and how many such fields there are.
func resultsBy(fields []field, id string) ([]arResult, int) {
	var out []arResult
	n := 0
	for _, v := range values(fields, "Authentication-Results") {
		if got, rs := parseAR(v); strings.EqualFold(strings.TrimSuffix(got, "."), id) {
			out = append(out, rs...)
			n++
		}
	}
	return out, n
}

// checkResult requires exactly one result of method with the value and
// properties in want.
func checkResult(t *testing.T, rs []arResult, method, value string, props map[string]string) {
	t.Helper()
	var found []arResult
	for _, r := range rs {
		if r.method == method {
			found = append(found, r)
		}
	}
	if len(found) != 1 {
		t.Errorf("Authentication-Results: %d %s results %+v, want 1", len(found), method, found)
		return
	}
	if found[0].value != value {
		t.Errorf("Authentication-Results: %s=%s, want %s=%s (%+v)", method, found[0].value, method, value, found[0])
	}
	for k, v := range props {
		if got := found[0].props[k]; !strings.EqualFold(got, v) {
			t.Errorf("Authentication-Results: %s %s=%q, want %q", method, k, got, v)
		}
	}
}

// dkimTags returns the tags of a DKIM-Signature value, white space removed.
func dkimTags(v string) map[string]string {
	out := map[string]string{}
	for _, tag := range strings.Split(v, ";") {
		if k, val, ok := strings.Cut(tag, "="); ok {
			out[strings.TrimSpace(k)] = strings.Join(strings.Fields(val), "")
		}
	}
	return out
}

// missing returns the names in want that tests lacks.
func missing(tests []string, want ...string) []string {
	var out []string
	for _, w := range want {
		if !slices.Contains(tests, w) {
			out = append(out, w)
		}
	}
	return out
}
