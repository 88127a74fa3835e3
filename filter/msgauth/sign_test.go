package msgauth

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/moatmail/moat/filter"
)

const plainMessage = "From: Alice <alice@mail.example.com>\r\n" +
	"To: bob@example.net\r\n" +
	"Subject: round trip\r\n" +
	"Date: Mon, 23 Nov 2026 16:46:28 +0000\r\n" +
	"Message-ID: <1@mail.example.com>\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: text/plain\r\n" +
	"List-Id: <x.example.com>\r\n" +
	"\r\n" +
	"Hello Bob.\r\n" +
	"\r\n" +
	"Alice\r\n"

// signingSetup loads the test keys for example.com (RSA-2048, selector
// rsa) and example.org (Ed25519, selector ed), and serves their records.
func signingSetup(t testing.TB) (*Signer, *Auth) {
	t.Helper()
	s, err := NewSigner([]SigningKey{
		{Domain: "Example.COM.", Selector: "rsa", KeyFile: "testdata/keys/rsa2048.pem"},
		{Domain: "example.org", Selector: "ed", KeyFile: "testdata/keys/ed25519.pem"},
	})
	if err != nil {
		t.Fatal(err)
	}
	com, org := soa("com."), soa("org.")
	for _, d := range s.Domains() {
		k, _ := s.KeyFor(d)
		rec, err := DNSRecord(d, k.Selector, k.Signer.Public())
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(d, ".com") {
			com += rec + "\n"
		} else {
			org += rec + "\n"
		}
	}
	_, res := startDNS(t, com, org, soa("."))
	a, err := New(Config{DKIM: true}, res)
	if err != nil {
		t.Fatal(err)
	}
	return s, a
}

// signed returns the message with the signature field prepended.
func signed(t testing.TB, s *Signer, raw string) string {
	t.Helper()
	m, err := filter.NewMessage([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	field, err := s.Sign(m)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(field, "DKIM-Signature: ") || !strings.HasSuffix(field, "\r\n") || strings.Contains(strings.ReplaceAll(field, "\r\n", ""), "\n") {
		t.Fatalf("not a header field: %q", field)
	}
	return field + raw
}

func TestSignVerifyRoundTrip(t *testing.T) {
	t.Parallel()
	s, a := signingSetup(t)
	tests := []struct {
		name, from, algo, domain string
		author                   bool
	}{
		{"RSA-2048, parent domain key", "alice@mail.example.com", "rsa-sha256", "example.com", false},
		{"RSA-2048, own domain", "alice@example.com", "rsa-sha256", "example.com", true},
		{"Ed25519", "alice@example.org", "ed25519-sha256", "example.org", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			raw := signed(t, s, strings.Replace(plainMessage, "alice@mail.example.com", tt.from, 1))
			want := []string{DKIMValid}
			if tt.author {
				want = append(want, DKIMValidAuthor)
			}
			check := func(raw string, want []string) *DKIMSignature {
				t.Helper()
				txn := withMessage(t, newTxn("192.0.2.1", "x", ""), raw)
				if got := run(t, a, "dkim", txn, filter.StageData); !slices.Equal(got, want) {
					t.Fatalf("symbols %v, want %v", got, want)
				}
				return &a.Results(txn).DKIM.Signatures[0]
			}
			sig := check(raw, want)
			if sig.Algorithm != tt.algo || sig.Domain != tt.domain {
				t.Errorf("signature %+v, want %s by %s", sig, tt.algo, tt.domain)
			}
			// Signed then modified: every kind of change is detected.
			for _, mod := range []struct{ old, new string }{
				{"Hello Bob.", "Hello Eve."},                             // body
				{"Subject: round trip", "Subject: round trap"},           // signed field
				{"Content-Type: text/plain", "Content-Type: text/html"},  // MIME field
				{"List-Id: <x.example.com>", "List-Id: <y.example.com>"}, // signed if present
				{"Subject:", "Reply-To: eve@evil.example\r\nSubject:"},   // oversigned, added
				{"Subject:", "To: eve@evil.example\r\nSubject:"},         // a second To
				{"Alice\r\n", "Alice\r\nP.S. send money\r\n"},            // body appended
			} {
				sig := check(edit(t, raw, mod.old, mod.new), []string{DKIMInvalid})
				if sig.Result != ResultFail {
					t.Errorf("%q → %q: %+v", mod.old, mod.new, sig)
				}
			}
			// Fields moat adds or removes on the way are not signed.
			for _, mod := range []struct{ old, new string }{
				{"DKIM-Signature:", "Received: from x by y; Mon, 23 Nov 2026 16:46:28 +0000\r\nX-Spam-Flag: NO\r\nAuthentication-Results: mx.moat.test; none\r\nDKIM-Signature:"},
				{"Hello Bob.\r\n", "Hello Bob.  \r\n"}, // relaxed body
				{"Alice\r\n", "Alice\r\n\r\n\r\n"},     // trailing empty lines
			} {
				check(edit(t, raw, mod.old, mod.new), want)
			}
		})
	}
}

func TestSignNoKey(t *testing.T) {
	t.Parallel()
	s, _ := signingSetup(t)
	for _, from := range []string{"From: a@example.net", "From: a@notexample.com", "From: a@com", "Subject: no from", "From: a@example.com\r\nFrom: b@example.com"} {
		m, err := filter.NewMessage([]byte(from + "\r\n\r\nbody\r\n"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Sign(m); !errors.Is(err, ErrNoKey) {
			t.Errorf("%q: %v, want ErrNoKey", from, err)
		}
	}
}

func TestSignReader(t *testing.T) {
	t.Parallel()
	s, a := signingSetup(t)
	// A long header line exercises the reader past its buffer.
	raw := strings.Replace(plainMessage, "Subject: round trip", "Subject: "+strings.Repeat("x", 5000), 1)
	field, err := s.SignReader("mail.example.com", strings.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	txn := withMessage(t, newTxn("192.0.2.1", "x", ""), field+raw)
	if got := run(t, a, "dkim", txn, filter.StageData); !slices.Equal(got, []string{DKIMValid}) {
		t.Fatalf("symbols %v", got)
	}
	if _, err := s.SignReader("example.net", strings.NewReader(raw)); !errors.Is(err, ErrNoKey) {
		t.Errorf("unknown domain: %v, want ErrNoKey", err)
	}
}

// TestSignSpooled signs a message whose body is partly in a spool file.
func TestSignSpooled(t *testing.T) {
	t.Parallel()
	s, a := signingSetup(t)
	raw := plainMessage + strings.Repeat("more body text\r\n", 1000)
	sp := filter.NewSpool(t.TempDir(), 600)
	if _, err := sp.Write([]byte(raw)); err != nil {
		t.Fatal(err)
	}
	m, err := sp.Finish()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	field, err := s.Sign(m)
	if err != nil {
		t.Fatal(err)
	}
	txn := withMessage(t, newTxn("192.0.2.1", "x", ""), field+raw)
	if got := run(t, a, "dkim", txn, filter.StageData); !slices.Equal(got, []string{DKIMValid}) {
		t.Fatalf("symbols %v", got)
	}
}

// TestSignRFC8463Key signs with the RFC 8463 A.1 Ed25519 key and checks
// the signature against the RFC's published public key.
func TestSignRFC8463Key(t *testing.T) {
	t.Parallel()
	seed, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(readFile(t, "testdata/dkim/rfc8463/appendix-a1-ed25519-secret-seed.b64"))))
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSignerKeys([]Key{{Domain: "football.example.com", Selector: "brisbane", Signer: ed25519.NewKeyFromSeed(seed)}})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := dkimTestAuth(t, 0)
	raw := strings.Replace(plainMessage, "alice@mail.example.com", "joe@football.example.com", 1)
	txn := withMessage(t, newTxn("192.0.2.1", "x", ""), signed(t, s, raw))
	if got := run(t, a, "dkim", txn, filter.StageData); !slices.Equal(got, []string{DKIMValid, DKIMValidAuthor}) {
		t.Fatalf("symbols %v", got)
	}
}

func TestLoadKey(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		file string
		ok   bool
		typ  string
	}{
		{"testdata/keys/rsa2048.pem", true, "rsa"},
		{"testdata/keys/rsa2048-pkcs1.pem", true, "rsa"},
		{"testdata/keys/ed25519.pem", true, "ed25519"},
		{"testdata/dkim/rfc8463/appendix-a1-rsa-private.pem", true, "rsa"}, // 1024 bits: accepted (RFC 8301)
		{"testdata/keys/rsa512.pem", false, ""},
		{"testdata/dkim/rfc8463/appendix-a2-dns-records.txt", false, ""},
		{"testdata/keys/missing.pem", false, ""},
	} {
		k, err := LoadKey(tc.file)
		if (err == nil) != tc.ok {
			t.Errorf("%s: %v, want ok=%v", tc.file, err, tc.ok)
			continue
		}
		if !tc.ok {
			continue
		}
		switch k.Public().(type) {
		case *rsa.PublicKey:
			if tc.typ != "rsa" {
				t.Errorf("%s: RSA key", tc.file)
			}
		case ed25519.PublicKey:
			if tc.typ != "ed25519" {
				t.Errorf("%s: Ed25519 key", tc.file)
			}
		}
	}
	// A certificate before the key is skipped.
	pemData := append([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), readFile(t, "testdata/keys/ed25519.pem")...)
	if _, err := ParseKey(pemData); err != nil {
		t.Errorf("key after a certificate: %v", err)
	}
}

func TestNewSignerErrors(t *testing.T) {
	t.Parallel()
	ed, err := LoadKey("testdata/keys/ed25519.pem")
	if err != nil {
		t.Fatal(err)
	}
	for name, keys := range map[string][]Key{
		"bad domain":   {{Domain: "localhost", Selector: "s", Signer: ed}},
		"bad selector": {{Domain: "example.com", Selector: "a b", Signer: ed}},
		"no selector":  {{Domain: "example.com", Signer: ed}},
		"duplicate":    {{Domain: "example.com", Selector: "a", Signer: ed}, {Domain: "EXAMPLE.com.", Selector: "b", Signer: ed}},
		"no key":       {{Domain: "example.com", Selector: "a"}},
		"unsupported":  {{Domain: "example.com", Selector: "a", Signer: fakeSigner{}}},
	} {
		if _, err := NewSignerKeys(keys); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := NewSigner([]SigningKey{{Domain: "example.com", Selector: "a", KeyFile: filepath.Join(t.TempDir(), "none.pem")}}); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing key file: %v", err)
	}
}

// fakeSigner is a crypto.Signer of an unsupported key type.
type fakeSigner struct{}

func (fakeSigner) Public() crypto.PublicKey { return struct{}{} }
func (fakeSigner) Sign(_ io.Reader, _ []byte, _ crypto.SignerOpts) ([]byte, error) {
	return nil, errors.New("no")
}

func TestHeaderKeys(t *testing.T) {
	t.Parallel()
	h, _, _ := filter.ParseHeader([]byte(plainMessage))
	keys := headerKeys(&h)
	count := func(n string) int {
		c := 0
		for _, k := range keys {
			if k == n {
				c++
			}
		}
		return c
	}
	for n, want := range map[string]int{"from": 2, "to": 2, "subject": 2, "cc": 1, "reply-to": 1, "list-id": 1, "list-post": 0, "received": 0, "dkim-signature": 0} {
		if got := count(n); got != want {
			t.Errorf("%s signed %d times, want %d", n, got, want)
		}
	}
}
