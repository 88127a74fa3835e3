package queue

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"net/textproto"
	"strings"
	"testing"
	"time"
)

// report is a DSN parsed back.
type report struct {
	header   mail.Header
	human    string
	fields   map[string]string   // per-message fields
	rcpts    []map[string]string // per-recipient fields
	origType string
	orig     []byte
}

// parseDSN parses an RFC 3464 report with net/mail and mime/multipart.
func parseDSN(t *testing.T, data []byte) report {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("DSN: %v", err)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/report" || params["report-type"] != "delivery-status" {
		t.Fatalf("Content-Type = %q (%v)", msg.Header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	var parts []*multipart.Part
	var bodies [][]byte
	for {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("DSN parts: %v", err)
		}
		b, err := io.ReadAll(p)
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, p)
		bodies = append(bodies, b)
	}
	if len(parts) != 3 {
		t.Fatalf("DSN has %d parts, want 3", len(parts))
	}
	r := report{header: msg.Header, human: string(bodies[0]), origType: parts[2].Header.Get("Content-Type"), orig: bodies[2]}
	if ct := parts[0].Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("part 1 Content-Type = %q", ct)
	}
	if ct := parts[1].Header.Get("Content-Type"); ct != "message/delivery-status" {
		t.Errorf("part 2 Content-Type = %q", ct)
	}
	// message/delivery-status: groups of header fields separated by blank lines.
	tp := textproto.NewReader(bufio.NewReader(bytes.NewReader(bodies[1])))
	for i := 0; ; i++ {
		h, err := tp.ReadMIMEHeader()
		if len(h) > 0 {
			g := map[string]string{}
			for k, v := range h {
				g[k] = v[0]
			}
			if i == 0 {
				r.fields = g
			} else {
				r.rcpts = append(r.rcpts, g)
			}
		}
		if err != nil {
			break
		}
	}
	return r
}

func TestDSNStructure(t *testing.T) {
	last := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)
	arrival := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	orig := "Subject: =?utf-8?q?caf=C3=A9?=\r\nFrom: <alice@src.example>\r\nX-Long: a\r\n b\r\n\r\nSecret body.\r\n"
	tests := []struct {
		name     string
		full     bool
		rcpts    []diskRcpt
		wantType string
		wantOrig string
		wantRcpt []map[string]string
	}{
		{
			name: "headers only, two recipients",
			rcpts: []diskRcpt{
				{Addr: "bob@dst.example", ORcpt: "rfc822;Bob@dst.example", rcptStatus: rcptStatus{State: Failed, Attempts: 1, Last: last, Code: 550, Enh: "5.1.1", Text: "no such user"}},
				{Addr: "cat@dst.example", rcptStatus: rcptStatus{State: Failed, Attempts: 9, Last: last, Code: 451, Enh: "4.4.1", Text: "connection refused", Expired: true}},
			},
			wantType: "text/rfc822-headers",
			wantOrig: "Subject: =?utf-8?q?caf=C3=A9?=\r\nFrom: <alice@src.example>\r\nX-Long: a\r\n b\r\n",
			wantRcpt: []map[string]string{
				{"Original-Recipient": "rfc822;Bob@dst.example", "Final-Recipient": "rfc822; bob@dst.example", "Action": "failed",
					"Status": "5.1.1", "Diagnostic-Code": "smtp; 550 5.1.1 no such user", "Last-Attempt-Date": last.Format(time.RFC1123Z)},
				{"Final-Recipient": "rfc822; cat@dst.example", "Action": "failed", "Status": "4.4.1",
					"Diagnostic-Code": "smtp; 451 4.4.1 connection refused", "Last-Attempt-Date": last.Format(time.RFC1123Z)},
			},
		},
		{
			name:     "RET=FULL, no enhanced code",
			full:     true,
			rcpts:    []diskRcpt{{Addr: "bob@dst.example", rcptStatus: rcptStatus{State: Failed, Attempts: 1, Last: last, Code: 554, Text: "rejected\r\nInjected: header"}}},
			wantType: "message/rfc822",
			wantOrig: orig,
			wantRcpt: []map[string]string{
				{"Final-Recipient": "rfc822; bob@dst.example", "Action": "failed", "Status": "5.0.0",
					"Diagnostic-Code": "smtp; 554 rejected  Injected: header", "Last-Attempt-Date": last.Format(time.RFC1123Z)},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := dsnInput{hostname: "mx.test.example", queueID: "q1", to: "alice@src.example", envID: "E1",
				arrival: arrival, now: last, full: tt.full, rcpts: tt.rcpts}
			data, err := buildDSN(in, strings.NewReader(orig))
			if err != nil {
				t.Fatal(err)
			}
			r := parseDSN(t, data)
			if got := r.header.Get("From"); got != "Mail Delivery System <MAILER-DAEMON@mx.test.example>" {
				t.Errorf("From = %q", got)
			}
			if to, err := r.header.AddressList("To"); err != nil || len(to) != 1 || to[0].Address != "alice@src.example" {
				t.Errorf("To = %v (%v)", to, err)
			}
			if r.header.Get("Auto-Submitted") != "auto-replied" || r.header.Get("Message-Id") == "" {
				t.Errorf("header = %v", r.header)
			}
			if _, err := r.header.Date(); err != nil {
				t.Errorf("Date: %v", err)
			}
			wantFields := map[string]string{"Reporting-Mta": "dns; mx.test.example", "X-Moat-Queue-Id": "q1",
				"Original-Envelope-Id": "E1", "Arrival-Date": arrival.Format(time.RFC1123Z)}
			if !equalMaps(r.fields, wantFields) {
				t.Errorf("per-message fields = %v, want %v", r.fields, wantFields)
			}
			if len(r.rcpts) != len(tt.wantRcpt) {
				t.Fatalf("%d recipient groups, want %d", len(r.rcpts), len(tt.wantRcpt))
			}
			for i := range r.rcpts {
				if !equalMaps(r.rcpts[i], tt.wantRcpt[i]) {
					t.Errorf("recipient %d = %v, want %v", i, r.rcpts[i], tt.wantRcpt[i])
				}
				if !strings.Contains(r.human, "<"+tt.rcpts[i].Addr+">") {
					t.Errorf("human-readable part does not name %s: %q", tt.rcpts[i].Addr, r.human)
				}
			}
			if r.origType != tt.wantType || string(r.orig) != tt.wantOrig {
				t.Errorf("third part = %s %q, want %s %q", r.origType, r.orig, tt.wantType, tt.wantOrig)
			}
		})
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestHeaderBlock(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"CRLF", "A: 1\r\nB: 2\r\n\r\nbody\r\n", "A: 1\r\nB: 2\r\n"},
		{"LF", "A: 1\nB: 2\n\nbody\n", "A: 1\nB: 2\n"},
		{"no body", "A: 1\r\n", "A: 1\r\n"},
		{"partial last line dropped", "A: 1\r\nB: 2", "A: 1\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := headerBlock(strings.NewReader(tt.in))
			if err != nil || string(got) != tt.want {
				t.Errorf("headerBlock = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

// TestBounceAfterRestart covers a crash after a recipient's permanent
// failure was recorded: before its DSN was queued (the DSN is queued after
// restart), and after (no second DSN).
func TestBounceAfterRestart(t *testing.T) {
	for _, dsnQueued := range []bool{false, true} {
		t.Run(map[bool]string{false: "DSN not queued", true: "DSN queued"}[dsnQueued], func(t *testing.T) {
			dir := t.TempDir()
			q, err := Open(context.Background(), Options{Dir: dir, Hostname: "h"})
			if err != nil {
				t.Fatal(err)
			}
			enqueue(t, q, Envelope{ID: "x", From: "alice@src.example", Rcpts: []string{"ok@dst.example", "bad@dst.example"}}, testMessage("x"))
			now := time.Now()
			err = q.writeStatus("x", []rcptStatus{
				{Idx: 0, State: Delivered, Attempts: 1, Last: now, Code: 250},
				{Idx: 1, State: Failed, Attempts: 1, Last: now, Code: 550, Enh: "5.1.1", Text: "unknown"},
			})
			if err != nil {
				t.Fatal(err)
			}
			if dsnQueued {
				d := diskMsg{Received: now, Enqueued: now, BounceOf: "x", BounceRcpts: []int{1},
					Rcpts: []diskRcpt{{Addr: "alice@src.example"}}}
				if _, err := q.add("x-dsn", d, strings.NewReader("Subject: the DSN\r\n\r\n")); err != nil {
					t.Fatal(err)
				}
			}
			q.Close(context.Background()) // a crash: nothing more was written

			c := &memCourier{}
			q = openQueue(t, Options{Dir: dir, Courier: c})
			eventually(t, "the DSN", func() bool { return queued(q) == 0 && len(c.deliveries()) == 1 })
			d := c.deliveries()[0]
			if d.From != "" || d.Rcpts[0] != "alice@src.example" {
				t.Fatalf("delivered %+v, want only the DSN", d)
			}
			if !dsnQueued {
				if r := parseDSN(t, d.Data); len(r.rcpts) != 1 || r.rcpts[0]["Final-Recipient"] != "rfc822; bad@dst.example" {
					t.Errorf("DSN recipients = %v", r.rcpts)
				}
			}
		})
	}
}
