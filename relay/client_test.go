package relay

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

func TestDotWriter(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		chunks []string
		want   string
	}{
		{"empty", nil, ".\r\n"},
		{"plain", []string{"a\r\nb\r\n"}, "a\r\nb\r\n.\r\n"},
		{"leading dot", []string{".a\r\n..b\r\nc.\r\n"}, "..a\r\n...b\r\nc.\r\n.\r\n"},
		{"lone dot line", []string{"x\r\n.\r\ny\r\n"}, "x\r\n..\r\ny\r\n.\r\n"},
		{"dot after a chunk boundary", []string{"x\r\n", ".y\r\n"}, "x\r\n..y\r\n.\r\n"},
		{"boundary inside CRLF", []string{"x\r", "\n.y"}, "x\r\n..y\r\n.\r\n"},
		{"no final CRLF", []string{"abc"}, "abc\r\n.\r\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			bw := bufio.NewWriter(&b)
			d := &dotWriter{w: bw, bol: true}
			for _, c := range tc.chunks {
				if n, err := d.Write([]byte(c)); err != nil || n != len(c) {
					t.Fatalf("Write = %d, %v", n, err)
				}
			}
			if err := d.close(); err != nil {
				t.Fatal(err)
			}
			bw.Flush()
			if b.String() != tc.want {
				t.Errorf("got %q, want %q", b.String(), tc.want)
			}
		})
	}
}

func TestSplitEnhanced(t *testing.T) {
	t.Parallel()
	cases := []struct {
		text string
		code int
		enh  smtp.EnhancedCode
		msg  string
	}{
		{"5.1.1 no such user", 550, smtp.EnhancedCode{5, 1, 1}, "no such user"},
		{"no code here", 550, smtp.EnhancedCode{5, 0, 0}, "no code here"},
		{"2.1.1 wrong class", 450, smtp.EnhancedCode{4, 0, 0}, "wrong class"},
		{"4.x.1 junk", 451, smtp.EnhancedCode{4, 0, 0}, "4.x.1 junk"},
	}
	for _, tc := range cases {
		enh, msg := splitEnhanced(tc.text, tc.code)
		if enh != tc.enh || msg != tc.msg {
			t.Errorf("splitEnhanced(%q) = %v %q, want %v %q", tc.text, enh, msg, tc.enh, tc.msg)
		}
	}
}

// scripted is a downstream server that answers from a script and records
// what the client sends, to check the client's exact commands.
func scripted(t *testing.T, ehlo string, answer func(line string) string) (addr string, got chan []string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	got = make(chan []string, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		var lines []string
		defer func() { got <- lines }()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		br := bufio.NewReader(c)
		c.Write([]byte("220 scripted\r\n"))
		inData := false
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			line = strings.TrimRight(line, "\r\n")
			lines = append(lines, line)
			switch {
			case inData:
				if line == "." {
					inData = false
					c.Write([]byte("250 2.0.0 queued as X1\r\n"))
				}
			case strings.HasPrefix(line, "EHLO"):
				c.Write([]byte(ehlo))
			case line == "DATA":
				inData = true
				c.Write([]byte("354 go on\r\n"))
			case line == "QUIT":
				c.Write([]byte("221 bye\r\n"))
				return
			default:
				c.Write([]byte(answer(line)))
			}
		}
	}()
	return l.Addr().String(), got
}

func TestDownConnCommands(t *testing.T) {
	t.Parallel()
	ok := func(string) string { return "250 2.0.0 ok\r\n" }
	t.Run("pipelined with parameters", func(t *testing.T) {
		t.Parallel()
		addr, got := scripted(t, "250-scripted\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 SIZE 1000000\r\n", ok)
		c, err := dialDown(context.Background(), &net.Dialer{}, addr, "mx.moat.test", 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		mailErr, rcptErr := c.mailRcpt(context.Background(), "a@b.example", &smtp.MailOptions{Body: smtp.Body8BitMIME, UTF8: true, Size: 42}, "c@d.example")
		if mailErr != nil || rcptErr != nil {
			t.Fatal(mailErr, rcptErr)
		}
		text, err := c.data(context.Background(), strings.NewReader("Subject: x\r\n\r\n.hidden\r\n"))
		if err != nil || text != "2.0.0 queued as X1" {
			t.Fatalf("data = %q, %v", text, err)
		}
		c.quit()
		want := []string{"EHLO mx.moat.test", "MAIL FROM:<a@b.example> BODY=8BITMIME SMTPUTF8 SIZE=42", "RCPT TO:<c@d.example>", "DATA", "Subject: x", "", "..hidden", ".", "QUIT"}
		if lines := <-got; strings.Join(lines, "|") != strings.Join(want, "|") {
			t.Errorf("server saw\n%q\nwant\n%q", lines, want)
		}
	})
	t.Run("no pipelining, no extensions", func(t *testing.T) {
		t.Parallel()
		addr, got := scripted(t, "250 scripted\r\n", func(line string) string {
			if strings.HasPrefix(line, "RCPT") {
				return "550 5.1.1 unknown\r\n"
			}
			return "250 ok\r\n"
		})
		c, err := dialDown(context.Background(), &net.Dialer{}, addr, "mx.moat.test", 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.mailLine("a@b", &smtp.MailOptions{UTF8: true})
		if se, ok := err.(*smtp.SMTPError); !ok || se.Code != 553 {
			t.Errorf("SMTPUTF8 to a server without it: %v, want 553", err)
		}
		mailErr, rcptErr := c.mailRcpt(context.Background(), "a@b.example", &smtp.MailOptions{Body: smtp.Body8BitMIME, Size: 42}, "c@d.example")
		se, isSE := rcptErr.(*smtp.SMTPError)
		if mailErr != nil || !isSE || codeOf(se) != "550 5.1.1" || se.Message != "unknown" {
			t.Fatalf("mail %v, rcpt %v", mailErr, rcptErr)
		}
		if err := c.reset(); err != nil {
			t.Fatal(err)
		}
		c.quit()
		want := []string{"EHLO mx.moat.test", "MAIL FROM:<a@b.example>", "RCPT TO:<c@d.example>", "RSET", "QUIT"}
		if lines := <-got; strings.Join(lines, "|") != strings.Join(want, "|") {
			t.Errorf("server saw %q, want %q", lines, want)
		}
	})
	t.Run("HELO fallback", func(t *testing.T) {
		t.Parallel()
		addr, got := scripted(t, "502 5.5.1 no EHLO here\r\n", ok)
		c, err := dialDown(context.Background(), &net.Dialer{}, addr, "mx.moat.test", 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c.quit()
		if lines := <-got; len(lines) < 2 || lines[1] != "HELO mx.moat.test" {
			t.Errorf("server saw %q, want HELO after the refused EHLO", lines)
		}
	})
}
