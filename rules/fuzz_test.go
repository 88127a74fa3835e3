package rules

import (
	"regexp"
	"strings"
	"testing"
)

// FuzzCompile feeds arbitrary rule files to Compile. It must never panic;
// every error line must be "FILE:LINE: message"; and a set it accepts must
// match a message without panicking or exceeding its budget.
func FuzzCompile(f *testing.F) {
	for _, s := range []string{
		"",
		"rules: []\n",
		matcherRules,
		statsRules,
		"rules:\n  - {symbol: A, score: 1, description: d, expr: '2 of (B, C, SPF_FAIL)'}\n  - {symbol: B, score: 1, description: d, body: '(?i)\\bfree\\b'}\n  - {symbol: C, score: 1, description: d, uri: 'bit\\.ly'}\n",
		"rules:\n  - &r {symbol: A, score: 1, description: d, body: x}\n  - *r\n",
		"rules:\n  - {symbol: __H, test: {name: text_chars, min: 1}}\n  - {symbol: A, score: -1, description: d, expr: '!__H', shadow: true}\n",
		"rules:\n  - symbol: A\n    score: 1\n    description: d\n    header: {name: Subject, regex: 'a(b'}\n",
		"rules: {a: 1}\n---\nx\n",
	} {
		f.Add([]byte(s))
	}
	line := regexp.MustCompile(`^test\.yaml:[1-9][0-9]*: .`)
	msg := []byte("Subject: free offer\r\nContent-Type: text/html\r\n\r\n<p>Free <a href=\"http://bit.ly/x\">money</a></p>\r\n")
	f.Fuzz(func(t *testing.T, data []byte) {
		rs, err := Compile(nil, []File{{Name: "test.yaml", Data: data}}, Options{})
		if err != nil {
			for _, l := range strings.Split(err.Error(), "\n") {
				if !line.MatchString(l) {
					t.Fatalf("error line %q is not FILE:LINE: message", l)
				}
			}
			return
		}
		res := rs.MatchBytes(t.Context(), msg, func(s string) bool { return s == "SPF_FAIL" })
		if res.BudgetExceeded {
			t.Fatalf("budget exceeded on a small message: %s", res.Why)
		}
	})
}
