package content

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"strings"
	"testing"
)

func TestDecodeQP(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
		max            int
	}{
		{"escapes in both cases", "a=3D=3db=C3=A9", "a==b\xc3\xa9", 100},
		{"soft break CRLF", "ab=\r\ncd", "abcd", 100},
		{"soft break LF with trailing space", "ab= \t\ncd", "abcd", 100},
		{"soft break at the end", "ab=", "ab", 100},
		{"stray equals kept", "a=b =ZZ =4", "a=b =ZZ =4", 100},
		{"cut at max", "abcdef", "abc", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := string(decodeQP([]byte(tt.in), tt.max)); got != tt.want {
				t.Errorf("decodeQP(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestDecodeBase64(t *testing.T) {
	t.Parallel()
	payload := []byte("The quick brown fox jumps over the lazy dog.")
	enc := base64.StdEncoding.EncodeToString(payload)
	tests := []struct {
		name string
		in   string
		want string
		max  int
	}{
		{"plain", enc, string(payload), 1000},
		{"line breaks and garbage skipped", enc[:10] + "\r\n \t!!" + enc[10:], string(payload), 1000},
		{"no padding", strings.TrimRight(base64.StdEncoding.EncodeToString([]byte("ab")), "="), "ab", 1000},
		{"stops at padding", base64.StdEncoding.EncodeToString([]byte("a")) + "QUJD", "a", 1000},
		{"cut at max", enc, string(payload[:9]), 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := string(decodeBase64([]byte(tt.in), tt.max)); got != tt.want {
				t.Errorf("decodeBase64 = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestCollapseSpace(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"", ""},
		{"  lead and trail  ", "lead and trail"},
		{"a\r\n\r\n\tb", "a b"},
		{"a\u00a0\u00a0b", "a b"},
		{"a \u00e9 b", "a \u00e9 b"},
		{"one  two   three", "one two three"},
		{"\xc2x", "\xc2x"},
	}
	for _, tt := range tests {
		if got := string(collapseSpace([]byte(tt.in), 100)); got != tt.want {
			t.Errorf("collapseSpace(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestZipNamesDamaged(t *testing.T) {
	t.Parallel()
	good := zipArchive(t, "a.txt", "b.exe")
	eocd := bytes.LastIndex(good, []byte("PK\x05\x06"))
	tests := []struct {
		name string
		data []byte
		want int
	}{
		{"whole", good, 2},
		{"not a zip", []byte("hello world"), 0},
		{"empty", nil, 0},
		{"directory offset past the end", badOffset(good, eocd), 0},
		{"second entry damaged", damageSecond(good), 1},
		{"end record only", good[eocd:], 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			names, _ := zipNames(tt.data, 100)
			if len(names) != tt.want {
				t.Errorf("zipNames = %q, want %d names", names, tt.want)
			}
		})
	}
}

// badOffset returns a copy of a zip archive whose end record points past
// the data.
func badOffset(z []byte, eocd int) []byte {
	b := bytes.Clone(z)
	binary.LittleEndian.PutUint32(b[eocd+16:], uint32(len(b)+100))
	return b
}

// damageSecond returns a copy of a zip archive whose second directory
// entry has a bad signature.
func damageSecond(z []byte) []byte {
	b := bytes.Clone(z)
	first := bytes.Index(b, []byte("PK\x01\x02"))
	second := first + 4 + bytes.Index(b[first+4:], []byte("PK\x01\x02"))
	b[second] = 'X'
	return b
}
