package bayes

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"fmt"
	"slices"
	"strings"

	"github.com/moatmail/moat/filter"
	"github.com/moatmail/moat/filter/state"
)

// Digest identifies a message for learning: the same message learned
// twice counts once. It covers the Message-ID and the body, not the rest
// of the header, so the copy a user moves to Junk (with the headers moat
// and the store added) is the message moat saw.
type Digest [16]byte

// MessageDigest returns the digest of a raw message: SHA-256 over the
// Message-ID (trimmed, lower case) and the first MiB of the body with
// line endings normalized to LF and trailing white space removed, cut to
// 16 bytes.
func MessageDigest(raw []byte) Digest {
	raw = StripFromLine(raw)
	h, n, _ := filter.ParseHeader(raw)
	mid := strings.ToLower(strings.Trim(h.Get("Message-ID"), "<> \t"))
	sum := sha256.New()
	sum.Write([]byte(mid))
	sum.Write([]byte{0})
	body := raw[n:]
	body = bytes.TrimRight(body[:min(len(body), digestBody)], " \t\r\n")
	for len(body) > 0 {
		i := bytes.IndexByte(body, '\r')
		if i < 0 {
			sum.Write(body)
			break
		}
		sum.Write(body[:i])
		if i+1 < len(body) && body[i+1] == '\n' {
			body = body[i+1:]
		} else {
			sum.Write([]byte{'\r'})
			body = body[i+1:]
		}
	}
	var d Digest
	copy(d[:], sum.Sum(nil))
	return d
}

// digestBody is how much of the body the digest covers.
const digestBody = 1 << 20

// Outcome is what learning or unlearning did to one message.
type Outcome uint8

// The outcomes.
const (
	// Learned: the message was new to the model and is now learned.
	Learned Outcome = iota + 1
	// Moved: it had been learned as the other class; it now counts as
	// this one.
	Moved
	// Already: it had been learned as this class; nothing changed.
	Already
	// Forgotten: unlearning removed it.
	Forgotten
	// NotLearned: unlearning found nothing to remove.
	NotLearned
)

// String names the outcome.
func (o Outcome) String() string {
	switch o {
	case Learned:
		return "learned"
	case Moved:
		return "moved"
	case Already:
		return "already"
	case Forgotten:
		return "forgotten"
	case NotLearned:
		return "not-learned"
	}
	return "none"
}

// LearnResult counts the outcomes of a Learn or Unlearn call.
type LearnResult struct {
	Learned    int `json:"learned"`
	Moved      int `json:"moved"`
	Already    int `json:"already"`
	Forgotten  int `json:"forgotten"`
	NotLearned int `json:"not_learned"`
}

func (r *LearnResult) add(o Outcome) {
	switch o {
	case Learned:
		r.Learned++
	case Moved:
		r.Moved++
	case Already:
		r.Already++
	case Forgotten:
		r.Forgotten++
	case NotLearned:
		r.NotLearned++
	}
}

func (r *LearnResult) merge(o LearnResult) {
	r.Learned += o.Learned
	r.Moved += o.Moved
	r.Already += o.Already
	r.Forgotten += o.Forgotten
	r.NotLearned += o.NotLearned
}

// item is one message to learn (class set) or unlearn (class 0).
type item struct {
	digest  Digest
	ids     []uint64
	class   Class
	onlyNew bool // learn only if the model has not learned it at all
}

// Learn learns raw messages as class in the global model (user "") or in
// user's model. A message already learned as class counts once; one
// learned as the other class is moved.
func (b *Bayes) Learn(ctx context.Context, user string, class Class, raws ...[]byte) (LearnResult, error) {
	if class != Ham && class != Spam {
		return LearnResult{}, fmt.Errorf("bayes: learn: bad class %d", class)
	}
	items := make([]item, len(raws))
	for i, raw := range raws {
		items[i] = item{digest: MessageDigest(raw), ids: b.tok.Tokens(nil, raw), class: class}
	}
	r, _, err := b.apply(ctx, b.ref(user), items)
	return r, err
}

// Unlearn removes raw messages from the model, whatever class they were
// learned as: the mirror of Learn.
func (b *Bayes) Unlearn(ctx context.Context, user string, raws ...[]byte) (LearnResult, error) {
	items := make([]item, len(raws))
	for i, raw := range raws {
		items[i] = item{digest: MessageDigest(raw), ids: b.tok.Tokens(nil, raw)}
	}
	r, _, err := b.apply(ctx, b.ref(user), items)
	return r, err
}

// LearnedAs returns the class a message has been learned as in the model,
// 0 if none.
func (b *Bayes) LearnedAs(ctx context.Context, user string, raw []byte) (Class, error) {
	op := state.Get(b.ref(user).digestKey(MessageDigest(raw)))
	if err := b.st.Do(ctx, op); err != nil {
		return 0, fmt.Errorf("bayes: %w", err)
	}
	return classOf(op.Bytes()), nil
}

func classOf(v []byte) Class {
	switch string(v) {
	case "s":
		return Spam
	case "h":
		return Ham
	}
	return 0
}

func classValue(c Class) []byte {
	if c == Spam {
		return []byte("s")
	}
	return []byte("h")
}

// apply learns and unlearns items in order, as one batch: token counts
// are summed first and written once per bucket.
func (b *Bayes) apply(ctx context.Context, ref modelRef, items []item) (LearnResult, []Outcome, error) {
	var res LearnResult
	outs := make([]Outcome, len(items))
	if len(items) == 0 {
		return res, outs, nil
	}
	// What each message has been learned as.
	cur := map[Digest]Class{}
	var digests []Digest
	for _, it := range items {
		if _, ok := cur[it.digest]; !ok {
			cur[it.digest] = 0
			digests = append(digests, it.digest)
		}
	}
	for len(digests) > 0 {
		chunk := digests[:min(len(digests), maxOpsPerDo)]
		digests = digests[len(chunk):]
		ops := make([]*state.Op, len(chunk))
		for i, d := range chunk {
			ops[i] = state.Get(ref.digestKey(d))
		}
		if err := b.st.Do(ctx, ops...); err != nil {
			return res, outs, fmt.Errorf("bayes: reading learned messages: %w", err)
		}
		for i, d := range chunk {
			cur[d] = classOf(ops[i].Bytes())
		}
	}
	// Decide, and sum the count changes.
	deltas := map[uint64]*[2]int64{} // token → spam, ham
	var dSpam, dHam int64
	change := func(ids []uint64, c Class, by int64) {
		k := 1
		if c == Spam {
			k = 0
			dSpam += by
		} else {
			dHam += by
		}
		for _, id := range ids {
			d := deltas[id]
			if d == nil {
				d = new([2]int64)
				deltas[id] = d
			}
			d[k] += by
		}
	}
	dirty := map[Digest]bool{}
	for i, it := range items {
		was := cur[it.digest]
		var o Outcome
		switch {
		case it.class == 0 && was == 0:
			o = NotLearned
		case it.class == 0:
			change(it.ids, was, -1)
			cur[it.digest] = 0
			o = Forgotten
		case was == it.class || (it.onlyNew && was != 0):
			o = Already
		case was != 0:
			change(it.ids, was, -1)
			change(it.ids, it.class, +1)
			cur[it.digest] = it.class
			o = Moved
		default:
			change(it.ids, it.class, +1)
			cur[it.digest] = it.class
			o = Learned
		}
		if o != Already && o != NotLearned {
			dirty[it.digest] = true
		}
		outs[i] = o
		res.add(o)
	}
	if len(dirty) == 0 {
		return res, outs, nil
	}
	m := b.cache.model(ref)
	meta, err := b.cache.getMeta(ctx, b.st, m)
	if err != nil {
		return res, outs, err
	}
	buckets, created, deleted, err := b.writeTokens(ctx, ref, meta.bits, deltas)
	if err != nil {
		b.cache.invalidate(ref, buckets)
		return res, outs, err
	}
	count := state.HMGet(ref.metaKey(), "tokens") // after this batch and any other
	ops := []*state.Op{
		state.HIncrBy(ref.metaKey(), map[string]int64{"spam": dSpam, "ham": dHam, "tokens": created - deleted}, 0),
		state.HSet(ref.metaKey(), map[string]int64{"v": formatVersion, "bits": int64(meta.bits)}, 0),
		count,
	}
	if ref.user != "" {
		ops = append(ops, state.HSet(usersKey, map[string]int64{ref.user: 1}, 0))
	}
	for d := range dirty {
		if c := cur[d]; c != 0 {
			ops = append(ops, state.Set(ref.digestKey(d), classValue(c), b.o.DigestTTL))
		} else {
			ops = append(ops, state.Del(ref.digestKey(d)))
		}
	}
	for len(ops) > 0 {
		chunk := ops[:min(len(ops), maxOpsPerDo)]
		ops = ops[len(chunk):]
		if err := b.st.Do(ctx, chunk...); err != nil {
			b.cache.invalidate(ref, buckets)
			return res, outs, fmt.Errorf("bayes: recording learned messages: %w", err)
		}
	}
	b.cache.invalidate(ref, buckets)
	limit := b.o.MaxTokens
	if ref.user != "" {
		limit = b.o.UserMaxTokens
	}
	if count.Ints()[0] > int64(limit) {
		if _, err := b.prune(ctx, ref, limit); err != nil {
			b.log.Warn("bayes: pruning the token store failed", "model", ref.root, "err", err)
		}
	}
	return res, outs, nil
}

// writeTokens applies count changes, one script per bucket; it returns
// the buckets touched and how many tokens were created and deleted.
func (b *Bayes) writeTokens(ctx context.Context, ref modelRef, bits uint, deltas map[uint64]*[2]int64) (buckets []uint64, created, deleted int64, err error) {
	// Ids that differ only in bits no record keeps are the same token.
	type change struct {
		field  uint64
		ds, dh int64
	}
	byBucket := map[uint64][]change{}
	for id, d := range deltas {
		if d[0] == 0 && d[1] == 0 {
			continue
		}
		bk := bucketOf(id, bits)
		byBucket[bk] = append(byBucket[bk], change{id & fieldMask, d[0], d[1]})
	}
	for bk, cs := range byBucket {
		buckets = append(buckets, bk)
		slices.SortFunc(cs, func(a, b change) int { return cmp.Compare(a.field, b.field) })
		out := cs[:0]
		for _, c := range cs {
			if n := len(out); n > 0 && out[n-1].field == c.field {
				out[n-1].ds += c.ds
				out[n-1].dh += c.dh
				continue
			}
			out = append(out, c)
		}
		byBucket[bk] = out
	}
	slices.Sort(buckets)
	today := dayOf(b.now())
	for rest := buckets; len(rest) > 0; {
		chunk := rest[:min(len(rest), maxOpsPerDo)]
		rest = rest[len(chunk):]
		ops := make([]*state.Op, len(chunk))
		for i, bk := range chunk {
			cs := byBucket[bk]
			args := make([]int64, 1, 1+3*len(cs))
			args[0] = today
			for _, c := range cs {
				args = append(args, int64(c.field), c.ds, c.dh)
			}
			ops[i] = state.Run(b.sc.train, []string{bucketKey(ref.root, bk)}, args...)
		}
		if err := b.st.Do(ctx, ops...); err != nil {
			return buckets, created, deleted, fmt.Errorf("bayes: writing tokens: %w", err)
		}
		for _, op := range ops {
			if r := op.Ints(); len(r) == 2 {
				created += r[0]
				deleted += r[1]
			}
		}
	}
	return buckets, created, deleted, nil
}
