package filter

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
)

// testMessage builds a message with a small header and a body of n lines.
func testMessage(lines int) []byte {
	var b bytes.Buffer
	b.WriteString("From: a@example.org\r\nTo: b@example.net\r\nSubject: spool\r\n\r\n")
	for i := range lines {
		fmt.Fprintf(&b, "line %04d of the body, with some padding text\r\n", i)
	}
	return b.Bytes()
}

// spoolFiles returns the names of the files in dir.
func spoolFiles(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// writeChunks writes b to w in chunks of size n (all at once when n <= 0).
func writeChunks(t *testing.T, w io.Writer, b []byte, n int) {
	t.Helper()
	if n <= 0 {
		n = len(b)
	}
	for len(b) > 0 {
		k := min(n, len(b))
		got, err := w.Write(b[:k])
		if err != nil || got != k {
			t.Fatalf("Write(%d bytes) = %d, %v", k, got, err)
		}
		b = b[k:]
	}
}

func readAll(t *testing.T, r io.Reader) []byte {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestNewMessage(t *testing.T) {
	t.Parallel()
	raw := testMessage(10)
	m, err := NewMessage(raw)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	hdrLen := bytes.Index(raw, []byte("\r\n\r\n")) + 4
	if m.HeaderLen != hdrLen {
		t.Errorf("HeaderLen = %d, want %d", m.HeaderLen, hdrLen)
	}
	if m.Size() != int64(len(raw)) {
		t.Errorf("Size = %d, want %d", m.Size(), len(raw))
	}
	if got := m.Header.Get("Subject"); got != "spool" {
		t.Errorf("Subject = %q", got)
	}
	if got := readAll(t, m.Reader()); !bytes.Equal(got, raw) {
		t.Errorf("Reader returned %d bytes, want the %d written", len(got), len(raw))
	}
	if got := readAll(t, m.BodyReader()); !bytes.Equal(got, raw[hdrLen:]) {
		t.Errorf("BodyReader = %q, want %q", got, raw[hdrLen:])
	}
}

func TestNewMessageNUL(t *testing.T) {
	t.Parallel()
	m, err := NewMessage([]byte("From: a\x00\r\n\r\nbody"))
	if !errors.Is(err, ErrHeaderNUL) {
		t.Fatalf("err = %v, want ErrHeaderNUL", err)
	}
	if m == nil {
		t.Fatal("NewMessage returned a nil Message with ErrHeaderNUL")
	}
}

func TestSpool(t *testing.T) {
	t.Parallel()
	raw := testMessage(200)
	hdrLen := bytes.Index(raw, []byte("\r\n\r\n")) + 4
	tests := []struct {
		name     string
		memLimit int
		chunk    int
		wantFile bool
	}{
		{"memory only, one write", len(raw) + 100, 0, false},
		{"memory only, exactly at the bound", len(raw), 7, false},
		{"one byte past the bound", len(raw) - 1, 0, true},
		{"crosses the bound inside a write", 1000, 333, true},
		{"crosses the bound in small writes", 1000, 1, true},
		{"bound right after the header", hdrLen, 64, true},
		{"nothing in memory beyond the header's start", 10, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			s := NewSpool(dir, tt.memLimit)
			writeChunks(t, s, raw, tt.chunk)
			if got := len(spoolFiles(t, dir)) > 0; got != tt.wantFile {
				t.Fatalf("spool file created = %v, want %v", got, tt.wantFile)
			}
			m, err := s.Finish()
			if err != nil {
				t.Fatal(err)
			}
			if m.Size() != int64(len(raw)) {
				t.Errorf("Size = %d, want %d", m.Size(), len(raw))
			}
			if len(m.Prefix()) > tt.memLimit {
				t.Errorf("Prefix holds %d bytes, more than the bound %d", len(m.Prefix()), tt.memLimit)
			}
			if got := readAll(t, m.Reader()); !bytes.Equal(got, raw) {
				t.Errorf("Reader returned %d bytes, not the %d written", len(got), len(raw))
			}
			if got, want := readAll(t, m.BodyReader()), raw[m.HeaderLen:]; !bytes.Equal(got, want) {
				t.Errorf("BodyReader returned %d bytes, want %d", len(got), len(want))
			}
			if tt.memLimit >= hdrLen {
				if m.HeaderLen != hdrLen || m.Header.Get("Subject") != "spool" {
					t.Errorf("header not parsed: HeaderLen %d, Subject %q", m.HeaderLen, m.Header.Get("Subject"))
				}
			} else if m.HeaderLen > tt.memLimit {
				t.Errorf("HeaderLen %d past the memory bound %d", m.HeaderLen, tt.memLimit)
			}
			if err := m.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if left := spoolFiles(t, dir); len(left) != 0 {
				t.Errorf("files left after Close: %q", left)
			}
			if err := m.Close(); err != nil {
				t.Errorf("second Close: %v", err)
			}
		})
	}
}

// TestSpoolReadersIndependent reads several readers of one spooled message
// in interleaved small steps, and concurrently, and checks each sees every
// byte exactly once.
func TestSpoolReadersIndependent(t *testing.T) {
	t.Parallel()
	raw := testMessage(100)
	s := NewSpool(t.TempDir(), 512)
	writeChunks(t, s, raw, 0)
	m, err := s.Finish()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })

	t.Run("interleaved", func(t *testing.T) {
		t.Parallel()
		readers := []io.Reader{m.Reader(), m.Reader(), m.BodyReader(), m.Reader()}
		got := make([]bytes.Buffer, len(readers))
		buf := make([]byte, 37)
		for done := 0; done < len(readers); {
			done = 0
			for i, r := range readers {
				n, err := r.Read(buf)
				got[i].Write(buf[:n])
				if errors.Is(err, io.EOF) {
					done++
				} else if err != nil {
					t.Fatal(err)
				}
			}
		}
		for i := range readers {
			want := raw
			if i == 2 {
				want = raw[m.HeaderLen:]
			}
			if !bytes.Equal(got[i].Bytes(), want) {
				t.Errorf("reader %d returned %d bytes, want %d", i, got[i].Len(), len(want))
			}
		}
	})
	t.Run("concurrent", func(t *testing.T) {
		t.Parallel()
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for range 8 {
			wg.Go(func() {
				b, err := io.ReadAll(m.Reader())
				if err == nil && !bytes.Equal(b, raw) {
					err = fmt.Errorf("read %d bytes, want %d", len(b), len(raw))
				}
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Error(err)
			}
		}
	})
}

func TestSpoolDiscard(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := NewSpool(dir, 64)
	writeChunks(t, s, testMessage(50), 0)
	if len(spoolFiles(t, dir)) != 1 {
		t.Fatalf("want one spool file before Discard, have %q", spoolFiles(t, dir))
	}
	s.Discard()
	if left := spoolFiles(t, dir); len(left) != 0 {
		t.Fatalf("files left after Discard: %q", left)
	}
	s.Discard() // a second Discard is harmless

	// The spool starts afresh: only what is written after Discard remains.
	next := []byte("Subject: second\r\n\r\nbody\r\n")
	writeChunks(t, s, next, 0)
	m, err := s.Finish()
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if got := readAll(t, m.Reader()); !bytes.Equal(got, next) {
		t.Errorf("after Discard the spool holds %q, want %q", got, next)
	}
}

func TestSpoolFinishNUL(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := NewSpool(dir, 16)
	writeChunks(t, s, []byte("X-A: 1\r\nX-B: \x00\r\n\r\n"+strings.Repeat("body\r\n", 20)), 0)
	m, err := s.Finish()
	if !errors.Is(err, ErrHeaderNUL) {
		t.Fatalf("err = %v, want ErrHeaderNUL", err)
	}
	if m == nil {
		t.Fatal("Finish returned no Message with ErrHeaderNUL")
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if left := spoolFiles(t, dir); len(left) != 0 {
		t.Errorf("files left after Close: %q", left)
	}
}

func TestSpoolBadDir(t *testing.T) {
	t.Parallel()
	s := NewSpool(t.TempDir()+"/missing", 4)
	if _, err := s.Write([]byte("more than four bytes")); err == nil {
		t.Fatal("Write past the bound into a missing directory succeeded")
	}
}
