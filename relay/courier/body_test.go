package courier

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"testing/iotest"
)

// unstuff undoes writeBody: it checks the terminating dot line and
// removes the stuffed dots.
func unstuff(t testing.TB, data []byte) []byte {
	t.Helper()
	if !bytes.HasSuffix(data, []byte(".\r\n")) || (len(data) > 3 && !bytes.HasSuffix(data, []byte("\r\n.\r\n"))) {
		t.Fatalf("DATA does not end with CRLF.CRLF: %q", tail(data))
	}
	body := data[:len(data)-3]
	var out []byte
	for len(body) > 0 {
		i := bytes.Index(body, []byte("\r\n"))
		line := body
		if i >= 0 {
			line = body[:i+2]
		}
		if bytes.Equal(line, []byte(".\r\n")) {
			t.Fatalf("an unstuffed dot line inside DATA")
		}
		out = append(out, bytes.TrimPrefix(line, []byte("."))...)
		body = body[len(line):]
	}
	return out
}

func tail(b []byte) []byte { return b[max(0, len(b)-20):] }

// TestWriteBody checks dot-stuffing and line endings, reading the message
// whole and a byte at a time (so that every line boundary falls on a
// buffer boundary).
func TestWriteBody(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, in, want string }{
		{"plain", "a\r\nb\r\n", "a\r\nb\r\n"},
		{"dots", ".\r\n..\r\n.a\r\nb.\r\n", "..\r\n...\r\n..a\r\nb.\r\n"},
		{"dot-after-lf", "a\n.b\n", "a\r\n..b\r\n"},
		{"no-final-crlf", "a\r\n.b", "a\r\n..b\r\n"},
		{"final-cr", "a\r", "a\r\n"},
		{"bare-cr-kept", "a\rb\r\n", "a\rb\r\n"},
		{"empty", "", ""},
		{"lone-dot-no-crlf", ".", "..\r\n"},
	}
	for _, tc := range tests {
		for _, mode := range []string{"whole", "bytewise"} {
			t.Run(tc.name+"/"+mode, func(t *testing.T) {
				var r io.Reader = strings.NewReader(tc.in)
				if mode == "bytewise" {
					r = iotest.OneByteReader(r)
				}
				var out bytes.Buffer
				w := bufio.NewWriter(&out)
				if err := writeBody(w, bufio.NewReaderSize(r, 16)); err != nil {
					t.Fatal(err)
				}
				w.Flush()
				if got, want := out.String(), tc.want+".\r\n"; got != want {
					t.Fatalf("writeBody(%q) = %q, want %q", tc.in, got, want)
				}
			})
		}
	}
}

// TestWriteBodyReadError checks that a failing reader stops the message
// without the terminating dot (so the server discards it).
func TestWriteBodyReadError(t *testing.T) {
	t.Parallel()
	boom := errors.New("disk error")
	r := io.MultiReader(strings.NewReader("Subject: x\r\n\r\npart"), iotest.ErrReader(boom))
	var out bytes.Buffer
	w := bufio.NewWriter(&out)
	err := writeBody(w, bufio.NewReader(r))
	var be *bodyError
	if !errors.As(err, &be) || !errors.Is(err, boom) {
		t.Fatalf("writeBody error = %v, want a bodyError wrapping %v", err, boom)
	}
	w.Flush()
	if bytes.HasSuffix(out.Bytes(), []byte(".\r\n")) {
		t.Fatalf("terminating dot written after a read error: %q", out.Bytes())
	}
}

// TestDeliverBodyReadError checks that a message that cannot be read is
// not delivered truncated.
func TestDeliverBodyReadError(t *testing.T) {
	t.Parallel()
	srv := startServer(t, serverConfig{})
	c := newCourier(t, routes{"example.org": smtpRoute(srv)}, nil)
	name, _ := c.Route("r@example.org")
	msg := io.MultiReader(strings.NewReader(simpleMsg), iotest.ErrReader(errors.New("disk error")))
	_, err := c.Deliver(t.Context(), name, "s@example.net", []string{"r@example.org"}, msg)
	var de *DeliveryError
	if !errors.As(err, &de) || !de.Temporary() || de.Enhanced != "4.3.0" {
		t.Fatalf("Deliver error = %v, want a temporary 4.3.0", err)
	}
	srv.waitIdle()
	if got := srv.received(); len(got) != 0 {
		t.Fatalf("server got %d messages", len(got))
	}
}

// TestMessageSize checks the sizes found for SIZE=.
func TestMessageSize(t *testing.T) {
	t.Parallel()
	f, err := os.Open("testdata/ham-00013.eml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Seek(100, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		r    io.Reader
		want int64
	}{
		{"bytes.Reader", bytes.NewReader(make([]byte, 42)), 42},
		{"section", io.NewSectionReader(bytes.NewReader(make([]byte, 100)), 10, 50), 50},
		{"file-at-offset", f, 3303 - 100},
		{"unknown", iotest.OneByteReader(strings.NewReader("x")), -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := messageSize(tc.r); got != tc.want {
				t.Fatalf("messageSize = %d, want %d", got, tc.want)
			}
		})
	}
}

// FuzzWriteBody checks that any message survives stuffing and unstuffing
// (with line endings normalized to CRLF).
func FuzzWriteBody(f *testing.F) {
	for _, s := range []string{"", ".", "a\r\n.\r\n", ".\n.\n", "x\r\r\n..\r\n", "\n\n.", "a\rb"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var out bytes.Buffer
		w := bufio.NewWriter(&out)
		if err := writeBody(w, bufio.NewReaderSize(bytes.NewReader(in), 16)); err != nil {
			t.Fatal(err)
		}
		w.Flush()
		got := unstuff(t, out.Bytes())
		want := normalize(in)
		if !bytes.Equal(got, want) {
			t.Fatalf("round trip of %q = %q, want %q", in, got, want)
		}
	})
}

// normalize is what writeBody should send before stuffing: bare LF as
// CRLF, a final line break added.
func normalize(in []byte) []byte {
	var out []byte
	for i, b := range in {
		if b == '\n' && (i == 0 || in[i-1] != '\r') {
			out = append(out, '\r')
		}
		out = append(out, b)
	}
	if len(out) > 0 && out[len(out)-1] != '\n' {
		if out[len(out)-1] == '\r' {
			out = append(out, '\n')
		} else {
			out = append(out, '\r', '\n')
		}
	}
	return out
}

// FuzzReadReply checks that the reply parser never panics and that what
// it accepts is a well-formed reply.
func FuzzReadReply(f *testing.F) {
	for _, s := range []string{
		"250 OK\r\n", "250-a\r\n250 b\r\n", "550 5.1.1 no\r\n", "250\r\n",
		"250-x\r\n251 y\r\n", "abc\r\n", "354 go\n", "421-4.3.2 a\r\n421 4.3.2 b\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		client, server := net.Pipe()
		defer client.Close()
		go func() {
			server.Write(in)
			server.Close()
		}()
		cn := newConn(client, 0, "fuzz", &destination{})
		cn.rw = client
		cn.br.Reset(client)
		for {
			r, err := cn.readReply()
			if err != nil {
				return
			}
			if r.code < 200 || r.code > 599 || len(r.lines) == 0 || r.enh == "" || r.enh[0] != byte('0'+r.code/100) {
				t.Fatalf("bad reply %+v from %q", r, in)
			}
		}
	})
}
