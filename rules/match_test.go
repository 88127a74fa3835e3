package rules

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/base64"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moatmail/moat/filter"
)

// message joins header lines and a body into a CRLF message.
func message(body string, header ...string) []byte {
	return []byte(strings.Join(header, "\r\n") + "\r\n\r\n" + body)
}

// hitNames returns the symbols of a result's hits (shadow ones marked with
// a trailing "?"), sorted.
func hitNames(res Result) []string {
	out := []string{}
	for _, h := range res.Hits {
		name := h.Symbol
		if h.Shadow {
			name += "?"
		}
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

// zipOf returns a base64-encoded zip archive holding empty files.
func zipOf(t *testing.T, names ...string) string {
	t.Helper()
	var b bytes.Buffer
	w := zip.NewWriter(&b)
	for _, n := range names {
		if _, err := w.Create(n); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b.Bytes())
}

// matcherRules has one rule per matcher kind.
const matcherRules = `rules:
  - {symbol: HDR_SUBJECT, score: 1, description: d, header: {name: subject, regex: '(?i)\bcaf[eé] cr[eè]me\b'}}
  - {symbol: HDR_ANY, score: 1, description: d, header: {regex: '^X-Mailer: .*bulk'}}
  - {symbol: BODY_WORD, score: 1, description: d, body: '(?i)\bviagra\b'}
  - {symbol: BODY_SPAN, score: 1, description: d, body: 'click here now'}
  - {symbol: RAW_HDR, score: 1, description: d, raw: '(?m)^X-Spam-Test: yes'}
  - {symbol: URI_IP, score: 1, description: d, uri: '^https?://\d+\.\d+\.\d+\.\d+[/:]'}
  - {symbol: ATT_EXE, score: 1, description: d, attachment: {name: '(?i)\.exe$'}}
  - {symbol: ATT_TYPE, score: 1, description: d, attachment: {type: '^application/x-msdownload$'}}
  - {symbol: SIZE_SMALL, score: 1, description: d, size: {max: 200}}
  - {symbol: SIZE_BIG, score: 1, description: d, size: {min: 5000}}
  - {symbol: TEST_HTML_ONLY, score: 1, description: d, test: html_only}
  - {symbol: TEST_FEW_URIS, score: 1, description: d, test: {name: uri_count, min: 1, max: 2}}
`

func TestMatchers(t *testing.T) {
	t.Parallel()
	rs := mustCompile(t, matcherRules)
	pad := strings.Repeat("padding text ", 20)
	tests := []struct {
		name string
		raw  []byte
		want []string
	}{
		{"nothing", message("Hello there, "+pad, "Subject: hi"), []string{}},
		{"small message", message("hi", "Subject: x"), []string{"SIZE_SMALL"}},
		{"big message", message(strings.Repeat(pad, 20), "Subject: x"), []string{"SIZE_BIG"}},
		{"named header, RFC 2047 decoded, name in any case", message(pad, "SUBJECT: =?utf-8?q?Caf=C3=A9_Cr=C3=A8me?="), []string{"HDR_SUBJECT"}},
		{"named header, other field", message(pad, "X-Subject: café crème"), []string{}},
		{"any header as Name: value", message(pad, "Subject: x", "X-Mailer: superbulk 3.0"), []string{"HDR_ANY"}},
		{"any header, case kept", message(pad, "Subject: x", "X-Mailer: SuperBulk 3.0"), []string{}},
		{"body word in base64 text", message(base64.StdEncoding.EncodeToString([]byte("Buy VIAGRA today "+pad)), "Content-Transfer-Encoding: base64"), []string{"BODY_WORD"}},
		{"body word needs its boundaries", message("viagras and xviagra "+pad, "Subject: x"), []string{}},
		{"body phrase across a line break", message("please click\r\n   here\r\nnow "+pad, "Subject: x"), []string{"BODY_SPAN"}},
		{"body phrase in HTML with tags", message("<p>click <b>here</b> now</p>"+pad, "Content-Type: text/html"), []string{"BODY_SPAN", "TEST_HTML_ONLY"}},
		{"body phrase hidden in HTML is not text", message("<p style='display:none'>click here now</p>"+pad, "Content-Type: text/html"), []string{"TEST_HTML_ONLY"}},
		{"raw sees headers undecoded", message(pad, "X-Spam-Test: yes"), []string{"RAW_HDR"}},
		{"uri to an IP", message(`<a href="http://192.0.2.1/login">x</a>`+pad, "Content-Type: text/html"), []string{"TEST_FEW_URIS", "TEST_HTML_ONLY", "URI_IP"}},
		{"uri count out of range", message("http://a.example/ http://b.example/ http://c.example/ "+pad, "Subject: x"), []string{}},
		{
			"attachment name and type",
			message("--b\r\nContent-Type: text/plain\r\n\r\n"+pad+"\r\n--b\r\nContent-Type: application/x-msdownload\r\nContent-Disposition: attachment; filename=\"Setup.EXE\"\r\n\r\nMZ\r\n--b--\r\n",
				"Content-Type: multipart/mixed; boundary=b"),
			[]string{"ATT_EXE", "ATT_TYPE"},
		},
		{
			"executable inside a zip",
			message("--b\r\nContent-Type: text/plain\r\n\r\n"+pad+"\r\n--b\r\nContent-Type: application/zip; name=docs.zip\r\nContent-Transfer-Encoding: base64\r\n\r\n"+zipOf(t, "a.txt", "run.exe")+"\r\n--b--\r\n",
				"Content-Type: multipart/mixed; boundary=b"),
			[]string{"ATT_EXE"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res := rs.MatchBytes(t.Context(), tt.raw, nil)
			if got := hitNames(res); !slices.Equal(got, tt.want) {
				t.Errorf("hits %q, want %q", got, tt.want)
			}
			if res.BudgetExceeded {
				t.Errorf("budget exceeded: %s", res.Why)
			}
		})
	}
}

func TestExpressions(t *testing.T) {
	t.Parallel()
	rs := mustCompile(t, `rules:
  - {symbol: __FREE, body: '(?i)\bfree\b'}
  - {symbol: __MONEY, body: '(?i)\bmoney\b'}
  - {symbol: WINNER, score: 1, description: d, body: '(?i)\bwinner\b'}
  - {symbol: FREE_MONEY, score: 2, description: both helpers, expr: __FREE && __MONEY}
  - {symbol: TWO_OF, score: 1, description: d, expr: '2 of (__FREE, __MONEY, WINNER, SPF_FAIL)'}
  - {symbol: NOT_SIGNED, score: 1, description: d, expr: 'SPF_FAIL && !DKIM_VALID'}
  - {symbol: CHAINED, score: 1, description: an expression over an expression, expr: 'FREE_MONEY or NOT_SIGNED'}
`)
	tests := []struct {
		name     string
		body     string
		external []string
		want     []string
	}{
		{"none", "hello", nil, []string{}},
		{"one helper is not enough", "free stuff", nil, []string{}},
		{"both helpers, never emitted themselves", "free money", nil, []string{"CHAINED", "FREE_MONEY", "TWO_OF"}},
		{"count over a rule and an external symbol", "winner", []string{"SPF_FAIL", "DKIM_VALID"}, []string{"TWO_OF", "WINNER"}},
		{"external symbols only", "hello", []string{"SPF_FAIL"}, []string{"CHAINED", "NOT_SIGNED"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			present := func(s string) bool { return slices.Contains(tt.external, s) }
			res := rs.MatchBytes(t.Context(), message(tt.body, "Subject: x"), present)
			if got := hitNames(res); !slices.Equal(got, tt.want) {
				t.Errorf("hits %q, want %q", got, tt.want)
			}
		})
	}
	// Expressions come after what they refer to, whatever the file order.
	var order []string
	for _, r := range rs.Rules() {
		order = append(order, r.Symbol)
	}
	if slices.Index(order, "CHAINED") < slices.Index(order, "FREE_MONEY") {
		t.Errorf("evaluation order %q puts CHAINED before FREE_MONEY", order)
	}
}

func TestShadow(t *testing.T) {
	t.Parallel()
	rs := mustCompile(t, `rules:
  - {symbol: LIVE, score: 2, description: live rule, body: '(?i)\bprize\b'}
  - {symbol: TRIAL, score: 3, description: trial rule, body: '(?i)\bprize\b', shadow: true}
  - {symbol: TRIAL_COMBO, score: 1, description: d, expr: 'TRIAL && LIVE', shadow: true}
`)
	res := rs.MatchBytes(t.Context(), message("you won a prize", "Subject: x"), nil)
	if got, want := hitNames(res), []string{"LIVE", "TRIAL?", "TRIAL_COMBO?"}; !slices.Equal(got, want) {
		t.Fatalf("hits %q, want %q", got, want)
	}
	syms := res.Symbols()
	if len(syms) != 1 || syms[0].Name != "LIVE" || syms[0].Score != 2 || syms[0].Reason != "live rule" {
		t.Errorf("Symbols() = %+v, want only LIVE", syms)
	}
}

func TestBudget(t *testing.T) {
	t.Parallel()
	y := `rules:
  - {symbol: A, score: 1, description: d, body: 'alpha'}
  - {symbol: B, score: 1, description: d, body: 'beta'}
  - {symbol: C, score: 1, description: d, expr: 'A && B'}
`
	body := strings.Repeat("alpha beta gamma ", 5000)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name    string
		budget  Budget
		ctx     context.Context
		skipped int
		why     string
	}{
		{"within budget", Budget{}, context.Background(), 0, ""},
		{"work", Budget{MaxWork: 10}, context.Background(), 2, "more than 10 bytes matched"},
		{"deadline", Budget{Timeout: time.Nanosecond}, context.Background(), 3, "deadline of 1ns passed"},
		{"cancelled", Budget{}, cancelled, 3, "cancelled: context canceled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rs, err := compileYAML(t, y, Options{Budget: tt.budget})
			if err != nil {
				t.Fatal(err)
			}
			// The work bound is looked at every 16 rules or 64 KiB: give the
			// regexes more than that.
			res := rs.MatchBytes(tt.ctx, message(body, "Subject: x"), nil)
			if res.Skipped != tt.skipped || res.Why != tt.why || res.BudgetExceeded != (tt.why != "") {
				t.Fatalf("skipped %d (%q), want %d (%q)", res.Skipped, res.Why, tt.skipped, tt.why)
			}
			syms := res.Symbols()
			hasBudget := slices.ContainsFunc(syms, func(s filter.Symbol) bool { return s.Name == BudgetSymbol && s.Score == 0 })
			if hasBudget != res.BudgetExceeded {
				t.Errorf("symbols %+v: %s present = %v", syms, BudgetSymbol, hasBudget)
			}
		})
	}
}
