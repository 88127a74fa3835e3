// Package msgauth is moat's sender authentication: SPF (RFC 7208) at MAIL
// FROM, DKIM verification (RFC 6376, RFC 8463) and DMARC (RFC 7489) at DATA,
// the Authentication-Results header (RFC 8601) that reports them, and DKIM
// signing of outgoing mail.
//
// The checks emit symbols only (SPF_PASS, DKIM_VALID, DMARC_FAIL_REJECT, …);
// the policy decides what they cost and which actions they force. Every
// DNS question goes through the Resolver given to New, which is moat's
// shared dnsx resolver, so answers (DKIM keys, DMARC records) are cached.
//
// An Auth holds the three checks and the results of each transaction,
// keyed by the transaction id, so the DMARC check (a late check at the data
// stage) sees the SPF result of the mail stage and the DKIM results of the
// data stage, and the front end can write Authentication-Results after the
// pipeline. The front end calls Forget when a transaction ends; results
// left behind expire.
//
// SPF uses blitiri.com.ar/go/spf; DKIM, DMARC record parsing and the
// Authentication-Results syntax use github.com/emersion/go-msgauth; the
// organisational domain comes from golang.org/x/net/publicsuffix.
package msgauth
