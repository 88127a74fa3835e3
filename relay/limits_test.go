package relay

import (
	"strings"
	"testing"
	"time"

	"github.com/moatmail/moat/policies"
)

func TestTimeouts(t *testing.T) {
	t.Parallel()
	t.Run("command", func(t *testing.T) {
		t.Parallel()
		ts := startServer(t, nil, func(c *policies.Config) {
			c.Limits.CommandTimeout = policies.Duration(300 * time.Millisecond)
		})
		d := dial(t, ts.addr)
		d.greet()
		// Say nothing: the server gives up with 421 and closes.
		d.expect("421 4.4.2 ")
	})
	t.Run("data", func(t *testing.T) {
		t.Parallel()
		ts := startServer(t, nil, func(c *policies.Config) {
			c.Limits.DataTimeout = policies.Duration(300 * time.Millisecond)
		})
		d := dial(t, ts.addr)
		d.greet()
		d.startData("bob@relay.test")
		d.send("Subject: never finished\r\n\r\nstill typing")
		d.expect("421 4.4.2 ")
		if n := len(ts.sink.received()); n != 0 {
			t.Errorf("sink got %d messages", n)
		}
	})
	// BDAT chunks arrive between commands, whose reads reset the read
	// deadline: data_timeout still bounds the whole message.
	t.Run("bdat", func(t *testing.T) {
		t.Parallel()
		ts := startServer(t, nil, func(c *policies.Config) {
			c.Limits.DataTimeout = policies.Duration(300 * time.Millisecond)
		})
		d := dial(t, ts.addr)
		d.greet()
		d.ehlo()
		d.cmd("MAIL FROM:<a@sender.example>", "250 ")
		d.cmd("RCPT TO:<bob@relay.test>", "250 ")
		d.send("BDAT 12\r\nSubject: x\r\n")
		d.expect("250 ")
		time.Sleep(500 * time.Millisecond) // past data_timeout, within the command timeout
		d.send("BDAT 7 LAST\r\n\r\nbody\r\n")
		d.expect("421 4.4.2 ")
		if n := len(ts.sink.received()); n != 0 {
			t.Errorf("sink got %d messages", n)
		}
	})
}

func TestLineLength(t *testing.T) {
	t.Parallel()
	ts := startServer(t, nil, func(c *policies.Config) { c.Limits.LineLength = 1000 })
	d := dial(t, ts.addr)
	d.greet()
	d.cmd("MAIL FROM:<a@sender.example>", "250 ")
	d.cmd("RCPT TO:<"+strings.Repeat("a", 1200)+"@relay.test>", "500 ")
	if n := len(ts.sink.received()); n != 0 {
		t.Errorf("sink got %d messages", n)
	}
}

func TestTotalConnectionLimit(t *testing.T) {
	t.Parallel()
	ts := startServer(t, nil, func(c *policies.Config) { c.Limits.Connections = 1 })
	a := dial(t, ts.addr)
	a.expect("220 ")
	b := dial(t, ts.addr)
	r := b.expect("421 4.7.0 ")
	if !strings.Contains(r, "mx.moat.test") {
		t.Errorf("421 should name the server: %q", r)
	}
	a.cmd("NOOP", "250 ") // the admitted connection is unaffected
}
