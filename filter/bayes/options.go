package bayes

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/moatmail/moat/filter"
)

// Defaults of Options.
const (
	DefaultStrength       = 0.08
	DefaultPrior          = 0.5
	DefaultMinDeviation   = 0.3
	DefaultMaxClues       = 30
	DefaultConflictClues  = 15
	DefaultSpamCutoff     = 0.55
	DefaultHamCutoff      = 0.2
	DefaultMinLearned     = 200
	DefaultUserMinLearned = 20
	DefaultSpamScore      = 8.0
	DefaultHamScore       = -3.0
	DefaultMaxTokens      = 1_000_000
	DefaultUserMaxTokens  = 200_000
	DefaultRareAge        = 30 * 24 * time.Hour
	DefaultDigestTTL      = 400 * 24 * time.Hour
	DefaultCacheTTL       = 30 * time.Second
	DefaultCacheTokens    = 4_000_000
	DefaultCacheUsers     = 1000
	DefaultMaxMessage     = 2 << 20
	DefaultBatch          = 2000
)

// Options configure a Bayes. Start from DefaultOptions.
type Options struct {
	// Tokenizer bounds and shapes tokenization.
	Tokenizer TokenizerOptions

	// Strength and Prior are Robinson's s and x: a token seen in n
	// messages has its spam probability pulled towards Prior as if it had
	// been seen Strength more times.
	Strength float64
	Prior    float64
	// MinDeviation: tokens whose probability is closer than this to 0.5
	// are not used.
	MinDeviation float64
	// MaxClues is how many of the most significant tokens are combined.
	MaxClues int
	// ConflictClues: when the MaxClues tokens give strong evidence both
	// ways (both of Fisher's indicators saturate), only this many of the
	// most significant are combined (0: never).
	ConflictClues int

	// SpamCutoff and HamCutoff split the probability into the symbols:
	// BAYES_SPAM at or above SpamCutoff, BAYES_HAM at or below HamCutoff,
	// BAYES_UNSURE between.
	SpamCutoff float64
	HamCutoff  float64
	// SpamScore is BAYES_SPAM's score at probability 1; it is half that
	// at SpamCutoff and grows linearly in between. HamScore (negative) is
	// BAYES_HAM's score at probability 0, half at HamCutoff. BAYES_UNSURE
	// scores 0.
	SpamScore float64
	HamScore  float64
	// MinLearned is how many messages of each class the global model must
	// have learned before it has any effect.
	MinLearned int

	// PerUser turns per-user models on: a recipient's own model, once it
	// has learned UserMinLearned messages of each class, is blended with
	// the global one (the global probability of a token is the prior of
	// the user's).
	PerUser        bool
	UserMinLearned int
	// User names the model of a transaction's recipient ("" for none).
	// Default DefaultUser.
	User func(t *filter.Txn) string

	// MaxTokens and UserMaxTokens cap the global and each user model:
	// past the cap, learning prunes the rarest, oldest tokens down to 90%
	// of it. RareAge: tokens seen in a single message and not learned
	// again for this long expire whenever a model is pruned (0: never).
	MaxTokens     int
	UserMaxTokens int
	RareAge       time.Duration
	// DigestTTL is how long the store remembers what a message was
	// learned as (so learning it again counts once, and learning it as the
	// other class moves it).
	DigestTTL time.Duration

	// CacheTTL is how long token counts read from the store are used
	// before they are read again (0: no cache). CacheTokens bounds the
	// cached tokens, CacheUsers the cached user models.
	CacheTTL    time.Duration
	CacheTokens int
	CacheUsers  int

	// AutoLearnSpam and AutoLearnHam, when set, make AutoLearn learn
	// messages whose score (without the BAYES_* symbols) is at least
	// AutoLearnSpam as spam, at most AutoLearnHam as ham. Off by default.
	AutoLearnSpam *float64
	AutoLearnHam  *float64

	// MaxMessageBytes is how much of a message is read to classify it.
	MaxMessageBytes int
	// Batch is how many messages Train learns per store round.
	Batch int

	// Now is the clock (learned days, cache ages). Default time.Now.
	Now func() time.Time
	// Log receives store failures. Default: discarded.
	Log *slog.Logger
}

// DefaultOptions returns the defaults.
func DefaultOptions() Options {
	return Options{
		Tokenizer: DefaultTokenizerOptions(),
		Strength:  DefaultStrength, Prior: DefaultPrior, MinDeviation: DefaultMinDeviation, MaxClues: DefaultMaxClues,
		ConflictClues: DefaultConflictClues,
		SpamCutoff:    DefaultSpamCutoff, HamCutoff: DefaultHamCutoff,
		SpamScore: DefaultSpamScore, HamScore: DefaultHamScore,
		MinLearned: DefaultMinLearned, PerUser: true, UserMinLearned: DefaultUserMinLearned,
		MaxTokens: DefaultMaxTokens, UserMaxTokens: DefaultUserMaxTokens, RareAge: DefaultRareAge,
		DigestTTL: DefaultDigestTTL, CacheTTL: DefaultCacheTTL, CacheTokens: DefaultCacheTokens,
		CacheUsers: DefaultCacheUsers, MaxMessageBytes: DefaultMaxMessage, Batch: DefaultBatch,
	}
}

// Validate reports what is wrong with the options; the names in the
// messages are the bayes.* config keys.
func (o Options) Validate() error {
	var errs []string
	add := func(f string, a ...any) { errs = append(errs, fmt.Sprintf(f, a...)) }
	if err := o.Tokenizer.Validate(); err != nil {
		add("%v", err)
	}
	if o.Strength <= 0 {
		add("strength: must be positive")
	}
	if o.Prior <= 0 || o.Prior >= 1 {
		add("prior: want a probability strictly between 0 and 1")
	}
	if o.MinDeviation < 0 || o.MinDeviation >= 0.5 {
		add("min_deviation: want 0 to 0.5 (exclusive)")
	}
	if o.MaxClues < 1 {
		add("max_clues: must be at least 1")
	}
	if o.ConflictClues < 0 || o.ConflictClues > o.MaxClues {
		add("conflict_clues: want 0 to max_clues")
	}
	if o.SpamCutoff <= 0 || o.SpamCutoff > 1 {
		add("spam_cutoff: want a probability above 0, at most 1")
	}
	if o.HamCutoff < 0 || o.HamCutoff >= o.SpamCutoff {
		add("ham_cutoff: want 0 or more, below spam_cutoff")
	}
	if o.SpamScore < 0 {
		add("spam_score: must not be negative")
	}
	if o.HamScore > 0 {
		add("ham_score: must not be positive")
	}
	if o.MinLearned < 0 || o.UserMinLearned < 0 {
		add("min_learned, user_min_learned: must not be negative")
	}
	if o.MaxTokens < 1000 || o.UserMaxTokens < 1000 {
		add("max_tokens, user_max_tokens: want at least 1000")
	}
	if o.RareAge < 0 || o.DigestTTL < time.Hour || o.CacheTTL < 0 {
		add("rare_age and cache_ttl must not be negative, digest_ttl must be at least 1h")
	}
	if o.AutoLearnSpam != nil && o.AutoLearnHam != nil && *o.AutoLearnHam >= *o.AutoLearnSpam {
		add("autolearn.ham: must be below autolearn.spam")
	}
	if len(errs) > 0 {
		return errors.New("bayes: " + strings.Join(errs, "; "))
	}
	return nil
}

// DefaultUser names the per-user model of a transaction: its recipient,
// lower-cased, when it has exactly one; "" (global model only) otherwise.
func DefaultUser(t *filter.Txn) string {
	if len(t.Rcpts) != 1 {
		return ""
	}
	return strings.ToLower(t.Rcpts[0])
}
