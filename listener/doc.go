// Package listener holds the network listener plumbing shared by the SMTP,
// IMAP and POP3 servers: it has no code of its own, only subpackages.
//
//   - listener/proxyproto accepts the PROXY protocol (v1 text and v2 binary)
//     from trusted load balancers, so the real client address drives every
//     check and log line.
//   - listener/tlsconf builds the one TLS configuration every server uses
//     (TLS 1.2 minimum, AEAD suites only) and swaps the certificate on
//     reload without rebuilding listeners; it can generate a self-signed
//     certificate for test setups.
package listener
