package rules

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// withoutPrefilter returns a copy of rs whose regexes always run over the
// whole text.
func withoutPrefilter(rs *RuleSet) *RuleSet {
	cp := *rs
	cp.rules = make([]*rule, len(rs.rules))
	for i, r := range rs.rules {
		c := *r
		c.lits, c.phrases, c.hlits, c.width = nil, nil, nil, -1
		cp.rules[i] = &c
	}
	cp.scopes = [numScopes]scope{}
	cp.budget.Timeout, cp.budget.MaxWork = time.Hour, 1<<40 // without prefilters, big messages take long
	return &cp
}

// corpusFiles returns the message files under dir/ham and dir/spam.
func corpusFiles(t testing.TB, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*", "*.eml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no messages under %s: %v", dir, err)
	}
	return files
}

// TestPrefilterCorpus checks, message by message, that the default set
// hits the same rules with and without its prefilters. The committed
// samples always run; MOAT_CORPUS=DIR (a directory with ham/ and spam/)
// runs it over a whole corpus.
func TestPrefilterCorpus(t *testing.T) {
	t.Parallel()
	rs, err := Default(Options{})
	if err != nil {
		t.Fatal(err)
	}
	plain := withoutPrefilter(rs)
	dirs := []string{"testdata/corpus"}
	if d := os.Getenv("MOAT_CORPUS"); d != "" {
		dirs = append(dirs, d)
	}
	for _, dir := range dirs {
		for _, f := range corpusFiles(t, dir) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			raw = StripMboxFrom(raw)
			got, want := hitNames(rs.MatchBytes(t.Context(), raw, nil)), hitNames(plain.MatchBytes(t.Context(), raw, nil))
			if !slices.Equal(got, want) {
				t.Errorf("%s: prefiltered hits %q, plain %q", f, got, want)
			}
		}
	}
}

// TestDefaultSamples runs the default set on the committed corpus samples
// and on the GTUBE sample.
func TestDefaultSamples(t *testing.T) {
	t.Parallel()
	rs, err := Default(Options{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		file string
		want []string
	}{
		{"gtube.eml", []string{"GTUBE"}},
		{"corpus/ham/00001.eml", []string{}},
		{"corpus/ham/00002.eml", []string{}},
		{"corpus/ham/00003.eml", []string{}},
		{"corpus/ham/00004.eml", []string{}},
		{"corpus/ham/00005.eml", []string{}},
		{"corpus/ham/00045.eml", []string{"BODY_REMOVE_INSTRUCTIONS", "SUBJ_ALL_CAPS"}},
		{"corpus/spam/00107.eml", []string{"BODY_EARN_MONEY", "BODY_HOME_INCOME", "BODY_REMOVE_INSTRUCTIONS", "BODY_TOLL_FREE", "FROM_NAME_SPOOF", "HDR_TO_UNDISCLOSED", "SUBJ_MONEY", "SUBJ_NUMBER_AFTER_PUNCT", "URI_REMOVE"}},
		{"corpus/spam/00183.eml", []string{"BODY_BIG_MONEY", "BODY_BILL_1618", "BODY_DEAR_FRIEND", "BODY_EARN_MONEY", "BODY_HOME_INCOME", "BODY_LIMITED_OFFER", "BODY_MORTGAGE", "BODY_NO_RISK", "BODY_ONE_TIME_MAILING", "BODY_TOLL_FREE", "HDR_REPLY_TO_FREEMAIL", "HDR_X_PRIORITY_HIGH"}},
		{"corpus/spam/00229.eml", []string{"BODY_REMOVE_INSTRUCTIONS", "BODY_YOU_WON", "HTML_ONLY_LITTLE_TEXT", "SUBJ_MONEY", "URI_IP_ADDRESS", "URI_REMOVE"}},
		{"corpus/spam/00741.eml", []string{"BODY_BILL_1618", "BODY_COMPLIANCE_CLAIM", "BODY_ONE_TIME_MAILING", "BODY_OPT_OUT", "BODY_REMOVE_INSTRUCTIONS", "BODY_TOLL_FREE", "BODY_WHY_RECEIVED", "HTML_INVISIBLE_TEXT", "SUBJ_PERCENT", "URI_REMOVE"}},
		{"corpus/spam/00791.eml", []string{"HDR_BULK_MAILER", "HTML_ONLY_LITTLE_TEXT", "SUBJ_MIXED_SCRIPT"}},
		{"corpus/spam/01192.eml", []string{"BODY_DEAR_FRIEND", "BODY_GUARANTEE", "BODY_MORTGAGE", "BODY_REMOVE_INSTRUCTIONS", "HDR_REPLY_TO_FREEMAIL", "SUBJ_MONEY", "SUBJ_TRAILING_ID", "URI_IP_ADDRESS", "URI_REMOVE", "URI_USERINFO"}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			raw, err := os.ReadFile(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			txn := txnFor(t, StripMboxFrom(raw))
			syms, err := NewCheck(rs).Check(t.Context(), txn, 0)
			if err != nil {
				t.Fatal(err)
			}
			if got := symbolNames(syms); !slices.Equal(got, tt.want) {
				t.Errorf("symbols %q, want %q", got, tt.want)
			}
			var score float64
			for _, s := range syms {
				score += s.Score
				if s.Reason == "" {
					t.Errorf("%s has no reason", s.Name)
				}
			}
			// The default policy junks at 8: ham must stay below it and
			// these spam samples reach it.
			if isSpam := !strings.Contains(tt.file, "ham/"); isSpam != (score >= 8) {
				t.Errorf("score %.1f", score)
			}
		})
	}
}

// TestDefaultAttachments checks the attachment rules of the default set,
// names inside zip archives included.
func TestDefaultAttachments(t *testing.T) {
	t.Parallel()
	rs, err := Default(Options{})
	if err != nil {
		t.Fatal(err)
	}
	part := func(header, body string) string {
		return "--b\r\n" + header + "\r\n\r\n" + body + "\r\n"
	}
	text := part("Content-Type: text/plain", "Please see the attached file.")
	tests := []struct {
		name  string
		parts string
		want  []string
	}{
		{"a document", part(`Content-Type: application/pdf; name="report.pdf"`, "%PDF"), []string{}},
		{"a program", part(`Content-Type: application/octet-stream; name="setup.exe"`, "MZ"), []string{"ATTACH_EXECUTABLE"}},
		{"a script, by its disposition", part("Content-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"run.VBS\"", "x"), []string{"ATTACH_EXECUTABLE"}},
		{"a hidden extension", part(`Content-Type: application/octet-stream; name="invoice.pdf.scr"`, "MZ"), []string{"ATTACH_DOUBLE_EXTENSION", "ATTACH_EXECUTABLE"}},
		{"a program by type only", part("Content-Type: application/x-msdownload", "MZ"), []string{"ATTACH_EXECUTABLE_TYPE"}},
		{"a program inside a zip", part("Content-Type: application/zip; name=\"docs.zip\"\r\nContent-Transfer-Encoding: base64", zipOf(t, "readme.txt", "docs/open-me.js")), []string{"ATTACH_EXECUTABLE"}},
		{"only documents inside a zip", part("Content-Type: application/zip; name=\"docs.zip\"\r\nContent-Transfer-Encoding: base64", zipOf(t, "readme.txt", "a.docx")), []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			raw := message(text+tt.parts+"--b--\r\n", "Subject: files", "Content-Type: multipart/mixed; boundary=b")
			if got := hitNames(rs.MatchBytes(t.Context(), raw, nil)); !slices.Equal(got, tt.want) {
				t.Errorf("hits %q, want %q", got, tt.want)
			}
		})
	}
}

// TestDefaultCrafted checks the default rules the corpus barely exercises
// on crafted messages.
func TestDefaultCrafted(t *testing.T) {
	t.Parallel()
	rs, err := Default(Options{})
	if err != nil {
		t.Fatal(err)
	}
	const body = "Hello Alice,\r\n\r\nthe minutes of Tuesday's meeting are below. See you next week.\r\n"
	plain := func(header ...string) []byte { return message(body, header...) }
	html := func(h string) []byte { return message(h, "Subject: news", "Content-Type: text/html") }
	// Enough visible text that an HTML-only message is not "little text".
	const para = "<p>Meeting notes for the week: every item on the list was closed, the budget review moved to Thursday, and the new office opens on the first of next month as planned. Please send your travel plans to Carol by Friday so she can book the rooms.</p>"
	tests := []struct {
		name string
		raw  []byte
		want []string
	}{
		{"ordinary", plain("Subject: Minutes of Tuesday", "From: Bob <bob@example.org>"), []string{}},
		{"subject in capitals", plain("Subject: FINAL NOTICE ABOUT YOUR ACCOUNT"), []string{"SUBJ_ALL_CAPS"}},
		{"short capitals are fine", plain("Subject: FYI: ACME Q3"), []string{}},
		{"Cyrillic letters in a Latin word", plain("Subject: =?utf-8?b?UNCQWVBBTCDQsGNjb3VudA==?="), []string{"SUBJ_MIXED_SCRIPT"}},
		{"punctuation run", plain("Subject: Act fast!!!! $$$"), []string{"SUBJ_PUNCT_RUN"}},
		{"spoofed display name", plain("Subject: hi", `From: "security@bank.example" <x9@mailer.example>`), []string{"FROM_NAME_SPOOF"}},
		{"no link", plain("Subject: link", "X-Note: see body"), []string{}},
		{"shortener in text", message("see https://bit.ly/3xYz now\r\n", "Subject: link"), []string{"URI_SHORTENER"}},
		{"t.co is not microsoft.com", message("see http://microsoft.com/ now\r\n", "Subject: link"), []string{}},
		{"dotted IP", message("log in at http://192.0.2.7/bank/\r\n", "Subject: link"), []string{"URI_IP_ADDRESS"}},
		{"decimal IP behind a user name", html(para + `<a href="http://www.bank.example@3221225991/">bank</a>`), []string{"URI_IP_ADDRESS", "URI_USERINFO"}},
		{"hex IP", message("http://0xc0000207/x\r\n", "Subject: link"), []string{"URI_IP_ADDRESS"}},
		{"image-only HTML", html(`<html><body><a href="http://shop.example/"><img src="http://shop.example/offer.gif"></a></body></html>`), []string{"HTML_ONLY_LITTLE_TEXT"}},
		{"HTML with enough text", html(para), []string{}},
		{"hidden text", html(para + `<div style="display:none">lorem ipsum dolor sit amet consectetur</div>`), []string{"HTML_INVISIBLE_TEXT"}},
		{"a little hidden text", html(para + `<span style="font-size:0">x y z</span>`), []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := hitNames(rs.MatchBytes(t.Context(), tt.raw, nil)); !slices.Equal(got, tt.want) {
				t.Errorf("hits %q, want %q", got, tt.want)
			}
		})
	}
}
