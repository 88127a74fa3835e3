// Package policies holds moat's configuration: the YAML schema of moat.yaml,
// loading and validating it with FILE:LINE errors, the built-in defaults, and
// the compiled Policy that turns a transaction's symbols into a Verdict
// (accept, add headers, junk, greylist, tempfail or reject). The live policy
// is held in a Live value and swapped atomically on reload.
package policies
