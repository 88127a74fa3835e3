package courier

import (
	"crypto/x509"
	"fmt"
	"hash/fnv"
	"net"
	"strconv"
	"strings"
)

// TLS modes of a Route.
const (
	// TLSNone never uses STARTTLS.
	TLSNone = "none"
	// TLSOpportunistic uses STARTTLS when the server offers it (the
	// default).
	TLSOpportunistic = "opportunistic"
	// TLSRequired delivers only over STARTTLS.
	TLSRequired = "required"
)

// Default ports.
const (
	// DefaultSMTPPort is the port of SMTP and MX routes without one.
	DefaultSMTPPort = 25
	// DefaultLMTPPort is the port of LMTP routes without one.
	DefaultLMTPPort = 24
)

// Route says how mail for a recipient domain leaves: to a fixed host (a
// downstream MTA, a smarthost, an LMTP server) or to the MX hosts of a
// domain.
type Route struct {
	// Host is the server's name or address, or for LMTP the path of a unix
	// socket (starting with "/"). With MX, the domain whose MX records are
	// looked up; empty means the recipient's domain.
	Host string
	// Port is the server's port; DefaultSMTPPort or DefaultLMTPPort when 0.
	// With MX it is the port used on every MX host.
	Port int
	// MX makes the courier look up the MX records of the domain (RFC 5321
	// §5.1) instead of connecting to Host.
	MX bool
	// LMTP speaks LMTP (RFC 2033) instead of SMTP.
	LMTP bool
	// TLS is TLSNone, TLSOpportunistic (when "") or TLSRequired.
	TLS string
	// TLSVerify verifies the server's certificate. With TLSRequired a
	// certificate that does not verify fails the connection; with
	// TLSOpportunistic it is logged and the session still encrypted.
	TLSVerify bool
	// TLSServerName is the name the certificate is checked against (and
	// sent as SNI); Host, or the MX host name, when "".
	TLSServerName string
	// RootCAs are the trusted roots for TLSVerify; the system's when nil.
	RootCAs *x509.CertPool
	// Username and Password authenticate with AUTH PLAIN (or LOGIN) when
	// Username is set.
	Username, Password string
	// AllowPlainAuth permits AUTH over a connection without TLS.
	AllowPlainAuth bool
}

// tlsMode returns the route's TLS mode with the default applied.
func (r Route) tlsMode() string {
	if r.TLS == "" {
		return TLSOpportunistic
	}
	return r.TLS
}

// validate reports a route that cannot be used.
func (r Route) validate() error {
	switch r.tlsMode() {
	case TLSNone, TLSOpportunistic, TLSRequired:
	default:
		return fmt.Errorf("courier: route %q: unknown TLS mode %q", r.Host, r.TLS)
	}
	if r.Port < 0 || r.Port > 65535 {
		return fmt.Errorf("courier: route %q: port %d out of range", r.Host, r.Port)
	}
	if !r.MX && r.Host == "" {
		return fmt.Errorf("courier: route without a host (and not MX)")
	}
	if r.MX && r.LMTP {
		return fmt.Errorf("courier: route %q: LMTP to MX hosts", r.Host)
	}
	if strings.HasPrefix(r.Host, "/") && !r.LMTP {
		return fmt.Errorf("courier: route %q: a unix socket needs LMTP", r.Host)
	}
	return nil
}

// destination is a resolved route: where a group of recipients goes, and
// how.
type destination struct {
	name  string
	route Route  // with Host set to the MX domain for MX routes
	port  int    // with the default applied
	unix  bool   // Host is a unix socket path
	proto string // "smtp", "lmtp" or "mx"
}

// newDestination resolves route for a recipient in domain.
func newDestination(route Route, domain string) (*destination, error) {
	if err := route.validate(); err != nil {
		return nil, err
	}
	d := &destination{route: route, port: route.Port}
	switch {
	case route.MX:
		d.proto = "mx"
		if d.route.Host == "" {
			d.route.Host = domain
		}
		d.route.Host = strings.TrimSuffix(strings.ToLower(d.route.Host), ".")
		if d.route.Host == "" {
			return nil, fmt.Errorf("%w: no domain to look up MX records for", ErrBadAddress)
		}
	case route.LMTP:
		d.proto = "lmtp"
	default:
		d.proto = "smtp"
	}
	if d.port == 0 {
		d.port = DefaultSMTPPort
		if route.LMTP {
			d.port = DefaultLMTPPort
		}
	}
	d.unix = strings.HasPrefix(route.Host, "/")
	d.name = d.proto + ":" + d.address()
	if d.proto == "mx" {
		d.name = "mx:" + d.route.Host
		if d.port != DefaultSMTPPort {
			d.name += ":" + strconv.Itoa(d.port)
		}
	}
	if s := d.route.settings(); s != "" {
		h := fnv.New32a()
		h.Write([]byte(s))
		d.name += fmt.Sprintf("#%08x", h.Sum32())
	}
	return d, nil
}

// address is the host:port (or socket path) of a fixed-host destination.
func (d *destination) address() string {
	if d.unix {
		return d.route.Host
	}
	return net.JoinHostPort(d.route.Host, strconv.Itoa(d.port))
}

// settings describes the route's connection settings when they differ from
// the defaults, so that two routes to the same server with different
// settings get different names (and do not share connections).
func (r Route) settings() string {
	if r.tlsMode() == TLSOpportunistic && !r.TLSVerify && r.TLSServerName == "" &&
		r.RootCAs == nil && r.Username == "" && !r.AllowPlainAuth {
		return ""
	}
	return fmt.Sprintf("tls=%s verify=%t name=%s ca=%t user=%s plain=%t",
		r.tlsMode(), r.TLSVerify, r.TLSServerName, r.RootCAs != nil, r.Username, r.AllowPlainAuth)
}

// parseDestination rebuilds a destination from its name alone (a name
// recorded before a restart whose route is no longer configured), with the
// default connection settings.
func parseDestination(name string) (*destination, error) {
	base, _, _ := strings.Cut(name, "#")
	proto, rest, ok := strings.Cut(base, ":")
	if !ok || rest == "" {
		return nil, fmt.Errorf("%w: unknown destination %q", ErrNoRoute, name)
	}
	var r Route
	switch proto {
	case "mx":
		r.MX = true
		r.Host = rest
		if h, p, err := net.SplitHostPort(rest); err == nil {
			n, err := strconv.Atoi(p)
			if err != nil {
				return nil, fmt.Errorf("%w: unknown destination %q", ErrNoRoute, name)
			}
			r.Host, r.Port = h, n
		}
	case "smtp", "lmtp":
		r.LMTP = proto == "lmtp"
		if strings.HasPrefix(rest, "/") {
			r.Host = rest
			break
		}
		h, p, err := net.SplitHostPort(rest)
		if err != nil {
			return nil, fmt.Errorf("%w: unknown destination %q", ErrNoRoute, name)
		}
		n, err := strconv.Atoi(p)
		if err != nil {
			return nil, fmt.Errorf("%w: unknown destination %q", ErrNoRoute, name)
		}
		r.Host, r.Port = h, n
	default:
		return nil, fmt.Errorf("%w: unknown destination %q", ErrNoRoute, name)
	}
	d, err := newDestination(r, "")
	if err != nil {
		return nil, fmt.Errorf("%w: destination %q: %w", ErrNoRoute, name, err)
	}
	return d, nil
}

// splitAddress returns the local part and the lower-cased domain of an
// address.
func splitAddress(addr string) (local, domain string, err error) {
	i := strings.LastIndexByte(addr, '@')
	if i <= 0 || i == len(addr)-1 {
		return "", "", fmt.Errorf("%w: %q has no domain", ErrBadAddress, addr)
	}
	if strings.ContainsAny(addr, "<>\r\n\x00") {
		return "", "", fmt.Errorf("%w: %q", ErrBadAddress, addr)
	}
	return addr[:i], strings.ToLower(strings.TrimSuffix(addr[i+1:], ".")), nil
}
