package proxyproto

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// ReadHeader reads a v1 or v2 header from the start of br and consumes
// exactly its bytes. When the stream does not start with a PROXY
// signature it returns ErrNoHeader and consumes nothing, deciding from as
// few bytes as it can (one byte usually suffices), so a client that waits
// for the server to speak first is recognised as soon as it sends
// anything. br must have a buffer of at least MaxV1Len bytes (the default
// size has). A v2 header's TLVs alias a buffer of their own.
func ReadHeader(br *bufio.Reader) (Header, error) {
	want := 1
	for {
		b, err := br.Peek(want)
		if len(b) == 0 {
			return Header{}, fmt.Errorf("read PROXY header: %w", eofErr(err))
		}
		if more := br.Buffered(); more > len(b) {
			b, _ = br.Peek(min(more, len(sigV2)))
		}
		v1 := bytes.HasPrefix(sigV1, b[:min(len(b), len(sigV1))])
		v2 := bytes.HasPrefix(sigV2, b[:min(len(b), len(sigV2))])
		switch {
		case v1 && len(b) >= len(sigV1):
			return readV1(br)
		case v2 && len(b) >= len(sigV2):
			return readV2(br)
		case !v1 && !v2:
			return Header{}, ErrNoHeader
		case err != nil:
			return Header{}, fmt.Errorf("read PROXY header: %w", eofErr(err))
		}
		want = len(b) + 1
	}
}

// eofErr turns a clean EOF inside a header into io.ErrUnexpectedEOF.
func eofErr(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

func readV1(br *bufio.Reader) (Header, error) {
	want := len(sigV1)
	for {
		b, err := br.Peek(min(max(want, br.Buffered()), MaxV1Len))
		h, n, perr := ParseV1(b)
		switch {
		case perr == nil:
			_, _ = br.Discard(n)
			return h, nil
		case !errors.Is(perr, ErrIncomplete):
			return Header{}, perr
		case err != nil:
			return Header{}, fmt.Errorf("read PROXY v1 header: %w", eofErr(err))
		}
		want = len(b) + 1
	}
}

func readV2(br *bufio.Reader) (Header, error) {
	b, err := br.Peek(V2HeaderLen)
	if err != nil {
		return Header{}, fmt.Errorf("read PROXY v2 header: %w", eofErr(err))
	}
	n, err := V2Len(b)
	if err != nil {
		return Header{}, err
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(br, buf); err != nil {
		return Header{}, fmt.Errorf("read PROXY v2 header: %w", eofErr(err))
	}
	h, _, err := ParseV2(buf)
	return h, err
}
