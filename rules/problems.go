package rules

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Problem is one thing wrong with a rule file. Its text is
// "FILE:LINE: message" (a message without a file when the problem is not
// in one, such as an unknown name in Options.Disable).
type Problem struct {
	// File is the rule file's name as given to the loader.
	File string
	// Line is the 1-based line of the problem in File.
	Line int
	// Msg says what is wrong, on one line.
	Msg string
}

// Error returns "FILE:LINE: message".
func (p Problem) Error() string {
	msg := oneLine(p.Msg)
	if p.File == "" {
		return msg
	}
	return p.File + ":" + strconv.Itoa(max(p.Line, 1)) + ": " + msg
}

// oneLine escapes line breaks so every problem stays on one line.
func oneLine(s string) string {
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	return strings.NewReplacer("\r", `\r`, "\n", `\n`).Replace(s)
}

// problems collects the problems of one load.
type problems struct {
	list []Problem
}

// add records a problem at file:line.
func (ps *problems) add(file string, line int, format string, args ...any) {
	ps.list = append(ps.list, Problem{File: file, Line: line, Msg: fmt.Sprintf(format, args...)})
}

// err returns the problems as one error (errors.Join, one per line),
// ordered by file (in load order) and line, or nil when there are none.
// Each joined error is a Problem, so callers can use errors.As.
func (ps *problems) err(fileOrder []string) error {
	if len(ps.list) == 0 {
		return nil
	}
	rank := func(f string) int {
		if i := slices.Index(fileOrder, f); i >= 0 {
			return i
		}
		return len(fileOrder)
	}
	list := slices.Clone(ps.list)
	slices.SortStableFunc(list, func(a, b Problem) int {
		return cmp.Or(cmp.Compare(rank(a.File), rank(b.File)), cmp.Compare(a.Line, b.Line))
	})
	list = slices.Compact(list)
	errs := make([]error, len(list))
	for i, p := range list {
		errs[i] = p
	}
	return errors.Join(errs...)
}
