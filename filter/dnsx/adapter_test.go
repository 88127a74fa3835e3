package dnsx

import (
	"context"
	"net"
	"testing"

	"github.com/moatmail/moat/filter/dnsx/dnstest"
)

// spfResolver is the DNSResolver interface of blitiri.com.ar/go/spf (the
// argument of its WithResolver option), copied here so the shape is checked
// without importing the library.
type spfResolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
	LookupMX(ctx context.Context, name string) ([]*net.MX, error)
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
	LookupAddr(ctx context.Context, addr string) (names []string, err error)
}

var (
	_ spfResolver = (*Resolver)(nil)
	// The shape of go-msgauth's dkim.VerifyOptions.LookupTXT and
	// dmarc.LookupOptions.LookupTXT.
	_ func(domain string) ([]string, error) = (*Resolver)(nil).TXTFunc(context.Background())
)

// TestErrorsAsLibrariesSeeThem checks the error classification the SPF,
// DKIM and DMARC libraries apply: blitiri's spf asserts *net.DNSError and
// reads IsNotFound and Temporary(); go-msgauth asserts net.Error and reads
// Temporary(), and (dmarc) *net.DNSError's IsNotFound.
func TestErrorsAsLibrariesSeeThem(t *testing.T) {
	t.Parallel()
	r, srv := setup(t, nil)
	srv.SetMode("broken.test", dnstest.ServFail)
	ctx := context.Background()
	tests := []struct {
		name            string
		lookup          string
		notFound, tempo bool
	}{
		{"NXDOMAIN: SPF none, DMARC no policy", "nope.example.test", true, false},
		{"NODATA", "www.example.test", true, false},
		{"SERVFAIL: temperror", "a.broken.test", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := r.TXTFunc(ctx)(tt.lookup)
			de, ok := err.(*net.DNSError)
			if !ok {
				t.Fatalf("error %T %v is not a *net.DNSError", err, err)
			}
			if _, ok := err.(net.Error); !ok {
				t.Fatal("error is not a net.Error")
			}
			// net.Error's Temporary, which the libraries call, is this one.
			if de.IsNotFound != tt.notFound || de.Temporary() != tt.tempo {
				t.Errorf("IsNotFound=%v Temporary=%v, want %v %v", de.IsNotFound, de.Temporary(), tt.notFound, tt.tempo)
			}
		})
	}
}
