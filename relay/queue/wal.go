package queue

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
)

const (
	segMagic     = "MOATQ\x00\x00\x01" // first 8 bytes of every segment
	segHeaderLen = 16                  // magic and nonce
	recHeaderLen = 8                   // payload length and CRC-32C
	maxPayload   = 1<<32 - 1           // the length field is 32 bits
	chunkSize    = 64 << 10            // first read of a body, and copy chunks
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// segment is one file of the log.
type segment struct {
	seq  uint64
	path string
	f    *os.File
	seed uint32 // CRC-32C of the segment's nonce: the seed of its records' CRCs
	size int64  // end of the last complete record; written under wal.wmu

	// Bookkeeping of the queue, under Queue.mu.
	live      int   // queued messages whose enqueue record is here
	liveBytes int64 // their record sizes
	refs      int   // readers of a body in this file
	removed   bool  // no longer part of the log: close when refs is 0
}

func segPath(dir string, seq uint64) string {
	return filepath.Join(dir, fmt.Sprintf("%016x.seg", seq))
}

// recPos locates an appended record.
type recPos struct {
	seg      *segment
	off      int64  // record start
	bodyOff  int64  // first body byte (enqueue records)
	bodySize int64  // body length
	lsn      uint64 // log sequence number of the record's end, for wal.sync
}

// wal is the append side of the log: records appended under wmu, group
// commit of fsyncs, segment rotation.
type wal struct {
	dir     string
	segSize int64
	chunk   []byte // scratch for record building, under wmu

	wmu sync.Mutex // serializes appends and rotations

	mu      sync.Mutex
	cond    sync.Cond
	segs    []*segment // oldest first; the last is the active one
	base    uint64     // LSN of offset 0 of the active segment
	end     uint64     // LSN of the end of the last complete record
	synced  uint64     // everything below is on disk
	syncing bool       // a leader is running fdatasync
	err     error      // sticky: the log can no longer be trusted to be durable
	closed  bool
}

func newWAL(dir string, segSize int64, segs []*segment) *wal {
	w := &wal{dir: dir, segSize: segSize, segs: segs, chunk: make([]byte, 0, chunkSize+1024)}
	w.cond.L = &w.mu
	act := segs[len(segs)-1]
	w.end = uint64(act.size)
	w.synced = w.end
	return w
}

// createSegment makes a new, empty, durable segment file.
func createSegment(dir string, seq uint64) (*segment, error) {
	var hdr [segHeaderLen]byte
	copy(hdr[:], segMagic)
	if _, err := rand.Read(hdr[8:]); err != nil {
		return nil, fmt.Errorf("queue: segment nonce: %w", err)
	}
	path := segPath(dir, seq)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("queue: create segment: %w", err)
	}
	if _, err := f.WriteAt(hdr[:], 0); err != nil {
		f.Close()
		return nil, fmt.Errorf("queue: write segment header: %w", err)
	}
	if err := datasync(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("queue: sync segment: %w", err)
	}
	if err := syncDir(dir); err != nil {
		f.Close()
		return nil, err
	}
	return &segment{seq: seq, path: path, f: f, seed: crc32.Checksum(hdr[8:], castagnoli), size: segHeaderLen}, nil
}

// syncDir makes the directory's entries (creations, renames, removals)
// durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("queue: open dir: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("queue: sync dir: %w", err)
	}
	return nil
}

// append writes one record whose payload is prefix followed by everything
// read from body (nil for none). It returns once the record is written, not
// yet durable: call sync with the returned LSN.
func (w *wal) append(prefix []byte, body io.Reader) (recPos, error) {
	w.wmu.Lock()
	defer w.wmu.Unlock()
	if err := w.failed(); err != nil {
		return recPos{}, err
	}
	seg := w.segs[len(w.segs)-1] // segs only changes under wmu
	if seg.size >= w.segSize {
		var err error
		if seg, err = w.rotate(); err != nil {
			return recPos{}, err
		}
	}
	start := seg.size
	buf := append(w.chunk[:0], make([]byte, recHeaderLen)...)
	buf = append(buf, prefix...)
	buf = slices.Grow(buf, chunkSize)
	w.chunk = buf[:0]
	eof := body == nil
	if !eof {
		n, err := io.ReadFull(body, buf[len(buf):len(buf)+chunkSize])
		buf = buf[:len(buf)+n]
		switch {
		case err == io.EOF || err == io.ErrUnexpectedEOF:
			eof = true
		case err != nil:
			return recPos{}, fmt.Errorf("queue: read message: %w", err)
		}
	}
	crc := crc32.Update(seg.seed, castagnoli, buf[recHeaderLen:])
	size := int64(len(buf) - recHeaderLen)
	off := start + int64(len(buf))
	if !eof {
		// A large message: stream the rest, then write the header.
		if _, err := seg.f.WriteAt(buf, start); err != nil {
			return recPos{}, w.fail(fmt.Errorf("queue: write: %w", err))
		}
		var err error
		if off, crc, err = w.stream(seg, off, crc, body); err != nil {
			// Drop the partial record so that nothing of it can be
			// read back as records later.
			if terr := seg.f.Truncate(start); terr != nil {
				return recPos{}, w.fail(fmt.Errorf("queue: truncate after %w: %w", err, terr))
			}
			return recPos{}, err
		}
		size = off - start - recHeaderLen
		buf = buf[:recHeaderLen]
	}
	if size > maxPayload {
		if err := seg.f.Truncate(start); err != nil {
			return recPos{}, w.fail(fmt.Errorf("queue: truncate: %w", err))
		}
		return recPos{}, fmt.Errorf("queue: message too large (%d bytes)", size)
	}
	binary.LittleEndian.PutUint32(buf[0:4], uint32(size))
	binary.LittleEndian.PutUint32(buf[4:8], crc)
	if _, err := seg.f.WriteAt(buf, start); err != nil {
		return recPos{}, w.fail(fmt.Errorf("queue: write: %w", err))
	}
	seg.size = off
	w.mu.Lock()
	w.end = w.base + uint64(off)
	lsn := w.end
	w.mu.Unlock()
	bodyOff := start + recHeaderLen + int64(len(prefix))
	return recPos{seg: seg, off: start, bodyOff: bodyOff, bodySize: off - bodyOff, lsn: lsn}, nil
}

// stream copies the rest of body to seg at off, updating crc.
func (w *wal) stream(seg *segment, off int64, crc uint32, body io.Reader) (int64, uint32, error) {
	buf := w.chunk[:chunkSize]
	for {
		n, err := body.Read(buf)
		if n > 0 {
			crc = crc32.Update(crc, castagnoli, buf[:n])
			if _, werr := seg.f.WriteAt(buf[:n], off); werr != nil {
				return 0, 0, fmt.Errorf("queue: write: %w", werr)
			}
			off += int64(n)
		}
		if err == io.EOF {
			return off, crc, nil
		}
		if err != nil {
			return 0, 0, fmt.Errorf("queue: read message: %w", err)
		}
	}
}

// rotate seals the active segment (durably) and starts the next one.
// Called under wmu.
func (w *wal) rotate() (*segment, error) {
	old := w.segs[len(w.segs)-1]
	if err := datasync(old.f); err != nil {
		return nil, w.fail(fmt.Errorf("queue: sync segment: %w", err))
	}
	seg, err := createSegment(w.dir, old.seq+1)
	if err != nil {
		return nil, err
	}
	w.mu.Lock()
	w.segs = append(w.segs, seg)
	w.base = w.end
	w.end = w.base + segHeaderLen
	w.synced = w.end
	w.cond.Broadcast()
	w.mu.Unlock()
	return seg, nil
}

// sync returns once everything up to lsn is on disk. Concurrent callers
// share fdatasync calls: one leader syncs for everyone written so far.
func (w *wal) sync(lsn uint64) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	for w.synced < lsn {
		if w.err != nil {
			return w.err
		}
		if w.syncing {
			w.cond.Wait()
			continue
		}
		w.syncing = true
		target := w.end
		f := w.segs[len(w.segs)-1].f
		w.mu.Unlock()
		err := datasync(f)
		w.mu.Lock()
		w.syncing = false
		if err != nil {
			w.err = fmt.Errorf("queue: sync: %w", err)
		} else if target > w.synced {
			w.synced = target
		}
		w.cond.Broadcast()
	}
	return nil
}

func (w *wal) failed() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return ErrClosed
	}
	return w.err
}

// fail records a write error: the file may now hold a partial record at a
// place later records would follow, so no more appends are allowed.
func (w *wal) fail(err error) error {
	w.mu.Lock()
	if w.err == nil {
		w.err = err
	}
	w.cond.Broadcast()
	w.mu.Unlock()
	return err
}

// oldest returns the oldest segment and whether it is sealed (not the
// active one).
func (w *wal) oldest() (*segment, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.segs[0], len(w.segs) > 1
}

// totalSize is the size of every segment of the log.
func (w *wal) totalSize() int64 {
	w.wmu.Lock()
	defer w.wmu.Unlock()
	var n int64
	for _, s := range w.segs {
		n += s.size
	}
	return n
}

// dropOldest removes seg, the oldest sealed segment, from the log and the
// disk, durably (so that it cannot come back after a crash once a later
// segment is gone too). The caller closes the file when no reader is left.
func (w *wal) dropOldest(seg *segment) error {
	w.wmu.Lock()
	w.mu.Lock()
	for w.syncing {
		w.cond.Wait()
	}
	if len(w.segs) < 2 || w.segs[0] != seg {
		w.mu.Unlock()
		w.wmu.Unlock()
		return errors.New("queue: internal: drop of a segment that is not the oldest sealed one")
	}
	w.segs = w.segs[1:]
	w.mu.Unlock()
	w.wmu.Unlock()
	if err := os.Remove(seg.path); err != nil {
		return fmt.Errorf("queue: remove segment: %w", err)
	}
	return syncDir(w.dir)
}

// close syncs the active segment and closes the log for appends; callers
// still waiting in sync return. Segment files are closed by the queue.
func (w *wal) close() error {
	w.wmu.Lock()
	defer w.wmu.Unlock()
	w.mu.Lock()
	defer w.mu.Unlock()
	for w.syncing {
		w.cond.Wait()
	}
	if w.closed {
		return nil
	}
	w.closed = true
	w.cond.Broadcast()
	if w.err != nil {
		return w.err
	}
	if err := datasync(w.segs[len(w.segs)-1].f); err != nil {
		w.err = fmt.Errorf("queue: sync: %w", err)
		return w.err
	}
	w.synced = w.end
	return nil
}
