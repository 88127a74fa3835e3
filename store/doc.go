// Package store is moat's built-in mail store: where mail accepted for a
// domain with `deliver: local` ends up.
//
// Today it holds only Local, a minimal durable delivery into one Maildir++
// per recipient (INBOX and Junk), so accepted mail is safely on disk before
// moat answers 250. The IMAP/POP3 store issue grows this package into the
// full store (users, mailboxes, messages, flags, served over IMAP and POP3
// from store/imap and store/pop3) and replaces Local's internals; callers
// keep using Deliver.
package store
