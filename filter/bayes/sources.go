package bayes

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// MaxSourceMessage is the largest message read from a source; longer
// ones are cut (the tokenizer reads far less anyway).
const MaxSourceMessage = 32 << 20

// Source is one file that holds messages: a single message (.eml, a
// Maildir file) or an mbox.
type Source struct {
	Path string
	Size int64
}

// ListSources expands paths into message files, in a stable order: a
// file is itself; a Maildir (a directory with cur/ or new/) gives the
// files of cur/ and new/; any other directory is walked, every regular
// file in name order (names starting with "." skipped).
func ListSources(paths []string) ([]Source, error) {
	var out []Source
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("bayes: %w", err)
		}
		if !st.IsDir() {
			out = append(out, Source{Path: p, Size: st.Size()})
			continue
		}
		if isMaildir(p) {
			for _, sub := range []string{"cur", "new"} {
				files, err := listFiles(filepath.Join(p, sub), false)
				if err != nil && !errors.Is(err, fs.ErrNotExist) {
					return nil, err
				}
				out = append(out, files...)
			}
			continue
		}
		files, err := listFiles(p, true)
		if err != nil {
			return nil, err
		}
		out = append(out, files...)
	}
	return out, nil
}

func isMaildir(dir string) bool {
	for _, sub := range []string{"cur", "new"} {
		if st, err := os.Stat(filepath.Join(dir, sub)); err == nil && st.IsDir() {
			return true
		}
	}
	return false
}

// listFiles lists the regular files of dir in name order, descending
// into subdirectories (Maildirs among them) when recursive.
func listFiles(dir string, recursive bool) ([]Source, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("bayes: %w", err)
	}
	var out []Source
	for _, e := range ents { // ReadDir sorts by name
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		p := filepath.Join(dir, e.Name())
		switch {
		case e.Type().IsRegular():
			info, err := e.Info()
			if err != nil {
				return nil, fmt.Errorf("bayes: %w", err)
			}
			out = append(out, Source{Path: p, Size: info.Size()})
		case e.IsDir() && recursive:
			var sub []Source
			if isMaildir(p) {
				sub, err = ListSources([]string{p})
			} else if e.Name() != "tmp" {
				sub, err = listFiles(p, true)
			}
			if err != nil {
				return nil, err
			}
			out = append(out, sub...)
		}
	}
	return out, nil
}

// ReadSource calls fn with each message of the file: the whole file for a
// single message; each message, its "From " line removed and ">From "
// lines unquoted, for an mbox (a file whose first line is an mbox "From "
// line). n counts the messages from 0. fn may keep raw.
func ReadSource(path string, fn func(n int, raw []byte) error) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("bayes: %w", err)
	}
	defer f.Close()
	return ReadMessages(f, fn)
}

// ReadMessages is ReadSource on a reader.
func ReadMessages(r io.Reader, fn func(n int, raw []byte) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	head, _ := br.Peek(1024)
	if nl := bytes.IndexByte(head, '\n'); nl >= 0 {
		head = head[:nl+1]
	}
	if !isFromLine(head) {
		raw, err := io.ReadAll(io.LimitReader(br, MaxSourceMessage))
		if err != nil {
			return fmt.Errorf("bayes: %w", err)
		}
		return fn(0, raw)
	}
	var msg []byte
	n, inMsg, prevBlank := 0, false, true
	flush := func() error {
		if !inMsg {
			return nil
		}
		m := msg
		// The blank line before the next "From " line is the separator.
		if bytes.HasSuffix(m, []byte("\r\n\r\n")) {
			m = m[:len(m)-2]
		} else if bytes.HasSuffix(m, []byte("\n\n")) {
			m = m[:len(m)-1]
		}
		err := fn(n, m)
		n++
		msg = nil
		return err
	}
	for {
		line, err := readLine(br)
		if len(line) > 0 {
			switch {
			case prevBlank && isFromLine(line):
				if ferr := flush(); ferr != nil {
					return ferr
				}
				inMsg = true
			case inMsg && len(msg) < MaxSourceMessage:
				if unq, ok := unquoteFrom(line); ok {
					line = unq
				}
				msg = append(msg, line...)
			}
			prevBlank = len(bytes.TrimRight(line, "\r\n")) == 0
		}
		if err == io.EOF {
			return flush()
		}
		if err != nil {
			return fmt.Errorf("bayes: %w", err)
		}
	}
}

// readLine reads one line with its ending, however long.
func readLine(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if err != bufio.ErrBufferFull {
		return line, err
	}
	buf := slices.Clone(line)
	for err == bufio.ErrBufferFull {
		line, err = br.ReadSlice('\n')
		if len(buf) < MaxSourceMessage {
			buf = append(buf, line...)
		}
	}
	return buf, err
}

// isFromLine reports whether line is an mbox separator: "From ", a
// sender, and a date with a digit in it.
func isFromLine(line []byte) bool {
	if !bytes.HasPrefix(line, []byte("From ")) {
		return false
	}
	rest := bytes.TrimSpace(line[5:])
	sp := bytes.IndexAny(rest, " \t")
	return sp > 0 && bytes.ContainsAny(rest[sp:], "0123456789")
}

// unquoteFrom turns ">From ", ">>From ", … into one '>' less (mboxrd).
func unquoteFrom(line []byte) ([]byte, bool) {
	i := 0
	for i < len(line) && line[i] == '>' {
		i++
	}
	if i == 0 || !bytes.HasPrefix(line[i:], []byte("From ")) {
		return nil, false
	}
	return line[1:], true
}
