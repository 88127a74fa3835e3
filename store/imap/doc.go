// Package imap serves moat's built-in store over IMAP4rev1 and IMAP4rev2
// with go-imap's imapserver; it is the only package in moat that uses
// go-imap's server types.
//
// The store is the truth: every command calls it (training on moves into
// and out of Junk and on $Junk/$NotJunk happens there), and each session
// keeps only its view of the selected mailbox, the messages its client
// knows in sequence-number order. Changes made elsewhere (deliveries, POP3,
// other sessions) arrive through store.Watch and are reported at the next
// command or at once during IDLE: new messages as EXISTS, expunges as
// EXPUNGE (deferred while FETCH, STORE or SEARCH run, as RFC 9051 asks),
// flag changes as FETCH FLAGS.
//
// Plaintext LOGIN and AUTHENTICATE PLAIN are accepted only on loopback
// addresses, over TLS (implicit or after STARTTLS), or on listeners that
// allow them; elsewhere the server advertises LOGINDISABLED and answers
// PRIVACYREQUIRED. A LoginGuard throttles failed logins per client and
// per user.
package imap
