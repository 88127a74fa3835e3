package bayes

// Token ids are 64-bit hashes. They are part of the stored format: a
// change here makes every trained model useless, so formatVersion must
// change with it.

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

// fmix is the 64-bit finalizer of MurmurHash3: it spreads every input bit
// over the whole output, so the top bits (the bucket) are well mixed.
func fmix(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

// seed returns the hash state after the prefix (such as "s:" for subject
// words); words are then hashed on from it with hashMore.
func seed(prefix string) uint64 {
	h := uint64(fnvOffset)
	for i := 0; i < len(prefix); i++ {
		h ^= uint64(prefix[i])
		h *= fnvPrime
	}
	return h
}

// hashMore continues an FNV-1a hash over b.
func hashMore(h uint64, b []byte) uint64 {
	for _, c := range b {
		h ^= uint64(c)
		h *= fnvPrime
	}
	return h
}

// tokenID finishes a word hash into a token id.
func tokenID(h uint64) uint64 { return fmix(h) }

// pairID is the id of the sparse pair (a, then b, d-1 words between).
// It is asymmetric: (a, b) and (b, a) differ.
func pairID(a, b uint64, d int) uint64 {
	return fmix(a*0x9e3779b97f4a7c15 + (b<<31 | b>>33) + uint64(d)*0xc2b2ae3d27d4eb4f)
}
