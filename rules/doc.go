// Package rules is moat's content-rule engine: rules written in YAML, each
// naming a symbol, its score and one matcher, compiled once per load into
// a RuleSet and matched against every message by Check, a filter.Check of
// the data stage. The default rule set is embedded (rules/default/*.yaml,
// see DefaultFiles).
//
// # Rule files
//
// A rule file is a YAML mapping with one key, rules, holding a list:
//
//	rules:
//	  - symbol: SUBJ_ALL_CAPS          # UPPER_SNAKE, unique in the set
//	    score: 2                       # default score (the policy may override it)
//	    description: Subject is written in capital letters only
//	    header: {name: Subject, regex: '^(?:[^\p{Ll}]*\p{Lu}){10}[^\p{Ll}]*$'}
//	  - symbol: MY_COMPOSITE
//	    score: 3
//	    description: bad SPF, no valid DKIM and Bayes says spam
//	    expr: SPF_FAIL && !DKIM_VALID && BAYES_SPAM
//	    shadow: true                   # log hits, do not score them (yet)
//
// Keys of a rule: symbol, score and description (required, except for
// helpers), shadow (optional), and exactly one matcher:
//
//	header: {name: N, regex: R}   R matches the value of a field named N (any
//	                              case); without name, R matches each field as
//	                              "Name: value". Values are unfolded and their
//	                              RFC 2047 encoded words decoded.
//	body: R                       R matches the text of the text parts:
//	                              text/plain, and text/html rendered as the
//	                              reader sees it (tags, comments, scripts and
//	                              hidden text removed), transfer encodings and
//	                              Latin-1/Windows-1252 decoded, every run of
//	                              white space collapsed to one space, parts
//	                              separated by a line break.
//	raw: R                        R matches the raw message (header and body,
//	                              undecoded), at most Budget.MaxRaw bytes.
//	uri: R                        R matches each URI the message links to
//	                              (HTML href, src, action and background, and
//	                              http://, https://, ftp:// and www. in text;
//	                              scheme and host lower-cased).
//	attachment: {name: R}         R matches the file name of each MIME part,
//	                              and each file name inside zip attachments
//	                              (read from the archive directory, names only).
//	attachment: {type: R}         R matches the media type of each leaf MIME
//	                              part, lower case ("application/zip").
//	size: {min: A, max: B}        the message size in bytes is in [A, B]
//	                              (either bound may be left out).
//	test: T                       the built-in property T is not 0; or
//	test: {name: T, min: A, max: B}  T is in [A, B]. Properties: see the Test
//	                              constants (from_name_spoof, html_only,
//	                              text_chars, invisible_chars, uri_count,
//	                              part_count).
//	expr: E                       the expression E over symbols holds (grammar
//	                              in package rules/expr: &&, ||, !, and, or,
//	                              not, parentheses, "N of (A, B, …)").
//
// Regexes are RE2 (Go's regexp), so matching time is linear in the text;
// use (?i) for case-insensitive matching. Symbols starting with "__" are
// helpers: they are evaluated and usable in expressions but never emitted,
// and have no score or description.
//
// An expression sees the rules of the set (evaluated first, expressions in
// dependency order) and the symbols other checks emitted before the rules
// ran: Check is a late check (filter.Late), so every ordinary data-stage
// check's symbols are there. Expressions that refer to each other in a
// cycle are an error.
//
// # Shadow rules
//
// A rule with shadow: true is matched as usual but never emitted: Check
// logs each hit ("shadow rule hit") and passes it to the hook given with
// WithShadowHook, and Stats counts it, so a rule can be tried on live
// traffic before it scores. Only a shadow rule may refer to a shadow rule.
//
// # Loading
//
// Load reads the default set and the configured files; Compile does the
// same from memory. Every problem is reported, one per line, as
// "FILE:LINE: message": YAML syntax, unknown keys, a rule with no matcher
// or two, bad regexes, bad expressions (with the column), invalid or
// duplicate symbols, cycles. A rule in a configured file replaces the
// default rule of the same symbol. A RuleSet is immutable and safe for
// concurrent use; reloading builds a new one and Check.Swap puts it in
// force.
//
// # Cost
//
// Every message is parsed once (package rules/content) within
// Budget.Content. Regexes of the body, raw, header and URI matchers are
// prefiltered: the literals each regex requires are found in one pass over
// each text (an Aho-Corasick automaton over every rule's literals), and a
// regex runs only when one of its literals is there, and then only on
// windows around them when its matches are bounded in width. Case-
// insensitive phrase lists (`(?i)\bact now\b|\blimited time\b`) are decided
// from the literal positions alone. Matching stops when Budget.Timeout
// passes or the regexes have been given Budget.MaxWork bytes; the message
// then gets RULES_BUDGET_EXCEEDED (score 0) and the rest of the rules are
// not evaluated.
package rules
