// Package greylist is triplet greylisting on the shared state
// (filter/state): a message from an unknown (client, sender, recipient)
// triplet gets 451 4.7.1, and a retry after Delay, within Window of the
// first attempt, passes; the triplet is then remembered for PassTTL,
// refreshed by every message. Real MTAs retry; most spamware does not.
//
// The triplet:
//
//   - client: the client's network (IPv4 /24, IPv6 /64 by default), so a
//     retry from another address of the same pool matches; or, when the
//     sender's SPF passed (Options.SPFDomain, by default the SPF_PASS
//     symbol), "spf:" and the authenticated domain, so a retry from any of
//     the sender's authorised servers matches;
//   - sender: NormalizeSender (lower-case, SRS/BATV/+tag reduced; the null
//     sender is "<>");
//   - recipient: lower-case.
//
// A client (network or SPF domain) with AutoAllow passed triplets is
// allowed for every sender and recipient for PassTTL, refreshed by its
// mail. Greylisting is skipped for trusted and authenticated clients,
// allow-listed ones (an ALLOWLIST_* symbol), DNSWL hits (a symbol containing
// DNSWL) and opted-out recipient domains.
//
// One decision costs one round trip to the store: the reads of the
// administrator's allow entries and one atomic script per recipient go in
// one batch. When the store fails, the decision is StatusTempfail: the
// message is not greylisted (fail open), a warning is logged (at most once
// a second) and Counts().Tempfail counts it.
//
// Modes: Always (the Greylist is the rcpt-stage filter.Check; the front end
// takes each recipient's Result with Take and answers 451 for the
// greylisted ones) and Score (the front end calls DecideAll after DATA
// when the verdict is greylist).
//
// Admin operations (List, Allow, Revoke, Release) back `moat greylist`.
package greylist
