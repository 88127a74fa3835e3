package relay

import (
	"context"
	"io"
	"testing"
	"time"
)

// TestShutdownClosesIdleConnections: a client idle between transactions
// does not hold Shutdown until the command timeout: its connection is
// closed and Shutdown returns before its deadline, while a transaction in
// progress is let finish.
func TestShutdownClosesIdleConnections(t *testing.T) {
	ts := startServer(t, nil, nil)
	idle := dial(t, ts.addr)
	idle.greet()
	idle.ehlo()
	busy := dial(t, ts.addr)
	busy.greet()
	busy.ehlo()
	busy.cmd("MAIL FROM:<sender@example.org>", "250")
	busy.cmd("RCPT TO:<alice@local.test>", "250")

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- ts.srv.Shutdown(ctx) }()

	// The idle client is disconnected.
	_ = idle.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadAll(idle.br); err != nil {
		t.Errorf("idle connection: %v, want it closed by the server", err)
	}
	// The transaction in progress completes.
	busy.cmd("DATA", "354")
	busy.send("Subject: t\r\n\r\nbody\r\n.\r\n")
	busy.expect("250")
	// A new transaction on it is refused: the server is going away.
	busy.cmd("MAIL FROM:<sender@example.org>", "421 4.3.2")

	if err := <-done; err != nil {
		t.Errorf("Shutdown: %v, want nil (every connection closed before the deadline)", err)
	}
	if got := ts.store.get("alice@local.test"); len(got) != 1 {
		t.Errorf("alice got %d messages, want the one in flight at shutdown", len(got))
	}
}
