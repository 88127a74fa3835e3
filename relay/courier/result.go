package courier

import (
	"errors"
	"strconv"
	"strings"

	"github.com/moatmail/moat/relay/queue"
)

// Result is the downstream server's answer for one recipient: Code (250,
// 450, 550…, or 451 chosen by the courier when the connection broke),
// Enhanced ("2.0.0", "5.1.1"; "X.0.0" when the server sent none) and Text
// (the reply text without codes, the lines of a multi-line reply joined
// with "; "). It is the queue's type, so that *Courier is a queue.Courier.
type Result = queue.Result

// DeliveryError is the failure of a delivery or connection attempt during
// which no transaction took place: nothing could be connected to, the
// greeting, EHLO, STARTTLS, AUTH or MAIL was refused, or the destination
// cannot receive mail (null MX, no such domain). Code tells a temporary
// failure (4xx) from a permanent one (5xx); it is the server's reply code
// when a server refused, or one chosen by the courier otherwise.
type DeliveryError struct {
	// Code is the SMTP reply code.
	Code int
	// Enhanced is the enhanced status code ("4.4.1", "5.1.10").
	Enhanced string
	// Text explains the failure; it is the server's reply text when a
	// server refused.
	Text string
	// Remote is the host that answered or could not be reached ("" when
	// none was tried).
	Remote string
	// Err is the underlying error, if any (a network or TLS error).
	Err error
}

// Error formats the failure as "courier: CODE ENHANCED TEXT (REMOTE): ERR".
func (e *DeliveryError) Error() string {
	var b strings.Builder
	b.WriteString("courier: ")
	b.WriteString(strconv.Itoa(e.Code))
	if e.Enhanced != "" {
		b.WriteString(" " + e.Enhanced)
	}
	if e.Text != "" {
		b.WriteString(" " + e.Text)
	}
	if e.Remote != "" {
		b.WriteString(" (" + e.Remote + ")")
	}
	if e.Err != nil {
		b.WriteString(": " + e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the underlying error.
func (e *DeliveryError) Unwrap() error { return e.Err }

// Temporary reports whether the failure may go away (a 4xx code).
func (e *DeliveryError) Temporary() bool { return e.Code/100 != 5 }

// Permanent reports whether the failure is final (a 5xx code).
func (e *DeliveryError) Permanent() bool { return e.Code/100 == 5 }

// Result returns the failure as a Result, to be recorded for every
// recipient of the attempt.
func (e *DeliveryError) Result() Result {
	return Result{Code: e.Code, Enhanced: e.Enhanced, Text: e.Text}
}

// As makes errors.As see the error as a *queue.DeliveryError, the type the
// queue tells permanent failures by. Its Text carries the remote host and
// the underlying error when there is one.
func (e *DeliveryError) As(target any) bool {
	t, ok := target.(**queue.DeliveryError)
	if !ok {
		return false
	}
	text := e.Text
	if e.Err != nil {
		if e.Remote != "" {
			text += " (" + e.Remote + ")"
		}
		text += ": " + e.Err.Error()
	}
	*t = &queue.DeliveryError{Code: e.Code, Enhanced: e.Enhanced, Text: text}
	return true
}

// IsPermanent reports whether err is, or wraps, a permanent
// *DeliveryError. Any other error is temporary.
func IsPermanent(err error) bool {
	var de *DeliveryError
	return errors.As(err, &de) && de.Permanent()
}

// Errors returned by the courier; match them with errors.Is.
var (
	// ErrClosed: the Courier has been closed.
	ErrClosed = errors.New("courier: closed")
	// ErrNoRoute: the recipient's domain has no route and there is no
	// default route.
	ErrNoRoute = errors.New("courier: no route for recipient")
	// ErrBadAddress: a recipient or sender address cannot be used.
	ErrBadAddress = errors.New("courier: invalid address")
)

// newTempError returns a temporary failure of the courier's own.
func newTempError(code int, enh, text, remote string, err error) *DeliveryError {
	return &DeliveryError{Code: code, Enhanced: enh, Text: text, Remote: remote, Err: err}
}
