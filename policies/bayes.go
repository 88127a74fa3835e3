package policies

import (
	"strings"

	"github.com/moatmail/moat/filter/bayes"
)

// BayesConfig configures the Bayesian scorer (`bayes:`). Every key maps to
// the bayes.Options field of the same meaning.
type BayesConfig struct {
	// Enabled runs the scorer. true.
	Enabled bool `yaml:"enabled"`
	// MinLearned is how many messages of each class the global model needs
	// before it has any effect. 200.
	MinLearned int `yaml:"min_learned"`
	// SpamCutoff and HamCutoff: BAYES_SPAM at or above, BAYES_HAM at or
	// below; BAYES_UNSURE between. 0.55, 0.2.
	SpamCutoff float64 `yaml:"spam_cutoff"`
	HamCutoff  float64 `yaml:"ham_cutoff"`
	// SpamScore and HamScore are the symbols' scores at probability 1 and
	// 0 (half of it at the cutoff). 8, -3.
	SpamScore float64 `yaml:"spam_score"`
	HamScore  float64 `yaml:"ham_score"`
	// Strength and Prior are Robinson's s and x. 0.08, 0.5.
	Strength float64 `yaml:"strength"`
	Prior    float64 `yaml:"prior"`
	// MinDeviation ignores tokens closer to 0.5. 0.3.
	MinDeviation float64 `yaml:"min_deviation"`
	// MaxClues and ConflictClues: tokens combined; clues used when both
	// indicators saturate. 30, 15.
	MaxClues      int `yaml:"max_clues"`
	ConflictClues int `yaml:"conflict_clues"`
	// Window is the word-pair window (1-8). 3.
	Window int `yaml:"window"`
	// MaxPartBytes and MaxMessageBytes bound the work per message. 65536,
	// 2097152.
	MaxPartBytes    int `yaml:"max_part_bytes"`
	MaxMessageBytes int `yaml:"max_message_bytes"`
	// MaxTokens and UserMaxTokens cap the global and per-user models.
	// 1000000, 200000.
	MaxTokens     int `yaml:"max_tokens"`
	UserMaxTokens int `yaml:"user_max_tokens"`
	// RareAge expires tokens seen once and not learned since (0 never).
	// 720h.
	RareAge Duration `yaml:"rare_age"`
	// DigestTTL is how long "learned as" is remembered per message. 9600h.
	DigestTTL Duration `yaml:"digest_ttl"`
	// CacheTTL is how long token counts read from the store are reused.
	// 30s.
	CacheTTL Duration `yaml:"cache_ttl"`
	// PerUser blends a single recipient's own model. true.
	PerUser bool `yaml:"per_user"`
	// UserMinLearned is how many messages of each class a user model needs
	// before it is blended. 20.
	UserMinLearned int `yaml:"user_min_learned"`
	// Autolearn learns by score; off unless a threshold is set.
	Autolearn Autolearn `yaml:"autolearn"`
}

// Autolearn thresholds (`bayes.autolearn`): learn as spam when the score
// without the BAYES_* symbols is at least Spam, as ham when at most Ham.
type Autolearn struct {
	Spam *float64 `yaml:"spam"`
	Ham  *float64 `yaml:"ham"`
}

func (b *BayesConfig) setDefaults() {
	o := bayes.DefaultOptions()
	*b = BayesConfig{
		Enabled: true, MinLearned: o.MinLearned, SpamCutoff: o.SpamCutoff, HamCutoff: o.HamCutoff,
		SpamScore: o.SpamScore, HamScore: o.HamScore, Strength: o.Strength, Prior: o.Prior,
		MinDeviation: o.MinDeviation, MaxClues: o.MaxClues, ConflictClues: o.ConflictClues,
		Window: o.Tokenizer.Window, MaxPartBytes: o.Tokenizer.MaxPartBytes, MaxMessageBytes: o.MaxMessageBytes,
		MaxTokens: o.MaxTokens, UserMaxTokens: o.UserMaxTokens, RareAge: Duration(o.RareAge),
		DigestTTL: Duration(o.DigestTTL), CacheTTL: Duration(o.CacheTTL), PerUser: o.PerUser,
		UserMinLearned: o.UserMinLearned,
	}
}

// Options returns the scorer's options (clock and logger left to the
// caller).
func (b *BayesConfig) Options() bayes.Options {
	o := bayes.DefaultOptions()
	o.MinLearned, o.SpamCutoff, o.HamCutoff = b.MinLearned, b.SpamCutoff, b.HamCutoff
	o.SpamScore, o.HamScore, o.Strength, o.Prior = b.SpamScore, b.HamScore, b.Strength, b.Prior
	o.MinDeviation, o.MaxClues, o.ConflictClues = b.MinDeviation, b.MaxClues, b.ConflictClues
	o.Tokenizer.Window, o.Tokenizer.MaxPartBytes, o.MaxMessageBytes = b.Window, b.MaxPartBytes, b.MaxMessageBytes
	o.MaxTokens, o.UserMaxTokens, o.RareAge = b.MaxTokens, b.UserMaxTokens, b.RareAge.D()
	o.DigestTTL, o.CacheTTL, o.PerUser, o.UserMinLearned = b.DigestTTL.D(), b.CacheTTL.D(), b.PerUser, b.UserMinLearned
	o.AutoLearnSpam, o.AutoLearnHam = b.Autolearn.Spam, b.Autolearn.Ham
	return o
}

func (b *BayesConfig) check(r *reporter, p keyPath) {
	err := b.Options().Validate()
	if err == nil {
		return
	}
	for _, line := range strings.Split(strings.TrimPrefix(err.Error(), "bayes: "), "; ") {
		line = strings.TrimPrefix(strings.TrimSpace(line), "bayes: ")
		if line == "" {
			continue
		}
		// Messages start with the key they are about ("spam_cutoff: …").
		key, msg, ok := strings.Cut(line, ": ")
		if ok && !strings.Contains(key, " ") {
			r.add(p.with(strings.Split(key, ".")...), "%s", msg)
			continue
		}
		r.add(p, "%s", line)
	}
}
