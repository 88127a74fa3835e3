package rules

import (
	"embed"
)

// defaultFS holds the default rule set, embedded in the binary.
//
//go:embed default/*.yaml
var defaultFS embed.FS

// DefaultFiles returns the files of the embedded default rule set, in
// name order. Their names ("default/NAME.yaml") are what errors and
// Rule.File show.
func DefaultFiles() ([]File, error) {
	return readFS(defaultFS, "default")
}

// Default returns the embedded default rule set compiled with opts'
// Disable, KnownSymbols and Budget (Defaults and Paths are ignored).
func Default(opts Options) (*RuleSet, error) {
	files, err := DefaultFiles()
	if err != nil {
		return nil, err
	}
	return Compile(files, nil, opts)
}
