package store

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// path is where file f lives: Dir/msgs/<first byte in hex>/<32 hex digits>.
func (s *Store) path(f fileID) string {
	h := hex.EncodeToString(f[:])
	return filepath.Join(s.dir, "msgs", h[:2], h)
}

// writeMessage writes r to a new message file with bare LF line ends
// turned into CRLF, and fsyncs it. It returns the file, its size and the
// directory that must be fsync'd before the index refers to the file. On
// error nothing is left behind. A crash before the index commit leaves an
// orphan file, which the next Open removes.
func (s *Store) writeMessage(ctx context.Context, r io.Reader) (f fileID, size int64, dir string, err error) {
	if _, err := rand.Read(f[:]); err != nil {
		return f, 0, "", fmt.Errorf("store: %w", err)
	}
	p := s.path(f)
	fh, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return f, 0, "", fmt.Errorf("store: write message: %w", err)
	}
	defer func() {
		if err != nil {
			fh.Close()
			os.Remove(p)
		}
	}()
	w := bufio.NewWriterSize(fh, 32<<10)
	size, err = copyCRLF(w, ctxReader2{ctx, r})
	if err != nil {
		return f, 0, "", fmt.Errorf("store: write message: %w", err)
	}
	if err := w.Flush(); err != nil {
		return f, 0, "", fmt.Errorf("store: write message: %w", err)
	}
	if err := fh.Sync(); err != nil {
		return f, 0, "", fmt.Errorf("store: write message: %w", err)
	}
	if err := fh.Close(); err != nil {
		return f, 0, "", fmt.Errorf("store: write message: %w", err)
	}
	return f, size, filepath.Dir(p), nil
}

// copyCRLF copies r to w turning every LF not preceded by CR into CRLF,
// and returns the number of bytes written.
func copyCRLF(w *bufio.Writer, r io.Reader) (int64, error) {
	buf := make([]byte, 32<<10)
	var n int64
	prevCR := false
	for {
		k, rerr := r.Read(buf)
		chunk := buf[:k]
		for len(chunk) > 0 {
			i := bytes.IndexByte(chunk, '\n')
			if i < 0 {
				m, err := w.Write(chunk)
				n += int64(m)
				if err != nil {
					return n, err
				}
				prevCR = chunk[len(chunk)-1] == '\r'
				break
			}
			before := chunk[:i]
			cr := prevCR
			if i > 0 {
				cr = before[i-1] == '\r'
			}
			m, err := w.Write(before)
			n += int64(m)
			if err != nil {
				return n, err
			}
			if !cr {
				if err := w.WriteByte('\r'); err != nil {
					return n, err
				}
				n++
			}
			if err := w.WriteByte('\n'); err != nil {
				return n, err
			}
			n++
			prevCR = false
			chunk = chunk[i+1:]
		}
		if errors.Is(rerr, io.EOF) {
			return n, nil
		}
		if rerr != nil {
			return n, rerr
		}
	}
}

// ctxReader2 stops reading once its context is done.
type ctxReader2 struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader2) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// removeFile removes a message file nothing refers to any more. A failure
// is logged; the next Open removes the file.
func (s *Store) removeFile(f fileID) {
	if err := os.Remove(s.path(f)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		s.log.Warn("store: removing message file", "file", s.path(f), "err", err)
	}
}

// fileBody is an open message file.
type fileBody struct {
	*os.File
	size int64
}

func (b *fileBody) Size() int64 { return b.size }

// openFile opens message file f.
func (s *Store) openFile(f fileID) (*fileBody, error) {
	fh, err := os.Open(s.path(f))
	if err != nil {
		return nil, fmt.Errorf("store: open message: %w", err)
	}
	fi, err := fh.Stat()
	if err != nil {
		fh.Close()
		return nil, fmt.Errorf("store: open message: %w", err)
	}
	return &fileBody{File: fh, size: fi.Size()}, nil
}

// readFile reads message file f whole.
func (s *Store) readFile(f fileID) ([]byte, error) {
	return os.ReadFile(s.path(f))
}

// fsyncDir fsyncs a directory, making the entries created in it durable.
func fsyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	serr := d.Sync()
	if cerr := d.Close(); serr == nil {
		serr = cerr
	}
	return serr
}

// StoresCRLF reports that every stored message has CRLF line breaks (bare
// LF is turned into CRLF on write), so a message's size as sent over POP3
// follows from its size and last byte.
func (s *Store) StoresCRLF() bool { return true }
