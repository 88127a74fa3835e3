package queue

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/mail"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const (
	crashEnv     = "MOAT_QUEUE_CRASH_CHILD" // "dir|sink address|round"
	crashWorkers = 8
)

// TestCrashChild is the child process of TestCrash: it runs a queue
// delivering to the parent's sink and enqueues until it is killed,
// printing each acknowledged id.
func TestCrashChild(t *testing.T) {
	arg := os.Getenv(crashEnv)
	if arg == "" {
		t.Skip("run by TestCrash")
	}
	parts := strings.Split(arg, "|")
	dir, addr, round := parts[0], parts[1], parts[2]
	q, err := Open(context.Background(), Options{Dir: dir, Hostname: "child", Workers: crashWorkers, PerRoute: crashWorkers,
		Courier: &smtpCourier{route: func(string) (string, error) { return "smtp:" + addr, nil }}})
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(2)
	}
	var mu sync.Mutex
	var n atomic.Int64
	for g := range 8 {
		go func() {
			for {
				id := fmt.Sprintf("c%s-%d-%d", round, g, n.Add(1))
				if _, err := q.Enqueue(context.Background(), Envelope{ID: id, From: "a@src.example", Rcpts: []string{"b@dst.example"}},
					strings.NewReader("Subject: "+id+"\r\n\r\nbody\r\n")); err != nil {
					fmt.Println("ERR", err)
					os.Exit(2)
				}
				mu.Lock()
				os.Stdout.WriteString("ACK " + id + "\n")
				mu.Unlock()
			}
		}()
	}
	select {} // until SIGKILL
}

func TestCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("re-executes the test binary")
	}
	dir := t.TempDir()
	s := newSink(t)
	acked := map[string]bool{}
	for round := range 2 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$")
		cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s|%s|%d", crashEnv, dir, s.addr, round))
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		n := 0
		start := time.Now()
		killed := false
		for sc.Scan() {
			line := sc.Text()
			if id, ok := strings.CutPrefix(line, "ACK "); ok {
				acked[id] = true
				n++
			} else {
				t.Errorf("child: %s", line)
			}
			// Kill mid-stream: deliveries and enqueues are both under way.
			if !killed && (n >= 3000 || time.Since(start) > 5*time.Second) {
				cmd.Process.Kill() // SIGKILL
				killed = true
			}
		}
		cmd.Wait()
		t.Logf("round %d: %d acknowledged before kill -9, %d delivered so far", round, n, len(s.received()))
	}

	q := openQueue(t, Options{Dir: dir, Courier: &smtpCourier{route: sinkRoute(s)}})
	eventually(t, "the queue to drain", func() bool { return queued(q) == 0 })

	got := map[string]int{}
	for _, m := range s.received() {
		msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
		if err != nil {
			t.Fatal(err)
		}
		got[msg.Header.Get("Subject")]++
	}
	lost, dups := 0, 0
	for id := range acked {
		if got[id] == 0 {
			lost++
		}
	}
	for _, c := range got {
		dups += c - 1
	}
	t.Logf("%d acknowledged, %d distinct delivered, %d lost, %d duplicates (bound: %d per kill)",
		len(acked), len(got), lost, dups, crashWorkers)
	if lost > 0 {
		t.Errorf("%d acknowledged messages lost", lost)
	}
	if dups > 2*crashWorkers {
		t.Errorf("%d duplicates, more than the %d transactions in flight at the two kills", dups, 2*crashWorkers)
	}
}
