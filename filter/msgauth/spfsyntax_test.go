package msgauth

import (
	"errors"
	"testing"
)

func TestSPFRecordSyntax(t *testing.T) {
	t.Parallel()
	valid := []string{
		"v=spf1",
		"v=spf1 -all",
		"V=SPF1 +A +MX ~ALL",
		"v=spf1 ip4:192.0.2.0/24 ip4:198.51.100.7 ip6:2001:db8::/32 ip6:::ffff:192.0.2.1 -all",
		"v=spf1 include:_spf.google.com include:spf.protection.outlook.com ~all",
		"v=spf1 a mx a:mail.example.com a:mail.example.com. a/24 a//64 a/24//64 mx:example.com/28 ptr ptr:example.com ?all",
		"v=spf1 exists:%{i}.%{l1r+-}._spf.%{d} -all",
		"v=spf1 include:%{ir}.%{v}._spf.%{d2} -all",
		"v=spf1 a:foo:bar/baz.example.com",
		"v=spf1 a:macro%%percent%_%_space%-url-space.example.com -all",
		"v=spf1 exists:%{p}.should.example.com",
		"v=spf1 redirect=_spf.example.com",
		"v=spf1 -all exp=explain.%{d}",
		"v=spf1 -all moo.cow-far_out=man:dog/cat",
		"v=spf1 -all  ",
		"v=spf1 a:%{d}",
		"v=spf1 a:foo.123-abc",
	}
	for _, rec := range valid {
		if err := spfRecordSyntax(rec); err != nil {
			t.Errorf("%q: %v, want valid", rec, err)
		}
	}
	invalid := []string{
		"v=spf10",
		"v=spf1 -all moo", // unknown mechanism
		"v=spf1 ip4:1.2.3.4 redirect:t2.example.com", // redirect is a modifier
		"v=spf1 a:foo-bar -all",                      // no top label
		"v=spf1 a:museum",
		"v=spf1 a:museum.",
		"v=spf1 a:111.222.33.44", // numeric top label
		"v=spf1 a:example.-com",
		"v=spf1 a:example.com:8080",
		"v=spf1 a:foo.example.com\x00",
		"v=spf1 a:ctrl.example.com\rptr -all",
		"v=spf1 a:\u00ef\u00bb\u00bfgarbage.example.net -all",
		"v=spf1 ip4:1.2.3.4/032 -all",
		"v=spf1 ip4:1.2.3.4/33",
		"v=spf1 ip6:2001:db8::/129",
		"v=spf1 ip4:2001:db8::1",
		"v=spf1 ip6:192.0.2.1",
		"v=spf1 ip4:01.2.3.4",
		"v=spf1 -all ip6",
		"v=spf1 a/0024",
		"v=spf1 redirect=-all ?all",
		"v=spf1 exp= -all",
		"v=spf1 exp=-all",
		"v=spf1 exp=a.example.com -all exp=b.example.com",
		"v=spf1 ?all redirect=",
		"v=spf1 -all foo=%abc",
		"v=spf1 -all exp=%{r}.example.com", // r only in explanation text
		"v=spf1 exists:%{x}.example.com",
		"v=spf1 exists:%{i",
		"v=spf1 include",
		"v=spf1 -all\tmx",
		"v=spf1 all:foo",
	}
	for _, rec := range invalid {
		if err := spfRecordSyntax(rec); !errors.Is(err, errSPFSyntax) {
			t.Errorf("%q: %v, want a syntax error", rec, err)
		}
	}
}
