package msgauth

import (
	"strings"
	"testing"

	"github.com/moatmail/moat/filter"
)

// FuzzOwnAuthResults checks that reading the authserv-id never panics,
// and that a field whose id parses as ours is always dropped.
func FuzzOwnAuthResults(f *testing.F) {
	for _, s := range []string{"mx.moat.test; spf=pass", "(c) \"mx.moat.test\" 1; none", "(a (b", `"x\"`, ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if strings.ContainsAny(v, "\r\n") {
			return
		}
		fld := filter.Field{Name: AuthResultsField, Raw: []byte(AuthResultsField + ": " + v + "\r\n")}
		own := IsOwnAuthResults(fld, "mx.moat.test")
		if id, ok := ParseAuthservID(v); ok && sameID(id, "mx.moat.test") && !own {
			t.Errorf("%q: id %q is ours but the field is kept", v, id)
		}
	})
}

// FuzzSPFRecordSyntax checks that the SPF grammar check never panics and
// accepts what it is documented to accept.
func FuzzSPFRecordSyntax(f *testing.F) {
	for _, s := range []string{"v=spf1 -all", "v=spf1 a:%{d}/24//64 exists:%{ir}.x.example", "v=spf1 ip6:::1/128 exp=%{l}.x.com", "v=spf1 redirect="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, rec string) {
		err := spfRecordSyntax(rec)
		if err == nil && !strings.HasPrefix(strings.ToLower(rec), "v=spf1") {
			t.Errorf("%q accepted without v=spf1", rec)
		}
	})
}
