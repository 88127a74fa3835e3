package pop3

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestParseCommand(t *testing.T) {
	tests := []struct {
		name string
		line string
		want command
		err  error
	}{
		{"keyword only", "STAT\r\n", command{Name: "STAT"}, nil},
		{"lower case", "stat\r\n", command{Name: "STAT"}, nil},
		{"bare LF", "NOOP\n", command{Name: "NOOP"}, nil},
		{"no line end", "QUIT", command{Name: "QUIT"}, nil},
		{"one argument", "RETR 1\r\n", command{Name: "RETR", Args: []string{"1"}, Rest: "1"}, nil},
		{"two arguments", "TOP 12 0\r\n", command{Name: "TOP", Args: []string{"12", "0"}, Rest: "12 0"}, nil},
		{"runs of spaces", "TOP  1   2 \r\n", command{Name: "TOP", Args: []string{"1", "2"}, Rest: " 1   2 "}, nil},
		{"password with spaces", "PASS my secret pw\r\n", command{Name: "PASS", Args: []string{"my", "secret", "pw"}, Rest: "my secret pw"}, nil},
		{"password with tab", "PASS a\tb\r\n", command{Name: "PASS", Args: []string{"a\tb"}, Rest: "a\tb"}, nil},
		{"utf-8 user", "USER jürgen@example.test\r\n", command{Name: "USER", Args: []string{"jürgen@example.test"}, Rest: "jürgen@example.test"}, nil},
		{"empty", "\r\n", command{}, errEmptyCommand},
		{"only spaces", "   \r\n", command{}, errEmptyCommand},
		{"leading space", " STAT\r\n", command{}, errBadKeyword},
		{"digit in keyword", "RETR1\r\n", command{}, errBadKeyword},
		{"keyword too long", strings.Repeat("A", maxKeyword+1) + "\r\n", command{}, errBadKeyword},
		{"NUL", "USER a\x00b\r\n", command{}, errControlChar},
		{"CR inside", "USER a\rb\r\n", command{}, errControlChar},
		{"DEL", "USER a\x7f\r\n", command{}, errControlChar},
		{"escape", "\x1b[1mSTAT\r\n", command{}, errControlChar},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseCommand([]byte(tt.line))
			if !errors.Is(err, tt.err) {
				t.Fatalf("error %v, want %v", err, tt.err)
			}
			if got.Name != tt.want.Name || got.Rest != tt.want.Rest || !slices.Equal(got.Args, tt.want.Args) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// FuzzParseCommand checks that the parser never panics and that what it
// accepts is well formed: an upper-case letter keyword, arguments without
// spaces or control characters, and arguments that are the fields of Rest.
func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{"STAT\r\n", "LIST 1\r\n", "TOP 1 10\r\n", "PASS a b c\r\n", "AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n", "\r\n", "user\tx\n", "RETR \x00\r\n", "CAPA"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		cmd, err := parseCommand(line)
		if err != nil {
			if cmd.Name != "" || cmd.Args != nil || cmd.Rest != "" {
				t.Fatalf("error %v with a command %+v", err, cmd)
			}
			return
		}
		if cmd.Name == "" || len(cmd.Name) > maxKeyword {
			t.Fatalf("keyword %q", cmd.Name)
		}
		for _, c := range []byte(cmd.Name) {
			if c < 'A' || c > 'Z' {
				t.Fatalf("keyword %q not upper-case letters", cmd.Name)
			}
		}
		for _, a := range cmd.Args {
			if a == "" || strings.ContainsAny(a, " \r\n\x00") {
				t.Fatalf("argument %q", a)
			}
		}
		if strings.ContainsAny(cmd.Rest, "\r\n\x00") {
			t.Fatalf("rest %q", cmd.Rest)
		}
		if !slices.Equal(cmd.Args, strings.FieldsFunc(cmd.Rest, func(r rune) bool { return r == ' ' })) {
			t.Fatalf("args %q are not the fields of %q", cmd.Args, cmd.Rest)
		}
		// Parsing the command written back gives the same command.
		again, err := parseCommand([]byte(cmd.Name + " " + cmd.Rest + "\r\n"))
		if err != nil || again.Name != cmd.Name || !slices.Equal(again.Args, cmd.Args) {
			t.Fatalf("re-parse of %+v gave %+v, %v", cmd, again, err)
		}
	})
}
