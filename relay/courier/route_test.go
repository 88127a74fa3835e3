package courier

import (
	"errors"
	"strings"
	"testing"
)

// TestRoute checks destination names.
func TestRoute(t *testing.T) {
	t.Parallel()
	rt := routes{
		"smtp.org":   {Host: "10.0.0.5"},
		"port.org":   {Host: "mail.port.org", Port: 2525},
		"lmtp.org":   {Host: "127.0.0.1", LMTP: true},
		"unix.org":   {Host: "/run/dovecot/lmtp", LMTP: true},
		"v6.org":     {Host: "2001:db8::1", Port: 25},
		"mx.org":     {MX: true},
		"smart.org":  {Host: "smarthost.example", Port: 587, TLS: TLSRequired, Username: "bob", Password: "x"},
		"smart2.org": {Host: "smarthost.example", Port: 587, TLS: TLSRequired, Username: "alice", Password: "x"},
		"bad.org":    {Host: "10.0.0.5", TLS: "sometimes"},
		"nohost.org": {},
	}
	c := newCourier(t, rt, func(o *Options) { o.Default = &Route{MX: true}; o.Resolver = nilResolver{} })
	tests := []struct {
		rcpt, want string
		err        error
	}{
		{"a@smtp.org", "smtp:10.0.0.5:25", nil},
		{"a@SMTP.org.", "smtp:10.0.0.5:25", nil},
		{"a@port.org", "smtp:mail.port.org:2525", nil},
		{"a@lmtp.org", "lmtp:127.0.0.1:24", nil},
		{"a@unix.org", "lmtp:/run/dovecot/lmtp", nil},
		{"a@v6.org", "smtp:[2001:db8::1]:25", nil},
		{"a@mx.org", "mx:mx.org", nil},
		{"bounce@Foreign.Example", "mx:foreign.example", nil},
		{"a@smart.org", "smtp:smarthost.example:587#", nil},
		{"a@bad.org", "", nil},
		{"a@nohost.org", "", nil},
		{"no-domain", "", ErrBadAddress},
		{"a@", "", ErrBadAddress},
	}
	for _, tc := range tests {
		t.Run(tc.rcpt, func(t *testing.T) {
			got, err := c.Route(tc.rcpt)
			if tc.want == "" {
				if err == nil || (tc.err != nil && !errors.Is(err, tc.err)) {
					t.Fatalf("Route(%q) = %q, %v; want an error", tc.rcpt, got, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Route(%q): %v", tc.rcpt, err)
			}
			if strings.HasSuffix(tc.want, "#") {
				if !strings.HasPrefix(got, tc.want) || len(got) != len(tc.want)+8 {
					t.Fatalf("Route(%q) = %q, want %s and a hash", tc.rcpt, got, tc.want)
				}
				return
			}
			if got != tc.want {
				t.Fatalf("Route(%q) = %q, want %q", tc.rcpt, got, tc.want)
			}
		})
	}
	a, _ := c.Route("a@smart.org")
	b, _ := c.Route("a@smart2.org")
	if a == b {
		t.Errorf("routes with different credentials share the name %q", a)
	}

	noDefault := newCourier(t, rt, nil)
	if _, err := noDefault.Route("a@elsewhere.org"); !errors.Is(err, ErrNoRoute) {
		t.Errorf("Route without a default = %v, want ErrNoRoute", err)
	}
}

// TestLookupDestination checks that Deliver finds a destination from its
// name when the Courier has not handed it out (after a restart).
func TestLookupDestination(t *testing.T) {
	t.Parallel()
	srv := startServer(t, serverConfig{})
	rt := smtpRoute(srv)
	rt.Username, rt.Password, rt.AllowPlainAuth = "bob", "pw", true
	srvAuth := startServer(t, serverConfig{Users: map[string]string{"bob": "pw"}})
	rtAuth := smtpRoute(srvAuth)
	rtAuth.Username, rtAuth.Password, rtAuth.AllowPlainAuth = "bob", "pw", true

	first := newCourier(t, routes{"example.org": rtAuth}, nil)
	name, _ := first.Route("r@example.org")

	// A new Courier: the name is found again through the recipients.
	second := newCourier(t, routes{"example.org": rtAuth}, nil)
	res, err := second.Deliver(t.Context(), name, "s@example.net", []string{"r@example.org"}, strings.NewReader(simpleMsg))
	if err != nil || res[0].Code != 250 {
		t.Fatalf("Deliver = %v, %v", res, err)
	}
	if got := srvAuth.received(); len(got) != 1 || got[0].User != "bob" {
		t.Fatalf("server got %+v, want one message from bob", got)
	}

	// A name whose route is gone: rebuilt from the name.
	third := newCourier(t, routes{}, nil)
	plain := "smtp:" + srv.addr
	if res, err := third.Deliver(t.Context(), plain, "s@example.net", []string{"r@example.org"}, strings.NewReader(simpleMsg)); err != nil || res[0].Code != 250 {
		t.Fatalf("Deliver to %s = %v, %v", plain, res, err)
	}
	if _, err := third.Deliver(t.Context(), "pigeon:coop", "s@example.net", []string{"r@example.org"}, strings.NewReader(simpleMsg)); !errors.Is(err, ErrNoRoute) {
		t.Errorf("Deliver to an unknown destination = %v, want ErrNoRoute", err)
	}
}

// TestNewOptions checks the options New refuses.
func TestNewOptions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts Options
	}{
		{"no-hostname", Options{}},
		{"mx-default-without-resolver", Options{Hostname: "h", Default: &Route{MX: true}}},
		{"bad-default", Options{Hostname: "h", Default: &Route{Host: "x", TLS: "maybe"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if c, err := New(tc.opts); err == nil {
				c.Close()
				t.Fatal("New accepted the options")
			}
		})
	}
}
