package filter

import (
	"net/netip"
	"sync"
	"time"
)

// Txn is one SMTP transaction as the checks see it. The front end fills the
// envelope fields as the dialogue goes on; checks read them and add symbols.
//
// The exported envelope fields are written only by the front end between
// stages, never while a stage runs, so checks may read them without locking.
// Symbols and timings are added through methods that are safe for concurrent
// use.
type Txn struct {
	// ID is the transaction id used in every SMTP reply and log line.
	ID string
	// Start is when the transaction (the connection) began.
	Start time.Time
	// ClientIP is the address of the SMTP client.
	ClientIP netip.Addr
	// Helo is the name the client gave in HELO/EHLO.
	Helo string
	// TLS reports whether the session is encrypted.
	TLS bool
	// AuthUser is the authenticated user, empty when not authenticated.
	AuthUser string
	// Trusted reports whether the client is in the policy's trusted networks.
	Trusted bool
	// MailFrom is the reverse path; empty for the null sender <>.
	MailFrom string
	// Rcpts are the recipients accepted so far. During StageRcpt the last
	// element is the candidate being checked.
	Rcpts []string
	// Msg is the received message; nil before StageData.
	Msg *Message

	mu      sync.Mutex
	symbols []Symbol
	timings []Timing
}

// Timing records how long one check took at one stage.
type Timing struct {
	Check    string        `json:"check"`
	Stage    Stage         `json:"-"`
	Duration time.Duration `json:"-"`
	// Failed reports that the check returned an error, timed out or panicked.
	Failed bool `json:"failed,omitempty"`
}

// Add records symbols. A symbol whose name is already recorded is ignored,
// so a check that runs at several stages (or once per recipient) may emit
// the same symbol more than once.
func (t *Txn) Add(syms ...Symbol) {
	t.mu.Lock()
	defer t.mu.Unlock()
next:
	for _, s := range syms {
		for _, have := range t.symbols {
			if have.Name == s.Name {
				continue next
			}
		}
		t.symbols = append(t.symbols, s)
	}
}

// Symbols returns a copy of the symbols recorded so far, in the order they
// were added.
func (t *Txn) Symbols() []Symbol {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]Symbol, len(t.symbols))
	copy(out, t.symbols)
	return out
}

// Has reports whether a symbol with the given name has been recorded.
func (t *Txn) Has(name string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, s := range t.symbols {
		if s.Name == name {
			return true
		}
	}
	return false
}

// Timings returns a copy of the per-check timings recorded so far.
func (t *Txn) Timings() []Timing {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]Timing, len(t.timings))
	copy(out, t.timings)
	return out
}

func (t *Txn) addTiming(tm Timing) {
	t.mu.Lock()
	t.timings = append(t.timings, tm)
	t.mu.Unlock()
}

// ResetMessage clears the per-message state (recipients, sender, message and
// the symbols and timings of the mail, rcpt and data stages) so the session
// can start a new transaction on the same connection. Symbols from the
// connect and helo stages are kept: they describe the client, not the
// message. keep is the number of symbols recorded before MAIL; callers get it
// from SymbolCount right after the helo stage.
func (t *Txn) ResetMessage(keep int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if keep < len(t.symbols) {
		t.symbols = t.symbols[:keep]
	}
	kept := t.timings[:0]
	for _, tm := range t.timings {
		if tm.Stage < StageMail {
			kept = append(kept, tm)
		}
	}
	t.timings = kept
	t.MailFrom = ""
	t.Rcpts = nil
	t.Msg = nil
}

// TruncateSymbols forgets the symbols recorded after the first n, such as
// the rcpt-stage symbols of a recipient the front end then refused (they
// must not follow the message to the recipients that were accepted).
func (t *Txn) TruncateSymbols(n int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if n >= 0 && n < len(t.symbols) {
		t.symbols = t.symbols[:n]
	}
}

// SymbolCount returns how many symbols are recorded.
func (t *Txn) SymbolCount() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.symbols)
}
