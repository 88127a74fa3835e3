package queue

import (
	"errors"
	"fmt"
	"net"
	"testing"
)

// otherError is a courier's own error type with a Permanent method.
type otherError struct{ perm bool }

func (e otherError) Error() string   { return "other" }
func (e otherError) Permanent() bool { return e.perm }

// resultError is a courier's own error type with a Result method.
type resultError struct{}

func (resultError) Error() string  { return "mine" }
func (resultError) Result() Result { return Result{Code: 552, Enhanced: "5.3.4", Text: "too big"} }

func TestResultOf(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want Result
	}{
		{"plain error", errors.New("dial tcp: connection refused"), Result{451, "4.4.1", "dial tcp: connection refused"}},
		{"delivery error", &DeliveryError{Code: 550, Enhanced: "5.7.1", Text: "sender refused"}, Result{550, "5.7.1", "sender refused"}},
		{"wrapped, with cause", fmt.Errorf("x: %w", &DeliveryError{Code: 451, Enhanced: "4.4.1", Text: "cannot connect", Err: errors.New("refused")}),
			Result{451, "4.4.1", "cannot connect: refused"}},
		{"own type with Result", resultError{}, Result{552, "5.3.4", "too big"}},
		{"own type, permanent", otherError{perm: true}, Result{554, "5.0.0", "other"}},
		{"own type, temporary", otherError{}, Result{451, "4.4.1", "other"}},
		{"bad code", &DeliveryError{Code: 250, Text: "odd"}, Result{451, "", "odd"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := resultOf(tt.err); got != tt.want {
				t.Errorf("resultOf = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// courierError is like relay/courier's error: errors.As converts it to a
// *DeliveryError without the cause, and it unwraps to the cause.
type courierError struct {
	code int
	err  error
}

func (e courierError) Error() string { return "courier error" }
func (e courierError) Unwrap() error { return e.err }
func (e courierError) As(target any) bool {
	t, ok := target.(**DeliveryError)
	if ok {
		*t = &DeliveryError{Code: e.code, Text: "converted"}
	}
	return ok
}

func TestNetworkFailure(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"plain network error", errors.New("dial tcp: connection refused"), true},
		{"courier error with a cause", &DeliveryError{Code: 451, Enhanced: "4.4.1", Text: "cannot connect", Err: errors.New("refused")}, true},
		{"server refused MAIL", &DeliveryError{Code: 451, Enhanced: "4.7.1", Text: "greylisted"}, false},
		{"permanent", &DeliveryError{Code: 550, Text: "no", Err: errors.New("x")}, false},
		{"own type", otherError{}, false},
		{"courier type seen as a DeliveryError, wrapping a net error", courierError{
			code: 451, err: &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}}, true},
		{"courier type seen as a DeliveryError, server answer", courierError{code: 421}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := networkFailure(tt.err); got != tt.want {
				t.Errorf("networkFailure = %v, want %v", got, tt.want)
			}
		})
	}
}
