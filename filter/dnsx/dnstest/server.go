// Package dnstest runs an in-process authoritative DNS server for tests: it
// listens on 127.0.0.1 on a random port, UDP and TCP on the same port, and
// serves zones read from zone files (RFC 1035 master format, one zone with
// its SOA per file). Point a dnsx.Resolver at Server.Addr.
//
// Besides plain answers (with wildcards, CNAMEs inside a zone, NXDOMAIN and
// NODATA carrying the zone's SOA for negative caching, and UDP answers
// truncated to the client's EDNS0 size) a zone can be made to fail on
// purpose (SetMode: SERVFAIL, REFUSED, never answering, truncating every UDP
// answer) or to hold its answers until the test releases them (Hold). Every
// query received is logged (Queries, Count), so tests can see what reached
// the server.
package dnstest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"
)

// Mode is how the server treats the queries for one zone.
type Mode int

// The modes.
const (
	// Normal answers from the zone data.
	Normal Mode = iota
	// ServFail answers every query with SERVFAIL.
	ServFail
	// Refused answers every query with REFUSED.
	Refused
	// Drop never answers.
	Drop
	// TruncateUDP answers UDP queries with the TC bit set and no records,
	// so the client must retry over TCP; TCP queries are answered normally.
	TruncateUDP
)

// Query is one query the server received.
type Query struct {
	// Name is the queried name in lower case, without the trailing dot.
	Name string
	// Type is the query type's mnemonic ("A", "TXT", "PTR").
	Type string
	// Net is "udp" or "tcp".
	Net string
}

// Server is a running test DNS server.
type Server struct {
	addr     string
	udp, tcp *dns.Server

	mu      sync.Mutex
	zones   []*zone
	modes   map[string]Mode
	holds   map[string]*hold
	queries []Query
}

type hold struct {
	arrived chan string
	release chan struct{}
	once    sync.Once
}

// Start starts a server serving the given zone files and stops it when the
// test ends. It fails the test when a file cannot be loaded.
func Start(t testing.TB, zoneFiles ...string) *Server {
	t.Helper()
	s, err := New(zoneFiles...)
	if err != nil {
		t.Fatalf("dnstest: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// New starts a server serving the given zone files. Close stops it.
func New(zoneFiles ...string) (*Server, error) {
	s := &Server{modes: make(map[string]Mode), holds: make(map[string]*hold)}
	for _, f := range zoneFiles {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		if err := s.addZone(string(b), f); err != nil {
			return nil, err
		}
	}
	pc, ln, err := listen()
	if err != nil {
		return nil, err
	}
	s.addr = pc.LocalAddr().String()
	udpUp, tcpUp := make(chan struct{}), make(chan struct{})
	s.udp = &dns.Server{PacketConn: pc, Handler: s, NotifyStartedFunc: func() { close(udpUp) }}
	s.tcp = &dns.Server{Listener: ln, Handler: s, NotifyStartedFunc: func() { close(tcpUp) }}
	errs := make(chan error, 2)
	go func() { errs <- s.udp.ActivateAndServe() }()
	go func() { errs <- s.tcp.ActivateAndServe() }()
	for _, up := range []chan struct{}{udpUp, tcpUp} {
		select {
		case <-up:
		case err := <-errs:
			pc.Close()
			ln.Close()
			return nil, fmt.Errorf("dnstest: serving: %w", err)
		}
	}
	return s, nil
}

// listen opens a UDP socket and a TCP listener on the same random port of
// 127.0.0.1.
func listen() (net.PacketConn, net.Listener, error) {
	var lastErr error
	for range 20 {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return nil, nil, fmt.Errorf("dnstest: %w", err)
		}
		ln, err := net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			return pc, ln, nil
		}
		pc.Close()
		lastErr = err
	}
	return nil, nil, fmt.Errorf("dnstest: no port free for both UDP and TCP: %w", lastErr)
}

// Addr returns the server's address, "127.0.0.1:port" (UDP and TCP).
func (s *Server) Addr() string { return s.addr }

// Close releases held queries and stops the server.
func (s *Server) Close() {
	s.mu.Lock()
	for z, h := range s.holds {
		h.once.Do(func() { close(h.release) })
		delete(s.holds, z)
	}
	s.mu.Unlock()
	_ = s.udp.Shutdown()
	_ = s.tcp.Shutdown()
}

// AddZone adds a zone given as zone file text; its SOA record names the
// zone. It may be called while the server runs.
func (s *Server) AddZone(text string) error { return s.addZone(text, "zone text") }

func (s *Server) addZone(text, file string) error {
	z, err := parseZone(text, file)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, have := range s.zones {
		if have.origin == z.origin {
			return fmt.Errorf("dnstest: %s: zone %s loaded twice", file, z.origin)
		}
	}
	s.zones = append(s.zones, z)
	return nil
}

// SetMode sets how the server treats queries for names in zone (its origin,
// as in the SOA record, with or without the trailing dot).
func (s *Server) SetMode(zone string, m Mode) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.modes[canonical(zone)] = m
}

// Hold makes the server keep every query for names in zone unanswered until
// release is called. The name of each held query is sent on arrived (which
// buffers 1024 names) as it comes in, so a test can wait for queries to
// reach the server. release may be called more than once.
func (s *Server) Hold(zone string) (arrived <-chan string, release func()) {
	h := &hold{arrived: make(chan string, 1024), release: make(chan struct{})}
	key := canonical(zone)
	s.mu.Lock()
	s.holds[key] = h
	s.mu.Unlock()
	return h.arrived, func() {
		s.mu.Lock()
		if s.holds[key] == h {
			delete(s.holds, key)
		}
		s.mu.Unlock()
		h.once.Do(func() { close(h.release) })
	}
}

// Queries returns every query received so far, in order.
func (s *Server) Queries() []Query {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Query(nil), s.queries...)
}

// Count returns how many queries for name (any case, trailing dot or not)
// of type qtype ("A", "PTR"; "" for any type) were received, over UDP and
// TCP.
func (s *Server) Count(name, qtype string) int {
	name = strings.TrimSuffix(strings.ToLower(name), ".")
	n := 0
	for _, q := range s.Queries() {
		if q.Name == name && (qtype == "" || strings.EqualFold(q.Type, qtype)) {
			n++
		}
	}
	return n
}

// ResetQueries forgets the queries received so far.
func (s *Server) ResetQueries() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queries = nil
}

// canonical returns a zone or owner name in lower case with a trailing dot.
func canonical(name string) string {
	return dns.Fqdn(strings.ToLower(name))
}

// errNoSOA reports a zone file without a SOA record.
var errNoSOA = errors.New("no SOA record")
