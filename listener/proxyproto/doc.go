// Package proxyproto implements the receiving side of the PROXY protocol
// (haproxy's proxy-protocol.txt, versions 1 and 2), so that a server behind
// a TCP load balancer sees the real client address.
//
// NewListener wraps a net.Listener: connections from trusted proxy
// networks must start with a header, and every other peer is refused.
// Accept hands out only connections whose header has been read, by a
// goroutine per connection, so a slow peer never delays the others. The
// parsers (ParseV1, ParseV2, ReadHeader) work on their own as well, and
// Header.MarshalBinary writes headers for tests and tools.
package proxyproto
