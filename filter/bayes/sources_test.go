package bayes

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestReadMessages(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"single message", "Subject: a\n\nbody\n", []string{"Subject: a\n\nbody\n"}},
		{"single message starting with From without a date", "From here on\n\nbody\n", []string{"From here on\n\nbody\n"}},
		{"mbox", "From a@b Mon Sep  2 10:00:00 2002\nSubject: one\n\nbody one\n\nFrom c@d Tue Sep  3 11:00:00 2002\nSubject: two\n\nbody two\n",
			[]string{"Subject: one\n\nbody one\n", "Subject: two\n\nbody two\n"}},
		{"mboxrd unquoting", "From a@b Mon Sep  2 10:00:00 2002\n\n>From the start\n>>From deeper\n> From not quoted\n",
			[]string{"\nFrom the start\n>From deeper\n> From not quoted\n"}},
		{"From line inside a paragraph is not a separator", "From a@b Mon Sep  2 10:00:00 2002\n\nline\nFrom x@y Mon Sep  2 10:00:00 2002\n",
			[]string{"\nline\nFrom x@y Mon Sep  2 10:00:00 2002\n"}},
		{"crlf", "From a@b Mon Sep  2 10:00:00 2002\r\nSubject: x\r\n\r\nb\r\n\r\nFrom c@d Mon Sep  2 10:00:00 2002\r\n\r\nc\r\n",
			[]string{"Subject: x\r\n\r\nb\r\n", "\r\nc\r\n"}},
		{"empty mbox message", "From a@b Mon Sep  2 10:00:00 2002\n", []string{""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got []string
			err := ReadMessages(strings.NewReader(tt.in), func(n int, raw []byte) error {
				if n != len(got) {
					t.Errorf("message numbered %d, want %d", n, len(got))
				}
				got = append(got, string(raw))
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
	t.Run("long lines", func(t *testing.T) {
		t.Parallel()
		long := strings.Repeat("x", 200<<10)
		in := "From a@b Mon Sep  2 10:00:00 2002\nSubject: " + long + "\n\nbody\n"
		var got []byte
		if err := ReadMessages(strings.NewReader(in), func(_ int, raw []byte) error { got = raw; return nil }); err != nil {
			t.Fatal(err)
		}
		if want := "Subject: " + long + "\n\nbody\n"; string(got) != want {
			t.Errorf("got %d bytes, want %d", len(got), len(want))
		}
	})
}

// writeFiles creates files (path → content) under dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for p, c := range files {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestListSources(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"eml/b.eml":           "x",
		"eml/a.eml":           "x",
		"eml/.hidden":         "x",
		"eml/sub/c.eml":       "x",
		"maildir/cur/1:2,S":   "x",
		"maildir/new/2":       "x",
		"maildir/tmp/3":       "x",
		"tree/inner/cur/4:2,": "x",
		"tree/inner/tmp/5":    "x",
		"tree/z.mbox":         "x",
		"single.eml":          "x",
	})
	rel := func(srcs []Source) []string {
		var out []string
		for _, s := range srcs {
			r, _ := filepath.Rel(dir, s.Path)
			out = append(out, r)
		}
		return out
	}
	tests := []struct {
		paths []string
		want  []string
	}{
		{[]string{"eml"}, []string{"eml/a.eml", "eml/b.eml", "eml/sub/c.eml"}},
		{[]string{"maildir"}, []string{"maildir/cur/1:2,S", "maildir/new/2"}},
		{[]string{"tree"}, []string{"tree/inner/cur/4:2,", "tree/z.mbox"}},
		{[]string{"single.eml", "maildir/new"}, []string{"single.eml", "maildir/new/2"}},
	}
	for _, tt := range tests {
		var paths []string
		for _, p := range tt.paths {
			paths = append(paths, filepath.Join(dir, p))
		}
		srcs, err := ListSources(paths)
		if err != nil {
			t.Fatal(err)
		}
		if got := rel(srcs); !slices.Equal(got, tt.want) {
			t.Errorf("ListSources(%v) = %q, want %q", tt.paths, got, tt.want)
		}
	}
	if _, err := ListSources([]string{filepath.Join(dir, "missing")}); err == nil {
		t.Error("missing path: no error")
	}
}

func TestTrain(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var mbox bytes.Buffer
	for i := 10; i < 15; i++ {
		mbox.WriteString("From x@y Mon Sep  2 10:00:00 2002\n")
		mbox.Write(spamText(i))
		mbox.WriteString("\n\n")
	}
	files := map[string]string{"spam.mbox": mbox.String()}
	for i := range 3 {
		files[filepath.Join("Junk", "cur", string(rune('a'+i))+":2,S")] = string(spamText(i))
		files[filepath.Join("eml", string(rune('a'+i))+".eml")] = string(spamText(i + 20))
	}
	writeFiles(t, dir, files)
	b := learned(t, nil) // 20 of each: spamText(0..19) among them
	var calls []Progress
	res, err := b.Train(ctxT(t), Spam, "", []string{filepath.Join(dir, "spam.mbox"), filepath.Join(dir, "Junk"), filepath.Join(dir, "eml")},
		func(p Progress) { calls = append(calls, p) })
	if err != nil {
		t.Fatal(err)
	}
	// 5 + 3 + 3 read; spamText(0..2) and (10..14) were learned already.
	want := TrainResult{Messages: 11, LearnResult: LearnResult{Learned: 3, Already: 8}}
	if res != want {
		t.Errorf("got %+v, want %+v", res, want)
	}
	if len(calls) == 0 || calls[len(calls)-1].Messages != 11 || calls[len(calls)-1].Bytes != calls[len(calls)-1].TotalBytes {
		t.Errorf("progress calls %+v", calls)
	}
	var out strings.Builder
	if err := res.WriteText(&out, Spam); err != nil || out.String() != "read 11 messages: 3 learned as spam, 0 moved from ham, 8 already learned\n" {
		t.Errorf("WriteText: %q, %v", out.String(), err)
	}
	// Learning the spam as ham moves it.
	res, err = b.Train(ctxT(t), Ham, "", []string{filepath.Join(dir, "eml")}, nil)
	if err != nil || res.Moved != 3 {
		t.Errorf("moving: %+v, %v", res, err)
	}
	if _, err := b.Train(ctxT(t), Ham, "", []string{filepath.Join(dir, "nope")}, nil); err == nil {
		t.Error("missing path: no error")
	}
}

func TestProgressBar(t *testing.T) {
	t.Parallel()
	var out strings.Builder
	progress, done := ProgressBar(&out)
	progress(Progress{Messages: 5, Bytes: 50, TotalBytes: 100})
	progress(Progress{Messages: 10, Bytes: 100, TotalBytes: 100})
	done()
	want := "\r[===============>              ]  50% 5 messages\r[==============================] 100% 10 messages\n"
	if out.String() != want {
		t.Errorf("got %q, want %q", out.String(), want)
	}
}
