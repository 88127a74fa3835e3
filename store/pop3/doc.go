// Package pop3 is moat's POP3 server: it serves each user's INBOX from
// the built-in mail store to POP3 clients (fetchmail, mpop, mail apps).
//
// It implements RFC 1939 (USER/PASS, STAT, LIST, RETR, DELE, NOOP, RSET,
// QUIT, TOP, UIDL; APOP is not offered), RFC 2449 (CAPA and extended
// response codes), RFC 5034 (AUTH PLAIN), RFC 3206 (SYS and AUTH response
// codes) and RFC 2595 (STLS), plus implicit TLS on a listener of its own.
//
// A session sees a snapshot of the INBOX taken at login: messages are
// numbered 1..n in UID order, DELE only marks them, and the marked messages
// are removed from the store when the client says QUIT (the UPDATE state).
// A dropped connection removes nothing. Only one session at a time holds a
// user's maildrop.
//
// Plaintext logins (USER/PASS, AUTH PLAIN) are accepted on a loopback
// listener, after TLS, or on a listener that sets AllowPlaintext; elsewhere
// the client is told to use STLS first.
//
// The server needs only the few store methods in Backend, which
// *store.Store has.
package pop3
