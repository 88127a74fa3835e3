package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"

	"github.com/moatmail/moat/listener/proxyproto"
	"github.com/moatmail/moat/listener/tlsconf"
	"github.com/moatmail/moat/metrics"
	"github.com/moatmail/moat/policies"
	"github.com/moatmail/moat/store"
	"github.com/moatmail/moat/store/imap"
	"github.com/moatmail/moat/store/pop3"
)

// newTLS returns the certificate reloader of the tls section, nil when no
// certificate is configured.
func newTLS(cfg *policies.Config, log *slog.Logger) (*tlsconf.Reloader, error) {
	t := cfg.TLS
	if t.Cert == "" && !t.SelfSigned {
		return nil, nil
	}
	cert, key := t.Cert, t.Key
	if cert == "" {
		cert, key = filepath.Join(cfg.DataDir, "tls", "cert.pem"), filepath.Join(cfg.DataDir, "tls", "key.pem")
	}
	r, err := tlsconf.New(tlsconf.Options{CertFile: cert, KeyFile: key, SelfSigned: t.SelfSigned, Hostnames: []string{cfg.Hostname}, Log: log})
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	return r, nil
}

// proxyWrapper returns the listener wrapper that speaks the PROXY protocol
// on listeners with proxy_protocol: true. Refusals are counted under the
// label "proxy".
func proxyWrapper(cfg *policies.Config, m *metrics.Metrics, log *slog.Logger) (func(net.Listener, policies.Listener) (net.Listener, error), error) {
	var trusted []netip.Prefix
	for _, s := range cfg.Proxy.Trusted {
		p, err := parsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("proxy.trusted: %w", err)
		}
		trusted = append(trusted, p)
	}
	return func(l net.Listener, lo policies.Listener) (net.Listener, error) {
		if !lo.ProxyProtocol {
			return l, nil
		}
		return proxyproto.NewListener(l, proxyproto.Options{
			Trusted: trusted,
			Log:     log,
			OnRefuse: func(reason string, _ net.Addr) {
				m.ConnRefused("proxy", reason)
			},
		}), nil
	}, nil
}

// parsePrefix parses an address or a network.
func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p.Masked(), err
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
}

// mailServers serves the store over IMAP and POP3.
type mailServers struct {
	imap *imap.Server
	pop3 *pop3.Server
	log  *slog.Logger
	wg   sync.WaitGroup
	mu   sync.Mutex
	open []net.Listener
}

// loginGuard is the failed-login guard IMAP, POP3 and SMTP AUTH share.
type loginGuard interface {
	imap.LoginGuard
}

// startMailServers listens on listen.imap, imaps, pop3 and pop3s and serves
// them until shutdown.
func startMailServers(cfg *policies.Config, st *store.Store, tlsCfg *tls.Config, guard loginGuard, wrap func(net.Listener, policies.Listener) (net.Listener, error), m *metrics.Metrics, log *slog.Logger) (*mailServers, error) {
	ms := &mailServers{log: log}
	io := imap.Options{Store: st, TLS: tlsCfg, Log: log.With("proto", "imap"), Hostname: cfg.Hostname}
	po := pop3.Options{Backend: st, TLS: tlsCfg, Log: log, Hostname: cfg.Hostname}
	if guard != nil {
		io.Guard, po.Guard = countingGuard{guard, "imap", m}, countingGuard{guard, "pop3", m}
	}
	ms.imap, ms.pop3 = imap.NewServer(io), pop3.NewServer(po)
	type group struct {
		proto    string
		implicit bool
		ls       []policies.Listener
	}
	l := cfg.Listen
	for _, g := range []group{{"imap", false, l.IMAP}, {"imaps", true, l.IMAPS}, {"pop3", false, l.POP3}, {"pop3s", true, l.POP3S}} {
		for _, lo := range g.ls {
			if g.implicit && tlsCfg == nil {
				ms.close()
				return nil, fmt.Errorf("listen %s %s: needs tls.cert and tls.key (or tls.self_signed)", g.proto, lo.Address)
			}
			nl, err := net.Listen("tcp", lo.Address)
			if err != nil {
				ms.close()
				return nil, fmt.Errorf("listen %s %s: %w", g.proto, lo.Address, err)
			}
			wl, err := wrap(nl, lo)
			if err != nil {
				nl.Close()
				ms.close()
				return nil, err
			}
			wl = countingListener{Listener: wl, proto: strings.TrimSuffix(g.proto, "s"), m: m}
			ms.mu.Lock()
			ms.open = append(ms.open, wl)
			ms.mu.Unlock()
			ms.wg.Add(1)
			go func() {
				defer ms.wg.Done()
				var err error
				if strings.HasPrefix(g.proto, "imap") {
					err = ms.imap.Serve(wl, imap.ListenerOptions{ImplicitTLS: g.implicit, AllowPlaintext: lo.AllowPlaintext})
				} else {
					err = ms.pop3.Serve(wl, pop3.ListenerOptions{ImplicitTLS: g.implicit, AllowPlaintext: lo.AllowPlaintext})
				}
				if err != nil && !errors.Is(err, net.ErrClosed) && !errors.Is(err, pop3.ErrServerClosed) && !errors.Is(err, imap.ErrServerClosed) {
					log.Error("mail listener stopped", "proto", g.proto, "addr", lo.Address, "err", err)
				}
			}()
		}
	}
	return ms, nil
}

// addrs returns the listening addresses.
func (ms *mailServers) addrs() []string {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	out := make([]string, len(ms.open))
	for i, l := range ms.open {
		out[i] = l.Addr().String()
	}
	return out
}

func (ms *mailServers) close() {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	for _, l := range ms.open {
		l.Close()
	}
}

// shutdown stops the IMAP and POP3 servers, waiting until ctx ends for
// sessions in flight.
func (ms *mailServers) shutdown(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = ms.imap.Shutdown(ctx) }()
	go func() { defer wg.Done(); _ = ms.pop3.Shutdown(ctx) }()
	wg.Wait()
	ms.close()
	ms.wg.Wait()
}

// countingListener counts the sessions of a mail protocol.
type countingListener struct {
	net.Listener
	proto string
	m     *metrics.Metrics
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.m.SessionOpened(l.proto)
	return &countedConn{Conn: c, done: func() { l.m.SessionClosed(l.proto) }}, nil
}

// countedConn reports its close once.
type countedConn struct {
	net.Conn
	once sync.Once
	done func()
}

func (c *countedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.done)
	return err
}

// countingGuard counts the failed logins of one protocol.
type countingGuard struct {
	loginGuard
	proto string
	m     *metrics.Metrics
}

func (g countingGuard) Failed(ctx context.Context, ip netip.Addr, user string) {
	g.m.LoginFailed(g.proto)
	g.loginGuard.Failed(ctx, ip, user)
}
