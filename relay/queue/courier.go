package queue

import (
	"context"
	"errors"
	"io"
	"strconv"
	"strings"
)

// Courier delivers one message to one destination.
type Courier interface {
	// Route names the destination of rcpt ("smtp:10.0.0.5:25",
	// "mx:example.org", "lmtp:127.0.0.1:24", …); recipients with the same
	// route are sent in one transaction and share the destination's
	// concurrency limit. An error defers the recipient (or bounces it when
	// it is a *DeliveryError with a 5xx code).
	Route(rcpt string) (string, error)
	// Deliver sends msg from `from` to rcpts at route. It returns the
	// per-recipient results in rcpts order, or an error (and no results)
	// when no transaction happened (connect failure, MAIL refused, …); the
	// error is temporary unless it is a *DeliveryError with a 5xx code.
	Deliver(ctx context.Context, route, from string, rcpts []string, msg io.Reader) ([]Result, error)
}

// Result is a downstream server's answer for one recipient: 2xx delivered,
// 4xx temporary, 5xx permanent.
type Result struct {
	Code     int    // SMTP reply code, e.g. 250, 451, 550
	Enhanced string // enhanced status code, e.g. "5.1.1"; may be empty
	Text     string // reply text without code and enhanced code
}

// OK reports whether the recipient was accepted (2xx).
func (r Result) OK() bool { return r.Code/100 == 2 }

// Temporary reports whether delivery may be tried again (not 2xx or 5xx).
func (r Result) Temporary() bool { return r.Code/100 != 2 && r.Code/100 != 5 }

// String formats the result as an SMTP reply line: "550 5.1.1 no such user".
func (r Result) String() string {
	s := strconv.Itoa(r.Code)
	if r.Enhanced != "" {
		s += " " + r.Enhanced
	}
	if r.Text != "" {
		s += " " + r.Text
	}
	return s
}

// DeliveryError is the failure of a whole transaction (nothing could be
// connected to, the greeting, EHLO or MAIL was refused, …) or of a Route
// lookup: a 5xx Code makes it permanent for every recipient concerned, any
// other code temporary. A courier may return its own error type instead:
// the queue also understands errors with a `Result() Result` method, and
// errors with a `Permanent() bool` method.
type DeliveryError struct {
	Code     int    // SMTP reply code (or one chosen by the courier)
	Enhanced string // enhanced status code, may be empty
	Text     string // the server's reply text, or a description
	Remote   string // the host that answered or could not be reached, if any
	Err      error  // the underlying error, if any
}

// Error formats the failure as "CODE ENHANCED TEXT (REMOTE): ERR".
func (e *DeliveryError) Error() string {
	s := Result{Code: e.Code, Enhanced: e.Enhanced, Text: e.Text}.String()
	if e.Remote != "" {
		s += " (" + e.Remote + ")"
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the underlying error.
func (e *DeliveryError) Unwrap() error { return e.Err }

// Permanent reports whether the failure is final (a 5xx code).
func (e *DeliveryError) Permanent() bool { return e.Code/100 == 5 }

// Temporary reports whether the failure may go away (not a 5xx code).
func (e *DeliveryError) Temporary() bool { return !e.Permanent() }

// Result returns the failure as the Result recorded for each recipient;
// the underlying error, if any, is added to the text.
func (e *DeliveryError) Result() Result {
	r := Result{Code: e.Code, Enhanced: e.Enhanced, Text: e.Text}
	if e.Err != nil && !strings.Contains(r.Text, e.Err.Error()) {
		if r.Text != "" {
			r.Text += ": "
		}
		r.Text += e.Err.Error()
	}
	return r
}

// resultOf turns a transaction-level error into the result recorded for
// each recipient of that transaction. Codes outside 400-599 become 451
// (or 554 for a permanent error).
func resultOf(err error) Result {
	var r Result
	var de *DeliveryError
	var rs interface{ Result() Result }
	var pe interface{ Permanent() bool }
	switch {
	case errors.As(err, &de):
		r = de.Result()
	case errors.As(err, &rs):
		r = rs.Result()
	case errors.As(err, &pe) && pe.Permanent():
		r = Result{Code: 554, Enhanced: "5.0.0", Text: err.Error()}
	default:
		r = Result{Code: 451, Enhanced: "4.4.1", Text: err.Error()}
	}
	if r.Code < 400 || r.Code > 599 {
		if errors.As(err, &pe) && pe.Permanent() {
			r.Code = 554
		} else {
			r.Code = 451
		}
		r.Enhanced = ""
	}
	return r
}
