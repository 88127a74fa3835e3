package relay

import (
	"io"
	"sync"
)

// Buffers reused across transactions: allocating a 32 KiB copy buffer and
// growing a spool buffer for every message was the largest source of
// garbage on the hot path.
const (
	copyBufSize  = 32 << 10
	spoolBufSize = 64 << 10 // initial capacity of a spool buffer
	spoolBufMax  = 1 << 20  // larger buffers are not kept
)

type buffers struct {
	copy  sync.Pool
	spool sync.Pool
}

func (b *buffers) getCopy() *[]byte {
	if p, ok := b.copy.Get().(*[]byte); ok {
		return p
	}
	buf := make([]byte, copyBufSize)
	return &buf
}

func (b *buffers) putCopy(p *[]byte) { b.copy.Put(p) }

func (b *buffers) getSpool() []byte {
	if p, ok := b.spool.Get().(*[]byte); ok {
		return (*p)[:0]
	}
	return make([]byte, 0, spoolBufSize)
}

func (b *buffers) putSpool(buf []byte) {
	if cap(buf) > spoolBufMax {
		return
	}
	buf = buf[:0]
	b.spool.Put(&buf)
}

// copyBuffered copies r to w through a pooled buffer.
func (b *buffers) copyBuffered(w io.Writer, r io.Reader) (int64, error) {
	p := b.getCopy()
	defer b.putCopy(p)
	return io.CopyBuffer(w, r, *p)
}
