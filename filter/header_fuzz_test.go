package filter

import (
	"bytes"
	"errors"
	"os"
	"testing"
)

// FuzzParseHeader checks ParseHeader's invariants on arbitrary input: it
// never panics; HeaderLen is within the input; the fields tile the header
// block in order (each Raw is a sub-slice of the input starting where the
// previous one ended), optionally followed by the blank line; each Name is
// the valid field name in front of Raw's first colon; ErrHeaderNUL is
// returned exactly when the header block holds a NUL; and parsing the header
// block alone gives the same result.
func FuzzParseHeader(f *testing.F) {
	f.Add([]byte("From: a@b\r\nSubject: x\r\n y\r\n\r\nbody"))
	f.Add([]byte("From: a@b\n\nbody"))
	raw, err := os.ReadFile("testdata/ham-00006.eml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(raw)
	f.Fuzz(func(t *testing.T, b []byte) {
		h, n, err := ParseHeader(b)
		if n < 0 || n > len(b) {
			t.Fatalf("HeaderLen %d outside [0, %d]", n, len(b))
		}
		block := b[:n]
		// NUL in the header block is always an error; an error means a NUL
		// in the block or in the malformed line that ended it.
		if bytes.IndexByte(block, 0) >= 0 && !errors.Is(err, ErrHeaderNUL) {
			t.Fatalf("NUL in header block, err = %v", err)
		}
		if next := bytes.IndexByte(b[n:], '\n'); errors.Is(err, ErrHeaderNUL) {
			end := len(b)
			if next >= 0 {
				end = n + next + 1
			}
			if bytes.IndexByte(b[:end], 0) < 0 {
				t.Fatalf("ErrHeaderNUL without a NUL in the header or the line after it")
			}
		}
		if err != nil && !errors.Is(err, ErrHeaderNUL) {
			t.Fatalf("unexpected error %v", err)
		}

		off := 0
		for i, fl := range h.Fields {
			start := cap(b) - cap(fl.Raw)
			if len(fl.Raw) == 0 || start != off || start >= len(b) || &b[start] != &fl.Raw[0] {
				t.Fatalf("field %d Raw %q is not the sub-slice of the input at offset %d", i, fl.Raw, off)
			}
			off += len(fl.Raw)
			if off > n {
				t.Fatalf("field %d ends at %d, past HeaderLen %d", i, off, n)
			}
			if len(fl.Name) == 0 || !bytes.HasPrefix(fl.Raw, []byte(fl.Name+":")) || !validFieldName([]byte(fl.Name)) {
				t.Fatalf("field %d: bad name %q for Raw %q", i, fl.Name, fl.Raw)
			}
			if last := i == len(h.Fields)-1; !last && fl.Raw[len(fl.Raw)-1] != '\n' {
				t.Fatalf("field %d Raw %q does not end a line", i, fl.Raw)
			}
			_ = fl.Value()
		}
		switch rest := string(block[off:]); rest {
		case "", "\n", "\r\n":
		default:
			t.Fatalf("header block has %q left after the fields", rest)
		}

		h2, n2, err2 := ParseHeader(block)
		// The error may differ: a NUL in the malformed line after the block
		// is not in the block.
		if n2 != n || len(h2.Fields) != len(h.Fields) || (bytes.IndexByte(block, 0) >= 0) != errors.Is(err2, ErrHeaderNUL) {
			t.Fatalf("reparsing the block: %d fields, len %d, %v; want %d, %d, %v", len(h2.Fields), n2, err2, len(h.Fields), n, err)
		}
	})
}
