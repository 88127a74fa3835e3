// Package store is moat's built-in mail store: users, their mailboxes and
// messages, where mail accepted for a domain with `deliver: local` ends up
// and what store/imap and store/pop3 serve.
//
// Store (store.go and friends; the contract is in api.go) keeps each
// message in a file under Dir/msgs/XX/ and everything else in a bbolt
// index at Dir/index.db. A delivery writes and fsyncs the file, fsyncs its
// directory, then commits the index; commits of concurrent updates are
// grouped so they share one fsync. A crash leaves at worst an orphan file,
// which the next Open removes (see recover.go). Moves into and out of Junk
// and the $Junk/$NotJunk keywords train the filter through Trainer, once
// per change of a message's class.
//
// Local is the earlier minimal Maildir deliverer, kept until the wiring
// switches to Store.
package store
