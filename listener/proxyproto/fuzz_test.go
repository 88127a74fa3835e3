package proxyproto

import (
	"bufio"
	"bytes"
	"errors"
	"testing"
)

// checkParsed asserts what every successful parse must satisfy: it used
// no more than the input, it agrees with ReadHeader on the same bytes,
// and the header re-encodes to bytes that parse to the same addresses.
func checkParsed(t *testing.T, in []byte, h Header, n int) {
	t.Helper()
	if n <= 0 || n > len(in) {
		t.Fatalf("used %d of %d bytes", n, len(in))
	}
	rh, err := ReadHeader(bufio.NewReader(bytes.NewReader(in)))
	if err != nil {
		t.Fatalf("ParseV%d accepted %q but ReadHeader: %v", h.Version, in[:n], err)
	}
	if rh.Source != h.Source || rh.Destination != h.Destination || rh.Command != h.Command {
		t.Fatalf("ReadHeader %+v != Parse %+v", rh, h)
	}
	b, err := h.MarshalBinary()
	if err != nil {
		t.Fatalf("re-encode %+v: %v", h, err)
	}
	again, _, err := map[int]func([]byte) (Header, int, error){1: ParseV1, 2: ParseV2}[h.Version](b)
	if err != nil {
		t.Fatalf("re-encoded %q does not parse: %v", b, err)
	}
	if again.Source != h.Source || again.Destination != h.Destination || again.Command != h.Command {
		t.Fatalf("round trip: %+v != %+v", again, h)
	}
}

func FuzzParseV1(f *testing.F) {
	for _, s := range []string{
		"PROXY TCP4 192.0.2.1 198.51.100.2 56324 25\r\n",
		"PROXY TCP6 2001:db8::1 2001:db8::2 1 65535\r\nEHLO x\r\n",
		"PROXY UNKNOWN\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		h, n, err := ParseV1(in)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrIncomplete) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		if n > MaxV1Len {
			t.Fatalf("header of %d bytes accepted", n)
		}
		checkParsed(t, in, h, n)
	})
}

func FuzzParseV2(f *testing.F) {
	for _, h := range []Header{
		{Version: 2, Command: CommandProxy, Source: ap("192.0.2.1:56324"), Destination: ap("198.51.100.2:25")},
		{Version: 2, Command: CommandProxy, Source: ap("[2001:db8::1]:1"), Destination: ap("[2001:db8::2]:25"),
			TLVs: []TLV{{Type: TLVTypeCRC32C}, {Type: 0x01, Value: []byte("h2")}}},
		{Version: 2, Command: CommandLocal},
	} {
		b, err := h.MarshalBinary()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		h, n, err := ParseV2(in)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrIncomplete) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		checkParsed(t, in, h, n)
		for _, tlv := range h.TLVs {
			if cap(tlv.Value) != len(tlv.Value) {
				t.Fatalf("TLV value can grow into the next record")
			}
		}
	})
}
