package bayes

import (
	"context"
	"fmt"

	"github.com/moatmail/moat/filter/state"
)

// PruneResult says what a prune did.
type PruneResult struct {
	// Before and After are the model's distinct tokens, counted as the
	// prune went through the buckets (learning at the same time may add
	// some).
	Before int64 `json:"before"`
	After  int64 `json:"after"`
	// MinMessages and MinAgeDays are the thresholds used: tokens seen in
	// fewer than MinMessages messages went, and those seen in exactly
	// MinMessages and not learned for more than MinAgeDays days (and some
	// of those not learned for exactly that long).
	MinMessages int64 `json:"min_messages"`
	MinAgeDays  int64 `json:"min_age_days"`
}

// Prune bounds the global model (user "") or a user's: when it holds more
// tokens than its cap, the rarest tokens (seen in the fewest messages),
// oldest first among equally rare, go until it holds 90% of the cap; and
// tokens seen in a single message and not learned for RareAge go in any
// case. Learning calls it when a model grows past its cap; call it from a
// periodic job too (see Maintain).
func (b *Bayes) Prune(ctx context.Context, user string) (PruneResult, error) {
	ref := b.ref(user)
	limit := b.o.MaxTokens
	if user != "" {
		limit = b.o.UserMaxTokens
	}
	return b.prune(ctx, ref, limit)
}

// Maintain prunes the global model and every user model.
func (b *Bayes) Maintain(ctx context.Context) error {
	if _, err := b.Prune(ctx, ""); err != nil {
		return err
	}
	users, err := b.Users(ctx)
	if err != nil {
		return err
	}
	for _, u := range users {
		if _, err := b.Prune(ctx, u); err != nil {
			return err
		}
	}
	return nil
}

// histCounts and histDays size the histogram of (messages, age) that the
// thresholds are chosen from.
const (
	histCounts = 32
	histDays   = 4096
)

func (b *Bayes) prune(ctx context.Context, ref modelRef, limit int) (PruneResult, error) {
	b.pruneMu.Lock()
	defer b.pruneMu.Unlock()
	m := b.cache.model(ref)
	meta, err := b.cache.getMeta(ctx, b.st, m)
	if err != nil {
		return PruneResult{}, err
	}
	bits := meta.bits
	n := uint64(1) << bits
	today := dayOf(b.now())
	rare := int64(b.o.RareAge.Hours() / 24)

	// Pass 1: count tokens by messages seen in and age.
	var hist [histCounts][]int64
	for i := range hist {
		hist[i] = make([]int64, histDays)
	}
	var total int64
	for start := uint64(0); start < n; start += maxOpsPerDo {
		end := min(start+maxOpsPerDo, n)
		ops := make([]*state.Op, 0, end-start)
		for bk := start; bk < end; bk++ {
			ops = append(ops, state.Get(bucketKey(ref.root, bk)))
		}
		if err := b.st.Do(ctx, ops...); err != nil {
			return PruneResult{}, fmt.Errorf("bayes: prune: %w", err)
		}
		for _, op := range ops {
			recs := op.Bytes()
			for i := 0; i < len(recs)/recordLen; i++ {
				_, v := record(recs, i)
				s, h, d := unpack(v)
				c := min(s+h, histCounts-1)
				age := min(max(today-d, 0), histDays-1)
				hist[c][age]++
				total++
			}
		}
	}
	res := PruneResult{Before: total}
	// Rare tokens past RareAge go anyway.
	var gone int64
	if rare > 0 {
		for c := int64(0); c <= 1; c++ {
			for age := rare; age < histDays; age++ {
				gone += hist[c][age]
				hist[c][age] = 0
			}
		}
	}
	// Then the rarest and oldest, down to 90% of the cap: every token
	// seen in fewer than minC messages, those seen in minC not learned for
	// more than minAge days, and needB of the kB not learned for exactly
	// minAge days (the boundary group).
	const never = 1 << 40
	minC, minAge, needB, kB := int64(0), int64(never), int64(0), int64(0)
	if need := total - gone - int64(limit)*9/10; total-gone > int64(limit) && need > 0 {
		for c := int64(0); c < histCounts && need > 0; c++ {
			var all int64
			for _, k := range hist[c] {
				all += k
			}
			if all <= need {
				need -= all
				minC = c + 1
				continue
			}
			minC = c
			for age := int64(histDays - 1); age >= 0; age-- {
				k := hist[c][age]
				if k >= need {
					minAge, needB, kB = age, need, k
					need = 0
					break
				}
				need -= k
			}
		}
	}
	if minC == 0 && gone == 0 {
		res.After = total
		return res, nil
	}
	res.MinMessages = minC
	if minAge != never {
		res.MinAgeDays = minAge
	}
	// Pass 2: delete. The boundary group is cut by a field hash: the
	// tokens whose 10 bits at shift fall below a fraction. Earlier prunes
	// may have left those bits uneven, so when too few go, another pass
	// cuts by other bits.
	var kept, deleted int64
	for attempt := int64(0); attempt < 4; attempt++ {
		frac := int64(0)
		if kB > 0 && needB > 0 {
			frac = min((needB*1024+kB-1)/kB, 1024)
		}
		div := int64(1) << (10 * ((b.prunes.Add(1) + attempt) % 4))
		var boundary int64
		kept = 0
		for start := uint64(0); start < n; start += maxOpsPerDo {
			end := min(start+maxOpsPerDo, n)
			ops := make([]*state.Op, 0, end-start)
			for bk := start; bk < end; bk++ {
				ops = append(ops, state.Run(b.sc.prune, []string{bucketKey(ref.root, bk)}, today, minC, minAge, frac, rare, div))
			}
			if err := b.st.Do(ctx, ops...); err != nil {
				return res, fmt.Errorf("bayes: prune: %w", err)
			}
			for _, op := range ops {
				if r := op.Ints(); len(r) == 3 {
					deleted += r[0]
					kept += r[1]
					boundary += r[2]
				}
			}
			buckets := make([]uint64, 0, end-start)
			for bk := start; bk < end; bk++ {
				buckets = append(buckets, bk)
			}
			b.cache.invalidate(ref, buckets)
		}
		kB -= boundary
		needB -= boundary
		if needB <= max(1, total/200) || kB <= 0 { // within 0.5% of the model
			break
		}
	}
	res.After = kept
	if err := b.st.Do(ctx, state.HIncrBy(ref.metaKey(), map[string]int64{"tokens": -deleted}, 0)); err != nil {
		return res, fmt.Errorf("bayes: prune: %w", err)
	}
	b.cache.invalidate(ref, nil)
	return res, nil
}
