package bayes

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/moatmail/moat/filter/state"
)

// Bayes is the content scorer: it classifies messages against the models
// in a state store, learns and unlearns messages, and is the "bayes"
// filter.Check. One Bayes per process and store; it is safe for
// concurrent use. Several processes may share a Redis store.
type Bayes struct {
	st    state.Store
	o     Options
	tok   *Tokenizer
	cache *cache
	sc    scripts
	log   *slog.Logger
	now   func() time.Time

	global  modelRef
	bufs    sync.Pool // *classifyBuf
	pruneMu sync.Mutex
	prunes  atomic.Int64 // prune passes run, to vary the boundary cut
}

// New returns a Bayes on store st with options o (start from
// DefaultOptions; they must Validate). Now, Log, User, MaxMessageBytes,
// Batch, CacheTokens and CacheUsers take their defaults when zero.
func New(st state.Store, o Options) (*Bayes, error) {
	if st == nil {
		return nil, fmt.Errorf("bayes: no state store")
	}
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.User == nil {
		o.User = DefaultUser
	}
	if o.MaxMessageBytes <= 0 {
		o.MaxMessageBytes = DefaultMaxMessage
	}
	if o.Batch <= 0 {
		o.Batch = DefaultBatch
	}
	if o.CacheTokens <= 0 {
		o.CacheTokens = DefaultCacheTokens
	}
	if o.CacheUsers <= 0 {
		o.CacheUsers = DefaultCacheUsers
	}
	b := &Bayes{
		st: st, o: o, tok: NewTokenizer(o.Tokenizer), sc: newScripts(), log: o.Log, now: o.Now,
		cache:  newCache(o.CacheTTL, int64(o.CacheTokens), o.CacheUsers, o.Now),
		global: globalRef(),
	}
	b.bufs.New = func() any { return &classifyBuf{} }
	return b, nil
}

// Options returns the options in effect.
func (b *Bayes) Options() Options { return b.o }

// Tokenizer returns the tokenizer.
func (b *Bayes) Tokenizer() *Tokenizer { return b.tok }

// Result is a classification.
type Result struct {
	// Ready is false when no model has learned enough (MinLearned of each
	// class) to be used; the other fields are then zero.
	Ready bool `json:"ready"`
	// Prob is the spam probability (0 ham … 1 spam).
	Prob float64 `json:"prob"`
	// Rank orders messages of equal Prob (positive: spammier); it is what
	// evaluation uses to break ties.
	Rank float64 `json:"rank"`
	// Tokens is how many distinct tokens the message had; Clues how many
	// were combined.
	Tokens int `json:"tokens"`
	Clues  int `json:"clues"`
	// User is the per-user model blended in, "" for none.
	User string `json:"user,omitempty"`
}

// Class is what a message is learned as.
type Class uint8

// The classes.
const (
	Ham Class = iota + 1
	Spam
)

// String returns "ham" or "spam".
func (c Class) String() string {
	switch c {
	case Ham:
		return "ham"
	case Spam:
		return "spam"
	}
	return "none"
}

// ParseClass parses "ham" or "spam".
func ParseClass(s string) (Class, error) {
	switch s {
	case "ham":
		return Ham, nil
	case "spam":
		return Spam, nil
	}
	return 0, fmt.Errorf("bayes: unknown class %q (want ham or spam)", s)
}

// classifyBuf holds a classification's scratch slices.
type classifyBuf struct {
	ids   []uint64
	gvals []int64
	uvals []int64
	clues []clue
}

// model is a model's counts as a classification sees them.
type modelView struct {
	ok     bool
	nS, nH float64
	vals   []int64
}

// Classify scores a raw message (RFC 5322, an mbox "From " line allowed)
// against the global model, blended with user's model when per-user
// models are on and user has one that has learned enough.
func (b *Bayes) Classify(ctx context.Context, raw []byte, user string) (Result, error) {
	// Tokenizing is most of the cost: skip it while no model has learned
	// enough to score (the counts are cached).
	if ok, err := b.ready(ctx, user); err != nil || !ok {
		return Result{}, err
	}
	buf := b.bufs.Get().(*classifyBuf)
	defer b.bufs.Put(buf)
	buf.ids = b.tok.Tokens(buf.ids[:0], raw)
	return b.classifyIDs(ctx, buf, user)
}

func (b *Bayes) classifyIDs(ctx context.Context, buf *classifyBuf, user string) (Result, error) {
	ids := buf.ids
	g, err := b.view(ctx, b.global, b.o.MinLearned, ids, &buf.gvals)
	if err != nil {
		return Result{}, err
	}
	var u modelView
	if user != "" && b.o.PerUser {
		if u, err = b.view(ctx, b.userRef(user), max(b.o.UserMinLearned, 1), ids, &buf.uvals); err != nil {
			return Result{}, err
		}
	}
	if !g.ok && !u.ok {
		return Result{}, nil
	}
	s, x, md := b.o.Strength, b.o.Prior, b.o.MinDeviation
	clues := buf.clues[:0]
	for i := range ids {
		f := x
		if g.ok {
			gs, gh, _ := unpack(g.vals[i])
			f = tokenProb(float64(gs), float64(gh), g.nS, g.nH, s, x)
		}
		if u.ok {
			us, uh, _ := unpack(u.vals[i])
			f = tokenProb(float64(us), float64(uh), u.nS, u.nH, s, f)
		}
		if d := math.Abs(f - 0.5); d >= md {
			clues = append(clues, clue{p: f, dev: d})
		}
	}
	buf.clues = clues
	v := combine(clues, b.o.MaxClues, b.o.ConflictClues)
	r := Result{Ready: true, Prob: v.prob, Rank: v.rank, Tokens: len(ids), Clues: v.clues}
	if u.ok {
		r.User = user
	}
	return r, nil
}

// view reads a model's counts for ids; ok is false when the model has not
// learned minLearned messages of each class.
func (b *Bayes) view(ctx context.Context, ref modelRef, minLearned int, ids []uint64, vals *[]int64) (modelView, error) {
	m := b.cache.model(ref)
	meta, err := b.cache.getMeta(ctx, b.st, m)
	if err != nil {
		return modelView{}, err
	}
	if meta.spam < int64(minLearned) || meta.ham < int64(minLearned) || meta.spam <= 0 || meta.ham <= 0 {
		return modelView{}, nil
	}
	v := (*vals)[:0]
	v = append(v, make([]int64, len(ids))...)
	*vals = v
	if err := b.cache.lookup(ctx, b.st, m, meta.bits, ids, v); err != nil {
		return modelView{}, err
	}
	return modelView{ok: true, nS: float64(meta.spam), nH: float64(meta.ham), vals: v}, nil
}

// ready reports whether the global model, or user's when per-user models
// are on, has learned enough of each class to score.
func (b *Bayes) ready(ctx context.Context, user string) (bool, error) {
	enough := func(ref modelRef, minLearned int) (bool, error) {
		meta, err := b.cache.getMeta(ctx, b.st, b.cache.model(ref))
		if err != nil {
			return false, err
		}
		return meta.spam >= int64(max(minLearned, 1)) && meta.ham >= int64(max(minLearned, 1)), nil
	}
	if ok, err := enough(b.global, b.o.MinLearned); err != nil || ok {
		return ok, err
	}
	if user == "" || !b.o.PerUser {
		return false, nil
	}
	return enough(b.userRef(user), b.o.UserMinLearned)
}

func (b *Bayes) userRef(user string) modelRef { return userRef(user, DefaultUserBits) }

func (b *Bayes) ref(user string) modelRef {
	if user == "" {
		return b.global
	}
	return b.userRef(user)
}

// Stats are a model's sizes. The JSON keys are part of
// `moat bayes stats --json`.
type Stats struct {
	// SpamLearned and HamLearned are the messages learned.
	SpamLearned int64 `json:"spam_learned"`
	HamLearned  int64 `json:"ham_learned"`
	// Tokens is the number of distinct tokens stored, as counted by
	// learning and pruning.
	Tokens int64 `json:"tokens"`
}

// Stats returns the sizes of the global model (user "") or of a user's.
func (b *Bayes) Stats(ctx context.Context, user string) (Stats, error) {
	ref := b.ref(user)
	op := state.HMGet(ref.metaKey(), "spam", "ham", "tokens")
	if err := b.st.Do(ctx, op); err != nil {
		return Stats{}, fmt.Errorf("bayes: reading %s: %w", ref.metaKey(), err)
	}
	v := op.Ints()
	return Stats{SpamLearned: v[0], HamLearned: v[1], Tokens: max(v[2], 0)}, nil
}

// Users lists the users that have a model.
func (b *Bayes) Users(ctx context.Context) ([]string, error) {
	op := state.HGetAll(usersKey)
	if err := b.st.Do(ctx, op); err != nil {
		return nil, fmt.Errorf("bayes: reading %s: %w", usersKey, err)
	}
	var out []string
	for u := range op.Hash() {
		out = append(out, u)
	}
	return out, nil
}
