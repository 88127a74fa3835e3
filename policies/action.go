package policies

import (
	"encoding/json"
	"fmt"
)

// Action is what moat does with a message, in increasing severity.
type Action int

// The actions, least severe first.
const (
	// Accept delivers the message normally.
	Accept Action = iota
	// AddHeader delivers it marked as spam (X-Spam-Flag: YES).
	AddHeader
	// Junk delivers it to the recipient's Junk folder (locally) or marked
	// for the downstream to file as junk.
	Junk
	// Greylist answers 451 4.7.1 so a real MTA retries later.
	Greylist
	// Tempfail answers 451 4.7.1 (a temporary failure not tied to
	// greylisting, such as a check that could not run).
	Tempfail
	// Reject answers 550 5.7.1.
	Reject
)

var actionNames = [...]string{"accept", "add_header", "junk", "greylist", "tempfail", "reject"}

// String returns the action's config name ("accept", "add_header", …).
func (a Action) String() string {
	if a < 0 || int(a) >= len(actionNames) {
		return fmt.Sprintf("action(%d)", int(a))
	}
	return actionNames[a]
}

// ParseAction parses an action name as written in config.
func ParseAction(s string) (Action, error) {
	for i, n := range actionNames {
		if n == s {
			return Action(i), nil
		}
	}
	return 0, fmt.Errorf("unknown action %q (want one of accept, add_header, junk, greylist, tempfail, reject)", s)
}

// MarshalJSON writes the action as its name.
func (a Action) MarshalJSON() ([]byte, error) { return json.Marshal(a.String()) }
