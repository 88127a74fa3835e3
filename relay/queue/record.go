package queue

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"time"
)

// Record kinds, the first byte of a payload.
const (
	recEnqueue = 'E' // id, envelope with recipient states, message
	recStatus  = 'S' // id, new states of some recipients
	recDelete  = 'D' // id: removed by an administrator
)

const (
	maxIDLen   = 255
	maxMetaLen = 64 << 20 // envelope JSON, status JSON
)

// State is a recipient's delivery state.
type State uint8

// Recipient states. Delivered, Bounced and Dropped are final; a message
// leaves the queue when all its recipients are in a final state.
const (
	Pending   State = iota // not delivered yet; tried again at its next attempt time
	Delivered              // the downstream answered 2xx
	Failed                 // failed permanently; the DSN is still to be queued
	Bounced                // failed permanently; a DSN was queued to the sender
	Dropped                // failed permanently; no DSN (null sender, spam, NOTIFY)
)

var stateNames = [...]string{"pending", "delivered", "failed", "bounced", "dropped"}

// String returns the state's lower-case name.
func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("state(%d)", uint8(s))
}

// MarshalText encodes the state as its name (in JSON, logs and the log
// records).
func (s State) MarshalText() ([]byte, error) {
	if int(s) >= len(stateNames) {
		return nil, fmt.Errorf("queue: bad state %d", uint8(s))
	}
	return []byte(stateNames[s]), nil
}

// UnmarshalText decodes a state name.
func (s *State) UnmarshalText(b []byte) error {
	for i, n := range stateNames {
		if string(b) == n {
			*s = State(i)
			return nil
		}
	}
	return fmt.Errorf("queue: unknown state %q", b)
}

// final reports whether nothing more is to be done for the recipient.
func (s State) final() bool { return s == Delivered || s == Bounced || s == Dropped }

// rcptStatus is the mutable part of a recipient, as stored.
type rcptStatus struct {
	Idx      int       `json:"i,omitempty"` // index in the envelope (status records)
	State    State     `json:"s"`
	Attempts int       `json:"k,omitempty"`
	Last     time.Time `json:"l,omitzero"`  // last attempt
	Next     time.Time `json:"x,omitzero"`  // next attempt
	Code     int       `json:"c,omitempty"` // last answer
	Enh      string    `json:"e,omitempty"`
	Text     string    `json:"t,omitempty"`
	Expired  bool      `json:"exp,omitempty"` // failed because MaxAge passed
}

// diskRcpt is a recipient as stored in an enqueue record.
type diskRcpt struct {
	Addr   string   `json:"a"`
	Notify []string `json:"n,omitempty"`
	ORcpt  string   `json:"o,omitempty"`
	rcptStatus
}

// diskMsg is the envelope as stored in an enqueue record.
type diskMsg struct {
	From        string     `json:"f"`
	Received    time.Time  `json:"rt"`
	Enqueued    time.Time  `json:"et"`
	Spam        bool       `json:"spam,omitempty"`
	Ret         string     `json:"ret,omitempty"`
	EnvID       string     `json:"envid,omitempty"`
	BounceOf    string     `json:"bof,omitempty"` // a DSN: the message it reports on
	BounceRcpts []int      `json:"bor,omitempty"` // and the recipients it covers
	Rcpts       []diskRcpt `json:"r"`
}

// payloadPrefix encodes a record's kind and id, and for an enqueue record
// its envelope; the message follows.
func payloadPrefix(kind byte, id string, meta []byte) []byte {
	b := make([]byte, 0, 1+2+len(id)+4+len(meta))
	b = append(b, kind)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(id)))
	b = append(b, id...)
	switch kind {
	case recEnqueue:
		b = binary.LittleEndian.AppendUint32(b, uint32(len(meta)))
		b = append(b, meta...)
	case recStatus:
		b = append(b, meta...)
	}
	return b
}

// record is one record read back from a segment.
type record struct {
	kind     byte
	id       string
	meta     []byte // envelope JSON (enqueue) or status JSON
	off      int64  // record start
	bodyOff  int64
	bodySize int64
}

// size is the record's size in the file.
func (r *record) size() int64 {
	return r.bodyOff + r.bodySize - r.off
}

// errBadSegment: a file named like a segment does not start like one.
var errBadSegment = errors.New("queue: not a queue segment")

// errTorn marks the end of the valid records of a segment.
var errTorn = errors.New("torn or corrupt record")

// readSegment opens path, checks its header and calls visit for each valid
// record in order. It returns the segment (file open read-write or
// read-only), the offset just past the last valid record, and whether the
// segment ended with a torn or corrupt record rather than cleanly.
func readSegment(path string, seq uint64, readOnly bool, visit func(*segment, *record) error) (*segment, bool, error) {
	flag := os.O_RDWR
	if readOnly {
		flag = os.O_RDONLY
	}
	f, err := os.OpenFile(path, flag, 0)
	if err != nil {
		return nil, false, fmt.Errorf("queue: open segment: %w", err)
	}
	var hdr [segHeaderLen]byte
	if _, err := io.ReadFull(f, hdr[:]); err != nil || string(hdr[:8]) != segMagic {
		f.Close()
		return nil, false, fmt.Errorf("%w: %s", errBadSegment, path)
	}
	seg := &segment{seq: seq, path: path, f: f, seed: crc32.Checksum(hdr[8:], castagnoli), size: segHeaderLen}
	br := bufio.NewReaderSize(f, 256<<10)
	for {
		rec, err := readRecord(br, seg)
		if err == io.EOF {
			return seg, false, nil
		}
		if err != nil {
			return seg, true, nil
		}
		if err := visit(seg, rec); err != nil {
			f.Close()
			return nil, false, err
		}
		seg.size = rec.bodyOff + rec.bodySize
	}
}

// readRecord reads the record at seg.size. io.EOF means a clean end.
func readRecord(br *bufio.Reader, seg *segment) (*record, error) {
	var hdr [recHeaderLen]byte
	n, err := io.ReadFull(br, hdr[:])
	if n == 0 && err == io.EOF {
		return nil, io.EOF
	}
	if err != nil {
		return nil, errTorn
	}
	size := int64(binary.LittleEndian.Uint32(hdr[0:4]))
	want := binary.LittleEndian.Uint32(hdr[4:8])
	if size < 3 {
		return nil, errTorn
	}
	head := make([]byte, 3)
	if _, err := io.ReadFull(br, head); err != nil {
		return nil, errTorn
	}
	rec := &record{kind: head[0], off: seg.size}
	idLen := int64(binary.LittleEndian.Uint16(head[1:3]))
	if idLen == 0 || idLen > maxIDLen || 3+idLen > size {
		return nil, errTorn
	}
	id := make([]byte, idLen)
	if _, err := io.ReadFull(br, id); err != nil {
		return nil, errTorn
	}
	crc := crc32.Update(seg.seed, castagnoli, head)
	crc = crc32.Update(crc, castagnoli, id)
	rec.id = string(id)
	rest := size - 3 - idLen
	switch rec.kind {
	case recEnqueue:
		var ml [4]byte
		if rest < 4 {
			return nil, errTorn
		}
		if _, err := io.ReadFull(br, ml[:]); err != nil {
			return nil, errTorn
		}
		crc = crc32.Update(crc, castagnoli, ml[:])
		metaLen := int64(binary.LittleEndian.Uint32(ml[:]))
		if metaLen > maxMetaLen || metaLen > rest-4 {
			return nil, errTorn
		}
		rec.meta = make([]byte, metaLen)
		if _, err := io.ReadFull(br, rec.meta); err != nil {
			return nil, errTorn
		}
		crc = crc32.Update(crc, castagnoli, rec.meta)
		rec.bodySize = rest - 4 - metaLen
		h := crcWriter{crc: crc}
		if _, err := io.CopyN(&h, br, rec.bodySize); err != nil {
			return nil, errTorn
		}
		crc = h.crc
	case recStatus, recDelete:
		if rest > maxMetaLen {
			return nil, errTorn
		}
		rec.meta = make([]byte, rest)
		if _, err := io.ReadFull(br, rec.meta); err != nil {
			return nil, errTorn
		}
		crc = crc32.Update(crc, castagnoli, rec.meta)
	default:
		return nil, errTorn
	}
	if crc != want {
		return nil, errTorn
	}
	rec.bodyOff = rec.off + recHeaderLen + size - rec.bodySize
	return rec, nil
}

// crcWriter accumulates a CRC-32C of what is written to it.
type crcWriter struct{ crc uint32 }

func (c *crcWriter) Write(p []byte) (int, error) {
	c.crc = crc32.Update(c.crc, castagnoli, p)
	return len(p), nil
}

// decodeStatus parses a status record's JSON.
func decodeStatus(meta []byte) ([]rcptStatus, error) {
	var st []rcptStatus
	if err := json.Unmarshal(meta, &st); err != nil {
		return nil, fmt.Errorf("queue: status record: %w", err)
	}
	return st, nil
}
