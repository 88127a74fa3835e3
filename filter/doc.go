// Package filter is moat's check pipeline: the transaction (Txn) that every
// check inspects, the scored Symbol a check emits, the Check interface, the
// SMTP stages checks run at, and the Pipeline that runs one stage's checks
// concurrently under a deadline, recovering panics and recording timings.
//
// A check never decides what happens to a message: it emits symbols. The
// policies package turns the symbols into an action.
package filter
