package courier

import (
	"errors"
	"slices"
	"testing"
)

// TestDeliverTLS checks the STARTTLS modes against servers with and
// without STARTTLS and a self-signed certificate.
func TestDeliverTLS(t *testing.T) {
	t.Parallel()
	serverTLS, roots := selfSigned(t)
	tests := []struct {
		name      string
		serverTLS bool
		route     Route
		wantTLS   bool
		wantErr   string // enhanced code of a temporary DeliveryError
	}{
		{"opportunistic", true, Route{}, true, ""},
		{"opportunistic-not-offered", false, Route{}, false, ""},
		{"opportunistic-verify-untrusted", true, Route{TLSVerify: true}, true, ""},
		{"none", true, Route{TLS: TLSNone}, false, ""},
		{"required", true, Route{TLS: TLSRequired}, true, ""},
		{"required-not-offered", false, Route{TLS: TLSRequired}, false, "4.7.4"},
		{"required-verify-untrusted", true, Route{TLS: TLSRequired, TLSVerify: true}, false, "4.7.5"},
		{"required-verify-trusted", true, Route{TLS: TLSRequired, TLSVerify: true, RootCAs: roots}, true, ""},
		{"required-verify-name", true, Route{TLS: TLSRequired, TLSVerify: true, RootCAs: roots, TLSServerName: "mx.courier.test"}, true, ""},
		{"required-verify-wrong-name", true, Route{TLS: TLSRequired, TLSVerify: true, RootCAs: roots, TLSServerName: "other.test"}, false, "4.7.5"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := serverConfig{}
			if tc.serverTLS {
				cfg.TLS = serverTLS
			}
			srv := startServer(t, cfg)
			rt := tc.route
			rt.Host, rt.Port = "127.0.0.1", srv.port()
			c := newCourier(t, routes{"example.org": rt}, nil)
			res, err := deliver(t, c, "s@example.net", []string{"r@example.org"}, []byte(simpleMsg))
			if tc.wantErr != "" {
				var de *DeliveryError
				if !errors.As(err, &de) || de.Enhanced != tc.wantErr || !de.Temporary() {
					t.Fatalf("Deliver = %v, %v; want a temporary %s", res, err, tc.wantErr)
				}
				if n := len(srv.received()); n != 0 {
					t.Errorf("server got %d messages", n)
				}
				return
			}
			if err != nil {
				t.Fatalf("Deliver: %v", err)
			}
			got := srv.received()
			if len(got) != 1 || got[0].TLS != tc.wantTLS {
				t.Fatalf("server got %+v, want one message with TLS=%v", got, tc.wantTLS)
			}
		})
	}
}

// TestDeliverTLSHandshakeFallback checks that an opportunistic route
// delivers in clear when the STARTTLS handshake fails.
func TestDeliverTLSHandshakeFallback(t *testing.T) {
	t.Parallel()
	serverTLS, _ := selfSigned(t)
	broken := serverTLS.Clone()
	broken.MinVersion, broken.MaxVersion = 0x0301, 0x0301 // TLS 1.0: the courier wants 1.2
	srv := startServer(t, serverConfig{TLS: broken})
	c := newCourier(t, routes{"example.org": smtpRoute(srv)}, nil)
	if _, err := deliver(t, c, "s@example.net", []string{"r@example.org"}, []byte(simpleMsg)); err != nil {
		t.Fatal(err)
	}
	got := srv.received()
	if len(got) != 1 || got[0].TLS {
		t.Fatalf("server got %+v, want one message in clear", got)
	}
	if conns, _, _ := srv.stats(); conns != 2 {
		t.Errorf("%d connections, want 2 (TLS, then clear)", conns)
	}
}

// TestDeliverAuth checks AUTH to a smarthost.
func TestDeliverAuth(t *testing.T) {
	t.Parallel()
	serverTLS, roots := selfSigned(t)
	users := map[string]string{"bob": "s3cret"}
	tests := []struct {
		name      string
		serverTLS bool
		mechs     string
		route     Route
		wantUser  string
		wantErr   string
		wantNoAut bool // the server must not see AUTH
	}{
		{"plain-over-tls", true, "", Route{TLS: TLSRequired, TLSVerify: true, RootCAs: roots, Username: "bob", Password: "s3cret"}, "bob", "", false},
		{"login-over-tls", true, "LOGIN", Route{Username: "bob", Password: "s3cret"}, "bob", "", false},
		{"wrong-password", true, "", Route{Username: "bob", Password: "nope"}, "", "4.7.8", false},
		{"wrong-password-login", true, "LOGIN", Route{Username: "bob", Password: "nope"}, "", "4.7.8", false},
		{"no-tls-refused", false, "", Route{Username: "bob", Password: "s3cret"}, "", "4.7.0", true},
		{"no-tls-allowed", false, "", Route{Username: "bob", Password: "s3cret", AllowPlainAuth: true}, "bob", "", false},
		{"no-known-mechanism", true, "CRAM-MD5", Route{Username: "bob", Password: "s3cret"}, "", "4.7.0", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := serverConfig{Users: users, AuthMechs: tc.mechs}
			if tc.serverTLS {
				cfg.TLS = serverTLS
			}
			srv := startServer(t, cfg)
			rt := tc.route
			rt.Host, rt.Port = "127.0.0.1", srv.port()
			c := newCourier(t, routes{"example.org": rt}, nil)
			_, err := deliver(t, c, "s@example.net", []string{"r@example.org"}, []byte(simpleMsg))
			if tc.wantErr != "" {
				var de *DeliveryError
				if !errors.As(err, &de) || de.Enhanced != tc.wantErr || !de.Temporary() {
					t.Fatalf("Deliver error = %v, want a temporary %s", err, tc.wantErr)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if tc.wantNoAut && slices.Contains(srv.commands(), "AUTH") {
				t.Errorf("credentials sent: %v", srv.commands())
			}
			got := srv.received()
			if tc.wantUser == "" {
				if len(got) != 0 {
					t.Errorf("server got %d messages", len(got))
				}
				return
			}
			if len(got) != 1 || got[0].User != tc.wantUser {
				t.Fatalf("server got %+v, want one message from user %s", got, tc.wantUser)
			}
		})
	}
}
