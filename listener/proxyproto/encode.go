package proxyproto

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"strconv"
)

// MarshalBinary encodes h in its version's wire format: what a proxy
// sends (tests and tools use it to speak to a PROXY listener).
//
// Version 1 writes "PROXY TCP4|TCP6 …" or, without addresses, "PROXY
// UNKNOWN". Version 2 writes INET or INET6 stream addresses (UNSPEC
// without addresses) and then h.TLVs; a TLV of type TLVTypeCRC32C gets its
// checksum filled in.
func (h Header) MarshalBinary() ([]byte, error) {
	switch h.Version {
	case 1:
		return h.marshalV1()
	case 2:
		return h.marshalV2()
	}
	return nil, errors.New("proxyproto: header version must be 1 or 2")
}

func (h Header) marshalV1() ([]byte, error) {
	if h.Command == CommandLocal || !h.HasAddrs() {
		return []byte("PROXY UNKNOWN\r\n"), nil
	}
	src, dst := h.Source.Addr(), h.Destination.Addr()
	if src.Is4() != dst.Is4() {
		return nil, errors.New("proxyproto: source and destination of different families")
	}
	b := append([]byte(nil), sigV1...)
	if src.Is4() {
		b = append(b, "TCP4 "...)
	} else {
		b = append(b, "TCP6 "...)
	}
	b = append(b, src.String()...)
	b = append(b, ' ')
	b = append(b, dst.String()...)
	b = append(b, ' ')
	b = strconv.AppendUint(b, uint64(h.Source.Port()), 10)
	b = append(b, ' ')
	b = strconv.AppendUint(b, uint64(h.Destination.Port()), 10)
	b = append(b, "\r\n"...)
	return b, nil
}

func (h Header) marshalV2() ([]byte, error) {
	b := append([]byte(nil), sigV2...)
	b = append(b, 0x20|byte(h.Command&1), 0x00, 0, 0)
	if h.Command == CommandProxy && h.HasAddrs() {
		src, dst := h.Source.Addr(), h.Destination.Addr()
		if src.Is4() != dst.Is4() {
			return nil, errors.New("proxyproto: source and destination of different families")
		}
		if src.Is4() {
			b[13] = 0x11
			s4, d4 := src.As4(), dst.As4()
			b = append(b, s4[:]...)
			b = append(b, d4[:]...)
		} else {
			b[13] = 0x21
			s16, d16 := src.As16(), dst.As16()
			b = append(b, s16[:]...)
			b = append(b, d16[:]...)
		}
		b = binary.BigEndian.AppendUint16(b, h.Source.Port())
		b = binary.BigEndian.AppendUint16(b, h.Destination.Port())
	}
	crcAt := -1
	for _, t := range h.TLVs {
		if len(t.Value) > 0xffff {
			return nil, errors.New("proxyproto: TLV value too long")
		}
		b = append(b, t.Type)
		if t.Type == TLVTypeCRC32C {
			if crcAt >= 0 {
				return nil, errors.New("proxyproto: more than one CRC32C TLV")
			}
			b = append(b, 0, 4)
			crcAt = len(b)
			b = append(b, 0, 0, 0, 0)
			continue
		}
		b = binary.BigEndian.AppendUint16(b, uint16(len(t.Value)))
		b = append(b, t.Value...)
	}
	if len(b)-V2HeaderLen > 0xffff {
		return nil, errors.New("proxyproto: header too long")
	}
	binary.BigEndian.PutUint16(b[14:16], uint16(len(b)-V2HeaderLen))
	if crcAt >= 0 {
		binary.BigEndian.PutUint32(b[crcAt:], crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)))
	}
	return b, nil
}
