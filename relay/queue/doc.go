// Package queue is moat's durable store-and-forward queue.
//
// Accepted messages are appended, with their envelope, to a segmented
// write-ahead log under Options.Dir and fsync'd before Enqueue returns;
// concurrent enqueues share one fsync (group commit). Workers hand each
// message to a Courier, one transaction per route and message, under a
// per-route concurrency limit. Every recipient's outcome (delivered,
// deferred with its next attempt time, failed, bounced) is appended to the
// same log and fsync'd before the worker takes its next job, so a recipient
// whose downstream 250 was recorded is never sent again, also after kill -9.
//
// Delivery is at least once: a crash after the downstream's 250 and before
// the status record reaches the disk makes that transaction run again after
// restart. The duplicates are bounded by the transactions in flight at the
// moment of the crash, which is at most Options.Workers.
//
// Temporary failures are retried with exponential backoff and jitter
// between MinBackoff and MaxBackoff until MaxAge after the message was
// received; permanent (5xx) failures and expired recipients get an RFC 3464
// delivery status notification, itself queued from the null sender to the
// original sender. Messages from the null sender (bounces) and messages
// judged spam never cause a DSN: their failed recipients are dropped and
// logged.
//
// On disk, Dir holds numbered segment files ("0000000000000001.seg"). Each
// starts with a magic and a random nonce, then records: an enqueue record
// (id, envelope with per-recipient state, message), status records (the new
// state of some recipients of one message) and delete records, each framed
// by its length and a CRC-32C seeded by the segment's nonce. Open replays
// the segments in order and cuts the last one at its first torn record
// (never acknowledged, since an acknowledgement waits for the fsync). Only
// the oldest segment is ever removed, once none of its messages is queued
// any more; live messages are copied forward when the log holds more than
// twice the live data, so disk use stays bounded.
package queue
