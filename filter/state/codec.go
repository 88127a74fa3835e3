package state

import (
	"encoding/binary"
	"fmt"
	"slices"
)

// The embedded store keeps each value as one byte string:
//
//	type (1 byte: 's' string, 'h' hash) | expiry (8 bytes, big-endian Unix
//	milliseconds, 0 = never) | payload
//
// A string's payload is its bytes. A hash's payload is its fields sorted by
// name, each as uvarint(len(name)) name varint(value). Encoded values are
// never modified once built, so the write buffer can share them with a
// commit in progress.
const (
	typeString = 's'
	typeHash   = 'h'
	headerLen  = 9
)

// entry is a decoded value header plus its raw encoding.
type entry struct {
	typ byte
	exp int64 // Unix ms, 0 = never
	raw []byte
}

func (e entry) payload() []byte { return e.raw[headerLen:] }

func decodeHeader(raw []byte) (entry, error) {
	if len(raw) < headerLen || (raw[0] != typeString && raw[0] != typeHash) {
		return entry{}, fmt.Errorf("state: corrupt value (%d bytes)", len(raw))
	}
	return entry{typ: raw[0], exp: int64(binary.BigEndian.Uint64(raw[1:headerLen])), raw: raw}, nil
}

func encodeString(v []byte, exp int64) []byte {
	b := make([]byte, headerLen+len(v))
	b[0] = typeString
	binary.BigEndian.PutUint64(b[1:], uint64(exp))
	copy(b[headerLen:], v)
	return b
}

func encodeHash(h map[string]int64, exp int64) []byte {
	names := make([]string, 0, len(h))
	size := headerLen
	for k := range h {
		names = append(names, k)
		size += len(k) + 2*binary.MaxVarintLen64
	}
	slices.Sort(names)
	b := make([]byte, headerLen, size)
	b[0] = typeHash
	binary.BigEndian.PutUint64(b[1:], uint64(exp))
	for _, k := range names {
		b = binary.AppendUvarint(b, uint64(len(k)))
		b = append(b, k...)
		b = binary.AppendVarint(b, h[k])
	}
	return b
}

// withExpiry returns a copy of raw with another expiry.
func withExpiry(raw []byte, exp int64) []byte {
	b := slices.Clone(raw)
	binary.BigEndian.PutUint64(b[1:], uint64(exp))
	return b
}

func decodeHash(p []byte) (map[string]int64, error) {
	h := make(map[string]int64)
	for len(p) > 0 {
		n, w := binary.Uvarint(p)
		if w <= 0 || uint64(len(p)-w) < n {
			return nil, fmt.Errorf("state: corrupt hash")
		}
		name := string(p[w : w+int(n)])
		p = p[w+int(n):]
		v, w2 := binary.Varint(p)
		if w2 <= 0 {
			return nil, fmt.Errorf("state: corrupt hash")
		}
		p = p[w2:]
		h[name] = v
	}
	return h, nil
}
