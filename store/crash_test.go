package store

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestRecover(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openAt(t, dir, Options{})
	if err := s.AddUser(ctx, alice, "pw"); err != nil {
		t.Fatal(err)
	}
	for _, subj := range []string{"a", "b", "c"} {
		deliver(t, s, false, subj)
	}
	s.Copy(ctx, alice, "INBOX", []uint32{3}, "Archive")
	// The file of INBOX 2 goes missing; a delivery died before its commit.
	var lost fileID
	s.userView(ctx, alice, func(u *utx) error {
		m, _ := u.mailbox(Inbox)
		r, _, _ := m.get(2)
		lost = r.File
		return nil
	})
	s.Close()
	if err := os.Remove(s.path(lost)); err != nil {
		t.Fatal(err)
	}
	orphan := filepath.Join(dir, "msgs", "ab", "ab"+strings.Repeat("0", 30))
	stray := filepath.Join(dir, "msgs", "cd", "tmp-garbage")
	for _, p := range []string{orphan, stray} {
		if err := os.WriteFile(p, []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	s = openAt(t, dir, Options{})
	for _, p := range []string{orphan, stray} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s not removed: %v", p, err)
		}
	}
	info, msgs := list(t, s, "INBOX")
	if !equalUIDs(uids(msgs), []uint32{1, 3}) || info.Messages != 2 || info.UIDNext != 4 {
		t.Fatalf("INBOX after recovery %+v %v", info, uids(msgs))
	}
	if read(t, s, "Archive", 1) != string(msg("c")) {
		t.Fatal("copy lost")
	}
	us, _ := s.Users(ctx)
	if want := int64(len(msg("a")) + 2*len(msg("c"))); us[0].Used != want {
		t.Fatalf("used %d, want %d", us[0].Used, want)
	}
	deliver(t, s, false, "d")
	if _, msgs := list(t, s, "INBOX"); !equalUIDs(uids(msgs), []uint32{1, 3, 4}) {
		t.Fatalf("uids %v", uids(msgs))
	}
	checkConsistent(t, s)
}

// crashEnv names the store directory of the child process of TestCrash.
const crashEnv = "MOAT_STORE_CRASH_DIR"

// TestCrashChild is the child process of TestCrash: it delivers and moves
// messages as fast as it can and prints "ack SUBJECT" once each delivery
// has returned, until it is killed.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashEnv)
	if dir == "" {
		t.Skip("run by TestCrash")
	}
	round := os.Getenv(crashEnv + "_ROUND")
	ctx := context.Background()
	s, err := Open(ctx, Options{Dir: dir})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				subj := fmt.Sprintf("r%s-g%d-%d", round, g, i)
				if err := s.Deliver(ctx, alice, i%5 == 0, bytes.NewReader(msg(subj))); err != nil {
					fmt.Fprintln(os.Stderr, "deliver:", err)
					os.Exit(1)
				}
				mu.Lock()
				fmt.Fprintln(out, "ack", subj)
				out.Flush()
				mu.Unlock()
			}
		})
	}
	wg.Go(func() { // an IMAP client filing mail and flagging it
		for {
			_, msgs, err := s.List(ctx, alice, Inbox)
			if err == nil && len(msgs) > 0 {
				s.Move(ctx, alice, Inbox, []uint32{msgs[0].UID}, Archive)
				s.SetFlags(ctx, alice, Archive, []uint32{msgs[0].UID}, FlagsAdd, []string{`\Seen`})
				s.Copy(ctx, alice, Junk, []uint32{1, 2}, Trash)
			}
		}
	})
	wg.Wait()
}

// TestCrash kills a process delivering into the store with SIGKILL in mid
// stream, several times, and checks after each that every acknowledged
// message is present exactly once and the index is consistent.
func TestCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	ctx := context.Background()
	dir := t.TempDir()
	s := openAt(t, dir, Options{})
	if err := s.AddUser(ctx, alice, "pw"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	acked := map[string]bool{}
	for round := range 3 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashEnv+"="+dir, fmt.Sprintf("%s_ROUND=%d", crashEnv, round))
		cmd.Stderr = os.Stderr
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(stdout)
		n := 0
		want := 150 + 100*round
		deadline := time.Now().Add(60 * time.Second)
		for sc.Scan() {
			if subj, ok := strings.CutPrefix(sc.Text(), "ack "); ok {
				acked[subj] = true
				n++
			}
			if n >= want || time.Now().After(deadline) {
				break
			}
		}
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		// Lines completed before the kill are acknowledgements too.
		rest, _ := io.ReadAll(stdout)
		for line := range strings.Lines(string(rest)) {
			if subj, ok := strings.CutPrefix(line, "ack "); ok && strings.HasSuffix(subj, "\n") {
				acked[strings.TrimSuffix(subj, "\n")] = true
			}
		}
		cmd.Wait()
		if n == 0 {
			t.Fatalf("round %d: child acknowledged nothing", round)
		}

		s = openAt(t, dir, Options{})
		seen := map[string]int{}
		mbs, err := s.Mailboxes(ctx, alice)
		if err != nil {
			t.Fatal(err)
		}
		for _, mb := range mbs {
			if mb.Name == Trash {
				continue // copies of Junk 1 and 2
			}
			_, msgs := list(t, s, mb.Name)
			for _, m := range msgs {
				body := read(t, s, mb.Name, m.UID)
				_, rest, _ := strings.Cut(body, "Subject: ")
				subj, _, _ := strings.Cut(rest, "\r\n")
				seen[subj]++
			}
		}
		for subj := range acked {
			if seen[subj] != 1 {
				t.Errorf("round %d: acknowledged %s present %d times", round, subj, seen[subj])
			}
		}
		for subj, c := range seen {
			if c != 1 {
				t.Errorf("round %d: %s present %d times", round, subj, c)
			}
		}
		checkConsistent(t, s)
		t.Logf("round %d: %d acknowledged in all, %d stored", round, len(acked), len(seen))
		s.Close()
	}
}

func TestLostIndexKeepsMail(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openAt(t, dir, Options{})
	if err := s.AddUser(ctx, alice, "pw"); err != nil {
		t.Fatal(err)
	}
	deliver(t, s, false, "precious")
	s.Close()
	if err := os.Remove(filepath.Join(dir, "index.db")); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, Options{Dir: dir}); err == nil {
		t.Fatal("Open with a lost index succeeded")
	}
	if n := countFiles(t, dir); n != 1 {
		t.Fatalf("%d message files left", n)
	}
}
