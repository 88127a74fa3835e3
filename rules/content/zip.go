package content

import (
	"bytes"
	"encoding/binary"
)

// Zip record signatures and fixed sizes (APPNOTE.TXT 4.3.12, 4.3.16).
const (
	zipEOCDSig    = 0x06054b50
	zipEOCDLen    = 22
	zipCentralSig = 0x02014b50
	zipCentralLen = 46
	zipMaxComment = 0xFFFF
)

// zipNames returns the names of the files in a zip archive, read from its
// central directory only (nothing is decompressed), at most max of them.
// cut reports that the archive held more. Data that is not a zip archive,
// or whose directory is damaged, yields the names read so far.
func zipNames(data []byte, max int) (names []string, cut bool) {
	// The end-of-central-directory record is in the last 22+65535 bytes.
	from := max0(len(data) - zipEOCDLen - zipMaxComment)
	i := bytes.LastIndex(data[from:], []byte{0x50, 0x4b, 0x05, 0x06})
	if i < 0 || from+i+zipEOCDLen > len(data) {
		return nil, false
	}
	eocd := data[from+i:]
	count := int(binary.LittleEndian.Uint16(eocd[10:]))
	size := int(binary.LittleEndian.Uint32(eocd[12:]))
	off := int(binary.LittleEndian.Uint32(eocd[16:]))
	if off < 0 || size < 0 || off > len(data) || off+size > len(data) {
		return nil, false
	}
	dir := data[off : off+size]
	for n := 0; n < count; n++ {
		if len(names) >= max {
			return names, true
		}
		if len(dir) < zipCentralLen || binary.LittleEndian.Uint32(dir) != zipCentralSig {
			return names, false
		}
		nameLen := int(binary.LittleEndian.Uint16(dir[28:]))
		extraLen := int(binary.LittleEndian.Uint16(dir[30:]))
		commentLen := int(binary.LittleEndian.Uint16(dir[32:]))
		end := zipCentralLen + nameLen
		if end > len(dir) {
			return names, false
		}
		names = append(names, string(dir[zipCentralLen:end]))
		end += extraLen + commentLen
		if end > len(dir) {
			return names, false
		}
		dir = dir[end:]
	}
	return names, false
}

func max0(n int) int {
	if n < 0 {
		return 0
	}
	return n
}
