// Package relay is moat's SMTP front end and its couriers. It is the only
// package that imports go-smtp's server and client types: everything else
// sees filter.Txn and policies.Verdict.
//
// A Server accepts SMTP connections (with connection limits), builds a
// filter.Txn as the dialogue goes on, runs the pipeline's stages, asks the
// policy for a verdict, adds the Received and X-Spam-* headers, and hands the
// message to a courier: the local store, or a downstream MTA inside the
// client's transaction (before-queue mode), answering the client only after
// the message is durable or the downstream has answered.
package relay
