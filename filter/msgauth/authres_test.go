package msgauth

import (
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/authres"

	"github.com/moatmail/moat/filter"
)

func TestFormatAuthResults(t *testing.T) {
	t.Parallel()
	res := Results{
		SPF: &SPFResult{Result: ResultPass, Domain: "example.org", Sender: "alice+tag@example.org"},
		DKIM: &DKIMResult{Signatures: []DKIMSignature{
			{Result: ResultPass, Domain: "example.org", Identifier: "@example.org", Selector: "s1", Algorithm: "ed25519-sha256", B: "abcdEFGH"},
			{Result: ResultFail, Domain: "list.example.net", Identifier: "@list.example.net", Selector: "k", Algorithm: "rsa-sha256", B: "12345678", Reason: "body hash did not verify"},
		}},
		DMARC: &DMARCResult{Result: ResultPass, From: "example.org", Policy: "reject"},
	}
	v := FormatAuthResults("mx.moat.test", res)
	want := "mx.moat.test;\r\n" +
		"\tspf=pass smtp.mailfrom=alice+tag@example.org;\r\n" +
		"\tdkim=pass header.a=ed25519-sha256 header.b=abcdEFGH header.d=example.org header.i=@example.org header.s=s1;\r\n" +
		"\tdkim=fail reason=\"body hash did not verify\" header.a=rsa-sha256 header.b=12345678 header.d=list.example.net header.i=@list.example.net header.s=k;\r\n" +
		"\tdmarc=pass (p=reject) header.from=example.org"
	if v != want {
		t.Fatalf("got\n%s\nwant\n%s", v, want)
	}
	// It parses back (go-msgauth ignores nothing we wrote).
	id, results, err := authres.Parse(strings.NewReplacer("\r\n\t", " ").Replace(v))
	if err != nil || id != "mx.moat.test" || len(results) != 4 {
		t.Fatalf("parse: %q %d results %v", id, len(results), err)
	}
	if r, ok := results[0].(*authres.SPFResult); !ok || r.Value != authres.ResultPass || r.From != "alice+tag@example.org" {
		t.Errorf("spf parsed as %+v", results[0])
	}
	if r, ok := results[3].(*authres.DMARCResult); !ok || r.Value != authres.ResultPass || r.From != "example.org" {
		t.Errorf("dmarc parsed as %+v", results[3])
	}
}

func TestFormatAuthResultsCases(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		res  Results
		want string
	}{
		{"nothing ran", Results{}, "mx.moat.test; none"},
		{"null sender", Results{SPF: &SPFResult{Result: ResultFail, Helo: true, Domain: "mx.example.org"}},
			"mx.moat.test;\r\n\tspf=fail smtp.helo=mx.example.org"},
		{"odd local part: domain only", Results{SPF: &SPFResult{Result: ResultSoftFail, Domain: "example.org", Sender: "\"a b\"@example.org"}},
			"mx.moat.test;\r\n\tspf=softfail smtp.mailfrom=example.org"},
		{"unsigned", Results{DKIM: &DKIMResult{}}, "mx.moat.test;\r\n\tdkim=none"},
		{"DMARC fail, sampled, forwarder", Results{DMARC: &DMARCResult{Result: ResultFail, From: "example.org", Policy: "reject", Disposition: "quarantine", Forwarder: true}},
			"mx.moat.test;\r\n\tdmarc=fail (p=reject dis=quarantine trusted-forwarder) header.from=example.org"},
		{"DMARC none", Results{DMARC: &DMARCResult{Result: ResultNone, From: "example.org"}},
			"mx.moat.test;\r\n\tdmarc=none header.from=example.org"},
		{"bad From", Results{DMARC: &DMARCResult{Result: ResultPermError, BadFrom: true, Reason: "several From fields"}},
			"mx.moat.test;\r\n\tdmarc=permerror reason=\"several From fields\""},
		{"line breaks in values are dropped", Results{SPF: &SPFResult{Result: ResultPass, Helo: true, Domain: "a\r\nX-Evil: 1"}},
			"mx.moat.test;\r\n\tspf=pass smtp.helo=\"aX-Evil: 1\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := FormatAuthResults("mx.moat.test", tt.res); got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestAuthservValue(t *testing.T) {
	t.Parallel()
	for id, want := range map[string]string{
		"mx.moat.test":  "mx.moat.test",
		"odd host;x":    `"odd host;x"`,
		`a"b`:           `"a\"b"`,
		"line\r\nbreak": "linebreak",
	} {
		got := authservValue(id)
		if got != want {
			t.Errorf("%q: %q, want %q", id, got, want)
		}
		// What we write reads back as the same id.
		if back, ok := ParseAuthservID(got + "; none"); !ok || back != sanitize(id) {
			t.Errorf("%q reads back as %q", got, back)
		}
	}
}

func TestOwnAuthResults(t *testing.T) {
	t.Parallel()
	const id = "mx.moat.test"
	tests := []struct {
		field string
		own   bool
	}{
		{"Authentication-Results: mx.moat.test; spf=pass smtp.mailfrom=a@b.example", true},
		{"authentication-results: MX.Moat.TEST; dkim=pass", true},
		{"Authentication-Results: mx.moat.test. ; none", true},
		{"Authentication-Results: mx.moat.test 1; spf=pass", true},
		{"Authentication-Results: mx.moat.test", true},
		{"Authentication-Results:mx.moat.test;spf=pass", true},
		{"Authentication-Results: (forged) mx.moat.test (really); dmarc=pass", true},
		{"Authentication-Results: (nested (comment) here) mx.moat.test; none", true},
		{"Authentication-Results: (a \\) b) mx.moat.test; none", true},
		{"Authentication-Results:\r\n\tmx.moat.test;\r\n\tspf=pass", true},
		{"Authentication-Results: (comment\r\n folded) \r\n mx.moat.test; none", true},
		{"Authentication-Results: \"mx.moat.test\"; spf=pass", true},
		{"Authentication-Results: (unterminated mx.moat.test; spf=pass", true},
		{"Authentication-Results: \"mx.moat.test; spf=pass", true},
		{"Authentication-Results: mx.google.com; spf=pass", false},
		{"Authentication-Results: mx.moat.test.evil.example; spf=pass", false},
		{"Authentication-Results: moat.test; spf=pass", false},
		{"Authentication-Results: mx.moat.testx; spf=pass", false},
		{"Authentication-Results: other.example; spf=pass (mx.moat.test said so)", false},
		{"Authentication-Results: (unterminated comment; spf=pass", false},
		{"Authentication-Results: ", false},
		{"X-Authentication-Results: mx.moat.test; spf=pass", false},
		{"ARC-Authentication-Results: i=1; mx.moat.test; spf=pass", false},
		{"Subject: mx.moat.test", false},
	}
	var raw strings.Builder
	var want []int
	for i, tt := range tests {
		raw.WriteString(tt.field + "\r\n")
		if tt.own {
			want = append(want, i)
		}
	}
	raw.WriteString("\r\nbody\r\n")
	h, _, err := filter.ParseHeader([]byte(raw.String()))
	if err != nil || len(h.Fields) != len(tests) {
		t.Fatalf("%d fields parsed, %v", len(h.Fields), err)
	}
	got := OwnAuthResults(&h, id)
	if !slices.Equal(got, want) {
		for i, tt := range tests {
			if slices.Contains(got, i) != tt.own {
				t.Errorf("%q: own=%v, want %v", tt.field, !tt.own, tt.own)
			}
		}
	}
	if got := OwnAuthResults(&h, ""); got != nil {
		t.Errorf("an empty authserv-id matched fields %v", got)
	}
}

func TestParseAuthservID(t *testing.T) {
	t.Parallel()
	for v, want := range map[string]string{
		"mx.example.org; spf=pass":      "mx.example.org",
		"  (c) mx.example.org (d) 1;":   "mx.example.org",
		`"quoted \" id"; none`:          `quoted " id`,
		"mx.example.org(comment); none": "mx.example.org",
	} {
		if got, ok := ParseAuthservID(v); !ok || got != want {
			t.Errorf("%q: %q %v, want %q", v, got, ok, want)
		}
	}
	for _, v := range []string{"", "   ", "(open", `"open`, "; spf=pass"} {
		if got, ok := ParseAuthservID(v); ok {
			t.Errorf("%q: %q, want no authserv-id", v, got)
		}
	}
}
