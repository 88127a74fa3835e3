package proxyproto

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"net/netip"
	"strconv"
)

// Command says what a header describes.
type Command uint8

const (
	// CommandLocal: the proxy opened the connection itself (a health check);
	// the header carries no client address and the connection's real
	// addresses stand.
	CommandLocal Command = 0
	// CommandProxy: the connection is relayed for the client in Source.
	CommandProxy Command = 1
)

// String returns "LOCAL" or "PROXY".
func (c Command) String() string {
	if c == CommandLocal {
		return "LOCAL"
	}
	return "PROXY"
}

// Type values of the v2 TLVs this package looks at (the spec's PP2_TYPE_*).
const (
	// TLVTypeCRC32C carries a CRC-32C of the whole header; when present it
	// is verified.
	TLVTypeCRC32C = 0x03
	// TLVTypeNoop is padding.
	TLVTypeNoop = 0x04
)

// TLV is one type-length-value record after the addresses of a v2 header.
type TLV struct {
	// Type is the record type (PP2_TYPE_*).
	Type byte
	// Value aliases the buffer the header was parsed from.
	Value []byte
}

// Header is a parsed PROXY protocol header.
type Header struct {
	// Version is 1 (text) or 2 (binary).
	Version int
	// Command is CommandProxy, or CommandLocal for a v2 LOCAL header.
	Command Command
	// Source and Destination are the client's and the proxy's listening
	// addresses as the proxy saw them. Both are the zero AddrPort (not
	// valid) when the header carries none: LOCAL, v1 "UNKNOWN", v2 UNSPEC or
	// AF_UNIX. The receiver then keeps the connection's real addresses.
	Source, Destination netip.AddrPort
	// TLVs are the v2 extension records, in order (nil for v1). They alias
	// the parsed buffer.
	TLVs []TLV
}

// HasAddrs reports whether the header carries the client's address.
func (h Header) HasAddrs() bool { return h.Source.IsValid() }

// Limits of the wire format.
const (
	// MaxV1Len is the longest v1 header, CRLF included.
	MaxV1Len = 107
	// V2HeaderLen is the fixed part of a v2 header: signature, version and
	// command, family and protocol, length.
	V2HeaderLen = 16
)

// Signatures that open a header.
var (
	sigV1 = []byte("PROXY ")
	sigV2 = []byte("\r\n\r\n\x00\r\nQUIT\n")
)

// Errors of the parsers. Every parse error wraps ErrMalformed, except a
// buffer that ends early, which is ErrIncomplete.
var (
	// ErrMalformed: the bytes are not a valid PROXY header.
	ErrMalformed = errors.New("malformed PROXY header")
	// ErrIncomplete: the buffer ends before the header does.
	ErrIncomplete = errors.New("incomplete PROXY header")
	// ErrNoHeader: the connection does not start with a PROXY signature.
	ErrNoHeader = errors.New("no PROXY header")
)

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// ParseV1 parses a v1 (text) header at the start of b:
//
//	PROXY TCP4 192.0.2.1 198.51.100.2 56324 25\r\n
//	PROXY TCP6 2001:db8::1 2001:db8::2 56324 25\r\n
//	PROXY UNKNOWN[ anything]\r\n
//
// It returns the header and the number of bytes it used. Fields are
// separated by exactly one space; TCP4 takes IPv4 addresses and TCP6 IPv6
// ones, ports are decimal 0-65535 without leading zeros.
func ParseV1(b []byte) (Header, int, error) {
	if len(b) < len(sigV1) {
		if bytes.HasPrefix(sigV1, b) {
			return Header{}, 0, ErrIncomplete
		}
		return Header{}, 0, malformed("v1: no PROXY signature")
	}
	if !bytes.HasPrefix(b, sigV1) {
		return Header{}, 0, malformed("v1: no PROXY signature")
	}
	lim := b
	if len(lim) > MaxV1Len {
		lim = lim[:MaxV1Len]
	}
	end := bytes.IndexByte(lim, '\n')
	if end < 0 {
		if len(b) >= MaxV1Len {
			return Header{}, 0, malformed("v1: no line end within %d bytes", MaxV1Len)
		}
		return Header{}, 0, ErrIncomplete
	}
	if end == 0 || b[end-1] != '\r' {
		return Header{}, 0, malformed("v1: line does not end in CRLF")
	}
	line := b[len(sigV1) : end-1]
	n := end + 1
	h := Header{Version: 1, Command: CommandProxy}
	proto, rest, _ := bytes.Cut(line, []byte(" "))
	switch string(proto) {
	case "UNKNOWN":
		// The rest of the line is to be ignored.
		return h, n, nil
	case "TCP4", "TCP6":
	default:
		return Header{}, 0, malformed("v1: unknown protocol %q", proto)
	}
	f := bytes.Split(rest, []byte(" "))
	if len(f) != 4 {
		return Header{}, 0, malformed("v1: want 4 fields after %s, got %d", proto, len(f))
	}
	src, err := parseV1Addr(f[0], string(proto))
	if err != nil {
		return Header{}, 0, err
	}
	dst, err := parseV1Addr(f[1], string(proto))
	if err != nil {
		return Header{}, 0, err
	}
	sp, err := parseV1Port(f[2])
	if err != nil {
		return Header{}, 0, err
	}
	dp, err := parseV1Port(f[3])
	if err != nil {
		return Header{}, 0, err
	}
	h.Source = netip.AddrPortFrom(src, sp)
	h.Destination = netip.AddrPortFrom(dst, dp)
	return h, n, nil
}

func parseV1Addr(b []byte, proto string) (netip.Addr, error) {
	a, err := netip.ParseAddr(string(b))
	if err != nil {
		return netip.Addr{}, malformed("v1: bad address %q", b)
	}
	if a.Zone() != "" || (proto == "TCP4") != a.Is4() {
		return netip.Addr{}, malformed("v1: address %q is not %s", b, proto)
	}
	return a, nil
}

func parseV1Port(b []byte) (uint16, error) {
	if len(b) == 0 || len(b) > 5 || (len(b) > 1 && b[0] == '0') {
		return 0, malformed("v1: bad port %q", b)
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, malformed("v1: bad port %q", b)
		}
	}
	p, err := strconv.ParseUint(string(b), 10, 16)
	if err != nil {
		return 0, malformed("v1: bad port %q", b)
	}
	return uint16(p), nil
}

// V2Len returns the total length of the v2 header whose first
// V2HeaderLen bytes are b (signature checked), so a reader knows how much
// more to read.
func V2Len(b []byte) (int, error) {
	if len(b) < V2HeaderLen {
		if bytes.HasPrefix(sigV2, b[:min(len(b), len(sigV2))]) {
			return 0, ErrIncomplete
		}
		return 0, malformed("v2: no signature")
	}
	if !bytes.Equal(b[:len(sigV2)], sigV2) {
		return 0, malformed("v2: no signature")
	}
	return V2HeaderLen + int(binary.BigEndian.Uint16(b[14:16])), nil
}

// ParseV2 parses a v2 (binary) header at the start of b and returns it
// with the number of bytes it used. Families INET (TCP4, UDP4), INET6 and
// UNIX are understood; UNSPEC and UNIX leave the addresses unset, as does
// the LOCAL command. The address block must fit in the declared length;
// what follows it is a list of TLVs that must be well formed; a CRC32C
// TLV, when present, must match.
func ParseV2(b []byte) (Header, int, error) {
	n, err := V2Len(b)
	if err != nil {
		return Header{}, 0, err
	}
	if len(b) < n {
		return Header{}, 0, ErrIncomplete
	}
	verCmd, famProto := b[12], b[13]
	if verCmd>>4 != 2 {
		return Header{}, 0, malformed("v2: version %d", verCmd>>4)
	}
	h := Header{Version: 2}
	switch verCmd & 0x0f {
	case 0:
		h.Command = CommandLocal
	case 1:
		h.Command = CommandProxy
	default:
		return Header{}, 0, malformed("v2: unknown command %d", verCmd&0x0f)
	}
	fam, proto := famProto>>4, famProto&0x0f
	if proto > 2 {
		return Header{}, 0, malformed("v2: unknown transport %d", proto)
	}
	body := b[V2HeaderLen:n]
	var alen int
	switch fam {
	case 0: // AF_UNSPEC
	case 1: // AF_INET
		alen = 12
	case 2: // AF_INET6
		alen = 36
	case 3: // AF_UNIX
		alen = 216
	default:
		return Header{}, 0, malformed("v2: unknown address family %d", fam)
	}
	if len(body) < alen {
		return Header{}, 0, malformed("v2: length %d too short for address family %d", len(body), fam)
	}
	if h.Command == CommandProxy && proto != 0 {
		switch fam {
		case 1:
			src := netip.AddrFrom4([4]byte(body[0:4]))
			dst := netip.AddrFrom4([4]byte(body[4:8]))
			h.Source = netip.AddrPortFrom(src, binary.BigEndian.Uint16(body[8:10]))
			h.Destination = netip.AddrPortFrom(dst, binary.BigEndian.Uint16(body[10:12]))
		case 2:
			src := netip.AddrFrom16([16]byte(body[0:16]))
			dst := netip.AddrFrom16([16]byte(body[16:32]))
			h.Source = netip.AddrPortFrom(src, binary.BigEndian.Uint16(body[32:34]))
			h.Destination = netip.AddrPortFrom(dst, binary.BigEndian.Uint16(body[34:36]))
		}
	}
	tlvs, err := parseTLVs(body[alen:], V2HeaderLen+alen, b[:n])
	if err != nil {
		return Header{}, 0, err
	}
	h.TLVs = tlvs
	return h, n, nil
}

// parseTLVs walks the TLV list in t, which starts at offset off of the
// whole header hdr (needed to check a CRC32C record).
func parseTLVs(t []byte, off int, hdr []byte) ([]TLV, error) {
	var out []TLV
	crcSeen := false
	for i := 0; i < len(t); {
		if len(t)-i < 3 {
			return nil, malformed("v2: truncated TLV at offset %d", off+i)
		}
		typ := t[i]
		l := int(binary.BigEndian.Uint16(t[i+1 : i+3]))
		if len(t)-i-3 < l {
			return nil, malformed("v2: TLV type 0x%02x length %d overruns the header", typ, l)
		}
		v := t[i+3 : i+3+l : i+3+l]
		if typ == TLVTypeCRC32C {
			if l != 4 || crcSeen {
				return nil, malformed("v2: CRC32C TLV of length %d or repeated", l)
			}
			crcSeen = true
			if !crcOK(hdr, off+i+3, v) {
				return nil, malformed("v2: CRC32C mismatch")
			}
		}
		out = append(out, TLV{Type: typ, Value: v})
		i += 3 + l
	}
	return out, nil
}

// crcOK checks the CRC-32C of hdr computed with the 4 checksum bytes at
// pos taken as zero.
func crcOK(hdr []byte, pos int, want []byte) bool {
	tab := crc32.MakeTable(crc32.Castagnoli)
	c := crc32.Update(0, tab, hdr[:pos])
	c = crc32.Update(c, tab, []byte{0, 0, 0, 0})
	c = crc32.Update(c, tab, hdr[pos+4:])
	return c == binary.BigEndian.Uint32(want)
}
