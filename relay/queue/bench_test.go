package queue

import (
	"context"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// benchBody is a typical small message (about 2 KB).
var benchBody = testMessage("bench") + strings.Repeat("Lorem ipsum dolor sit amet, consectetur adipiscing elit.\r\n", 32)

// BenchmarkEnqueue measures durable enqueues from 16 concurrent senders
// (group commit: they share fdatasyncs). Nothing is delivered.
func BenchmarkEnqueue(b *testing.B) {
	q := openQueue(b, Options{Dir: b.TempDir()})
	env := Envelope{From: "a@src.example", Rcpts: []string{"b@dst.example"}}
	b.SetParallelism(8)
	b.SetBytes(int64(len(benchBody)))
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		r := strings.NewReader(benchBody)
		for pb.Next() {
			r.Reset(benchBody)
			if _, err := q.Enqueue(context.Background(), env, r); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
}

// latencyCourier is an instant in-memory courier that records, per
// message, the time from Enqueue to its 250.
type latencyCourier struct {
	accepted sync.Map // subject → time.Time
	mu       sync.Mutex
	lat      []time.Duration
	n        atomic.Int64
	next     Courier // the transport; nil: read in memory
	route    string
}

func (c *latencyCourier) Route(string) (string, error) { return c.route, nil }

func (c *latencyCourier) Deliver(ctx context.Context, route, from string, rcpts []string, msg io.Reader) ([]Result, error) {
	if c.next != nil {
		r := &subjectReader{r: msg}
		res, err := c.next.Deliver(ctx, route, from, rcpts, r)
		if err != nil {
			return nil, err
		}
		c.done(r.subject)
		return res, nil
	}
	data, err := io.ReadAll(msg)
	if err != nil {
		return nil, err
	}
	c.done(subjectOf(data))
	res := make([]Result, len(rcpts))
	for i := range res {
		res[i] = Result{Code: 250, Enhanced: "2.0.0", Text: "ok"}
	}
	return res, nil
}

// done records the latency of message id.
func (c *latencyCourier) done(id string) {
	if t, ok := c.accepted.LoadAndDelete(id); ok {
		d := time.Since(t.(time.Time))
		c.mu.Lock()
		c.lat = append(c.lat, d)
		c.mu.Unlock()
	}
	c.n.Add(1)
}

// subjectReader passes a message through, noting its Subject.
type subjectReader struct {
	r       io.Reader
	buf     []byte
	subject string
}

func (s *subjectReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if s.subject == "" && len(s.buf) < 4096 {
		s.buf = append(s.buf, p[:n]...)
		s.subject = subjectOf(s.buf)
	}
	return n, err
}

func subjectOf(data []byte) string {
	_, rest, ok := strings.Cut(string(data), "\r\nSubject: ")
	if !ok {
		return ""
	}
	subj, _, ok := strings.Cut(rest, "\r\n")
	if !ok {
		return ""
	}
	return subj
}

// percentiles reports the p50 and p99 of c's latencies.
func (c *latencyCourier) report(b *testing.B) {
	c.mu.Lock()
	lat := slices.Clone(c.lat)
	c.mu.Unlock()
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

// runThroughput enqueues b.N messages from 16 concurrent senders, as fast
// as they can or (rate > 0) at rate messages a second, and waits until c
// has delivered them all (each delivery's status fsync'd).
func runThroughput(b *testing.B, c *latencyCourier, rate float64) {
	q := openQueue(b, Options{Dir: b.TempDir(), Courier: c})
	env := Envelope{From: "a@src.example", Rcpts: []string{"b@dst.example"}}
	var seq atomic.Int64
	b.SetParallelism(8)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := seq.Add(1)
			if rate > 0 {
				time.Sleep(time.Until(start.Add(time.Duration(float64(i) / rate * float64(time.Second)))))
			}
			id := "m" + itoa(i)
			body := strings.Replace(benchBody, "Subject: bench", "Subject: "+id, 1)
			c.accepted.Store(id, time.Now())
			if _, err := q.Enqueue(context.Background(), env, strings.NewReader(body)); err != nil {
				b.Error(err)
				return
			}
		}
	})
	for c.n.Load() < int64(b.N) || queued(q) > 0 {
		time.Sleep(100 * time.Microsecond)
	}
	el := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/el.Seconds(), "msgs/s")
	c.report(b)
}

func itoa(n int64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}

// BenchmarkThroughput: enqueue → delivered by an instant in-memory courier,
// with every enqueue and status record fsync'd. Latency is from the start
// of Enqueue to the courier's 250, with the queue saturated.
func BenchmarkThroughput(b *testing.B) {
	runThroughput(b, &latencyCourier{route: "mem"}, 0)
}

// BenchmarkThroughputSMTP is BenchmarkThroughput to a loopback SMTP sink
// through the test courier (reused connections, no pipelining).
func BenchmarkThroughputSMTP(b *testing.B) {
	s := newSink(b)
	sc := &smtpCourier{route: sinkRoute(s), reuse: true}
	b.Cleanup(sc.close)
	runThroughput(b, &latencyCourier{next: sc, route: "smtp:" + s.addr}, 0)
}

// BenchmarkLatencySMTP1500 offers 1,500 messages a second to the queue
// delivering to the loopback SMTP sink: the latency of a queue that keeps up.
func BenchmarkLatencySMTP1500(b *testing.B) {
	s := newSink(b)
	sc := &smtpCourier{route: sinkRoute(s), reuse: true}
	b.Cleanup(sc.close)
	runThroughput(b, &latencyCourier{next: sc, route: "smtp:" + s.addr}, 1500)
}
