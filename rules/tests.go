package rules

import (
	"slices"

	"github.com/moatmail/moat/rules/content"
)

// testFunc computes a numeric property of a message for a test rule.
// Boolean properties are 0 or 1.
type testFunc func(m *content.Message) float64

// The tests a rule may name with `test:`. Used bare (`test: html_only`) a
// test hits when its value is not 0; with bounds (`test: {name:
// text_chars, max: 100}`) when min <= value <= max.
const (
	// TestFromNameSpoof: the From display name holds an address other than
	// the real one (1 or 0).
	TestFromNameSpoof = "from_name_spoof"
	// TestHTMLOnly: the message has an HTML text part and no plain text
	// part (1 or 0).
	TestHTMLOnly = "html_only"
	// TestTextChars: visible characters (not white space) of the text
	// parts, HTML rendered.
	TestTextChars = "text_chars"
	// TestInvisibleChars: characters of HTML text hidden from the reader.
	TestInvisibleChars = "invisible_chars"
	// TestURICount: distinct URIs in the message.
	TestURICount = "uri_count"
	// TestPartCount: leaf MIME parts.
	TestPartCount = "part_count"
)

// testByName returns the test called name.
func testByName(name string) (testFunc, bool) {
	switch name {
	case TestFromNameSpoof:
		return func(m *content.Message) float64 { return b2f(m.FromNameSpoof()) }, true
	case TestHTMLOnly:
		return func(m *content.Message) float64 { return b2f(m.HasHTML && !m.HasPlain) }, true
	case TestTextChars:
		return func(m *content.Message) float64 { return float64(m.TextChars) }, true
	case TestInvisibleChars:
		return func(m *content.Message) float64 { return float64(m.InvisibleChars) }, true
	case TestURICount:
		return func(m *content.Message) float64 { return float64(len(m.URIs)) }, true
	case TestPartCount:
		return func(m *content.Message) float64 { return float64(len(m.Parts)) }, true
	}
	return nil, false
}

// testNames returns the names testByName knows, sorted.
func testNames() []string {
	names := []string{TestFromNameSpoof, TestHTMLOnly, TestTextChars, TestInvisibleChars, TestURICount, TestPartCount}
	slices.Sort(names)
	return names
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
