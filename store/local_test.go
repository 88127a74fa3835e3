package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// files returns the names of the regular files in dir (none if dir does
// not exist).
func files(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if e.Type().IsRegular() {
			out = append(out, e.Name())
		}
	}
	return out
}

func newLocal(t *testing.T) (*Local, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "mail")
	l, err := NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	return l, dir
}

func TestDeliver(t *testing.T) {
	t.Parallel()
	msg := []byte("From: a@example.org\r\nSubject: hi\r\n\r\nbody with 8-bit \xe9 and NUL \x00 bytes\r\n")
	tests := []struct {
		name   string
		rcpt   string
		junk   bool
		folder string // relative to the root
		other  string // the folder that must stay empty
	}{
		{"inbox", "alice@example.org", false, "alice@example.org", "alice@example.org/.Junk"},
		{"junk", "alice@example.org", true, "alice@example.org/.Junk", "alice@example.org"},
		{"recipient lower-cased", "Bob@Example.ORG", false, "bob@example.org", "Bob@Example.ORG"},
		{"no domain", "postmaster", false, "postmaster", "postmaster/.Junk"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l, root := newLocal(t)
			if err := l.Deliver(t.Context(), tt.rcpt, tt.junk, bytes.NewReader(msg)); err != nil {
				t.Fatal(err)
			}
			folder := filepath.Join(root, tt.folder)
			got := files(t, filepath.Join(folder, "new"))
			if len(got) != 1 {
				t.Fatalf("new/ holds %q, want one message", got)
			}
			b, err := os.ReadFile(filepath.Join(folder, "new", got[0]))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b, msg) {
				t.Errorf("delivered %q, want %q", b, msg)
			}
			if left := files(t, filepath.Join(folder, "tmp")); len(left) != 0 {
				t.Errorf("tmp/ still holds %q", left)
			}
			for _, d := range []string{"cur", "tmp"} {
				if fi, err := os.Stat(filepath.Join(folder, d)); err != nil || !fi.IsDir() {
					t.Errorf("%s/ missing: %v", d, err)
				}
			}
			if n := len(files(t, filepath.Join(root, tt.other, "new"))); n != 0 {
				t.Errorf("%s/new holds %d messages, want none", tt.other, n)
			}
			fi, err := os.Stat(filepath.Join(folder, "new", got[0]))
			if err != nil {
				t.Fatal(err)
			}
			if perm := fi.Mode().Perm(); perm&0o077 != 0 {
				t.Errorf("message mode %v is readable by others", perm)
			}
			_, err = os.Stat(filepath.Join(folder, "maildirfolder"))
			if isSub := tt.junk; isSub != (err == nil) {
				t.Errorf("maildirfolder marker present = %v, want %v", err == nil, isSub)
			}
		})
	}
}

func TestDeliverSeveral(t *testing.T) {
	t.Parallel()
	l, root := newLocal(t)
	for i := range 3 {
		if err := l.Deliver(t.Context(), "carol", i == 1, strings.NewReader(fmt.Sprintf("Subject: %d\r\n\r\n", i))); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(files(t, filepath.Join(root, "carol", "new"))); n != 2 {
		t.Errorf("INBOX holds %d messages, want 2", n)
	}
	if n := len(files(t, filepath.Join(root, "carol", JunkFolder, "new"))); n != 1 {
		t.Errorf("Junk holds %d messages, want 1", n)
	}
}

func TestDeliverUnsafeRecipient(t *testing.T) {
	t.Parallel()
	for _, rcpt := range []string{
		"",
		"/",
		".",
		"..",
		"../escape",
		"../../etc/passwd",
		"a/../../b",
		"/abs",
		"a/b",
		`a\b`,
		`..\..\windows`,
		"a\x00b",
		"a\nb",
		".hidden",
		".Junk",
		"a..b@example.org",
		strings.Repeat("x", 256),
	} {
		t.Run(fmt.Sprintf("%q", rcpt), func(t *testing.T) {
			t.Parallel()
			parent := t.TempDir()
			root := filepath.Join(parent, "mail")
			l, err := NewLocal(root)
			if err != nil {
				t.Fatal(err)
			}
			err = l.Deliver(t.Context(), rcpt, false, strings.NewReader("x"))
			if !errors.Is(err, ErrInvalidRecipient) {
				t.Fatalf("Deliver(%q) = %v, want ErrInvalidRecipient", rcpt, err)
			}
			for _, dir := range []string{parent, root} {
				ents, err := os.ReadDir(dir)
				if err != nil {
					t.Fatal(err)
				}
				if want := map[string]int{parent: 1, root: 0}[dir]; len(ents) != want {
					t.Errorf("%s holds %d entries after a refused delivery, want %d", dir, len(ents), want)
				}
			}
		})
	}
}

func TestDeliverCancelled(t *testing.T) {
	t.Parallel()
	l, root := newLocal(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := l.Deliver(ctx, "dave", false, strings.NewReader("Subject: x\r\n\r\n"))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if ents, _ := os.ReadDir(root); len(ents) != 0 {
		t.Errorf("a cancelled delivery created %d entries", len(ents))
	}
}

// failingReader returns some bytes, then an error.
type failingReader struct {
	data []byte
	err  error
}

func (r *failingReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

// cancellingReader cancels its context after the first read.
type cancellingReader struct {
	cancel context.CancelFunc
}

func (r *cancellingReader) Read(p []byte) (int, error) {
	r.cancel()
	return copy(p, "partial"), nil
}

func TestDeliverFailedRead(t *testing.T) {
	t.Parallel()
	errBroken := errors.New("client went away")
	for _, junk := range []bool{false, true} {
		t.Run(fmt.Sprintf("junk=%v", junk), func(t *testing.T) {
			t.Parallel()
			l, root := newLocal(t)
			err := l.Deliver(t.Context(), "erin", junk, &failingReader{data: []byte("Subject: partial\r\n"), err: errBroken})
			if !errors.Is(err, errBroken) {
				t.Fatalf("err = %v, want the reader's error", err)
			}
			folder := filepath.Join(root, "erin")
			if junk {
				folder = filepath.Join(folder, JunkFolder)
			}
			for _, d := range []string{"new", "tmp", "cur"} {
				if left := files(t, filepath.Join(folder, d)); len(left) != 0 {
					t.Errorf("%s/ holds %q after a failed delivery", d, left)
				}
			}
		})
	}
	t.Run("cancelled while reading", func(t *testing.T) {
		t.Parallel()
		l, root := newLocal(t)
		ctx, cancel := context.WithCancel(t.Context())
		r := &cancellingReader{cancel: cancel}
		err := l.Deliver(ctx, "erin", false, io.MultiReader(r, strings.NewReader("never read")))
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		for _, d := range []string{"new", "tmp"} {
			if left := files(t, filepath.Join(root, "erin", d)); len(left) != 0 {
				t.Errorf("%s/ holds %q after a cancelled delivery", d, left)
			}
		}
	})
}

func TestDeliverConcurrent(t *testing.T) {
	t.Parallel()
	l, root := newLocal(t)
	const n = 50
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			body := fmt.Sprintf("Subject: %d\r\n\r\n%s\r\n", i, strings.Repeat("x", i*100))
			errs <- l.Deliver(t.Context(), "Frank", i%5 == 0, strings.NewReader(body))
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	seen := map[string]bool{}
	for _, folder := range []string{"frank", "frank/" + JunkFolder} {
		dir := filepath.Join(root, folder)
		if left := files(t, filepath.Join(dir, "tmp")); len(left) != 0 {
			t.Errorf("%s/tmp holds %q", folder, left)
		}
		for _, name := range files(t, filepath.Join(dir, "new")) {
			b, err := os.ReadFile(filepath.Join(dir, "new", name))
			if err != nil {
				t.Fatal(err)
			}
			var i int
			if _, err := fmt.Sscanf(string(b), "Subject: %d", &i); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			want := fmt.Sprintf("Subject: %d\r\n\r\n%s\r\n", i, strings.Repeat("x", i*100))
			if string(b) != want || seen[want] {
				t.Errorf("%s: message %d corrupt or delivered twice", name, i)
			}
			if junk := folder != "frank"; junk != (i%5 == 0) {
				t.Errorf("message %d in %s", i, folder)
			}
			seen[want] = true
		}
	}
	if len(seen) != n {
		t.Errorf("%d distinct messages delivered, want %d", len(seen), n)
	}
}

func TestUniqueName(t *testing.T) {
	t.Parallel()
	l, _ := newLocal(t)
	l.host = maildirHost("mx/1:a")
	seen := map[string]bool{}
	for range 1000 {
		name, err := l.uniqueName()
		if err != nil {
			t.Fatal(err)
		}
		if seen[name] || strings.ContainsAny(name, "/:") {
			t.Fatalf("name %q repeated or unsafe", name)
		}
		seen[name] = true
	}
}

func TestNewLocal(t *testing.T) {
	t.Parallel()
	t.Run("creates missing directories", func(t *testing.T) {
		t.Parallel()
		dir := filepath.Join(t.TempDir(), "a", "b")
		l, err := NewLocal(dir)
		if err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() || l.Dir() != dir {
			t.Fatalf("dir not created: %v", err)
		}
	})
	t.Run("file in the way", func(t *testing.T) {
		t.Parallel()
		file := filepath.Join(t.TempDir(), "file")
		if err := os.WriteFile(file, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := NewLocal(file); err == nil {
			t.Fatal("NewLocal over a regular file succeeded")
		}
	})
	t.Run("empty", func(t *testing.T) {
		t.Parallel()
		if _, err := NewLocal(""); err == nil {
			t.Fatal(`NewLocal("") succeeded`)
		}
	})
}
