package courier

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// maxAddresses bounds how many addresses one connection attempt tries
// (across all MX hosts).
const maxAddresses = 10

// target is one address to connect to.
type target struct {
	host    string // the server's name (for TLS and logs), or its address
	network string // "tcp" or "unix"
	addr    string // "ip:port" or a socket path
}

func (t target) remote() string {
	if t.network == "unix" || strings.HasPrefix(t.addr, t.host) || strings.HasPrefix(t.addr, "["+t.host+"]") {
		return t.addr
	}
	return t.host + "[" + t.addr + "]"
}

// errRetryClear asks for a new connection without STARTTLS after an
// opportunistic TLS handshake failed.
var errRetryClear = errors.New("TLS handshake failed")

// connect opens a new connection to d: the route's host, or the MX hosts
// of its domain in order, until one greets, says hello and passes STARTTLS
// and AUTH as the route requires.
func (c *Courier) connect(ctx context.Context, d *destination) (*conn, error) {
	var (
		tries   int
		lastErr error
		tempErr error
	)
	fail := func(err error) {
		lastErr = err
		if !IsPermanent(err) {
			tempErr = err
		}
	}
	try := func(t target) (*conn, bool) {
		tries++
		cn, err := c.open(ctx, d, t, false)
		if errors.Is(err, errRetryClear) {
			c.log.Warn("courier: STARTTLS failed, retrying without TLS", "remote", t.remote(), "err", err)
			cn, err = c.open(ctx, d, t, true)
		}
		if err != nil {
			c.log.Debug("courier: connection failed", "destination", d.name, "remote", t.remote(), "err", err)
			fail(err)
			return nil, false
		}
		return cn, true
	}
	if d.unix {
		if cn, ok := try(target{host: d.route.Host, network: "unix", addr: d.route.Host}); ok {
			return cn, nil
		}
		return nil, lastErr
	}
	hosts, err := c.hosts(ctx, d)
	if err != nil {
		return nil, err
	}
	for _, h := range hosts {
		addrs, err := c.addresses(ctx, h)
		if err != nil {
			if !d.route.MX {
				// A configured host that does not resolve is a
				// configuration problem: defer, do not bounce.
				err = newTempError(451, "4.4.4", "host "+h+" has no address", "", err)
			}
			fail(err)
			continue
		}
		for _, a := range addrs {
			if ctx.Err() != nil {
				return nil, newTempError(451, "4.4.1", "delivery attempt cancelled", "", ctx.Err())
			}
			if tries >= maxAddresses {
				break
			}
			if cn, ok := try(target{host: h, network: "tcp", addr: net.JoinHostPort(a, strconv.Itoa(d.port))}); ok {
				return cn, nil
			}
		}
	}
	if tempErr != nil {
		return nil, tempErr
	}
	if lastErr == nil {
		lastErr = newTempError(451, "4.4.4", "no address to deliver to", "", nil)
	}
	return nil, lastErr
}

// hosts returns the host names (or address literals) to connect to, in
// order.
func (c *Courier) hosts(ctx context.Context, d *destination) ([]string, error) {
	if !d.route.MX {
		return []string{d.route.Host}, nil
	}
	if c.resolver == nil {
		return nil, newTempError(451, "4.3.5", "no resolver for MX lookups", "", nil)
	}
	domain := d.route.Host
	mxs, err := c.resolver.LookupMX(ctx, domain)
	if err != nil && !notFound(err) {
		return nil, newTempError(451, "4.4.3", "MX lookup for "+domain+" failed", "", err)
	}
	if len(mxs) == 0 {
		// RFC 5321 §5.1: no MX records, the domain is its own MX. Whether
		// it has addresses is found out when they are looked up.
		return []string{domain}, nil
	}
	if len(mxs) == 1 && mxs[0].Host == "." {
		return nil, &DeliveryError{Code: 556, Enhanced: "5.1.10",
			Text: "domain " + domain + " does not accept mail (null MX)"}
	}
	mxs = slices.Clone(mxs)
	slices.SortStableFunc(mxs, func(a, b *net.MX) int { return int(a.Pref) - int(b.Pref) })
	out := make([]string, 0, len(mxs))
	for i := 0; i < len(mxs); {
		j := i
		for j < len(mxs) && mxs[j].Pref == mxs[i].Pref {
			j++
		}
		group := make([]string, 0, j-i)
		for _, mx := range mxs[i:j] {
			if h := strings.TrimSuffix(mx.Host, "."); h != "" {
				group = append(group, h)
			}
		}
		c.shuffle(group)
		out = append(out, group...)
		i = j
	}
	if len(out) == 0 {
		return nil, &DeliveryError{Code: 556, Enhanced: "5.1.10",
			Text: "domain " + domain + " does not accept mail (null MX)"}
	}
	return out, nil
}

// addresses returns the IP addresses of host (host itself when it is an
// address, or when there is no resolver and the dialer resolves it).
func (c *Courier) addresses(ctx context.Context, host string) ([]string, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return []string{a.String()}, nil
	}
	if c.resolver == nil {
		return []string{host}, nil
	}
	ips, err := c.resolver.LookupIPAddr(ctx, host)
	if err != nil {
		if notFound(err) {
			return nil, &DeliveryError{Code: 550, Enhanced: "5.1.2",
				Text: "host " + host + " has no address", Err: err}
		}
		return nil, newTempError(451, "4.4.3", "address lookup for "+host+" failed", "", err)
	}
	if len(ips) == 0 {
		return nil, &DeliveryError{Code: 550, Enhanced: "5.1.2", Text: "host " + host + " has no address"}
	}
	out := make([]string, len(ips))
	for i, ip := range ips {
		out[i] = ip.String()
	}
	return out, nil
}

// notFound reports whether a lookup error is a definite "no such name or
// record" (NXDOMAIN or NODATA).
func notFound(err error) bool {
	var de *net.DNSError
	return errors.As(err, &de) && de.IsNotFound
}

// open connects to one target: greeting, EHLO, STARTTLS and AUTH.
func (c *Courier) open(ctx context.Context, d *destination, t target, clear bool) (*conn, error) {
	dctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	nc, err := c.opts.Dialer.DialContext(dctx, t.network, t.addr)
	cancel()
	if err != nil {
		return nil, newTempError(451, "4.4.1", "cannot connect", t.remote(), err)
	}
	cn := newConn(nc, c.opts.Timeout, t.remote(), d)
	stop := cn.watch(ctx)
	defer stop()
	fail := func(err error) (*conn, error) {
		cn.close()
		if ctx.Err() != nil {
			return nil, newTempError(451, "4.4.1", "delivery attempt cancelled", t.remote(), ctx.Err())
		}
		var de *DeliveryError
		if errors.As(err, &de) || errors.Is(err, errRetryClear) {
			return nil, err
		}
		return nil, newTempError(451, "4.4.2", "connection failed", t.remote(), err)
	}
	r, err := cn.readReply()
	if err != nil {
		return fail(err)
	}
	if r.code != 220 {
		cn.quit()
		return nil, r.deliveryError(t.remote())
	}
	if err := cn.hello(c.opts.Hostname); err != nil {
		return fail(err)
	}
	if err := c.startTLS(ctx, cn, t, clear); err != nil {
		return fail(err)
	}
	if err := c.auth(cn); err != nil {
		return fail(err)
	}
	return cn, nil
}

// startTLS negotiates STARTTLS as the route's TLS mode says.
func (c *Courier) startTLS(ctx context.Context, cn *conn, t target, clear bool) error {
	rt := cn.dest.route
	mode := rt.tlsMode()
	if mode == TLSNone || (clear && mode == TLSOpportunistic) {
		return nil
	}
	if !cn.has("STARTTLS") {
		if mode == TLSRequired {
			return &DeliveryError{Code: 454, Enhanced: "4.7.4", Text: "TLS is required but the server does not offer STARTTLS", Remote: t.remote()}
		}
		return nil
	}
	r, err := cn.cmd("STARTTLS")
	if err != nil {
		return err
	}
	if r.code != 220 {
		if mode == TLSRequired {
			return &DeliveryError{Code: 454, Enhanced: "4.7.4", Text: "TLS is required but STARTTLS was refused: " + r.result().String(), Remote: t.remote()}
		}
		return nil
	}
	name := rt.TLSServerName
	if name == "" {
		name = t.host
	}
	cfg := &tls.Config{ServerName: name, RootCAs: rt.RootCAs, MinVersion: tls.VersionTLS12}
	if _, err := netip.ParseAddr(name); err == nil && rt.TLSServerName == "" {
		cfg.ServerName = "" // no SNI for an address, but verify against it
	}
	verifyName := name
	switch {
	case mode == TLSRequired && rt.TLSVerify:
		cfg.InsecureSkipVerify = true
		cfg.VerifyConnection = func(cs tls.ConnectionState) error { return verifyChain(cs, rt.RootCAs, verifyName) }
	case rt.TLSVerify:
		cfg.InsecureSkipVerify = true
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if err := verifyChain(cs, rt.RootCAs, verifyName); err != nil {
				c.log.Warn("courier: certificate does not verify; encrypting anyway", "remote", t.remote(), "err", err)
			}
			return nil
		}
	default:
		cfg.InsecureSkipVerify = true
	}
	tc := tls.Client(cn.rw, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		if mode == TLSRequired {
			return &DeliveryError{Code: 454, Enhanced: "4.7.5", Text: "TLS handshake failed", Remote: t.remote(), Err: err}
		}
		return fmt.Errorf("%w: %w", errRetryClear, err)
	}
	cn.rw = tc
	cn.br.Reset(tc)
	cn.bw.Reset(tc)
	cn.tls = true
	return cn.hello(c.opts.Hostname)
}

// verifyChain verifies the server's certificate chain for name.
func verifyChain(cs tls.ConnectionState, roots *x509.CertPool, name string) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("no certificate")
	}
	opts := x509.VerifyOptions{Roots: roots, DNSName: name, Intermediates: x509.NewCertPool()}
	for _, ic := range cs.PeerCertificates[1:] {
		opts.Intermediates.AddCert(ic)
	}
	_, err := cs.PeerCertificates[0].Verify(opts)
	return err
}

// auth authenticates with AUTH PLAIN or LOGIN when the route has a
// username. A refusal defers the mail: it is a configuration problem.
func (c *Courier) auth(cn *conn) error {
	rt := cn.dest.route
	if rt.Username == "" {
		return nil
	}
	if !cn.tls && !rt.AllowPlainAuth {
		return &DeliveryError{Code: 454, Enhanced: "4.7.0", Text: "refusing to send credentials without TLS", Remote: cn.remote}
	}
	mechs := strings.Fields(strings.ToUpper(cn.ext["AUTH"]))
	var r reply
	var err error
	switch {
	case slices.Contains(mechs, "PLAIN"):
		resp := base64.StdEncoding.EncodeToString([]byte("\x00" + rt.Username + "\x00" + rt.Password))
		r, err = cn.cmd("AUTH PLAIN " + resp)
	case slices.Contains(mechs, "LOGIN"):
		r, err = cn.cmd("AUTH LOGIN")
		for _, s := range []string{rt.Username, rt.Password} {
			if err != nil || r.code != 334 {
				break
			}
			r, err = cn.cmd(base64.StdEncoding.EncodeToString([]byte(s)))
		}
	default:
		return &DeliveryError{Code: 454, Enhanced: "4.7.0", Text: "the server offers no AUTH mechanism the courier knows (PLAIN, LOGIN)", Remote: cn.remote}
	}
	if err != nil {
		return err
	}
	if r.code == 334 {
		// Abort an exchange the server wants to continue.
		if r, err = cn.cmd("*"); err != nil {
			return err
		}
	}
	if r.code != 235 {
		return &DeliveryError{Code: 454, Enhanced: "4.7.8", Text: "authentication failed: " + r.result().String(), Remote: cn.remote}
	}
	return nil
}
