package relay

import (
	"bufio"
	"io"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/moatmail/moat/filter"
)

var replyLine = regexp.MustCompile(`^[2-5][0-9]{2}[ -]`)

// FuzzSMTPDialog feeds arbitrary client input to a live server. Every line
// the server answers must be a well-formed reply, it must never hit an
// internal error (a panic caught by go-smtp), and no message may reach a
// recipient outside the served domains.
func FuzzSMTPDialog(f *testing.F) {
	for _, seed := range []string{
		"EHLO x\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@relay.test>\r\nDATA\r\nSubject: x\r\n\r\nhi\r\n.\r\n",
		"HELO x\r\nMAIL FROM:<>\r\nRCPT TO:<c%d@relay.test>\r\nRCPT TO:<@a:c@relay.test>\r\n",
		"EHLO x\r\nMAIL FROM:<a@b> SIZE=99999999999\r\nBDAT 5 LAST\r\nhello",
		"EHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@relay.test>\r\nBDAT 3\r\nabcBDAT 0 LAST\r\n",
		"EHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@relay.test>\r\nDATA\r\nx\n.\r\nRCPT TO:<v@evil.example>\r\nDATA\r\n.\r\n",
		"VRFY root\r\nEXPN all\r\nNOOP\r\nRSET\r\nHELP\r\n",
		"EHLO \x00\r\nMAIL FROM:<\xff@\xfe>\r\n",
		"STARTTLS\r\nAUTH PLAIN AGFAYg==\r\n",
	} {
		f.Add([]byte(seed))
	}
	ts := startServer(f, []filter.Check{}, nil)
	f.Fuzz(func(t *testing.T, input []byte) {
		c, err := net.Dial("tcp", ts.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(3 * time.Second))
		go func() {
			_, _ = c.Write(input)
			_, _ = io.WriteString(c, "\r\n.\r\nQUIT\r\n")
		}()
		sc := bufio.NewScanner(c)
		sc.Buffer(make([]byte, 4096), 1<<20)
		for sc.Scan() {
			line := strings.TrimRight(sc.Text(), "\r")
			if !replyLine.MatchString(line) {
				t.Fatalf("malformed reply line %q", line)
			}
			if strings.Contains(line, "Internal server error") {
				t.Fatalf("server panicked: %q", line)
			}
			if strings.HasPrefix(line, "221 ") {
				break
			}
		}
		for _, m := range ts.sink.received() {
			for _, r := range m.rcpts {
				if !strings.HasSuffix(strings.ToLower(r), "@relay.test") {
					t.Fatalf("message relayed to %q", r)
				}
			}
		}
	})
}
