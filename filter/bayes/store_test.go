package bayes

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/moatmail/moat/filter/state"
	"github.com/moatmail/moat/filter/state/statetest"
)

var epoch = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// newBayes returns a Bayes on st with the test clock and the options
// changed by mod.
func newBayes(t testing.TB, st state.Store, clock *statetest.Clock, mod func(*Options)) *Bayes {
	t.Helper()
	o := DefaultOptions()
	o.MinLearned = 1
	o.Now = clock.Now
	if mod != nil {
		mod(&o)
	}
	b, err := New(st, o)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// spamText and hamText make small distinct messages of each kind.
func spamText(i int) []byte {
	return []byte(fmt.Sprintf("Subject: cheap pills %d\nMessage-ID: <s%d@spam.example>\n\nbuy cheap pills now, viagra discount offer %d, click here", i, i, i))
}

func hamText(i int) []byte {
	return []byte(fmt.Sprintf("Subject: meeting notes %d\nMessage-ID: <h%d@work.example>\n\nthe meeting about the quarterly budget moved to thursday, agenda item %d", i, i, i))
}

func stats(t *testing.T, b *Bayes, user string) Stats {
	t.Helper()
	s, err := b.Stats(ctxT(t), user)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestLearnCountsOnceMovesAndUnlearns(t *testing.T) {
	t.Parallel()
	for _, be := range statetest.Backends(t) {
		t.Run(be.Name, func(t *testing.T) {
			t.Parallel()
			clock := statetest.NewClock(epoch)
			b := newBayes(t, be.Open(t, clock.Now), clock, nil)
			ctx := ctxT(t)
			steps := []struct {
				name  string
				do    func() (LearnResult, error)
				want  LearnResult
				stats Stats
			}{
				{"learn spam", func() (LearnResult, error) { return b.Learn(ctx, "", Spam, spamText(1), spamText(2), spamText(3)) },
					LearnResult{Learned: 3}, Stats{SpamLearned: 3}},
				{"learn ham with a duplicate in the batch", func() (LearnResult, error) { return b.Learn(ctx, "", Ham, hamText(1), hamText(2), hamText(1)) },
					LearnResult{Learned: 2, Already: 1}, Stats{SpamLearned: 3, HamLearned: 2}},
				{"learn the same spam again", func() (LearnResult, error) { return b.Learn(ctx, "", Spam, spamText(1)) },
					LearnResult{Already: 1}, Stats{SpamLearned: 3, HamLearned: 2}},
				{"learn a spam as ham moves it", func() (LearnResult, error) { return b.Learn(ctx, "", Ham, spamText(3)) },
					LearnResult{Moved: 1}, Stats{SpamLearned: 2, HamLearned: 3}},
				{"unlearn", func() (LearnResult, error) { return b.Unlearn(ctx, "", spamText(3), hamText(9)) },
					LearnResult{Forgotten: 1, NotLearned: 1}, Stats{SpamLearned: 2, HamLearned: 2}},
			}
			for _, s := range steps {
				got, err := s.do()
				if err != nil {
					t.Fatalf("%s: %v", s.name, err)
				}
				if got != s.want {
					t.Errorf("%s: got %+v, want %+v", s.name, got, s.want)
				}
				st := stats(t, b, "")
				if st.SpamLearned != s.stats.SpamLearned || st.HamLearned != s.stats.HamLearned || st.Tokens <= 0 {
					t.Errorf("%s: stats %+v, want %+v and some tokens", s.name, st, s.stats)
				}
			}
			if c, err := b.LearnedAs(ctx, "", spamText(1)); err != nil || c != Spam {
				t.Errorf("LearnedAs(spam 1) = %v, %v; want spam", c, err)
			}
			if c, err := b.LearnedAs(ctx, "", spamText(3)); err != nil || c != 0 {
				t.Errorf("LearnedAs(unlearned) = %v, %v; want none", c, err)
			}
		})
	}
}

// dump returns every bucket of the global model.
func dump(t *testing.T, b *Bayes) map[string]string {
	t.Helper()
	out := map[string]string{}
	for bk := uint64(0); bk < 1<<DefaultGlobalBits; bk += maxOpsPerDo {
		var ops []*state.Op
		for i := bk; i < bk+maxOpsPerDo; i++ {
			ops = append(ops, state.Get(bucketKey(b.global.root, i)))
		}
		if err := b.st.Do(ctxT(t), ops...); err != nil {
			t.Fatal(err)
		}
		for i, op := range ops {
			if op.Found() {
				out[bucketKey(b.global.root, bk+uint64(i))] = string(op.Bytes())
			}
		}
	}
	return out
}

func TestUnlearnRestoresTheModel(t *testing.T) {
	t.Parallel()
	for _, be := range statetest.Backends(t) {
		t.Run(be.Name, func(t *testing.T) {
			t.Parallel()
			clock := statetest.NewClock(epoch)
			b := newBayes(t, be.Open(t, clock.Now), clock, nil)
			ctx := ctxT(t)
			ham, spam := corpusMessages(t)
			if _, err := b.Learn(ctx, "", Ham, ham[:20]...); err != nil {
				t.Fatal(err)
			}
			before, beforeStats := dump(t, b), stats(t, b, "")
			if _, err := b.Learn(ctx, "", Spam, spam[:5]...); err != nil {
				t.Fatal(err)
			}
			if _, err := b.Learn(ctx, "", Ham, spam[:2]...); err != nil { // moved
				t.Fatal(err)
			}
			if _, err := b.Unlearn(ctx, "", spam[:5]...); err != nil {
				t.Fatal(err)
			}
			after, afterStats := dump(t, b), stats(t, b, "")
			if afterStats != beforeStats {
				t.Errorf("stats after learn+unlearn %+v, before %+v", afterStats, beforeStats)
			}
			if len(after) != len(before) {
				t.Fatalf("%d buckets after, %d before", len(after), len(before))
			}
			for k, v := range before {
				if after[k] != v {
					t.Fatalf("bucket %s changed", k)
				}
			}
		})
	}
}

// TestScriptsAgree runs the same learning and pruning on both backends
// and compares the stored buckets byte for byte: the Lua and Go scripts
// must implement the same thing.
func TestScriptsAgree(t *testing.T) {
	t.Parallel()
	bes := statetest.Backends(t)
	var dumps []map[string]string
	for _, be := range bes {
		clock := statetest.NewClock(epoch)
		st := be.Open(t, clock.Now)
		if st == nil {
			return // skipped
		}
		b := newBayes(t, st, clock, func(o *Options) { o.RareAge = 48 * time.Hour })
		ctx := ctxT(t)
		ham, spam := corpusMessages(t)
		must := func(_ LearnResult, err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		must(b.Learn(ctx, "", Ham, ham[:30]...))
		clock.Advance(72 * time.Hour)
		must(b.Learn(ctx, "", Spam, spam[:30]...))
		must(b.Learn(ctx, "", Ham, spam[:3]...))
		must(b.Unlearn(ctx, "", ham[:4]...))
		// Counts past the 19-bit limit halve both counts.
		ref := b.global
		field := int64(12345)
		if err := b.st.Do(ctx, state.Run(b.sc.train, []string{bucketKey(ref.root, 7)}, dayOf(clock.Now()), field, maxCount, 3, field+1, 5, 0)); err != nil {
			t.Fatal(err)
		}
		if err := b.st.Do(ctx, state.Run(b.sc.train, []string{bucketKey(ref.root, 7)}, dayOf(clock.Now()), field, 2, 1, field+1, -9, 0)); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Prune(ctx, ""); err != nil { // expires the old hapaxes of ham
			t.Fatal(err)
		}
		dumps = append(dumps, dump(t, b))
		op := state.Get(bucketKey(ref.root, 7))
		if err := b.st.Do(ctx, op); err != nil {
			t.Fatal(err)
		}
		s, h, _ := unpack(findRecord(op.Bytes(), uint64(field)))
		// maxCount+2 and 4 halve (rounding up) to 262145 and 2.
		if s != (maxCount+3)/2 || h != 2 {
			t.Errorf("%s: overflowed counts %d/%d, want %d/2", be.Name, s, h, (maxCount+3)/2)
		}
		if v := findRecord(op.Bytes(), uint64(field+1)); v != 0 {
			t.Errorf("%s: a token at zero should be deleted, has %x", be.Name, v)
		}
	}
	if len(dumps) < 2 {
		return
	}
	a, b := dumps[0], dumps[1]
	if len(a) != len(b) {
		t.Fatalf("%d buckets on %s, %d on %s", len(a), bes[0].Name, len(b), bes[1].Name)
	}
	for k, v := range a {
		if !bytes.Equal([]byte(b[k]), []byte(v)) {
			t.Fatalf("bucket %s differs between backends", k)
		}
	}
}

func TestClassifyAfterLearning(t *testing.T) {
	t.Parallel()
	for _, be := range statetest.Backends(t) {
		t.Run(be.Name, func(t *testing.T) {
			t.Parallel()
			clock := statetest.NewClock(epoch)
			b := newBayes(t, be.Open(t, clock.Now), clock, func(o *Options) { o.MinLearned = 50 })
			ctx := ctxT(t)
			ham, spam := corpusMessages(t)
			// Train on the even messages, test on the odd ones.
			var trainHam, trainSpam, testHam, testSpam [][]byte
			for i, m := range ham {
				if i%2 == 0 {
					trainHam = append(trainHam, m)
				} else {
					testHam = append(testHam, m)
				}
			}
			for i, m := range spam {
				if i%2 == 0 {
					trainSpam = append(trainSpam, m)
				} else {
					testSpam = append(testSpam, m)
				}
			}
			if _, err := b.Learn(ctx, "", Spam, trainSpam...); err != nil {
				t.Fatal(err)
			}
			if r, err := b.Classify(ctx, testSpam[0], ""); err != nil || r.Ready {
				t.Fatalf("with no ham learned: %+v, %v; want not ready", r, err)
			}
			if _, err := b.Learn(ctx, "", Ham, trainHam...); err != nil {
				t.Fatal(err)
			}
			right, total := 0, 0
			for _, set := range []struct {
				msgs [][]byte
				spam bool
			}{{testHam, false}, {testSpam, true}} {
				for _, m := range set.msgs {
					r, err := b.Classify(ctx, m, "")
					if err != nil {
						t.Fatal(err)
					}
					if !r.Ready || r.Clues == 0 || r.Tokens < r.Clues {
						t.Fatalf("result %+v", r)
					}
					total++
					if (r.Prob > 0.5 || (r.Prob == 0.5 && r.Rank > 0)) == set.spam {
						right++
					}
				}
			}
			// 60 training messages of each class: most must still be right.
			if acc := float64(right) / float64(total); acc < 0.9 {
				t.Errorf("accuracy %.3f on %d held-out messages, want ≥ 0.9", acc, total)
			}
		})
	}
}

func TestPerUserModelBlends(t *testing.T) {
	t.Parallel()
	for _, be := range statetest.Backends(t) {
		t.Run(be.Name, func(t *testing.T) {
			t.Parallel()
			clock := statetest.NewClock(epoch)
			b := newBayes(t, be.Open(t, clock.Now), clock, func(o *Options) { o.UserMinLearned = 5 })
			ctx := ctxT(t)
			// Globally, meeting notes are ham.
			var spams, hams [][]byte
			for i := range 20 {
				spams, hams = append(spams, spamText(i)), append(hams, hamText(i))
			}
			if _, err := b.Learn(ctx, "", Spam, spams...); err != nil {
				t.Fatal(err)
			}
			if _, err := b.Learn(ctx, "", Ham, hams...); err != nil {
				t.Fatal(err)
			}
			// Bob has had enough of meetings.
			var bobSpam, bobHam [][]byte
			for i := 100; i < 106; i++ {
				bobSpam = append(bobSpam, hamText(i))
				bobHam = append(bobHam, []byte(fmt.Sprintf("Subject: dinner %d\n\nlet us have dinner at eight, %d", i, i)))
			}
			if _, err := b.Learn(ctx, "bob@example.org", Spam, bobSpam...); err != nil {
				t.Fatal(err)
			}
			if _, err := b.Learn(ctx, "bob@example.org", Ham, bobHam...); err != nil {
				t.Fatal(err)
			}
			probe := hamText(999)
			g, err := b.Classify(ctx, probe, "")
			if err != nil {
				t.Fatal(err)
			}
			u, err := b.Classify(ctx, probe, "bob@example.org")
			if err != nil {
				t.Fatal(err)
			}
			o, err := b.Classify(ctx, probe, "carol@example.org") // no model: global only
			if err != nil {
				t.Fatal(err)
			}
			if g.Prob > 0.1 || u.Prob < 0.9 || u.User != "bob@example.org" || o.User != "" || o.Prob != g.Prob {
				t.Errorf("global %+v, bob %+v, carol %+v: want ham globally, spam for bob, global for carol", g, u, o)
			}
			if s := stats(t, b, "bob@example.org"); s.SpamLearned != 6 || s.HamLearned != 6 {
				t.Errorf("bob's stats %+v", s)
			}
			users, err := b.Users(ctx)
			if err != nil || len(users) != 1 || users[0] != "bob@example.org" {
				t.Errorf("Users() = %q, %v", users, err)
			}
		})
	}
}

func TestPruneBoundsTheModel(t *testing.T) {
	t.Parallel()
	for _, be := range statetest.Backends(t) {
		t.Run(be.Name, func(t *testing.T) {
			t.Parallel()
			clock := statetest.NewClock(epoch)
			const limit = 5000
			b := newBayes(t, be.Open(t, clock.Now), clock, func(o *Options) { o.MaxTokens = limit })
			ctx := ctxT(t)
			ham, spam := corpusMessages(t)
			for i := 0; i < 40; i += 10 { // older batches first
				if _, err := b.Learn(ctx, "", Ham, ham[i:i+10]...); err != nil {
					t.Fatal(err)
				}
				if _, err := b.Learn(ctx, "", Spam, spam[i:i+10]...); err != nil {
					t.Fatal(err)
				}
				clock.Advance(24 * time.Hour)
			}
			s := stats(t, b, "")
			if s.Tokens > limit || s.Tokens < limit*8/10 {
				t.Errorf("%d tokens after learning past the cap of %d, want about 90%% of it", s.Tokens, limit)
			}
			if n := countTokens(t, b); n != s.Tokens {
				t.Errorf("stats say %d tokens, the store holds %d", s.Tokens, n)
			}
			// The frequent tokens survive: a learned spam is still spam.
			if r, err := b.Classify(ctx, spam[0], ""); err != nil || r.Prob < 0.9 {
				t.Errorf("after pruning, a learned spam scores %+v, %v", r, err)
			}
		})
	}
}

func TestPruneExpiresOldRareTokens(t *testing.T) {
	t.Parallel()
	for _, be := range statetest.Backends(t) {
		t.Run(be.Name, func(t *testing.T) {
			t.Parallel()
			clock := statetest.NewClock(epoch)
			b := newBayes(t, be.Open(t, clock.Now), clock, nil)
			ctx := ctxT(t)
			if _, err := b.Learn(ctx, "", Spam, spamText(11), spamText(12)); err != nil {
				t.Fatal(err)
			}
			clock.Advance(DefaultRareAge - 48*time.Hour)
			if _, err := b.Learn(ctx, "", Ham, hamText(1)); err != nil {
				t.Fatal(err)
			}
			before := stats(t, b, "")
			clock.Advance(72 * time.Hour) // the spam's hapaxes are past RareAge, the ham's are not
			res, err := b.Prune(ctx, "")
			if err != nil {
				t.Fatal(err)
			}
			// Each spam has a number token of its own ("11", "12"), seen once.
			if res.Before != before.Tokens || res.After >= res.Before || res.After != countTokens(t, b) {
				t.Errorf("prune: %+v (store holds %d, stats said %d)", res, countTokens(t, b), before.Tokens)
			}
			if s := stats(t, b, ""); s.Tokens != res.After {
				t.Errorf("stats after prune %+v, want %d tokens", s, res.After)
			}
			// The ham, learned within RareAge, keeps every token.
			r, err := b.Classify(ctx, hamText(1), "")
			if err != nil || r.Prob > 0.1 {
				t.Errorf("ham after prune: %+v, %v", r, err)
			}
		})
	}
}

func countTokens(t *testing.T, b *Bayes) int64 {
	t.Helper()
	var n int64
	for _, v := range dump(t, b) {
		n += int64(len(v) / recordLen)
	}
	return n
}

// TestSharedStore: two moat processes on one Redis (or two Bayes on one
// store) see each other's learning once their caches expire.
func TestSharedStore(t *testing.T) {
	t.Parallel()
	statetest.RequireRedis(t)
	srv := statetest.StartRedis(t)
	prefix := statetest.UniquePrefix()
	clock := statetest.NewClock(epoch)
	a := newBayes(t, statetest.OpenRedisPrefix(t, srv, prefix), clock, nil)
	b := newBayes(t, statetest.OpenRedisPrefix(t, srv, prefix), clock, nil)
	ctx := ctxT(t)
	probe := spamText(50)
	if _, err := a.Learn(ctx, "", Spam, spamText(1), spamText(2)); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Learn(ctx, "", Ham, hamText(1), hamText(2)); err != nil {
		t.Fatal(err)
	}
	r1, err := b.Classify(ctx, probe, "")
	if err != nil || !r1.Ready {
		t.Fatalf("b sees a's model: %+v, %v", r1, err)
	}
	// a learns more; b's cache still has the old counts.
	for i := 3; i < 30; i++ {
		if _, err := a.Learn(ctx, "", Ham, []byte(fmt.Sprintf("Subject: cheap pills\n\nbuy cheap pills now %d", i))); err != nil {
			t.Fatal(err)
		}
	}
	r2, _ := b.Classify(ctx, probe, "")
	if r2.Prob != r1.Prob {
		t.Errorf("b's cached result changed before CacheTTL: %v then %v", r1.Prob, r2.Prob)
	}
	ra, _ := a.Classify(ctx, probe, "")
	clock.Advance(DefaultCacheTTL + time.Second)
	r3, _ := b.Classify(ctx, probe, "")
	if r3.Prob == r1.Prob || r3.Prob != ra.Prob {
		t.Errorf("after CacheTTL b gives %v (a gives %v, b gave %v before)", r3.Prob, ra.Prob, r1.Prob)
	}
	if sa, sb := stats(t, a, ""), stats(t, b, ""); sa != sb || sa.HamLearned != 29 {
		t.Errorf("stats differ: %+v and %+v", sa, sb)
	}
}

func TestStoreFailureIsAnError(t *testing.T) {
	t.Parallel()
	clock := statetest.NewClock(epoch)
	st := state.NewMemory(clock.Now)
	b := newBayes(t, st, clock, nil)
	ctx := ctxT(t)
	if _, err := b.Learn(ctx, "", Spam, spamText(1)); err != nil {
		t.Fatal(err)
	}
	st.Close()
	if _, err := b.Classify(ctx, spamText(2), ""); err == nil {
		t.Error("Classify on a closed store: no error")
	}
	if _, err := b.Learn(ctx, "", Spam, spamText(3)); err == nil {
		t.Error("Learn on a closed store: no error")
	}
	if _, err := b.Stats(ctx, ""); err == nil {
		t.Error("Stats on a closed store: no error")
	}
}

func TestEscapeUser(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"bob@example.org": "bob@example.org",
		"a:b{c}d%e f":     "a%3ab%7bc%7dd%25e%20f",
	} {
		if got := escapeUser(in); got != want {
			t.Errorf("escapeUser(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestConcurrentUse classifies from several goroutines while others learn
// and prune (run it with -race).
func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	clock := statetest.NewClock(epoch)
	b := newBayes(t, state.NewMemory(clock.Now), clock, func(o *Options) { o.MaxTokens = 3000 })
	ctx := ctxT(t)
	ham, spam := corpusMessages(t)
	if _, err := b.Learn(ctx, "", Ham, ham[:10]...); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Learn(ctx, "", Spam, spam[:10]...); err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 8)
	for g := range 4 {
		go func() {
			for i := range 30 {
				if _, err := b.Classify(ctx, ham[(g*30+i)%len(ham)], "bob@example.org"); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for g := range 2 {
		go func() {
			for i := 10; i < 40; i += 5 {
				msgs, c := ham[i:i+5], Ham
				if g == 1 {
					msgs, c = spam[i:i+5], Spam
				}
				if _, err := b.Learn(ctx, "", c, msgs...); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	go func() {
		_, err := b.Learn(ctx, "bob@example.org", Spam, spam[50:60]...)
		errs <- err
	}()
	go func() {
		_, err := b.Prune(ctx, "")
		errs <- err
	}()
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	// The token count stays exact; the cap holds once learning stops
	// (a prune only sees what was learned before it).
	if s := stats(t, b, ""); s.HamLearned != 40 || s.SpamLearned != 40 || s.Tokens != countTokens(t, b) {
		t.Errorf("stats %+v, store holds %d tokens", s, countTokens(t, b))
	}
	if _, err := b.Prune(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if s := stats(t, b, ""); s.Tokens > 3000 || s.Tokens != countTokens(t, b) {
		t.Errorf("after Prune: stats %+v, store holds %d tokens", s, countTokens(t, b))
	}
}
