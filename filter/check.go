package filter

import (
	"context"
	"fmt"
)

// Stage is the point of the SMTP dialogue at which a check runs.
type Stage int

// The stages, in the order a transaction passes through them.
const (
	// StageConnect runs when a client connects (client IP known).
	StageConnect Stage = iota
	// StageHelo runs after HELO/EHLO (Txn.Helo set).
	StageHelo
	// StageMail runs after MAIL FROM (Txn.MailFrom set).
	StageMail
	// StageRcpt runs once per RCPT TO; the candidate recipient is the last
	// element of Txn.Rcpts.
	StageRcpt
	// StageData runs after the message has been received (Txn.Msg set).
	StageData
	numStages
)

// Stages lists every stage in dialogue order.
var stageNames = [numStages]string{"connect", "helo", "mail", "rcpt", "data"}

// AllStages returns every stage in dialogue order.
func AllStages() []Stage {
	return []Stage{StageConnect, StageHelo, StageMail, StageRcpt, StageData}
}

// String returns the lower-case stage name ("connect", "helo", …).
func (s Stage) String() string {
	if s < 0 || s >= numStages {
		return fmt.Sprintf("stage(%d)", int(s))
	}
	return stageNames[s]
}

// Check inspects a transaction at one or more stages and emits symbols.
//
// Check may be called concurrently with other checks on the same Txn, and
// concurrently for different transactions; implementations must be safe for
// that. An error means the check could not run (a lookup timed out, a backend
// is down): the pipeline records a <NAME>_TEMPFAIL symbol and goes on.
type Check interface {
	// Name is a short, stable, lower-case identifier ("headers", "lists").
	Name() string
	// Stages lists the stages at which Check must be called.
	Stages() []Stage
	// Check inspects t at stage s and returns the symbols it finds.
	Check(ctx context.Context, t *Txn, s Stage) ([]Symbol, error)
}

// Late is implemented by checks that read other checks' symbols, such as
// composite rules ("SPF_FAIL && !DKIM_VALID"). At each stage the pipeline
// runs a late check only after every ordinary check of that stage has
// finished, so it sees their symbols.
type Late interface {
	Check
	// Late reports whether the check runs after the ordinary checks.
	Late() bool
}

// isLate reports whether c is a late check.
func isLate(c Check) bool {
	l, ok := c.(Late)
	return ok && l.Late()
}
