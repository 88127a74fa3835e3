package courier

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// sink is a minimal SMTP server that accepts everything as fast as it can
// (PIPELINING, replies batched until the client waits), for benchmarks.
type sink struct {
	ln    net.Listener
	msgs  atomic.Int64
	conns atomic.Int64
	wg    sync.WaitGroup
}

func startSink(tb testing.TB) *sink {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s := &sink{ln: ln}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.conns.Add(1)
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer c.Close()
				s.serve(c)
			}()
		}
	}()
	tb.Cleanup(func() { ln.Close(); s.wg.Wait() })
	return s
}

func (s *sink) serve(c net.Conn) {
	br := bufio.NewReaderSize(c, 64<<10)
	bw := bufio.NewWriterSize(c, 4<<10)
	out := func(l string) {
		bw.WriteString(l)
		if br.Buffered() == 0 {
			bw.Flush()
		}
	}
	out("220 sink ESMTP\r\n")
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return
		}
		switch {
		case len(line) >= 4 && bytes.EqualFold(line[:4], []byte("EHLO")):
			out("250-sink\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SIZE 52428800\r\n")
		case len(line) >= 4 && bytes.EqualFold(line[:4], []byte("DATA")):
			bw.WriteString("354 go\r\n")
			bw.Flush()
			for {
				l, err := br.ReadSlice('\n')
				if err != nil && err != bufio.ErrBufferFull {
					return
				}
				if len(l) == 3 && l[0] == '.' && l[1] == '\r' {
					break
				}
			}
			s.msgs.Add(1)
			out("250 2.0.0 ok\r\n")
		case len(line) >= 4 && bytes.EqualFold(line[:4], []byte("QUIT")):
			out("221 bye\r\n")
			return
		default:
			out("250 2.0.0 ok\r\n")
		}
	}
}

// BenchmarkDeliver delivers a 3.3 KB corpus message to one recipient over
// loopback, reusing connections: from one goroutine on one connection, and
// from 4×GOMAXPROCS goroutines sharing 8 connections.
func BenchmarkDeliver(b *testing.B) {
	msg := crlf(readFixture(b, "ham-00013.eml"))
	for _, par := range []int{1, 8} {
		b.Run("conns="+strconv.Itoa(par), func(b *testing.B) {
			s := startSink(b)
			port := s.ln.Addr().(*net.TCPAddr).Port
			c, err := New(Options{
				Hostname:       "bench.test",
				Routes:         routes{"example.org": {Host: "127.0.0.1", Port: port, TLS: TLSNone}}.lookup,
				PerDestination: par,
				IdleTimeout:    time.Hour,
			})
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			name, _ := c.Route("r@example.org")
			rcpts := []string{"r@example.org"}
			ctx := context.Background()
			b.SetBytes(int64(len(msg)))
			b.ReportAllocs()
			one := func(r *bytes.Reader) bool {
				r.Reset(msg)
				res, err := c.Deliver(ctx, name, "s@example.net", rcpts, r)
				if err != nil || res[0].Code != 250 {
					b.Errorf("Deliver = %v, %v", res, err)
					return false
				}
				return true
			}
			start := time.Now()
			b.ResetTimer()
			if par == 1 {
				r := bytes.NewReader(msg)
				for i := 0; i < b.N && one(r); i++ {
				}
			} else {
				b.SetParallelism(4)
				b.RunParallel(func(pb *testing.PB) {
					r := bytes.NewReader(msg)
					for pb.Next() && one(r) {
					}
				})
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
			if n := s.conns.Load(); n > int64(par) {
				b.Errorf("%d connections, want at most %d", n, par)
			}
		})
	}
}
