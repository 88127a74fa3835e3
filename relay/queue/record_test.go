package queue

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestStateJSON(t *testing.T) {
	for s := Pending; s <= Dropped; s++ {
		t.Run(s.String(), func(t *testing.T) {
			b, err := json.Marshal(map[State]int{s: 1})
			if err != nil {
				t.Fatal(err)
			}
			var back map[State]int
			if err := json.Unmarshal(b, &back); err != nil || back[s] != 1 {
				t.Errorf("%s → %s → %v, %v", s, b, back, err)
			}
		})
	}
}

// FuzzReadSegment feeds arbitrary bytes after a segment header: replay
// must not panic, and must stop at the first record that does not check.
func FuzzReadSegment(f *testing.F) {
	dir := f.TempDir()
	q, err := Open(context.Background(), Options{Dir: dir, Hostname: "h"})
	if err != nil {
		f.Fatal(err)
	}
	enqueue(f, q, Envelope{ID: "a", From: "x@src.example", Rcpts: []string{"y@dst.example"}}, testMessage("a"))
	if err := q.writeStatus("a", []rcptStatus{{State: Delivered, Code: 250}}); err != nil {
		f.Fatal(err)
	}
	q.Close(context.Background())
	seg, err := os.ReadFile(filepath.Join(dir, "0000000000000001.seg"))
	if err != nil {
		f.Fatal(err)
	}
	hdr := seg[:segHeaderLen]
	f.Add(seg[segHeaderLen:])
	f.Add([]byte{})
	f.Add([]byte{5, 0, 0, 0, 1, 2, 3, 4, 'E', 1, 0})
	f.Add([]byte(strings.Repeat("\xff", 64)))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "0000000000000001.seg")
		if err := os.WriteFile(path, append(append([]byte(nil), hdr...), data...), 0o600); err != nil {
			t.Fatal(err)
		}
		n := 0
		s, _, err := readSegment(path, 1, true, func(_ *segment, r *record) error {
			n++
			if r.kind != recEnqueue && r.kind != recStatus && r.kind != recDelete {
				t.Errorf("record of kind %q accepted", r.kind)
			}
			if r.bodyOff+r.bodySize > int64(segHeaderLen+len(data)) {
				t.Errorf("record past the end of the file")
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		s.f.Close()
		if s.size > int64(segHeaderLen+len(data)) {
			t.Errorf("valid end %d past the file", s.size)
		}
	})
}

func TestIncompleteLastSegment(t *testing.T) {
	for name, content := range map[string][]byte{
		"empty":        nil,
		"short header": []byte("MOATQ"),
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			q, err := Open(context.Background(), Options{Dir: dir, Hostname: "h"})
			if err != nil {
				t.Fatal(err)
			}
			enqueue(t, q, Envelope{ID: "a", From: "x@src.example", Rcpts: []string{"y@dst.example"}}, testMessage("a"))
			q.Close(context.Background())
			// A crash while a rotation created the next segment.
			if err := os.WriteFile(filepath.Join(dir, "0000000000000002.seg"), content, 0o600); err != nil {
				t.Fatal(err)
			}
			q = openQueue(t, Options{Dir: dir})
			if list, _, _ := q.List(context.Background()); len(list) != 1 || list[0].ID != "a" {
				t.Errorf("after reopen: %+v", list)
			}
			if _, err := os.Stat(filepath.Join(dir, "0000000000000002.seg")); !os.IsNotExist(err) {
				t.Errorf("incomplete segment kept: %v", err)
			}
		})
	}
}
