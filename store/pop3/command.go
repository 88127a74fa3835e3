package pop3

import (
	"bytes"
	"errors"
	"strings"
)

// maxCommandLine is the longest command line a client may send, CRLF
// included (RFC 2449 section 4).
const maxCommandLine = 255

// maxKeyword is the longest command keyword the parser accepts. POP3
// keywords are three or four characters; a little room lets a client's
// unknown command be named in the error.
const maxKeyword = 16

// Errors of the command parser.
var (
	errEmptyCommand = errors.New("empty command")
	errBadKeyword   = errors.New("command keyword must be letters")
	errControlChar  = errors.New("control character in command")
)

// command is one parsed command line.
type command struct {
	// Name is the keyword in upper case, e.g. "RETR".
	Name string
	// Args are the space-separated arguments (runs of spaces count as one).
	Args []string
	// Rest is everything after the keyword and its separating space, as
	// sent: PASS takes it whole, because a password may hold spaces
	// (RFC 1939 section 7).
	Rest string
}

// parseCommand parses one command line. The line may end in CRLF or a bare
// LF, which are removed; it must not hold other control characters but
// tab, nor NUL.
func parseCommand(line []byte) (command, error) {
	line = trimEOL(line)
	for _, c := range line {
		if (c < 0x20 && c != '\t') || c == 0x7f {
			return command{}, errControlChar
		}
	}
	if len(bytes.TrimSpace(line)) == 0 {
		return command{}, errEmptyCommand
	}
	kw, rest, _ := bytes.Cut(line, []byte{' '})
	if len(kw) == 0 || len(kw) > maxKeyword {
		return command{}, errBadKeyword
	}
	for _, c := range kw {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return command{}, errBadKeyword
		}
	}
	c := command{Name: strings.ToUpper(string(kw)), Rest: string(rest)}
	for f := range strings.SplitSeq(c.Rest, " ") {
		if f != "" {
			c.Args = append(c.Args, f)
		}
	}
	return c, nil
}

// trimEOL removes one trailing LF and a CR before it.
func trimEOL(line []byte) []byte {
	line = bytes.TrimSuffix(line, []byte{'\n'})
	return bytes.TrimSuffix(line, []byte{'\r'})
}
