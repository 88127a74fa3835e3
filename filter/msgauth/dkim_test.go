package msgauth

import (
	"bytes"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"slices"
	"strings"
	"testing"

	"github.com/moatmail/moat/filter"
	"github.com/moatmail/moat/filter/dnsx/dnstest"
)

// vectorZones serves the DNS records of the RFC 6376 and RFC 8463 test
// vectors (testdata/dkim), plus gone.test (no keys) and down.test
// (SERVFAIL).
func vectorZones(t testing.TB) []string {
	t.Helper()
	com := soa("com.") + string(readFile(t, "testdata/dkim/rfc6376/appendix-c-dns-record.txt")) + "\n" +
		string(readFile(t, "testdata/dkim/rfc8463/appendix-a2-dns-records.txt")) + "\n"
	return []string{com, soa("gone.test."), soa("down.test."), soa(".")}
}

func dkimTestAuth(t testing.TB, max int, extraZones ...string) (*Auth, *dnstest.Server) {
	t.Helper()
	srv, res := startDNS(t, append(vectorZones(t), extraZones...)...)
	srv.SetMode("down.test", dnstest.ServFail)
	a, err := New(Config{DKIM: true, MaxSignatures: max}, res)
	if err != nil {
		t.Fatal(err)
	}
	return a, srv
}

// edit replaces old by new in raw, failing the test when old is not there.
func edit(t *testing.T, raw, old, new string) string {
	t.Helper()
	if !strings.Contains(raw, old) {
		t.Fatalf("%q not in message", old)
	}
	return strings.Replace(raw, old, new, 1)
}

// redomain moves the RFC 6376 A.2 signature to domain d (d= and i=).
func redomain(t *testing.T, raw, d string) string {
	t.Helper()
	return edit(t, edit(t, raw, "d=example.com;", "d="+d+";"), "i=joe@football.example.com", "i=joe@"+d)
}

func TestDKIMVectors(t *testing.T) {
	t.Parallel()
	a, _ := dkimTestAuth(t, 0)
	rfc6376 := string(readFile(t, "testdata/dkim/rfc6376/appendix-a2-signed.eml"))
	rfc8463 := string(readFile(t, "testdata/dkim/rfc8463/appendix-a3-signed.eml"))
	unsigned := string(readFile(t, "testdata/dkim/rfc6376/appendix-a1-unsigned.eml"))

	type sig struct {
		result           Result
		domain, selector string
		algorithm        string
		reason           string // part of the reason
	}
	tests := []struct {
		name string
		raw  string
		want []string
		sigs []sig
	}{
		{"RFC 6376 A.2 rsa-sha256 simple/simple", rfc6376, []string{DKIMValid},
			[]sig{{ResultPass, "example.com", "brisbane", "rsa-sha256", ""}}},
		{"RFC 8463 A.3 ed25519-sha256 and rsa-sha256 by the From domain", rfc8463, []string{DKIMValid, DKIMValidAuthor},
			[]sig{{ResultPass, "football.example.com", "brisbane", "ed25519-sha256", ""}, {ResultPass, "football.example.com", "test", "rsa-sha256", ""}}},
		{"unsigned", unsigned, []string{DKIMNone}, nil},
		{"RFC 6376: body changed", edit(t, rfc6376, "We lost the game.", "We won the game."), []string{DKIMInvalid},
			[]sig{{ResultFail, "example.com", "brisbane", "rsa-sha256", "body hash did not verify"}}},
		{"RFC 6376: signed header changed", edit(t, rfc6376, "Subject: Is dinner ready?", "Subject: Is lunch ready?"), []string{DKIMInvalid},
			[]sig{{ResultFail, "example.com", "brisbane", "rsa-sha256", "signature did not verify"}}},
		{"RFC 6376: simple header canonicalization sees white space", edit(t, rfc6376, "To: Suzie Q", "To:  Suzie Q"), []string{DKIMInvalid},
			[]sig{{ResultFail, "example.com", "brisbane", "rsa-sha256", "signature did not verify"}}},
		{"RFC 8463: body changed", edit(t, rfc8463, "Are you hungry yet?", "Are you hungry now?"), []string{DKIMInvalid},
			[]sig{{ResultFail, "football.example.com", "brisbane", "ed25519-sha256", "body hash"}, {ResultFail, "football.example.com", "test", "rsa-sha256", "body hash"}}},
		{"RFC 8463: relaxed canonicalization ignores white space", edit(t, rfc8463, "Subject: Is dinner ready?", "Subject:   Is  dinner ready?  "), []string{DKIMValid, DKIMValidAuthor},
			[]sig{{ResultPass, "football.example.com", "brisbane", "ed25519-sha256", ""}, {ResultPass, "football.example.com", "test", "rsa-sha256", ""}}},
		{"RFC 8463: an unsigned field added", edit(t, rfc8463, "Subject:", "X-Mailer: added\r\nSubject:"), []string{DKIMValid, DKIMValidAuthor},
			[]sig{{ResultPass, "football.example.com", "brisbane", "ed25519-sha256", ""}, {ResultPass, "football.example.com", "test", "rsa-sha256", ""}}},
		{"RFC 8463: an oversigned From added", edit(t, rfc8463, "Subject:", "From: mallory@evil.example\r\nSubject:"), []string{DKIMInvalid},
			[]sig{{ResultFail, "football.example.com", "brisbane", "ed25519-sha256", "signature did not verify"}, {ResultFail, "football.example.com", "test", "rsa-sha256", "signature did not verify"}}},
		{"key not published", redomain(t, rfc6376, "gone.test"), []string{DKIMInvalid},
			[]sig{{ResultPermError, "gone.test", "brisbane", "rsa-sha256", "no key for signature"}}},
		{"key server failing", redomain(t, rfc6376, "down.test"), []string{DKIMTempError},
			[]sig{{ResultTempError, "down.test", "brisbane", "rsa-sha256", "key unavailable"}}},
		{"one valid, one failing", edit(t, rfc8463, "s=test;", "s=nokey;"), []string{DKIMValid, DKIMValidAuthor},
			[]sig{{ResultPass, "football.example.com", "brisbane", "ed25519-sha256", ""}, {ResultPermError, "football.example.com", "nokey", "rsa-sha256", "no key"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			txn := withMessage(t, newTxn("192.0.2.1", "x", "joe@football.example.com"), tt.raw)
			got := run(t, a, "dkim", txn, filter.StageData)
			if !slices.Equal(got, tt.want) {
				t.Errorf("symbols %v, want %v", got, tt.want)
			}
			for _, sym := range txn.Symbols() {
				if sym.Name != DKIMValidAuthor && strings.Count(sym.Reason, "football.example.com") > 1 {
					t.Errorf("%s reason names a domain twice: %q", sym.Name, sym.Reason)
				}
			}
			r := a.Results(txn).DKIM
			if r == nil || len(r.Signatures) != len(tt.sigs) {
				t.Fatalf("results %+v, want %d signatures", r, len(tt.sigs))
			}
			for i, w := range tt.sigs {
				s := r.Signatures[i]
				if s.Result != w.result || s.Domain != w.domain || s.Selector != w.selector || s.Algorithm != w.algorithm ||
					!strings.Contains(s.Reason, w.reason) || len(s.B) != 8 {
					t.Errorf("signature %d: %+v, want %+v", i, s, w)
				}
			}
		})
	}
}

// TestDKIMSignatureLimit checks that signatures past the limit are not
// verified (nor their keys fetched).
func TestDKIMSignatureLimit(t *testing.T) {
	t.Parallel()
	a, srv := dkimTestAuth(t, 1)
	raw := string(readFile(t, "testdata/dkim/rfc8463/appendix-a3-signed.eml"))
	txn := withMessage(t, newTxn("192.0.2.1", "x", "joe@football.example.com"), raw)
	if got := run(t, a, "dkim", txn, filter.StageData); !slices.Equal(got, []string{DKIMValid, DKIMValidAuthor}) {
		t.Errorf("symbols %v", got)
	}
	r := a.Results(txn).DKIM
	if len(r.Signatures) != 1 || r.Skipped != 1 || r.Signatures[0].Selector != "brisbane" {
		t.Errorf("result %+v, want the first signature only and one skipped", r)
	}
	if n := srv.Count("test._domainkey.football.example.com", "TXT"); n != 0 {
		t.Errorf("the key of the skipped signature was fetched %d times", n)
	}
}

// TestDKIMKeyCached checks that keys come through the resolver's cache.
func TestDKIMKeyCached(t *testing.T) {
	t.Parallel()
	a, srv := dkimTestAuth(t, 0)
	raw := readFile(t, "testdata/dkim/rfc8463/appendix-a3-signed.eml")
	for range 3 {
		txn := withMessage(t, newTxn("192.0.2.1", "x", ""), string(raw))
		run(t, a, "dkim", txn, filter.StageData)
	}
	if n := srv.Count("brisbane._domainkey.football.example.com", "TXT"); n != 1 {
		t.Errorf("key fetched %d times for 3 messages, want 1", n)
	}
}

// TestDKIMShortKey checks that an RSA key under 1024 bits is refused (RFC
// 8301).
func TestDKIMShortKey(t *testing.T) {
	t.Parallel()
	blk, _ := pem.Decode(readFile(t, "testdata/keys/rsa512.pem"))
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	txt, err := keyRecordText(&k.(*rsa.PrivateKey).PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := dkimTestAuth(t, 0, soa("short.test.")+"brisbane._domainkey.short.test. IN TXT "+zoneString(txt)+"\n")
	raw := string(readFile(t, "testdata/dkim/rfc6376/appendix-a2-signed.eml"))
	txn := withMessage(t, newTxn("192.0.2.1", "x", ""), redomain(t, raw, "short.test"))
	if got := run(t, a, "dkim", txn, filter.StageData); !slices.Equal(got, []string{DKIMInvalid}) {
		t.Fatalf("symbols %v, want DKIM_INVALID", got)
	}
	if s := a.Results(txn).DKIM.Signatures[0]; s.Result != ResultPermError || !strings.Contains(s.Reason, "too short") {
		t.Errorf("signature %+v, want permerror: key too short", s)
	}
}

// TestDKIMSpooled checks verification of a message whose body is partly
// in a spool file.
func TestDKIMSpooled(t *testing.T) {
	t.Parallel()
	a, _ := dkimTestAuth(t, 0)
	raw := readFile(t, "testdata/dkim/rfc8463/appendix-a3-signed.eml")
	sp := filter.NewSpool(t.TempDir(), bytes.Index(raw, []byte("\r\n\r\n"))+10)
	if _, err := sp.Write(raw); err != nil {
		t.Fatal(err)
	}
	m, err := sp.Finish()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	txn := newTxn("192.0.2.1", "x", "")
	txn.Msg = m
	if got := run(t, a, "dkim", txn, filter.StageData); !slices.Equal(got, []string{DKIMValid, DKIMValidAuthor}) {
		t.Errorf("symbols %v", got)
	}
}

func TestDKIMNoMessage(t *testing.T) {
	t.Parallel()
	a, _ := dkimTestAuth(t, 0)
	if _, err := checkByName(t, a, "dkim").Check(t.Context(), newTxn("192.0.2.1", "x", ""), filter.StageData); err == nil {
		t.Error("no error without a message")
	}
}
