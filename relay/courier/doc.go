// Package courier is moat's outbound delivery client: it hands queued
// messages to the next hop over SMTP or LMTP, and makes the recipient
// verification callouts of the SMTP front end.
//
// A Courier maps every recipient to a route (Options.Routes by recipient
// domain, Options.Default otherwise) and names the route's destination
// ("smtp:10.0.0.5:25", "lmtp:127.0.0.1:24", "lmtp:/run/dovecot/lmtp",
// "mx:example.org"). The queue groups recipients by that name and calls
// Deliver once per group. A route that says MX looks up the domain's MX
// records through the shared resolver, tries the hosts in preference order
// (equal preferences in random order) and falls back to the domain's own
// addresses when it has no MX (RFC 5321 §5.1); a null MX (RFC 7505) fails
// at once with 556 5.1.10.
//
// Connections are kept per destination and reused: at most
// Options.PerDestination are open at once (callers wait for one, honouring
// their context), idle ones are closed after Options.IdleTimeout, and a
// pooled connection the server has meanwhile closed is replaced by a new
// one once (only when the server had answered nothing yet, so nothing can
// be sent twice). A transaction on a reused connection starts with RSET
// when the server offers PIPELINING (in the same packet as MAIL, so it
// costs no round trip) and whenever the previous transaction did not end
// with the answer to the message. Without an MX lookup, a configured host
// name that does not resolve defers the mail (4.4.4).
//
// The client is written here rather than taken from go-smtp so that a
// whole transaction costs as few round trips as the server allows: with
// PIPELINING, RSET, MAIL, every RCPT and DATA go out in one write, and the
// message follows the 354 dot-stuffed a buffer at a time. Lines of the
// message should end in CRLF; a bare LF is sent as CRLF, and a message that
// does not end with a line break gets one. BODY=8BITMIME is declared when
// the server offers 8BITMIME, SMTPUTF8 when an envelope address or the
// header holds UTF-8 and the server offers it (a recipient that needs it
// gets 553 5.6.7 from a server without it, the others are delivered; a
// sender that needs it fails the attempt), and SIZE when the size of the
// message is known (the reader has a Len, Size or Stat method; a message
// over the server's limit fails with 552 5.3.4 before MAIL).
//
// STARTTLS is per route: "none", "opportunistic" (the default: used when
// offered; a failed handshake makes the courier reconnect in clear; with
// TLSVerify a certificate that does not verify is logged and the session
// still encrypted) or "required" (no STARTTLS, a failed handshake or, with
// TLSVerify, a certificate that does not verify is a temporary failure,
// 4.7.x, and the next MX host is tried). AUTH (PLAIN, else LOGIN) is used
// when the route has a Username, only over TLS unless AllowPlainAuth; a
// refused authentication defers the mail (454 4.7.8) rather than bouncing
// it, since it is a configuration problem and not the recipient's.
//
// Deliver returns one Result per recipient, in order, whenever the server
// accepted MAIL: the RCPT refusal for refused recipients, the DATA answer
// (one per recipient for LMTP) for the others, and a synthesized 451 4.4.2
// when the connection broke in the middle. When no transaction took place
// it returns no results and a *DeliveryError whose Code says whether the
// failure is temporary (4xx) or permanent (5xx). Result is relay/queue's
// type and a *DeliveryError is also seen by errors.As as a
// *queue.DeliveryError, so *Courier is the queue's Courier.
//
// Verify makes a recipient verification callout (MAIL FROM:<>, RCPT, RSET)
// on a pooled connection of the recipient's route and caches the answer in
// the shared state store (key prefix "verify:"), positive and negative
// answers with their own TTLs; temporary failures are not cached. The
// expiry is also written into the cached value and checked against
// Options.Now, so an injected clock governs it on every backend.
package courier
