package imap

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
)

func TestLogin(t *testing.T) {
	e := newEnv(t, envOptions{})
	tests := []struct {
		name     string
		user     string
		password string
		sasl     bool
		wantCode imap.ResponseCode // "" = success
	}{
		{"LOGIN", alice, password, false, ""},
		{"LOGIN with capitals in the address", "Alice@Example.TEST", password, false, ""},
		{"LOGIN wrong password", alice, "wrong", false, imap.ResponseCodeAuthenticationFailed},
		{"LOGIN unknown user", "carol@example.test", password, false, imap.ResponseCodeAuthenticationFailed},
		{"AUTHENTICATE PLAIN", bob, password, true, ""},
		{"AUTHENTICATE PLAIN wrong password", bob, "wrong", true, imap.ResponseCodeAuthenticationFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := e.dial(t, nil)
			var err error
			if tt.sasl {
				err = c.Authenticate(sasl.NewPlainClient("", tt.user, tt.password))
			} else {
				err = c.Login(tt.user, tt.password).Wait()
			}
			if tt.wantCode == "" {
				if err != nil {
					t.Fatalf("login: %v", err)
				}
				if _, err := c.Select("INBOX", nil).Wait(); err != nil {
					t.Errorf("SELECT after login: %v", err)
				}
				return
			}
			if got := imapCode(err); got != tt.wantCode {
				t.Errorf("login error %v (code %q), want code %q", err, got, tt.wantCode)
			}
		})
	}
}

func TestLoginThrottled(t *testing.T) {
	clock := &fakeClock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	e := newEnv(t, envOptions{guard: NewMemoryGuard(2, time.Minute, clock.now)})
	for range 2 {
		c := e.dial(t, nil)
		if err := c.Login(alice, "guess"); imapCode(err.Wait()) != imap.ResponseCodeAuthenticationFailed {
			t.Fatalf("bad password not refused")
		}
	}
	c := e.dial(t, nil)
	err := c.Login(alice, password).Wait()
	if imapCode(err) != imap.ResponseCodeUnavailable {
		t.Fatalf("login while throttled: %v, want NO [UNAVAILABLE]", err)
	}
	clock.advance(time.Minute)
	if err := c.Login(alice, password).Wait(); err != nil {
		t.Fatalf("login after the window: %v", err)
	}
}

func TestCapabilities(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.login(t, alice, nil)
	caps, err := c.Capability().Wait()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []imap.Cap{
		imap.CapIMAP4rev1, imap.CapIMAP4rev2, imap.CapIdle, imap.CapMove, imap.CapUIDPlus,
		imap.CapSpecialUse, imap.CapNamespace, imap.CapEnable, imap.CapUnselect, imap.CapLiteralPlus,
		imap.CapESearch, imap.CapChildren, imap.CapListStatus, imap.CapBinary,
	} {
		if !caps.Has(want) {
			t.Errorf("capability %s missing from %v", want, caps)
		}
	}
}

func TestPlaintextPolicy(t *testing.T) {
	t.Run("public address without TLS", func(t *testing.T) {
		e := newEnv(t, envOptions{wrap: asPublic})
		c := e.dial(t, nil)
		caps, err := c.Capability().Wait()
		if err != nil {
			t.Fatal(err)
		}
		if !caps.Has(imap.CapLoginDisabled) || !caps.Has(imap.CapStartTLS) {
			t.Errorf("capabilities %v: want LOGINDISABLED and STARTTLS", caps)
		}
		if err := c.Login(alice, password).Wait(); imapCode(err) != imap.ResponseCodePrivacyRequired {
			t.Errorf("LOGIN: %v, want NO [PRIVACYREQUIRED]", err)
		}
		err = c.Authenticate(sasl.NewPlainClient("", alice, password))
		if imapCode(err) != imap.ResponseCodePrivacyRequired {
			t.Errorf("AUTHENTICATE PLAIN: %v, want NO [PRIVACYREQUIRED]", err)
		}
	})
	t.Run("public address after STARTTLS", func(t *testing.T) {
		e := newEnv(t, envOptions{wrap: asPublic})
		c, err := imapclient.DialStartTLS(e.addr, &imapclient.Options{TLSConfig: e.client})
		if err != nil {
			t.Fatalf("STARTTLS: %v", err)
		}
		t.Cleanup(func() { _ = c.Close() })
		if err := c.Login(alice, password).Wait(); err != nil {
			t.Fatalf("LOGIN after STARTTLS: %v", err)
		}
		if _, err := c.Select("INBOX", nil).Wait(); err != nil {
			t.Errorf("SELECT: %v", err)
		}
	})
	t.Run("public address allowing plaintext", func(t *testing.T) {
		e := newEnv(t, envOptions{wrap: asPublic, listener: ListenerOptions{AllowPlaintext: true}})
		c := e.dial(t, nil)
		if err := c.Login(alice, password).Wait(); err != nil {
			t.Fatalf("LOGIN: %v", err)
		}
	})
	t.Run("implicit TLS", func(t *testing.T) {
		e := newEnv(t, envOptions{wrap: asPublic, listener: ListenerOptions{ImplicitTLS: true}})
		c, err := imapclient.DialTLS(e.addr, &imapclient.Options{TLSConfig: e.client})
		if err != nil {
			t.Fatalf("dial TLS: %v", err)
		}
		t.Cleanup(func() { _ = c.Close() })
		caps, err := c.Capability().Wait()
		if err != nil {
			t.Fatal(err)
		}
		if caps.Has(imap.CapStartTLS) || caps.Has(imap.CapLoginDisabled) {
			t.Errorf("capabilities over TLS %v: want neither STARTTLS nor LOGINDISABLED", caps)
		}
		if err := c.Login(alice, password).Wait(); err != nil {
			t.Fatalf("LOGIN over TLS: %v", err)
		}
	})
}

func TestImplicitTLSNeedsConfig(t *testing.T) {
	srv := NewServer(Options{})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := srv.Serve(l, ListenerOptions{ImplicitTLS: true}); err == nil {
		t.Error("Serve with implicit TLS and no TLS configuration succeeded")
	}
}

func TestShutdown(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.login(t, alice, nil)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	idle, err := c.Idle()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	select {
	case <-c.Closed():
	case <-ctx.Done():
		t.Fatal("client still connected after Shutdown")
	}
	_ = idle.Close()
	if _, err := imapclient.DialInsecure(e.addr, nil); err == nil {
		t.Error("connected after Shutdown")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.srv.Serve(l, ListenerOptions{}); err != ErrServerClosed {
		t.Errorf("Serve after Shutdown = %v, want ErrServerClosed", err)
	}
}
