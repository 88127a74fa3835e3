package courier

import (
	"errors"
	"testing"

	"github.com/moatmail/moat/relay/queue"
)

var _ queue.Courier = (*Courier)(nil)

// TestQueueSeesDeliveryError checks that the queue tells permanent
// failures from temporary ones through its own error type.
func TestQueueSeesDeliveryError(t *testing.T) {
	t.Parallel()
	srv := startServer(t, serverConfig{})
	rt := smtpRoute(srv)
	srv.close()
	tests := []struct {
		name      string
		cfg       serverConfig
		down      bool
		permanent bool
		code      int
	}{
		{"mail-refused", serverConfig{Mail: func(string) string { return "550 5.7.1 go away" }}, false, true, 550},
		{"greeting-421", serverConfig{Greeting: "421 4.3.2 busy"}, false, false, 421},
		{"connect-failure", serverConfig{}, true, false, 451},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := rt
			if !tc.down {
				r = smtpRoute(startServer(t, tc.cfg))
			}
			c := newCourier(t, routes{"example.org": r}, nil)
			_, err := deliver(t, c, "s@example.net", []string{"r@example.org"}, []byte(simpleMsg))
			var qe *queue.DeliveryError
			if !errors.As(err, &qe) || qe.Permanent() != tc.permanent || qe.Code != tc.code {
				t.Fatalf("error %v seen by the queue as %+v; want code %d, permanent %v", err, qe, tc.code, tc.permanent)
			}
			if tc.down && qe.Text == "cannot connect" {
				t.Errorf("the queue's text %q lacks the cause", qe.Text)
			}
		})
	}
}
