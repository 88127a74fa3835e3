package relay

import (
	"io"
	"time"
)

// deadlineReader fails with a timeout once its deadline has passed: the
// bound on the whole message for BDAT, whose chunks arrive between
// commands.
type deadlineReader struct {
	r        io.Reader
	deadline time.Time
}

// errDataDeadline is the timeout of a deadlineReader (a net.Error, so the
// client gets the timeout reply).
type errDataDeadline struct{}

func (errDataDeadline) Error() string   { return "message data took longer than limits.data_timeout" }
func (errDataDeadline) Timeout() bool   { return true }
func (errDataDeadline) Temporary() bool { return true }

func (d deadlineReader) Read(p []byte) (int, error) {
	if time.Now().After(d.deadline) {
		return 0, errDataDeadline{}
	}
	return d.r.Read(p)
}
