package pop3

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// benchMessages returns n messages: the first n of the corpus when it is
// there, else synthetic ones of about the corpus's average size.
func benchMessages(b *testing.B, n int) [][]byte {
	b.Helper()
	names, _ := filepath.Glob(filepath.Join(corpusDir, "*.eml"))
	slices.Sort(names)
	var msgs [][]byte
	for _, name := range names[:min(n, len(names))] {
		m, err := os.ReadFile(name)
		if err != nil {
			b.Fatal(err)
		}
		msgs = append(msgs, m)
	}
	for i := len(msgs); i < n; i++ {
		msgs = append(msgs, fmt.Appendf(nil, "Subject: %d\n\n%s", i, strings.Repeat("line of text for the benchmark body\n.dot\n", 150)))
	}
	return msgs
}

// BenchmarkRetr measures RETR over loopback TCP from a 1,000-message
// maildrop: one message per iteration, cycling through the maildrop, the
// client reading each reply to its terminating ".".
func BenchmarkRetr(b *testing.B) {
	msgs := benchMessages(b, 1000)
	mem, st := newAlice(msgs...), openStore(b, msgs)
	b.Run("mem", func(b *testing.B) { benchRetr(b, mem, len(msgs)) })
	b.Run("store", func(b *testing.B) { benchRetr(b, st, len(msgs)) })
}

// benchRetr runs BenchmarkRetr against be, where alice has n messages.
// Each run has a server of its own, so the first login measures the
// maildrop's sizes.
func benchRetr(b *testing.B, be Backend, n int) {
	ts := startServer(b, Options{Backend: be}, ListenerOptions{})
	conn, err := net.Dial("tcp", ts.addr)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	r := bufio.NewReaderSize(conn, 64<<10)
	w := bufio.NewWriter(conn)
	readLine := func() string {
		l, err := r.ReadString('\n')
		if err != nil {
			b.Fatal(err)
		}
		return l
	}
	send := func(s string) string {
		w.WriteString(s + "\r\n")
		w.Flush()
		return readLine()
	}
	readLine()
	send("USER " + alice)
	start := time.Now()
	if l := send("PASS " + secret); !strings.HasPrefix(l, fmt.Sprintf("+OK maildrop has %d messages", n)) {
		b.Fatalf("login: %q", l)
	}
	firstLogin := time.Since(start)
	var total int64
	b.ResetTimer()
	for i := range b.N {
		l := send(fmt.Sprintf("RETR %d", i%n+1))
		if !strings.HasPrefix(l, "+OK ") {
			b.Fatalf("RETR: %q", l)
		}
		for {
			line, err := r.ReadSlice('\n')
			if err != nil && err != bufio.ErrBufferFull {
				b.Fatal(err)
			}
			total += int64(len(line))
			if string(line) == ".\r\n" {
				break
			}
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(total)/b.Elapsed().Seconds()/1e6, "MB/s")
	b.ReportMetric(float64(firstLogin.Microseconds())/1000, "ms/first-login")
	send("QUIT")
	io.Copy(io.Discard, r)
}

// BenchmarkLogin measures a login to a 1,000-message maildrop whose sizes
// are cached (every login after the first): lock, list, snapshot, QUIT.
func BenchmarkLogin(b *testing.B) {
	msgs := benchMessages(b, 1000)
	be := newAlice(msgs...)
	ts := startServer(b, Options{Backend: be}, ListenerOptions{})
	for b.Loop() {
		c := dial(b, ts.addr)
		c.login(alice, secret)
		c.ok("QUIT")
		c.closed()
		c.conn.Close()
		<-be.released
	}
}
