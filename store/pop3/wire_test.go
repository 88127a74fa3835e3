package pop3

import (
	"bufio"
	"bytes"
	"strings"
	"testing"
	"testing/iotest"
)

func TestWireWriter(t *testing.T) {
	tests := []struct {
		name string
		in   string
		out  string // body as sent, before the terminator
		size int64  // octets as sent, without stuffing
	}{
		{"empty", "", "", 0},
		{"CRLF kept", "A: b\r\n\r\nbody\r\n", "A: b\r\n\r\nbody\r\n", 14},
		{"bare LF", "A: b\n\nbody\n", "A: b\r\n\r\nbody\r\n", 14},
		{"mixed", "A: b\r\n\nx\n", "A: b\r\n\r\nx\r\n", 11},
		{"no final newline", "A: b\n\nlast", "A: b\r\n\r\nlast\r\n", 14},
		{"dot lines", ".\n..\n.x\nx.\n", "..\r\n...\r\n..x\r\nx.\r\n", 15},
		{"dot first line", ".hidden", "..hidden\r\n", 9},
		{"lone CR kept", "a\rb\n", "a\rb\r\n", 5},
		{"CR before CRLF", "a\r\r\n", "a\r\r\n", 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Whole, and a byte per read to cross every boundary.
			for _, oneByte := range []bool{false, true} {
				var out bytes.Buffer
				w := bufio.NewWriter(&out)
				ww := newWireWriter(w)
				var err error
				if oneByte {
					err = copyMessage(ww, iotest.OneByteReader(strings.NewReader(tt.in)), make([]byte, 16))
				} else {
					err = copyMessage(ww, strings.NewReader(tt.in), make([]byte, 4096))
				}
				if err != nil {
					t.Fatal(err)
				}
				ww.finish()
				w.Flush()
				if got, want := out.String(), tt.out+".\r\n"; got != want {
					t.Errorf("oneByte=%v: sent %q, want %q", oneByte, got, want)
				}
				if ww.n != tt.size {
					t.Errorf("oneByte=%v: n = %d, want %d", oneByte, ww.n, tt.size)
				}
			}
			size, err := wireSize(strings.NewReader(tt.in), make([]byte, 3))
			if err != nil || size != tt.size {
				t.Errorf("wireSize = %d, %v; want %d", size, err, tt.size)
			}
		})
	}
}

func TestWireWriterTop(t *testing.T) {
	msg := "From: a\nSubject: s\n\nline1\n.line2\nline3\n"
	tests := []struct {
		name  string
		in    string
		lines int
		out   string
	}{
		{"header only", msg, 0, "From: a\r\nSubject: s\r\n\r\n"},
		{"one line", msg, 1, "From: a\r\nSubject: s\r\n\r\nline1\r\n"},
		{"stuffed line", msg, 2, "From: a\r\nSubject: s\r\n\r\nline1\r\n..line2\r\n"},
		{"more than there is", msg, 99, "From: a\r\nSubject: s\r\n\r\nline1\r\n..line2\r\nline3\r\n"},
		{"CRLF header end", "A: b\r\n\r\nx\r\ny\r\n", 1, "A: b\r\n\r\nx\r\n"},
		{"no body", "A: b\nC: d", 0, "A: b\r\nC: d\r\n"},
		{"no body separator", "A: b\nC: d\n", 5, "A: b\r\nC: d\r\n"},
		{"body without final newline", "A: b\n\nx", 3, "A: b\r\n\r\nx\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			w := bufio.NewWriter(&out)
			ww := newWireWriter(w)
			ww.top, ww.topLines = true, tt.lines
			if err := copyMessage(ww, iotest.OneByteReader(strings.NewReader(tt.in)), make([]byte, 8)); err != nil {
				t.Fatal(err)
			}
			ww.finish()
			w.Flush()
			if got, want := out.String(), tt.out+".\r\n"; got != want {
				t.Errorf("sent %q, want %q", got, want)
			}
		})
	}
}

func TestWireSizeReadError(t *testing.T) {
	_, err := wireSize(iotest.TimeoutReader(strings.NewReader("A: b\n\nbody\n")), make([]byte, 4))
	if err == nil {
		t.Fatal("read error not reported")
	}
}
