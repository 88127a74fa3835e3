package courier

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestDeliverCorpus sends corpus and edge-case messages to SMTP servers
// with and without PIPELINING and to an LMTP server, and checks that what
// the server reads after dot-unstuffing is the message byte for byte.
func TestDeliverCorpus(t *testing.T) {
	t.Parallel()
	big := bytes.Repeat([]byte(".dot line at a buffer boundary?\r\n..two dots\r\nplain line\r\n"), 4000) // > 64 KiB
	msgs := []struct {
		name string
		msg  []byte
		want []byte // nil: msg
	}{
		{"ham-00010", crlf(readFixture(t, "ham-00010.eml")), nil},
		{"ham-00013", crlf(readFixture(t, "ham-00013.eml")), nil},
		{"ham-00060", crlf(readFixture(t, "ham-00060.eml")), nil},
		{"spam-00001", crlf(readFixture(t, "spam-00001.eml")), nil},
		{"big-with-dots", append([]byte("Subject: big\r\n\r\n"), big...), nil},
		{"dot-first-line", []byte(".\r\n..\r\n.x\r\n"), nil},
		{"bare-lf", []byte("Subject: lf\n\n.line\nend\n"), []byte("Subject: lf\r\n\r\n.line\r\nend\r\n")},
		{"no-final-newline", []byte("Subject: x\r\n\r\nlast line"), []byte("Subject: x\r\n\r\nlast line\r\n")},
		{"empty", []byte{}, []byte{}},
	}
	servers := []struct {
		name string
		cfg  serverConfig
		lmtp bool
	}{
		{"smtp-pipelining", serverConfig{}, false},
		{"smtp-lockstep", serverConfig{Ext: []string{"8BITMIME"}}, false},
		{"lmtp", serverConfig{LMTP: true}, true},
	}
	for _, sv := range servers {
		t.Run(sv.name, func(t *testing.T) {
			t.Parallel()
			srv := startServer(t, sv.cfg)
			rt := smtpRoute(srv)
			rt.LMTP = sv.lmtp
			c := newCourier(t, routes{"example.org": rt}, nil)
			for _, m := range msgs {
				t.Run(m.name, func(t *testing.T) {
					before := len(srv.received())
					res, err := deliver(t, c, "sender@example.net", []string{"rcpt@example.org", "two@example.org"}, m.msg)
					if err != nil {
						t.Fatalf("Deliver: %v", err)
					}
					if !slices.Equal(codes(res), []int{250, 250}) {
						t.Fatalf("results = %v, want two 250", res)
					}
					got := srv.received()
					if len(got) != before+1 {
						t.Fatalf("server got %d messages, want %d", len(got), before+1)
					}
					want := m.want
					if want == nil {
						want = m.msg
					}
					if d := got[len(got)-1].Data; !bytes.Equal(d, want) {
						t.Errorf("server got %d bytes, want %d; first difference at %d", len(d), len(want), firstDiff(d, want))
					}
				})
			}
			if conns, _, _ := srv.stats(); conns != 1 {
				t.Errorf("%d connections for %d messages, want 1", conns, len(msgs))
			}
		})
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// TestDeliverResults checks per-recipient results and the failures that
// leave no transaction, on servers with and without PIPELINING.
func TestDeliverResults(t *testing.T) {
	t.Parallel()
	byUser := func(m map[string]string) func(string) string {
		return func(rcpt string) string {
			if r, ok := m[strings.Split(rcpt, "@")[0]]; ok {
				return r
			}
			return "250 2.1.5 OK"
		}
	}
	rcpts := []string{"ok@example.org", "busy@example.org", "gone@example.org"}
	tests := []struct {
		name      string
		cfg       serverConfig
		rcpts     []string
		wantCodes []int
		wantEnh   []string
		wantErr   int // DeliveryError code when no results
		wantMsgs  int
		wantTo    []string // the recipients of the message the server got
	}{
		{
			name:      "250-450-550",
			cfg:       serverConfig{Rcpt: byUser(map[string]string{"busy": "450 4.2.1 mailbox busy", "gone": "550 5.1.1 no such user"})},
			rcpts:     rcpts,
			wantCodes: []int{250, 450, 550},
			wantEnh:   []string{"2.0.0", "4.2.1", "5.1.1"},
			wantMsgs:  1,
			wantTo:    []string{"ok@example.org"},
		},
		{
			name:      "no-enhanced-code",
			cfg:       serverConfig{Rcpt: byUser(map[string]string{"gone": "550 no such user"})},
			rcpts:     []string{"gone@example.org", "ok@example.org"},
			wantCodes: []int{550, 250},
			wantEnh:   []string{"5.0.0", "2.0.0"},
			wantMsgs:  1,
		},
		{
			name:      "all-refused",
			cfg:       serverConfig{Rcpt: func(string) string { return "550 5.1.1 no" }},
			rcpts:     rcpts[:2],
			wantCodes: []int{550, 550},
		},
		{
			name:      "data-refused",
			cfg:       serverConfig{Rcpt: byUser(map[string]string{"gone": "550 5.1.1 no"}), Data: func(string, []byte) string { return "554 5.7.1 content rejected" }},
			rcpts:     rcpts,
			wantCodes: []int{554, 554, 550},
			wantEnh:   []string{"5.7.1", "5.7.1", "5.1.1"},
			wantMsgs:  1, // the server read it before refusing
		},
		{
			name:    "mail-refused-permanent",
			cfg:     serverConfig{Mail: func(string) string { return "550 5.7.1 sender refused" }},
			rcpts:   rcpts,
			wantErr: 550,
		},
		{
			name:    "mail-refused-temporary",
			cfg:     serverConfig{Mail: func(string) string { return "451 4.3.0 try later" }},
			rcpts:   rcpts,
			wantErr: 451,
		},
		{
			name:    "greeting-refused",
			cfg:     serverConfig{Greeting: "554 5.3.2 no service"},
			rcpts:   rcpts,
			wantErr: 554,
		},
		{
			name:    "greeting-busy",
			cfg:     serverConfig{Greeting: "421 4.3.2 busy"},
			rcpts:   rcpts,
			wantErr: 421,
		},
		{
			name: "multiline-reply",
			cfg: serverConfig{Rcpt: byUser(map[string]string{
				"gone": "550-5.1.1 no such user\r\n550 5.1.1 see https://example.org/help"})},
			rcpts:     []string{"gone@example.org"},
			wantCodes: []int{550},
			wantEnh:   []string{"5.1.1"},
		},
	}
	for _, pipelining := range []bool{true, false} {
		for _, tc := range tests {
			name := tc.name + "/lockstep"
			if pipelining {
				name = tc.name + "/pipelining"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				cfg := tc.cfg
				if !pipelining {
					cfg.Ext = []string{"8BITMIME", "ENHANCEDSTATUSCODES"}
				}
				srv := startServer(t, cfg)
				c := newCourier(t, routes{"example.org": smtpRoute(srv)}, nil)
				res, err := deliver(t, c, "s@example.net", tc.rcpts, []byte(simpleMsg))
				if tc.wantErr != 0 {
					var de *DeliveryError
					if !errors.As(err, &de) || de.Code != tc.wantErr || res != nil {
						t.Fatalf("Deliver = %v, %v; want a DeliveryError %d", res, err, tc.wantErr)
					}
					if IsPermanent(err) != (tc.wantErr >= 500) {
						t.Errorf("IsPermanent(%v) = %v", err, IsPermanent(err))
					}
				} else {
					if err != nil {
						t.Fatalf("Deliver: %v", err)
					}
					if !slices.Equal(codes(res), tc.wantCodes) {
						t.Errorf("codes = %v, want %v (%v)", codes(res), tc.wantCodes, res)
					}
					for i, e := range tc.wantEnh {
						if res[i].Enhanced != e {
							t.Errorf("result %d enhanced = %q, want %q", i, res[i].Enhanced, e)
						}
					}
				}
				got := srv.received()
				if len(got) != tc.wantMsgs {
					t.Fatalf("server got %d messages, want %d", len(got), tc.wantMsgs)
				}
				if tc.wantTo != nil && !slices.Equal(got[0].Rcpts, tc.wantTo) {
					t.Errorf("message went to %v", got[0].Rcpts)
				}
				// The connection stays usable after a refusal.
				if tc.cfg.Greeting == "" && tc.cfg.Mail == nil {
					if _, err := deliver(t, c, "s@example.net", []string{"ok@example.org"}, []byte(simpleMsg)); err != nil {
						t.Fatalf("second delivery: %v", err)
					}
					if conns, _, _ := srv.stats(); conns != 1 {
						t.Errorf("%d connections, want 1", conns)
					}
					if cmds := srv.commands(); !slices.Contains(cmds, "RSET") && len(got) == 0 {
						t.Errorf("no RSET after a refused transaction: %v", cmds)
					}
				}
			})
		}
	}
}

// TestDeliverLMTP checks that LMTP's per-recipient answers after DATA go
// to the right recipients, with refused RCPTs in between.
func TestDeliverLMTP(t *testing.T) {
	t.Parallel()
	data := map[string]string{
		"a@example.org": "250 2.0.0 delivered",
		"b@example.org": "452 4.2.2 over quota",
		"c@example.org": "552 5.2.2 mailbox full for good",
		"e@example.org": "250 2.0.0 delivered too",
	}
	for _, pipelining := range []bool{true, false} {
		t.Run(map[bool]string{true: "pipelining", false: "lockstep"}[pipelining], func(t *testing.T) {
			t.Parallel()
			cfg := serverConfig{
				LMTP: true,
				Rcpt: func(r string) string {
					if r == "d@example.org" {
						return "550 5.1.1 unknown"
					}
					return "250 2.1.5 OK"
				},
				Data: func(r string, _ []byte) string { return data[r] },
			}
			if !pipelining {
				cfg.Ext = []string{"ENHANCEDSTATUSCODES"}
			}
			srv := startServer(t, cfg)
			c := newCourier(t, routes{"example.org": {Host: "127.0.0.1", Port: srv.port(), LMTP: true}}, nil)
			rcpts := []string{"a@example.org", "b@example.org", "c@example.org", "d@example.org", "e@example.org"}
			name, _ := c.Route(rcpts[0])
			if !strings.HasPrefix(name, "lmtp:127.0.0.1:") {
				t.Errorf("route name = %q", name)
			}
			res, err := deliver(t, c, "s@example.net", rcpts, []byte(simpleMsg))
			if err != nil {
				t.Fatal(err)
			}
			want := []string{"250 2.0.0 delivered", "452 4.2.2 over quota", "552 5.2.2 mailbox full for good", "550 5.1.1 unknown", "250 2.0.0 delivered too"}
			for i := range want {
				if res[i].String() != want[i] {
					t.Errorf("result %d (%s) = %q, want %q", i, rcpts[i], res[i], want[i])
				}
			}
		})
	}
}

// TestDeliverMailParameters checks BODY, SMTPUTF8 and SIZE on MAIL.
func TestDeliverMailParameters(t *testing.T) {
	t.Parallel()
	utf8Header := []byte("Subject: caf\xc3\xa9\r\n\r\nbody\r\n")
	tests := []struct {
		name       string
		ext        []string
		from, rcpt string
		msg        []byte
		wantParams string
		wantErr    string // enhanced code of a DeliveryError
	}{
		{"all-offered", defaultExt, "s@example.net", "r@example.org", []byte(simpleMsg), "BODY=8BITMIME SIZE=" + itoa(len(simpleMsg)), ""},
		{"utf8-header", defaultExt, "s@example.net", "r@example.org", utf8Header, "BODY=8BITMIME SMTPUTF8 SIZE=" + itoa(len(utf8Header)), ""},
		{"utf8-address", defaultExt, "s@example.net", "jos\u00e9@example.org", []byte(simpleMsg), "BODY=8BITMIME SMTPUTF8 SIZE=" + itoa(len(simpleMsg)), ""},
		{"utf8-sender-unsupported", []string{"PIPELINING"}, "jos\u00e9@example.net", "r@example.org", []byte(simpleMsg), "", "5.6.7"},
		{"utf8-header-unsupported", []string{"PIPELINING"}, "s@example.net", "r@example.org", utf8Header, "", ""},
		{"nothing-offered", []string{}, "", "r@example.org", []byte(simpleMsg), "", ""},
		{"too-big", []string{"PIPELINING", "SIZE 10"}, "s@example.net", "r@example.org", []byte(simpleMsg), "", "5.3.4"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := startServer(t, serverConfig{Ext: tc.ext})
			c := newCourier(t, routes{"example.org": smtpRoute(srv)}, nil)
			_, err := deliver(t, c, tc.from, []string{tc.rcpt}, tc.msg)
			if tc.wantErr != "" {
				var de *DeliveryError
				if !errors.As(err, &de) || de.Enhanced != tc.wantErr || !de.Permanent() {
					t.Fatalf("Deliver error = %v, want a permanent %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := srv.received()
			if len(got) != 1 || got[0].Params != tc.wantParams || got[0].From != tc.from {
				t.Fatalf("server got %+v, want MAIL FROM:<%s> %s", got, tc.from, tc.wantParams)
			}
		})
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestDeliverUTF8RecipientUnsupported checks that a recipient that needs
// SMTPUTF8 fails alone on a server without it.
func TestDeliverUTF8RecipientUnsupported(t *testing.T) {
	t.Parallel()
	srv := startServer(t, serverConfig{Ext: []string{"PIPELINING", "8BITMIME"}})
	c := newCourier(t, routes{"example.org": smtpRoute(srv)}, nil)
	for _, rcpts := range [][]string{
		{"jos\u00e9@example.org", "r@example.org"},
		{"jos\u00e9@example.org"},
	} {
		res, err := deliver(t, c, "s@example.net", rcpts, []byte(simpleMsg))
		if err != nil || res[0].Code != 553 || res[0].Enhanced != "5.6.7" || (len(rcpts) == 2 && res[1].Code != 250) {
			t.Fatalf("Deliver to %q = %v, %v; want 553 5.6.7 for the UTF-8 address only", rcpts, res, err)
		}
	}
	got := srv.received()
	if len(got) != 1 || !slices.Equal(got[0].Rcpts, []string{"r@example.org"}) {
		t.Fatalf("server got %+v, want one message to r@example.org", got)
	}
}

// TestDeliverConnectFailure checks that a server nobody listens on gives
// a temporary error.
func TestDeliverConnectFailure(t *testing.T) {
	t.Parallel()
	srv := startServer(t, serverConfig{})
	rt := smtpRoute(srv)
	srv.close()
	c := newCourier(t, routes{"example.org": rt}, nil)
	_, err := deliver(t, c, "s@example.net", []string{"r@example.org"}, []byte(simpleMsg))
	var de *DeliveryError
	if !errors.As(err, &de) || !de.Temporary() || de.Enhanced != "4.4.1" {
		t.Fatalf("Deliver error = %v, want a temporary 4.4.1", err)
	}
}

// TestDeliverContext checks that a cancelled context ends a delivery that
// waits for the server's answer to the message: the recipient gets a
// temporary failure.
func TestDeliverContext(t *testing.T) {
	t.Parallel()
	hold := make(chan struct{})
	arrived := make(chan struct{}, 1)
	srv := startServer(t, serverConfig{Hold: hold, Arrived: arrived})
	t.Cleanup(func() { close(hold) })
	c := newCourier(t, routes{"example.org": smtpRoute(srv)}, nil)
	name, _ := c.Route("r@example.org")
	ctx, cancel := context.WithCancel(context.Background())
	type ret struct {
		res []Result
		err error
	}
	done := make(chan ret, 1)
	go func() {
		res, err := c.Deliver(ctx, name, "s@example.net", []string{"r@example.org"}, strings.NewReader(simpleMsg))
		done <- ret{res, err}
	}()
	<-arrived
	cancel()
	select {
	case r := <-done:
		if r.err != nil || len(r.res) != 1 || r.res[0].Code != 451 || r.res[0].Enhanced != "4.4.2" {
			t.Fatalf("Deliver = %v, %v; want one 451 4.4.2 result", r.res, r.err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Deliver did not return after its context was cancelled")
	}
}

// TestDeliverBadInput checks the errors for unusable arguments.
func TestDeliverBadInput(t *testing.T) {
	t.Parallel()
	srv := startServer(t, serverConfig{})
	c := newCourier(t, routes{"example.org": smtpRoute(srv)}, nil)
	name, _ := c.Route("r@example.org")
	tests := []struct {
		name  string
		from  string
		rcpts []string
	}{
		{"no-recipients", "s@example.net", nil},
		{"crlf-in-rcpt", "s@example.net", []string{"r@example.org>\r\nRCPT TO:<x@example.org"}},
		{"no-domain", "s@example.net", []string{"r"}},
		{"bad-sender", "s@example.net>\r\nDATA", []string{"r@example.org"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Deliver(context.Background(), name, tc.from, tc.rcpts, strings.NewReader(simpleMsg))
			if !errors.Is(err, ErrBadAddress) {
				t.Fatalf("Deliver error = %v, want ErrBadAddress", err)
			}
		})
	}
	if conns, _, _ := srv.stats(); conns != 0 {
		t.Errorf("%d connections for refused input", conns)
	}
}
