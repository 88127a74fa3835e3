package proxyproto

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func TestParseV1(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		want     Header
		wantN    int
		wantErr  error
		errMatch string
	}{
		{name: "tcp4", in: "PROXY TCP4 192.0.2.1 198.51.100.2 56324 25\r\nEHLO",
			want:  Header{Version: 1, Command: CommandProxy, Source: ap("192.0.2.1:56324"), Destination: ap("198.51.100.2:25")},
			wantN: len("PROXY TCP4 192.0.2.1 198.51.100.2 56324 25\r\n")},
		{name: "tcp6", in: "PROXY TCP6 2001:db8::1 2001:db8::2 65535 0\r\n",
			want:  Header{Version: 1, Command: CommandProxy, Source: ap("[2001:db8::1]:65535"), Destination: ap("[2001:db8::2]:0")},
			wantN: len("PROXY TCP6 2001:db8::1 2001:db8::2 65535 0\r\n")},
		{name: "unknown bare", in: "PROXY UNKNOWN\r\n", want: Header{Version: 1, Command: CommandProxy}, wantN: 15},
		{name: "unknown with junk", in: "PROXY UNKNOWN ffff::1 whatever\r\n", want: Header{Version: 1, Command: CommandProxy}, wantN: 32},
		{name: "max length", in: "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n",
			want: Header{Version: 1, Command: CommandProxy,
				Source: ap("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535"), Destination: ap("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535")},
			wantN: 104},
		{name: "incomplete signature", in: "PRO", wantErr: ErrIncomplete},
		{name: "incomplete line", in: "PROXY TCP4 192.0.2.1 ", wantErr: ErrIncomplete},
		{name: "not proxy", in: "EHLO example.com\r\n", wantErr: ErrMalformed},
		{name: "lf only", in: "PROXY TCP4 192.0.2.1 198.51.100.2 1 2\n", wantErr: ErrMalformed, errMatch: "CRLF"},
		{name: "too long", in: "PROXY UNKNOWN " + strings.Repeat("x", 120) + "\r\n", wantErr: ErrMalformed, errMatch: "107"},
		{name: "tcp4 with v6 address", in: "PROXY TCP4 2001:db8::1 198.51.100.2 1 2\r\n", wantErr: ErrMalformed},
		{name: "tcp6 with v4 address", in: "PROXY TCP6 192.0.2.1 2001:db8::2 1 2\r\n", wantErr: ErrMalformed},
		{name: "zone", in: "PROXY TCP6 fe80::1%eth0 fe80::2 1 2\r\n", wantErr: ErrMalformed},
		{name: "port too big", in: "PROXY TCP4 192.0.2.1 198.51.100.2 65536 25\r\n", wantErr: ErrMalformed},
		{name: "port leading zero", in: "PROXY TCP4 192.0.2.1 198.51.100.2 025 25\r\n", wantErr: ErrMalformed},
		{name: "port sign", in: "PROXY TCP4 192.0.2.1 198.51.100.2 +25 25\r\n", wantErr: ErrMalformed},
		{name: "double space", in: "PROXY TCP4  192.0.2.1 198.51.100.2 1 2\r\n", wantErr: ErrMalformed},
		{name: "missing port", in: "PROXY TCP4 192.0.2.1 198.51.100.2 1\r\n", wantErr: ErrMalformed},
		{name: "extra field", in: "PROXY TCP4 192.0.2.1 198.51.100.2 1 2 3\r\n", wantErr: ErrMalformed},
		{name: "lower case proto", in: "PROXY tcp4 192.0.2.1 198.51.100.2 1 2\r\n", wantErr: ErrMalformed},
		{name: "udp", in: "PROXY UDP4 192.0.2.1 198.51.100.2 1 2\r\n", wantErr: ErrMalformed},
		{name: "v4 leading zero octet", in: "PROXY TCP4 192.0.2.01 198.51.100.2 1 2\r\n", wantErr: ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, n, err := ParseV1([]byte(tt.in))
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.errMatch) {
					t.Fatalf("err = %v, want %v containing %q", err, tt.wantErr, tt.errMatch)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(h, tt.want) || n != tt.wantN {
				t.Fatalf("got %+v, %d; want %+v, %d", h, n, tt.want, tt.wantN)
			}
		})
	}
}

// v2 builds a v2 header by hand (independently of MarshalBinary).
func v2(verCmd, famProto byte, body []byte) []byte {
	b := append([]byte("\r\n\r\n\x00\r\nQUIT\n"), verCmd, famProto)
	b = binary.BigEndian.AppendUint16(b, uint16(len(body)))
	return append(b, body...)
}

func TestParseV2(t *testing.T) {
	inet := []byte{192, 0, 2, 1, 198, 51, 100, 2, 0xdc, 0x04, 0, 25}
	inet6 := append(append(append([]byte{},
		netip.MustParseAddr("2001:db8::1").AsSlice()...),
		netip.MustParseAddr("2001:db8::2").AsSlice()...), 0x01, 0xbb, 0x02, 0x4b)
	tlvs := []byte{0x01, 0, 2, 'h', '2', 0x04, 0, 0, 0x20, 0, 3, 1, 2, 3}
	withCRC := func() []byte {
		b, err := Header{Version: 2, Command: CommandProxy, Source: ap("192.0.2.1:56324"), Destination: ap("198.51.100.2:25"),
			TLVs: []TLV{{Type: TLVTypeCRC32C}, {Type: 0x01, Value: []byte("h2")}}}.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	badCRC := withCRC()
	badCRC[len(badCRC)-1] ^= 1
	tests := []struct {
		name    string
		in      []byte
		want    Header
		wantErr error
	}{
		{name: "tcp4", in: v2(0x21, 0x11, inet),
			want: Header{Version: 2, Command: CommandProxy, Source: ap("192.0.2.1:56324"), Destination: ap("198.51.100.2:25")}},
		{name: "udp4 still carries addresses", in: v2(0x21, 0x12, inet),
			want: Header{Version: 2, Command: CommandProxy, Source: ap("192.0.2.1:56324"), Destination: ap("198.51.100.2:25")}},
		{name: "tcp6", in: v2(0x21, 0x21, inet6),
			want: Header{Version: 2, Command: CommandProxy, Source: ap("[2001:db8::1]:443"), Destination: ap("[2001:db8::2]:587")}},
		{name: "local", in: v2(0x20, 0x00, nil), want: Header{Version: 2, Command: CommandLocal}},
		{name: "local ignores addresses", in: v2(0x20, 0x11, inet), want: Header{Version: 2, Command: CommandLocal}},
		{name: "unspec", in: v2(0x21, 0x00, nil), want: Header{Version: 2, Command: CommandProxy}},
		{name: "unix", in: v2(0x21, 0x31, make([]byte, 216)), want: Header{Version: 2, Command: CommandProxy}},
		{name: "tlvs", in: v2(0x21, 0x11, append(append([]byte{}, inet...), tlvs...)),
			want: Header{Version: 2, Command: CommandProxy, Source: ap("192.0.2.1:56324"), Destination: ap("198.51.100.2:25"),
				TLVs: []TLV{{Type: 0x01, Value: []byte("h2")}, {Type: 0x04, Value: []byte{}}, {Type: 0x20, Value: []byte{1, 2, 3}}}}},
		{name: "crc32c ok", in: withCRC(),
			want: Header{Version: 2, Command: CommandProxy, Source: ap("192.0.2.1:56324"), Destination: ap("198.51.100.2:25"),
				TLVs: []TLV{{Type: TLVTypeCRC32C, Value: withCRC()[31:35]}, {Type: 0x01, Value: []byte("h2")}}}},
		{name: "crc32c mismatch", in: badCRC, wantErr: ErrMalformed},
		{name: "truncated tlv", in: v2(0x21, 0x11, append(append([]byte{}, inet...), 0x01, 0)), wantErr: ErrMalformed},
		{name: "tlv overruns", in: v2(0x21, 0x11, append(append([]byte{}, inet...), 0x01, 0, 9, 'x')), wantErr: ErrMalformed},
		{name: "short for inet", in: v2(0x21, 0x11, inet[:11]), wantErr: ErrMalformed},
		{name: "short for inet6", in: v2(0x21, 0x21, inet), wantErr: ErrMalformed},
		{name: "version 1 in v2", in: v2(0x11, 0x11, inet), wantErr: ErrMalformed},
		{name: "unknown command", in: v2(0x22, 0x11, inet), wantErr: ErrMalformed},
		{name: "unknown family", in: v2(0x21, 0x41, inet), wantErr: ErrMalformed},
		{name: "unknown transport", in: v2(0x21, 0x13, inet), wantErr: ErrMalformed},
		{name: "bad signature", in: append([]byte("\r\n\r\n\x00\r\nQUIX\n"), 0x21, 0x11, 0, 0), wantErr: ErrMalformed},
		{name: "incomplete fixed part", in: []byte("\r\n\r\n\x00\r\nQU"), wantErr: ErrIncomplete},
		{name: "incomplete body", in: v2(0x21, 0x11, inet)[:20], wantErr: ErrIncomplete},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, n, err := ParseV2(tt.in)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(h, tt.want) || n != len(tt.in) {
				t.Fatalf("got %+v, %d; want %+v, %d", h, n, tt.want, len(tt.in))
			}
		})
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		h    Header
	}{
		{"v1 tcp4", Header{Version: 1, Command: CommandProxy, Source: ap("192.0.2.1:1"), Destination: ap("192.0.2.2:25")}},
		{"v1 tcp6", Header{Version: 1, Command: CommandProxy, Source: ap("[2001:db8::1]:1"), Destination: ap("[2001:db8::2]:25")}},
		{"v1 unknown", Header{Version: 1, Command: CommandProxy}},
		{"v2 tcp4", Header{Version: 2, Command: CommandProxy, Source: ap("192.0.2.1:1"), Destination: ap("192.0.2.2:25")}},
		{"v2 tcp6 tlvs", Header{Version: 2, Command: CommandProxy, Source: ap("[2001:db8::1]:1"), Destination: ap("[2001:db8::2]:25"),
			TLVs: []TLV{{Type: 0x02, Value: []byte("mx.example.com")}}}},
		{"v2 local", Header{Version: 2, Command: CommandLocal}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := tt.h.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			h, err := ReadHeader(bufio.NewReader(bytes.NewReader(b)))
			if err != nil {
				t.Fatalf("ReadHeader(%q): %v", b, err)
			}
			if !reflect.DeepEqual(h, tt.h) {
				t.Fatalf("round trip: got %+v, want %+v", h, tt.h)
			}
		})
	}
	if _, err := (Header{Version: 3}).MarshalBinary(); err == nil {
		t.Error("version 3 marshalled")
	}
	if _, err := (Header{Version: 2, Source: ap("192.0.2.1:1"), Destination: ap("[::1]:2"), Command: CommandProxy}).MarshalBinary(); err == nil {
		t.Error("mixed families marshalled")
	}
}

func TestReadHeader(t *testing.T) {
	v1 := "PROXY TCP4 192.0.2.1 198.51.100.2 56324 25\r\n"
	v2b, err := Header{Version: 2, Command: CommandProxy, Source: ap("192.0.2.1:56324"), Destination: ap("198.51.100.2:25")}.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		in       string
		oneByte  bool
		wantSrc  netip.AddrPort
		wantErr  error
		wantRest string
	}{
		{name: "v1 then data", in: v1 + "EHLO x\r\n", wantSrc: ap("192.0.2.1:56324"), wantRest: "EHLO x\r\n"},
		{name: "v1 one byte at a time", in: v1 + "DATA", oneByte: true, wantSrc: ap("192.0.2.1:56324"), wantRest: "DATA"},
		{name: "v2 then data", in: string(v2b) + "\x16\x03\x01", wantSrc: ap("192.0.2.1:56324"), wantRest: "\x16\x03\x01"},
		{name: "v2 one byte at a time", in: string(v2b) + "x", oneByte: true, wantSrc: ap("192.0.2.1:56324"), wantRest: "x"},
		{name: "no header", in: "EHLO x\r\n", wantErr: ErrNoHeader, wantRest: "EHLO x\r\n"},
		{name: "no header after a shared prefix", in: "PROXZ", oneByte: true, wantErr: ErrNoHeader, wantRest: "PROXZ"},
		{name: "no header, cr then other", in: "\r\nQUIT\r\n", wantErr: ErrNoHeader, wantRest: "\r\nQUIT\r\n"},
		{name: "empty", in: "", wantErr: io.ErrUnexpectedEOF},
		{name: "v1 cut short", in: "PROXY TCP4 192.0.2.1", wantErr: io.ErrUnexpectedEOF},
		{name: "v2 cut short", in: string(v2b[:20]), wantErr: io.ErrUnexpectedEOF},
		{name: "v2 signature cut short", in: string(v2b[:8]), wantErr: io.ErrUnexpectedEOF},
		{name: "v1 without line end", in: "PROXY UNKNOWN" + strings.Repeat(" ", 200), wantErr: ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r io.Reader = strings.NewReader(tt.in)
			if tt.oneByte {
				r = iotest.OneByteReader(r)
			}
			br := bufio.NewReader(r)
			h, err := ReadHeader(br)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
			} else if err != nil {
				t.Fatal(err)
			} else if h.Source != tt.wantSrc {
				t.Fatalf("source %v, want %v", h.Source, tt.wantSrc)
			}
			if tt.wantRest != "" {
				rest, _ := io.ReadAll(br)
				if string(rest) != tt.wantRest {
					t.Fatalf("rest %q, want %q", rest, tt.wantRest)
				}
			}
		})
	}
}

func BenchmarkParseV2(b *testing.B) {
	hdr, err := Header{Version: 2, Command: CommandProxy, Source: ap("[2001:db8::1]:1"), Destination: ap("[2001:db8::2]:25"),
		TLVs: []TLV{{Type: 0x01, Value: []byte("smtp")}, {Type: 0x02, Value: []byte("mx.example.com")}}}.MarshalBinary()
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(hdr)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := ParseV2(hdr); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseV1(b *testing.B) {
	hdr := []byte("PROXY TCP6 2001:db8::1 2001:db8::2 56324 25\r\n")
	b.SetBytes(int64(len(hdr)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := ParseV1(hdr); err != nil {
			b.Fatal(err)
		}
	}
}
